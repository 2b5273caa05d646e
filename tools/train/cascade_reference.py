#!/usr/bin/python3
"""PyTorch reference of tessera's whole cascade (base -> conditioning -> super-resolution stages),
with tessera's Philox noise (philox_noise.py) on every stream, for the runtime's parity test.

  cascade_reference.py --make-fixture DIR
        writes small random diffusers folders: DIR/base (a 16 px class-conditional base), DIR/sr4
        (a 4x stage, consistency sampling) and DIR/sr2a, DIR/sr2b (two 2x stages, DPM-Solver++(2M); sr2a
        in the residual form), weights scaled so activations stay O(1)
  cascade_reference.py --check MODEL.tsr SIZE STEPS SEED CLASS PATH [--init RGBA --strength S [--mask BYTES]]
        one SIZE x SIZE texture from the package as RGBA8 into PATH; with an init image (SIZE x SIZE
        RGBA8) every stage starts from it at strength S (SDEdit), and with a mask (SIZE x SIZE bytes,
        255 = generate) keeps its kept region (RePaint-style blend after every update); a stage at
        1/f of SIZE sees both as means over f x f blocks

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

from edm import EDMPrecond, karras_sigmas, to_u8  # noqa: E402
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
    "sr2a": dict(SR_TESSERA, scale_factor=2, cond_sigma=0.05, sampler="dpmpp_2m", default_steps=2, residual=True),
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
            den = SRPrecond(unet, t["sigma_data"], t.get("residual", False)) if k else EDMPrecond(unet, t["sigma_data"])
            self.stages.append((m["architecture"], t, den))
        self.native = meta["architecture"].get("sample_size") or 64
        self.philox = True  # False: every noise from torch.randn (benchmarks: as a PyTorch pipeline draws it)

    def scale(self, k):
        return math.prod(self.stages[j][1]["scale_factor"] for j in range(1, k + 1))

    def sample(self, den, t, size, stream0, seed, sampler, steps, labels, init=None, mask=None, strength=1.0,
               offset=None):
        """One stage, as docs/SAMPLER.md states it: the last ceil(strength * steps) levels, from
        init + sigma z (sigma z at strength 1; offset + sigma z for a residual stage, whose noise is
        added to x - offset), the DPM-Solver++(2M) or consistency update after each evaluation j,
        then with a mask x = m (init + sigma' z_j) + (1 - m) x. Here the state stays x (the runtime
        samples x - offset): the updates commute with the shift."""
        c = 3

        def z(stream):
            if not self.philox:
                return torch.randn(1, c, size, size, dtype=torch.float64)
            return torch.from_numpy(normal(seed, stream, c * size * size)).reshape(1, c, size, size)

        if sampler == "consistency":
            levels = [float(v) for v in t["step_sigmas"][str(steps)]]
        elif sampler != "dpmpp_2m":
            raise SystemExit(f"the reference runs dpmpp_2m and consistency stages, not {sampler}")
        else:
            levels = karras_sigmas(steps, t.get("sigma_min", 0.002), t.get("sigma_max", 80.0), t.get("rho", 7.0))
            levels = [float(v) for v in levels[:-1]]
        kept = math.ceil(strength * steps - 1e-9)
        if kept == 0:
            return init.clone()
        levels = levels[steps - kept:] + [0.0]
        start = init if init is not None and strength < 1 else offset if offset is not None else 0
        x = start + levels[0] * z(stream0)  # strength 1: from noise
        old = None
        for j in range(kept):
            s, s_next = levels[j], levels[j + 1]
            d = den(x.float(), torch.tensor(s, dtype=torch.float32), labels).double()
            if sampler == "consistency":
                x = d + s_next * z(stream0 | (2 * j + 2))
            elif s_next == 0:
                x = d
            else:
                h = math.log(s) - math.log(s_next)
                if old is None:
                    d_mix = d
                else:
                    r = (math.log(levels[j - 1]) - math.log(s)) / h
                    d_mix = (1 + 1 / (2 * r)) * d - (1 / (2 * r)) * old
                x = (s_next / s) * x - math.expm1(-h) * d_mix
            old = d
            if mask is not None:
                x = mask * (init + s_next * z(stream0 | (2 * j + 3))) + (1 - mask) * x
        return x

    def generate(self, size, steps, seed, cls, sampler, init=None, mask=None, strength=1.0):
        """init: [1, 3, size, size] in [-1, 1]; mask: [1, 1, size, size] keep weights (1 = keep)."""
        k = 0
        while k + 1 < len(self.stages) and size > self.native * self.scale(k):
            k += 1
        base = size // self.scale(k)

        def at(j, v):  # the host's image (or mask) at stage j's size: means over blocks
            f = self.scale(k) // self.scale(j)
            return None if v is None else torch.nn.functional.avg_pool2d(v, f) if f > 1 else v

        _, t0, den0 = self.stages[0]
        with torch.no_grad():
            x = self.sample(den0, t0, base, 0, seed, sampler, steps, torch.tensor([cls]),
                            at(0, init), at(0, mask), strength)
            for j in range(1, k + 1):
                _, t, den = self.stages[j]
                f, sa = t["scale_factor"], t["cond_sigma"]
                zc = (torch.from_numpy(normal(seed, (j << 16) | 1, x.numel()).astype(np.float32)).reshape(x.shape)
                      if self.philox else torch.randn(x.shape))
                cond = condition(x.float(), sa, zc, f)
                bound = lambda xx, sigma, labels=None, den=den, cond=cond, sa=sa: den(xx, sigma, cond, sa)  # noqa: E731
                x = self.sample(bound, t, x.shape[-1] * f, j << 16, seed, t["sampler"], t["default_steps"], None,
                                at(j, init), at(j, mask), strength,
                                cond[:, :3].double() if den.residual else None)
        img = to_u8(x)[0].permute(1, 2, 0).numpy()
        return np.concatenate([img, np.full(img.shape[:2] + (1,), 255, dtype=np.uint8)], axis=2)


def read_inputs(size, init_path, mask_path):
    """The host's RGBA8 init image and 8-bit mask files as the stages' init and keep weights (float64)."""
    rgba = np.fromfile(init_path, dtype=np.uint8).reshape(size, size, 4)
    init = torch.from_numpy(rgba[..., :3].astype(np.float64) / 127.5 - 1).permute(2, 0, 1)[None]
    mask = None
    if mask_path:
        mask = torch.from_numpy(1 - np.fromfile(mask_path, dtype=np.uint8).reshape(1, 1, size, size) / 255.0)
    return init, mask


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--make-fixture", metavar="DIR")
    ap.add_argument("--check", nargs=6, metavar=("MODEL", "SIZE", "STEPS", "SEED", "CLASS", "PATH"))
    ap.add_argument("--init", help="RGBA8 init image of SIZE x SIZE (raw bytes)")
    ap.add_argument("--mask", help="8-bit mask of SIZE x SIZE (raw bytes, 255 = generate)")
    ap.add_argument("--strength", type=float, default=1.0)
    a = ap.parse_args()
    torch.set_num_threads(1)
    if a.make_fixture:
        make_fixture(a.make_fixture)
    elif a.check:
        m, size, steps, seed, cls, path = a.check
        c = Cascade(m)
        init, mask = read_inputs(int(size), a.init, a.mask) if a.init else (None, None)
        c.generate(int(size), int(steps), int(seed), int(cls), c.stages[0][1].get("sampler", "dpmpp_2m"),
                   init, mask, a.strength if a.init else 1.0).tofile(path)
    else:
        ap.error("give --make-fixture or --check")
