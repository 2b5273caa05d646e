#!/usr/bin/python3
"""PyTorch's side of the U-Net benchmark: tools/train/unet.py (diffusers' UNet2DModel with
circular padding) on the CPU, batch 1, fp32, under torch.no_grad(), 2 threads by default.

  unet_torch.py --write-model DIR [--seed S]
        writes DIR/config.json (the project's default model, tools/train/unet.py TESSERA_CONFIG,
        circular padding) and DIR/diffusion_pytorch_model.safetensors with random weights scaled
        so activations stay O(1) through the network (every path changes the output).
  unet_torch.py --serve DIR
        loads DIR and answers one line per request line on stdin:
          time SIZE RUNS        -> RESULT time SIZE median_ms min_ms
          reference SIZE PATH   -> RESULT reference SIZE PATH; PATH gets `sample`, `timestep`,
                                   `class_labels` (I64) and `expected` (the float64 forward of the
                                   same weights, rounded to fp32) for tessera-bench-unet's check
"""
import argparse
import copy
import json
import os
import statistics
import sys
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "train"))

from cpu_alloc import keep_freed_memory  # noqa: E402
from safetensors_io import load_file, save_file  # noqa: E402
from unet import TESSERA_CONFIG, UNet2DModel  # noqa: E402

WEIGHTS = "diffusion_pytorch_model.safetensors"


def write_model(folder, seed):
    config = dict(TESSERA_CONFIG, tessera={"padding_mode": "circular"})
    model = UNet2DModel.from_config(config)
    gen = torch.Generator().manual_seed(seed)
    state = {}
    for name, p in model.state_dict().items():
        if p.dim() >= 2:  # conv / linear weights, the class embedding table
            fan_in = 1 if name.startswith("class_embedding") else p[0].numel()
            state[name] = torch.randn(p.shape, generator=gen) / fan_in ** 0.5
        elif "norm" in name and name.endswith(".weight"):
            state[name] = 1.0 + 0.3 * torch.randn(p.shape, generator=gen)
        else:  # biases, GroupNorm shifts
            state[name] = 0.3 * torch.randn(p.shape, generator=gen)
    os.makedirs(folder, exist_ok=True)
    save_file(state, os.path.join(folder, WEIGHTS), {"format": "pt"})
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(config, f, indent=1)
    return sum(v.numel() for v in state.values())


def load_model(folder):
    with open(os.path.join(folder, "config.json")) as f:
        config = json.load(f)
    model = UNet2DModel.from_config(config).eval()
    state, _ = load_file(os.path.join(folder, WEIGHTS))
    model.load_state_dict(state)
    return model


def inputs(model, size):
    """Fixed inputs per size; the time does not depend on the values."""
    g = torch.Generator().manual_seed(size)
    sample = torch.randn(1, model.config["in_channels"], size, size, generator=g)
    timestep = torch.tensor([500.0])
    labels = torch.tensor([1], dtype=torch.int64) if model.class_embedding is not None else None
    return sample, timestep, labels


def measure(model, size, runs):
    sample, timestep, labels = inputs(model, size)
    with torch.no_grad():
        for _ in range(2):  # warm-up: oneDNN picks and caches its kernels on first use
            model(sample, timestep, labels)
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            model(sample, timestep, labels)
            times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3, min(times) * 1e3


def reference(model, size, path):
    sample, timestep, labels = inputs(model, size)
    wide = copy.deepcopy(model).double()
    with torch.no_grad():
        expected = wide(sample.double(), timestep.double(), labels).sample.float()
    io = {"sample": sample, "timestep": timestep, "expected": expected}
    if labels is not None:
        io["class_labels"] = labels
    save_file(io, path, {"format": "pt"})


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--write-model", metavar="DIR")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--serve", metavar="DIR")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    keep_freed_memory()
    if args.write_model:
        n = write_model(args.write_model, args.seed)
        print(f"wrote {args.write_model}: {n:,} parameters", file=sys.stderr)
        return
    if not args.serve:
        ap.error("give --write-model DIR or --serve DIR")
    model = load_model(args.serve)
    print("READY", flush=True)
    for line in sys.stdin:
        parts = line.split()
        try:
            if len(parts) == 3 and parts[0] == "time":
                ms, best = measure(model, int(parts[1]), int(parts[2]))
                print(f"RESULT\ttime\t{parts[1]}\t{ms:.3f}\t{best:.3f}", flush=True)
            elif len(parts) == 3 and parts[0] == "reference":
                reference(model, int(parts[1]), parts[2])
                print(f"RESULT\treference\t{parts[1]}\t{parts[2]}", flush=True)
            else:
                print(f"ERROR\tcannot parse '{line.strip()}'", flush=True)
        except Exception as e:  # the driver reports it and stops
            print(f"ERROR\t{type(e).__name__}: {e}", flush=True)


if __name__ == "__main__":
    main()
