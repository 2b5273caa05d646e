#!/usr/bin/python3
"""PyTorch's side of the conv2d benchmark: the same layers on the CPU, 2 threads.

What is timed is what a PyTorch model does for the layer: nn.Conv2d(padding_mode='circular')
pads with F.pad(mode='circular') and then calls F.conv2d without padding; a layer on a concat
input (diffusers' up blocks) first runs torch.cat. So the time is cat (when two inputs) + circular
F.pad (3x3) + F.conv2d with bias, batch 1, fp32, under torch.no_grad().

  conv_torch.py --serve    reads "name c1 c2 cout h w kernel stride runs" lines on stdin and
                           answers "RESULT name median_ms gflops min_ms" (tools/bench/conv_bench.py)
  conv_torch.py --shape name c1 c2 cout h w kernel stride [--runs N]
"""
import argparse
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "train"))
from cpu_alloc import keep_freed_memory  # noqa: E402

REPEAT = 3  # layer calls per timed run, as the C++ side records several dispatches per submit


class Layer:
    def __init__(self, c1, c2, cout, h, w, kernel, stride):
        g = torch.Generator().manual_seed(0)
        self.x = torch.rand(1, c1, h, w, generator=g) * 2 - 1
        self.x2 = torch.rand(1, c2, h, w, generator=g) * 2 - 1 if c2 else None
        self.w = (torch.rand(cout, c1 + c2, kernel, kernel, generator=g) * 2 - 1) / (c1 + c2) ** 0.5
        self.b = torch.rand(cout, generator=g)
        self.kernel, self.stride = kernel, stride
        ho = (h + 2 * (kernel // 2) - kernel) // stride + 1
        wo = (w + 2 * (kernel // 2) - kernel) // stride + 1
        self.flops = 2.0 * cout * ho * wo * (c1 + c2) * kernel * kernel

    def __call__(self):
        x = torch.cat([self.x, self.x2], dim=1) if self.x2 is not None else self.x
        if self.kernel == 3:
            x = F.pad(x, (1, 1, 1, 1), mode="circular")
        return F.conv2d(x, self.w, self.b, stride=self.stride)


def measure(layer, runs):
    with torch.no_grad():
        for _ in range(2):  # warm-up: oneDNN picks and caches its kernel on first use
            layer()
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            for _ in range(REPEAT):
                layer()
            times.append((time.perf_counter() - t0) / REPEAT)
    ms = statistics.median(times) * 1e3
    return ms, layer.flops / (ms * 1e-3) * 1e-9, min(times) * 1e3


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--serve", action="store_true")
    ap.add_argument("--shape", nargs=8)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    keep_freed_memory()
    layers = {}
    if args.shape:
        name, *dims = args.shape
        ms, gf, best = measure(Layer(*map(int, dims)), args.runs)
        print(f"RESULT\t{name}\t{ms:.4f}\t{gf:.2f}\t{best:.4f}", flush=True)
        return
    if not args.serve:
        ap.error("give --serve or --shape")
    for line in sys.stdin:
        parts = line.split()
        if len(parts) != 9:
            print(f"ERROR\tcannot parse '{line.strip()}'", flush=True)
            continue
        name, dims, runs = parts[0], tuple(map(int, parts[1:8])), int(parts[8])
        if dims not in layers:
            layers[dims] = Layer(*dims)
        ms, gf, best = measure(layers[dims], runs)
        print(f"RESULT\t{name}\t{ms:.4f}\t{gf:.2f}\t{best:.4f}", flush=True)


if __name__ == "__main__":
    main()
