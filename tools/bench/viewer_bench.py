#!/usr/bin/env python3
"""Frame times of tessera-viewer while it generates textures in slices, against idle frames and
against recording each texture's whole job into one frame (--whole-job).

Runs the viewer headless under Xvfb (its window, its swapchain, lavapipe's X11 presenting) for
each mode in turn, round after round (A B A B: the machine's speed drifts), each run generating
--textures textures one after another and then --idle-frames frames with nothing to generate, and
reads the statistics the viewer writes (--stats). Prints, per mode, the median over rounds of:
frame time while generating (median / p95 / max; textures after the first, which pays for the
kernels' first-use compilation), frame time while idle, the device time of a slice, frames per
texture and seconds per texture. The background training job is paused while it measures
(bench_common.training_paused).

  tools/bench/viewer_bench.py [--build build] [--model models/default.tsr] [--size 1280x720]
                              [--steps 0] [--textures 3] [--idle-frames 300] [--rounds 2]
                              [--targets 16.7,33.3] [--vsync]
"""
import argparse
import json
import os
import pathlib
import shlex
import statistics
import subprocess
import sys
import tempfile

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(HERE))
from bench_common import training_paused, wait_while_running  # noqa: E402


def command(args, mode, stats):
    width, height = args.size.split("x")
    argv = ["xvfb-run", "-a", "-s", f"-screen 0 {width}x{height}x24",
            str(args.build / "sample_app" / "viewer" / "tessera-viewer"), "--model", str(args.model),
            "--width", width, "--height", height, "--steps", str(args.steps), "--frames", "1",
            "--textures", str(args.textures), "--idle-frames", str(args.idle_frames), "--quiet",
            "--stats", str(stats)]
    if not args.vsync:
        argv.append("--no-vsync")
    if mode == "whole":
        argv.append("--whole-job")
    else:
        argv += ["--frame-ms", mode]
    return argv


def measure(args, mode, work):
    stats = work / "stats.json"
    argv = command(args, mode, stats)
    wait_while_running("tessera-bench-")
    r = subprocess.run(argv, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{shlex.join(argv)} failed ({r.returncode}):\n{r.stderr}")
    s = json.loads(stats.read_text())
    warm = s.get("generating_after_first_texture", s["generating"])
    later = s["textures"][1:] or s["textures"]
    return {
        "gen": warm["frame_ms"], "idle": s["idle"]["frame_ms"],
        "slice": warm["slice_gpu_ms"]["median"],
        "frames": statistics.median(t["frames"] for t in later),
        "seconds": statistics.median(t["wall_ms"] for t in later) / 1000.0,
        "device": s["device"], "target": s["target"],
    }


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--build", type=pathlib.Path, default=ROOT / "build")
    p.add_argument("--model", type=pathlib.Path, default=ROOT / "models" / "default.tsr")
    p.add_argument("--size", default="1280x720", help="window size WxH")
    p.add_argument("--steps", type=int, default=0, help="sampler steps (0: the model's default)")
    p.add_argument("--textures", type=int, default=3)
    p.add_argument("--idle-frames", type=int, default=300)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--targets", default="16.7", help="comma-separated --frame-ms values to run sliced")
    p.add_argument("--vsync", action="store_true", help="FIFO presenting (default: immediate/mailbox)")
    args = p.parse_args()
    modes = [t.strip() for t in args.targets.split(",") if t.strip()] + ["whole"]

    results = {m: [] for m in modes}
    with training_paused(), tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            for m in modes:
                results[m].append(measure(args, m, pathlib.Path(tmp)))
            print(f"round {r + 1}/{args.rounds} done", file=sys.stderr, flush=True)

    first = results[modes[0]][0]
    print(f"device: {first['device']}; {first['target']}; steps {args.steps or 'model default'}; "
          f"{args.textures} textures per run, {args.idle_frames} idle frames; median of {args.rounds} rounds")
    print("| mode | generating frame ms: median / p95 / max | idle frame ms: median / p95 / max | "
          "slice device ms (median) | frames per texture | s per texture |")
    print("|---|---|---|---|---|---|")

    def med(rows, f):
        return statistics.median(f(x) for x in rows)

    for m in modes:
        rows = results[m]
        name = "whole job in one frame" if m == "whole" else f"slices, --frame-ms {m}"
        gen = " / ".join(f"{med(rows, lambda x, k=k: x['gen'][k]):.1f}" for k in ("median", "p95", "max"))
        idle = " / ".join(f"{med(rows, lambda x, k=k: x['idle'][k]):.1f}" for k in ("median", "p95", "max"))
        print(f"| {name} | {gen} | {idle} | {med(rows, lambda x: x['slice']):.1f} | "
              f"{med(rows, lambda x: x['frames']):.0f} | {med(rows, lambda x: x['seconds']):.1f} |")
    print("\ncommand of one run: " + shlex.join(command(args, modes[0], pathlib.Path("stats.json"))))


if __name__ == "__main__":
    main()
