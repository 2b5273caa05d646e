"""What the benchmark drivers share: pausing the background training job while measuring, and
talking to a long-lived benchmark process (one request line in, one RESULT line out)."""
import contextlib
import os
import pathlib
import signal
import subprocess
import sys
import time

CACHE = pathlib.Path(os.environ.get("TESSERA_CACHE", pathlib.Path.home() / ".cache" / "tessera"))


def training_pids():
    """Every live training run: the processes named by the run pid files in the cache
    (train.pid, sr.pid and any other *.pid) that run one of tools/train's scripts."""
    pids = []
    for f in sorted(CACHE.glob("*.pid")):
        try:
            pid = int(f.read_text().strip())
            cmd = pathlib.Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        except (OSError, ValueError):
            continue
        if "train" in cmd or "distill" in cmd:
            pids.append(pid)
    return pids


@contextlib.contextmanager
def training_paused():
    """SIGSTOPs the training runs (if any) for the duration, and always SIGCONTs them: on normal
    exit, on an exception, and on SIGTERM/SIGHUP -- a stopped trainer left behind would lose hours."""
    pids = training_pids()

    def resume():
        for pid in pids:
            try:
                os.kill(pid, signal.SIGCONT)
            except OSError:
                pass

    def interrupted(signum, _frame):
        resume()
        sys.exit(128 + signum)

    signal.signal(signal.SIGTERM, interrupted)
    signal.signal(signal.SIGHUP, interrupted)
    try:
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)
        if pids:
            print(f"paused training runs {pids} while benchmarking", file=sys.stderr)
        yield
    finally:
        resume()


def wait_while_running(pattern):
    """Two benchmarks sharing two cores would measure each other: wait for the other to finish."""
    waited = False
    while subprocess.run(["pgrep", "-f", pattern], capture_output=True).returncode == 0:
        if not waited:
            print(f"waiting for {pattern} to finish", file=sys.stderr, flush=True)
            waited = True
        time.sleep(5)


class Server:
    """A benchmark process answering one RESULT line per request line, after an optional READY
    line (whose fields are kept as `banner`)."""

    def __init__(self, argv, env, expect_ready=False):
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
        self.banner = []
        if expect_ready:
            ready = self.proc.stdout.readline()
            if not ready.startswith("READY"):
                raise RuntimeError(f"{argv[0]} did not start: {ready.strip() or 'no output'}")
            self.banner = ready.rstrip("\n").split("\t")[1:]

    def ask(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        answer = self.proc.stdout.readline()
        if not answer:
            raise RuntimeError(f"{self.proc.args[0]} exited while answering '{line}'")
        fields = answer.rstrip("\n").split("\t")
        if fields[0] != "RESULT":
            raise RuntimeError(f"{self.proc.args[0]}: '{line}': {answer.strip()}")
        return fields

    def close(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.wait(timeout=60)
