#!/usr/bin/env python3
"""Benchmarks whole textures, tessera against PyTorch, same machine, same weights, same sampler.

Starts `tessera-bench-gen MODEL --serve` (the public API: tsr_generate with DPM-Solver++(2M) on
the model's Karras sigmas, batch 1) and `gen_torch.py --serve MODEL` (tools/train/edm.py's
sample_dpmpp_2m on the network rebuilt from the same package, same sigmas). First it checks that
both produce the same texture from the same seed (tessera's Philox noise reproduced in numpy):
the mean absolute difference of the 8-bit pixels must stay under 1 level at fp32, else nothing is
timed. Then it alternates the sides round by round (A B A B: the machine's speed drifts) and
prints the median time per texture and the ratio tessera / PyTorch for each size and step count.
The background training job is paused while it measures (bench_common.training_paused).

  tools/bench/gen_bench.py [--build build] [--model models/default.tsr] [--sizes 64,128,256]
                           [--steps 1,2,4] [--rounds 3] [--runs 3] [--precision fp32|fp16|auto]
"""
import argparse
import os
import pathlib
import statistics
import sys
import tempfile

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(HERE))
from bench_common import Server, training_paused, wait_while_running  # noqa: E402


def run(args, work):
    env = dict(os.environ, LP_NUM_THREADS=str(args.threads))
    tessera = Server([str(args.build / "tools" / "bench" / "tessera-bench-gen"), str(args.model), "--serve",
                      f"--{args.precision}"], env, expect_ready=True)
    try:
        torch = Server(["/usr/bin/python3", str(HERE / "gen_torch.py"), "--serve", str(args.model),
                        "--threads", str(args.threads)], env, expect_ready=True)
    except Exception:
        tessera.close()
        raise
    times, checks = {}, {}
    try:
        for size in args.sizes:
            a, b = work / "tessera.rgba", work / "torch.rgba"
            tessera.ask(f"check {size} 4 7 1 {a}")
            torch.ask(f"check {size} 4 7 1 {b}")
            pa, pb = (np.fromfile(p, dtype=np.uint8).astype(np.int32) for p in (a, b))
            diff = np.abs(pa - pb)
            checks[size] = (diff.mean(), diff.max())
            print(f"{size}x{size}: tessera vs PyTorch, 4 steps: mean |diff| {diff.mean():.3f} levels, max {diff.max()}",
                  file=sys.stderr, flush=True)
            if args.precision == "fp32" and diff.mean() > 1.0:
                raise RuntimeError(f"tessera's texture at {size}x{size} differs from PyTorch's (mean |diff| "
                                   f"{diff.mean():.2f} levels): not timing a broken sampler")
            for r in range(args.rounds):
                wait_while_running("tessera-bench-(conv|unet)")
                for steps in args.steps:
                    f = tessera.ask(f"time {size} {steps} {args.runs}")
                    times.setdefault((size, steps, "tessera"), []).append(float(f[4]))
                    f = torch.ask(f"time {size} {steps} {args.runs}")
                    times.setdefault((size, steps, "torch"), []).append(float(f[4]))
                print(f"{size}x{size} round {r + 1}/{args.rounds} done", file=sys.stderr, flush=True)
    finally:
        tessera.close()
        torch.close()
    return tessera.banner, times, checks


def report(args, banner, times, checks):
    print(f"device: {banner[0] if banner else '?'}; tessera {args.precision}; PyTorch fp32, {args.threads} threads; "
          f"lavapipe LP_NUM_THREADS={args.threads}")
    print("| size | steps | tessera ms | PyTorch ms | tessera / PyTorch | check: mean / max abs diff (levels) |")
    print("|---|---|---|---|---|---|")
    for size in args.sizes:
        for steps in args.steps:
            t = statistics.median(times[(size, steps, "tessera")])
            p = statistics.median(times[(size, steps, "torch")])
            print(f"| {size}x{size} | {steps} | {t:.0f} | {p:.0f} | {t / p:.2f} | "
                  f"{checks[size][0]:.3f} / {checks[size][1]} |")
    print(f"\nms per texture: median over {args.rounds} interleaved rounds of the median of {args.runs} textures "
          "(after a warm-up); DPM-Solver++(2M), one network evaluation per step, batch 1, guidance 1; tessera: "
          "tsr_generate (record, submit, wait, pixels copied out); PyTorch: noise, sampling loop, to 8-bit.")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", type=pathlib.Path, default=ROOT / "build")
    ap.add_argument("--model", type=pathlib.Path, default=ROOT / "models" / "default.tsr")
    ap.add_argument("--sizes", default="64,128,256")
    ap.add_argument("--steps", default="1,2,4")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--precision", default="fp32", choices=["fp32", "fp16", "auto"])
    args = ap.parse_args()
    args.sizes = [int(s) for s in args.sizes.split(",") if s]
    args.steps = [int(s) for s in args.steps.split(",") if s]
    with training_paused(), tempfile.TemporaryDirectory(prefix="tessera_gen_bench_") as work:
        result = run(args, pathlib.Path(work))
    report(args, *result)


if __name__ == "__main__":
    main()
