#!/usr/bin/env python3
"""Benchmarks one evaluation of the whole U-Net, tessera (fp32 and fp16 storage) against PyTorch,
on the same machine, same weights and same shapes, interleaved.

Writes the project's default model (tools/train/unet.py TESSERA_CONFIG, circular padding) with
random weights as a diffusers folder, converts it with tessera-convert, and starts
`tessera-bench-unet --serve` and `unet_torch.py --serve` once each. For each size it first checks
that tessera's output matches PyTorch's (relative L2 against PyTorch's float64 forward, printed),
so the benchmark cannot time a broken network, then alternates the sides, A B A B ..., round by
round: on a small shared machine the speed flips between one and two cores for seconds at a time,
so only measurements taken side by side compare. Prints the median over rounds of each side and
the ratio tessera / PyTorch time, and the arena's figures.

While it measures, the background training job (~/.cache/tessera/train.pid) is paused with
SIGSTOP and resumed with SIGCONT on exit, error or interrupt; before each measurement phase it
waits while the conv benchmark (tessera-bench-conv) runs, so the two never overlap.

  tools/bench/unet_bench.py [--build build] [--sizes 64,128,256] [--rounds 5] [--runs 3]
"""
import argparse
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench_common import Server, training_paused, wait_while_running  # noqa: E402


def run(args, work):
    model_dir, package = work / "model", work / "model.tsr"
    subprocess.run(["/usr/bin/python3", str(HERE / "unet_torch.py"), "--write-model", str(model_dir)], check=True)
    subprocess.run([str(args.build / "tools" / "convert" / "tessera-convert"), str(model_dir), str(package)],
                   check=True, stdout=subprocess.DEVNULL)
    # Both sides get the same number of CPU threads: lavapipe's through LP_NUM_THREADS.
    env = dict(os.environ, LP_NUM_THREADS=str(args.threads))
    tessera = Server([str(args.build / "tools" / "bench" / "tessera-bench-unet"), str(package), "--serve"], env,
                     expect_ready=True)
    try:
        torch = Server(["/usr/bin/python3", str(HERE / "unet_torch.py"), "--serve", str(model_dir),
                        "--threads", str(args.threads)], env, expect_ready=True)
    except Exception:
        tessera.close()
        raise
    device = tessera.banner[0] if tessera.banner else "?"
    times, best, checks = {}, {}, {}
    try:
        for size in args.sizes:
            io = work / f"io_{size}.safetensors"
            torch.ask(f"reference {size} {io}")
            for dt in args.dtypes:
                f = tessera.ask(f"check {size} {dt} {io}")
                checks[(size, dt)] = f
                print(f"{size}x{size} {dt}: relative L2 vs PyTorch {f[4]}, {f[5]} dispatches", file=sys.stderr,
                      flush=True)
                if float(f[4]) > (1e-4 if dt == "f32" else 2e-2):
                    raise RuntimeError(f"tessera's {dt} output at {size}x{size} does not match PyTorch's "
                                       f"(relative L2 {f[4]}): not timing a broken network")
            for r in range(args.rounds):
                wait_while_running("tessera-bench-conv")
                for dt in args.dtypes:
                    f = tessera.ask(f"time {size} {dt} {args.runs}")
                    times.setdefault((size, dt), []).append(float(f[4]))
                    best[(size, dt)] = min(best.get((size, dt), 1e30), float(f[5]))
                    f = torch.ask(f"time {size} {args.runs}")
                    times.setdefault((size, "torch"), []).append(float(f[3]))
                    best[(size, "torch")] = min(best.get((size, "torch"), 1e30), float(f[4]))
                print(f"{size}x{size} round {r + 1}/{args.rounds} done", file=sys.stderr, flush=True)
    finally:
        tessera.close()
        torch.close()
    return device, times, best, checks


def report(args, device, times, best, checks):
    mib = 1 << 20
    print(f"device: {device}; PyTorch {args.threads} threads, lavapipe LP_NUM_THREADS={args.threads}")
    cols = ["torch"] + args.dtypes
    print("| size | " + " | ".join(f"{c} ms" for c in cols) + " | "
          + " | ".join(f"{d} / torch" for d in args.dtypes) + " | rel. L2 " + " / ".join(args.dtypes)
          + " | dispatches |")
    print("|" + "---|" * (3 + len(cols) + len(args.dtypes)))
    for size in args.sizes:
        med = {c: statistics.median(times[(size, c)]) for c in cols}
        row = [f"{size}x{size}"] + [f"{med[c]:.1f}" for c in cols]
        row += [f"{med[d] / med['torch']:.2f} ({best[(size, d)] / best[(size, 'torch')]:.2f})" for d in args.dtypes]
        row.append(" / ".join(checks[(size, d)][4] for d in args.dtypes))
        row.append(checks[(size, args.dtypes[0])][5])
        print("| " + " | ".join(row) + " |")
    print("\n| size | storage | weights MiB | activations planned MiB | naive MiB | peak live MiB |")
    print("|---|---|---|---|---|---|")
    for size in args.sizes:
        for d in args.dtypes:
            f = checks[(size, d)]
            w, planned, naive, peak = (int(x) / mib for x in f[6:10])
            print(f"| {size}x{size} | {d} | {w:.2f} | {planned:.2f} | {naive:.2f} | {peak:.2f} |")
    print(f"\nms: median over {args.rounds} interleaved rounds of the median of {args.runs} evaluations; "
          "ratio = tessera time / PyTorch time from those medians (from the fastest single runs); batch 1, "
          "circular padding, one evaluation = UnetGraph::run (inputs written, submit, wait, output read) vs "
          "model(sample, t, class) under torch.no_grad()", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", type=pathlib.Path, default=HERE.parent.parent / "build",
                    help="the build folder holding tools/bench/tessera-bench-unet and tools/convert/tessera-convert")
    ap.add_argument("--sizes", default="64,128,256")
    ap.add_argument("--dtypes", default="f32,f16")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2, help="CPU threads of each side (PyTorch and lavapipe)")
    args = ap.parse_args()
    args.sizes = [int(s) for s in args.sizes.split(",") if s]
    args.dtypes = [d for d in args.dtypes.split(",") if d]

    with training_paused(), tempfile.TemporaryDirectory(prefix="tessera_unet_bench_") as work:
        result = run(args, pathlib.Path(work))
    report(args, *result)


if __name__ == "__main__":
    main()
