#!/usr/bin/python3
"""PyTorch's side of the generation benchmark: the same model package, the same sampler
(DPM-Solver++(2M) on the Karras sigmas, tools/train/edm.py) and the same starting noise
(tessera's Philox stream for the seed, tools/train/philox_noise.py), on the CPU, fp32 network,
batch 1, under torch.no_grad(). A package with super-resolution stages runs, above its base's
native size, as the cascade tools/train/cascade_reference.py implements (the base on the request's
sampler and steps, each stage on its own), exactly as tessera runs it.

  gen_torch.py --check MODEL.tsr SIZE STEPS SEED CLASS SAMPLER PATH
        one texture (SAMPLER dpmpp_2m, heun or consistency) as SIZE*SIZE RGBA8 pixels into PATH, for tests
  gen_torch.py --serve MODEL.tsr [--threads N]   answers one line per request line on stdin:
    check SIZE STEPS SEED CLASS PATH -> RESULT check SIZE STEPS; PATH gets SIZE*SIZE RGBA8 pixels
    time SIZE STEPS RUNS             -> RESULT time SIZE STEPS median_ms min_ms
"""
import argparse
import os
import statistics
import sys
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "train"))

from cpu_alloc import keep_freed_memory  # noqa: E402
from cascade_reference import Cascade  # noqa: E402
from edm import EDMPrecond, karras_sigmas, sample_consistency, sample_dpmpp_2m, sample_heun, to_u8  # noqa: E402
from philox_noise import normal  # noqa: E402
from tsr_io import read_tsr  # noqa: E402
from unet import UNet2DModel  # noqa: E402


class Sampler:
    def __init__(self, path):
        meta, tensors = read_tsr(path)
        t = meta["tessera"]
        self.cascade = Cascade(path) if meta.get("stages") else None
        if self.cascade:  # the cascade's base is the base
            self.denoiser = self.cascade.stages[0][2]
        else:
            model = UNet2DModel.from_config(dict(meta["architecture"], tessera={"padding_mode": t["padding_mode"]}))
            model.load_state_dict(tensors)
            self.denoiser = EDMPrecond(model.eval(), t["sigma_data"])
        self.sigma_min, self.sigma_max, self.rho = t.get("sigma_min", 0.002), t.get("sigma_max", 80.0), t.get("rho", 7.0)
        self.channels = meta["architecture"]["in_channels"]
        self.step_sigmas = {int(k): v for k, v in t.get("step_sigmas", {}).items()}

    def generate(self, size, steps, seed, cls, noise=None, sampler="dpmpp_2m"):
        if self.cascade and size > self.cascade.native:
            self.cascade.philox = noise is None  # timing runs draw torch's noise, as for the base alone
            rgba = self.cascade.generate(size, steps, seed, cls, sampler)
            return torch.from_numpy(rgba[..., :3].copy()).permute(2, 0, 1)[None]
        if noise is None:
            noise = torch.from_numpy(normal(seed, 0, self.channels * size * size).astype(np.float32))
        x = noise.reshape(1, self.channels, size, size)
        labels = torch.tensor([cls])
        with torch.no_grad():
            if sampler == "consistency":
                if steps not in self.step_sigmas:
                    raise SystemExit(f"the model has no distilled step sigmas for {steps} steps")

                def renoise(k):  # after stage k: tessera's Philox stream 2k + 2 of the seed (docs/SAMPLER.md)
                    return torch.from_numpy(normal(seed, 2 * k + 2, x.numel()).astype(np.float32)).reshape(x.shape)

                sigmas = torch.tensor(self.step_sigmas[steps], dtype=torch.float64)
                return to_u8(sample_consistency(self.denoiser, x, sigmas, labels, noise=renoise))
            sigmas = karras_sigmas(steps, self.sigma_min, self.sigma_max, self.rho)
            sample = sample_heun if sampler == "heun" else sample_dpmpp_2m
            return to_u8(sample(self.denoiser, x, sigmas, labels))

    def rgba(self, size, steps, seed, cls, sampler="dpmpp_2m"):
        img = self.generate(size, steps, seed, cls, sampler=sampler)[0].permute(1, 2, 0).numpy()
        alpha = np.full(img.shape[:2] + (1,), 255, dtype=np.uint8)
        return np.concatenate([img, alpha], axis=2)


def serve(args):
    torch.set_num_threads(args.threads)
    keep_freed_memory()
    s = Sampler(args.serve)
    print("READY\tpytorch " + torch.__version__, flush=True)
    for line in sys.stdin:
        f = line.split()
        if f[0] == "check":
            size, steps, seed, cls, path = int(f[1]), int(f[2]), int(f[3]), int(f[4]), f[5]
            s.rgba(size, steps, seed, cls).tofile(path)
            print(f"RESULT\tcheck\t{size}\t{steps}", flush=True)
        elif f[0] == "time":
            size, steps, runs = int(f[1]), int(f[2]), int(f[3])
            s.generate(size, steps, 1, 0)  # warm-up
            ms = []
            for i in range(runs):
                t0 = time.perf_counter()
                # The noise is drawn by torch (as a PyTorch pipeline would), not by the numpy Philox.
                s.generate(size, steps, 100 + i, i % 10, noise=torch.randn(s.channels * size * size))
                ms.append((time.perf_counter() - t0) * 1e3)
            print(f"RESULT\ttime\t{size}\t{steps}\t{statistics.median(ms):.3f}\t{min(ms):.3f}", flush=True)
        else:
            print(f"ERROR\tunknown request {line.strip()}", flush=True)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--serve", help="the .tsr model package")
    ap.add_argument("--check", nargs=7, metavar=("MODEL", "SIZE", "STEPS", "SEED", "CLASS", "SAMPLER", "PATH"))
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    if a.check:
        torch.set_num_threads(a.threads)
        m, size, steps, seed, cls, sampler, path = a.check
        Sampler(m).rgba(int(size), int(steps), int(seed), int(cls), sampler).tofile(path)
    elif a.serve:
        serve(a)
    else:
        ap.error("give --serve or --check")
