"""What the benchmark drivers share: pausing the background training job while measuring, and
talking to a long-lived benchmark process (one request line in, one RESULT line out)."""
import contextlib
import os
import pathlib
import signal
import subprocess
import sys
import time

TRAIN_PID = pathlib.Path.home() / ".cache" / "tessera" / "train.pid"


def training_pid():
    try:
        pid = int(TRAIN_PID.read_text().strip())
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError):
        return None


@contextlib.contextmanager
def training_paused():
    """SIGSTOPs the training job (if one runs) for the duration, and always SIGCONTs it: on normal
    exit, on an exception, and on SIGTERM/SIGHUP — a stopped trainer left behind would lose hours."""
    pid = training_pid()

    def resume():
        if pid is not None:
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
        if pid is not None:
            os.kill(pid, signal.SIGSTOP)
            print(f"paused training job {pid} while benchmarking", file=sys.stderr)
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
