#!/usr/bin/env python3
"""Benchmarks tessera's conv2d variants against PyTorch on the same machine, interleaved.

Starts `tessera-bench-conv --serve` and `conv_torch.py --serve` once each (so neither recompiles
between measurements) and alternates them, A B A B ..., shape by shape and round by round: on a
small shared machine the speed flips between one and two cores for seconds at a time, so only
measurements taken side by side compare. Prints the median over rounds of each side and the
ratio tessera / PyTorch. While it runs, the background training job (~/.cache/tessera/train.pid)
is paused with SIGSTOP and resumed with SIGCONT on exit, error or interrupt.

  tools/bench/conv_bench.py [--bench build/tools/bench/tessera-bench-conv] [--rounds 7]
                            [--variants winograd,subgroup,direct] [--dtype f32] [--shapes a,b]
"""
import argparse
import os
import pathlib
import statistics
import subprocess
import sys

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench_common import Server, training_paused  # noqa: E402


def run(args):
    shapes = []
    listing = subprocess.run([args.bench, "--list"], check=True, capture_output=True, text=True).stdout
    for line in listing.splitlines():
        name, *dims = line.split()
        if not args.shapes or name in args.shapes:
            shapes.append((name, dims))
    # Both sides get the same number of CPU threads: lavapipe's through LP_NUM_THREADS.
    env = dict(os.environ, LP_NUM_THREADS=str(args.threads))
    tessera = Server([args.bench, "--serve", "--repeat", str(args.repeat)], env)
    torch = Server(["/usr/bin/python3", str(HERE / "conv_torch.py"), "--serve", "--threads", str(args.threads)], env)
    times = {}  # (shape, side) -> [ms per round]
    best = {}  # (shape, side) -> fastest single run seen
    gflop = {}
    try:
        for r in range(args.rounds):
            for name, dims in shapes:
                for v in args.variants:
                    f = tessera.ask(f"{name} {v} {args.dtype} {args.runs}")
                    if f[4] != "n/a":
                        times.setdefault((name, v), []).append(float(f[4]))
                        best[(name, v)] = min(best.get((name, v), 1e30), float(f[7]))
                        gflop[name] = float(f[5]) * float(f[4]) * 1e-3
                f = torch.ask(f"{name} {' '.join(dims)} {args.runs}")
                times.setdefault((name, "torch"), []).append(float(f[2]))
                best[(name, "torch")] = min(best.get((name, "torch"), 1e30), float(f[4]))
                gflop[name] = float(f[3]) * float(f[2]) * 1e-3
            print(f"round {r + 1}/{args.rounds} done", file=sys.stderr, flush=True)
    finally:
        tessera.close()
        torch.close()
    return shapes, times, best, gflop


def report(args, shapes, times, best, gflop):
    """One row per shape: PyTorch, then each variant, as median ms (GFLOP/s); then each variant's
    speed as a ratio to PyTorch's, from the medians and (in brackets) from the fastest runs."""
    cols = ["torch"] + args.variants
    head = "| shape | GFLOP | " + " | ".join(f"{c} ms (GFLOP/s)" for c in cols)
    head += " | " + " | ".join(f"{v} / torch" for v in args.variants) + " |"
    print(head)
    print("|" + "---|" * (2 + len(cols) + len(args.variants)))
    for name, _ in shapes:
        med = {c: statistics.median(times[(name, c)]) for c in cols if (name, c) in times}
        row = [name, f"{gflop[name]:.3f}"]
        for c in cols:
            row.append(f"{med[c]:.2f} ({gflop[name] / med[c] * 1e3:.0f})" if c in med else "n/a")
        for v in args.variants:
            row.append(f"{med['torch'] / med[v]:.2f} ({best[(name, 'torch')] / best[(name, v)]:.2f})"
                       if v in med else "n/a")
        print("| " + " | ".join(row) + " |")
    print(f"\nms: median over {args.rounds} interleaved rounds of the median of {args.runs} runs; ratio = "
          f"speed / PyTorch's from those medians (from the fastest single runs); {args.dtype}, batch 1, "
          "circular padding; GFLOP/s count the direct convolution's 2*K*K*Cin*Cout*Ho*Wo", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench", default=str(HERE.parent.parent / "build" / "tools" / "bench" / "tessera-bench-conv"))
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--variants", default="auto,winograd,pointwise,subgroup")
    ap.add_argument("--dtype", default="f32", choices=["f32", "f16"])
    ap.add_argument("--shapes", default="")
    ap.add_argument("--threads", type=int, default=2, help="CPU threads of each side (PyTorch and lavapipe)")
    args = ap.parse_args()
    args.variants = [v for v in args.variants.split(",") if v]
    args.shapes = [s for s in args.shapes.split(",") if s]

    with training_paused():
        shapes, times, best, gflop = run(args)
    report(args, shapes, times, best, gflop)


if __name__ == "__main__":
    main()
