#!/usr/bin/python3
"""PyTorch reference of tessera's whole cascade (base -> conditioning -> super-resolution stages),
with tessera's Philox noise (philox_noise.py) on every stream, for the runtime's parity test.

  cascade_reference.py --make-fixture DIR
        writes small random diffusers folders: DIR/base (a 16 px class-conditional base), DIR/sr4
        (a 4x stage, consistency sampling) and DIR/sr2a, DIR/sr2b (two 2x stages, DPM-Solver++(2M)),
        weights scaled so activations stay O(1)
  cascade_reference.py --check MODEL.tsr SIZE STEPS SEED CLASS PATH
        one SIZE x SIZE texture from the package as RGBA8 into PATH

The streams and the stage rule are docs/SAMPLER.md's: stage k >= 1 draws its start from stream
k << 16, its re-noising after evaluation j from (k << 16) | (2j + 2) and its conditioning's
augmentation from (k << 16) | 1; a request larger than the base's native size runs as few stages
as bring the base to its native size or below. The base runs the request's sampler and steps,
each later stage its package's own.
"""
import argparse
import json
import math
import os
import shutil
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from edm import EDMPrecond, karras_sigmas, sample_consistency, sample_dpmpp_2m, sample_heun, to_u8  # noqa: E402
from philox_noise import normal  # noqa: E402
from safetensors_io import save_file  # noqa: E402
from sr import SRPrecond, condition  # noqa: E402
from tsr_io import read_tsr  # noqa: E402
from unet import UNet2DModel  # noqa: E402

BASE = {"_class_name": "UNet2DModel", "sample_size": 16, "in_channels": 3, "out_channels": 3,
        "down_block_types": ["DownBlock2D", "DownBlock2D"], "up_block_types": ["UpBlock2D", "UpBlock2D"],
        "block_out_channels": [8, 16], "layers_per_block": 1, "norm_num_groups": 4, "add_attention": False,
        "num_class_embeds": 3,
        "tessera": {"padding_mode": "circular", "classes": ["a", "b", "c"], "sigma_data": 0.5, "sigma_min": 0.002,
                    "sigma_max": 80.0, "sampler": "dpmpp_2m", "default_steps": 2}}
SR = {"_class_name": "UNet2DModel", "sample_size": 64, "in_channels": 6, "out_channels": 3,
      "down_block_types": ["DownBlock2D", "DownBlock2D"], "up_block_types": ["UpBlock2D", "UpBlock2D"],
      "block_out_channels": [8, 16], "layers_per_block": 1, "norm_num_groups": 4, "add_attention": False,
      "class_embed_type": "timestep"}
SR_TESSERA = {"padding_mode": "circular", "stage": "super_resolution", "sigma_data": 0.5, "sigma_min": 0.002,
              "sigma_max": 80.0}
STAGES = {
    "sr4": dict(SR_TESSERA, scale_factor=4, cond_sigma=0.1, sampler="consistency",
                step_sigmas={"2": [2.0, 0.4]}, default_steps=2),
    "sr2a": dict(SR_TESSERA, scale_factor=2, cond_sigma=0.05, sampler="dpmpp_2m", default_steps=2),
    "sr2b": dict(SR_TESSERA, scale_factor=2, cond_sigma=0.0, sampler="dpmpp_2m", default_steps=1),
}


def randomise(model, gen):
    state = {}
    for name, p in model.state_dict().items():
        if p.dim() >= 2:
            fan_in = p[0].numel() if not name.startswith("class_embedding.weight") else 1
            v = torch.randn(p.shape, generator=gen) / fan_in ** 0.5
        elif "norm" in name and name.endswith(".weight"):
            v = 1.0 + 0.3 * torch.randn(p.shape, generator=gen)
        else:
            v = 0.3 * torch.randn(p.shape, generator=gen)
        state[name] = v
    return state


def make_fixture(out):
    gen = torch.Generator().manual_seed(4321)
    folders = {"base": BASE}
    folders.update({k: dict(SR, tessera=t) for k, t in STAGES.items()})
    for name, config in folders.items():
        d = os.path.join(out, name)
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        model = UNet2DModel.from_config(config)
        save_file(randomise(model, gen), os.path.join(d, "diffusion_pytorch_model.safetensors"), {"format": "pt"})
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump(config, f, indent=1)


class Cascade:
    def __init__(self, path):
        meta, tensors = read_tsr(path)
        self.stages = []
        for k, m in enumerate([meta] + meta.get("stages", [])):
            t = m["tessera"]
            prefix = f"stages.{k}." if k else ""
            own = {n[len(prefix):]: v for n, v in tensors.items()
                   if (n.startswith(prefix) if k else not n.startswith("stages."))}
            unet = UNet2DModel.from_config(dict(m["architecture"], tessera={"padding_mode": t["padding_mode"]}))
            unet.load_state_dict(own)
            unet.eval()
            den = SRPrecond(unet, t["sigma_data"]) if k else EDMPrecond(unet, t["sigma_data"])
            self.stages.append((m["architecture"], t, den))
        self.native = meta["architecture"].get("sample_size") or 64

    def scale(self, k):
        return math.prod(self.stages[j][1]["scale_factor"] for j in range(1, k + 1))

    def sample(self, den, t, size, stream0, seed, sampler, steps, labels):
        c = 3
        x = torch.from_numpy(normal(seed, stream0, c * size * size).astype(np.float32)).reshape(1, c, size, size)
        if sampler == "consistency":
            sigmas = torch.tensor(t["step_sigmas"][str(steps)], dtype=torch.float64)

            def renoise(j):
                return torch.from_numpy(normal(seed, stream0 | (2 * j + 2), x.numel()).astype(np.float32)).reshape(x.shape)

            return sample_consistency(den, x, sigmas, labels, noise=renoise)
        sigmas = karras_sigmas(steps, t.get("sigma_min", 0.002), t.get("sigma_max", 80.0), t.get("rho", 7.0))
        return (sample_heun if sampler == "heun" else sample_dpmpp_2m)(den, x, sigmas, labels)

    def generate(self, size, steps, seed, cls, sampler):
        k = 0
        while k + 1 < len(self.stages) and size > self.native * self.scale(k):
            k += 1
        base = size // self.scale(k)
        _, t0, den0 = self.stages[0]
        with torch.no_grad():
            x = self.sample(den0, t0, base, 0, seed, sampler, steps, torch.tensor([cls]))
            for j in range(1, k + 1):
                _, t, den = self.stages[j]
                f, sa = t["scale_factor"], t["cond_sigma"]
                z = torch.from_numpy(normal(seed, (j << 16) | 1, x.numel()).astype(np.float32)).reshape(x.shape)
                cond = condition(x.float(), sa, z, f)
                bound = lambda xx, sigma, labels=None, den=den, cond=cond, sa=sa: den(xx, sigma, cond, sa)  # noqa: E731
                x = self.sample(bound, t, x.shape[-1] * f, j << 16, seed, t["sampler"], t["default_steps"], None)
        img = to_u8(x)[0].permute(1, 2, 0).numpy()
        return np.concatenate([img, np.full(img.shape[:2] + (1,), 255, dtype=np.uint8)], axis=2)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--make-fixture", metavar="DIR")
    ap.add_argument("--check", nargs=6, metavar=("MODEL", "SIZE", "STEPS", "SEED", "CLASS", "PATH"))
    a = ap.parse_args()
    torch.set_num_threads(1)
    if a.make_fixture:
        make_fixture(a.make_fixture)
    elif a.check:
        m, size, steps, seed, cls, path = a.check
        c = Cascade(m)
        c.generate(int(size), int(steps), int(seed), int(cls), c.stages[0][1].get("sampler", "dpmpp_2m")).tofile(path)
    else:
        ap.error("give --make-fixture or --check")
