#!/usr/bin/env python3
"""Train tessera's EDM teacher (class-conditional, circular-padded UNet2DModel).

Resumable (run_loop.py: checkpoint.pt, log.jsonl, snapshots, --init, --pid-file); val.jsonl holds
the held-out and train denoising loss of the EMA model at fixed sigmas and noise.
"""
import argparse
import json
import os
import sys

# Passive OpenMP waiting: on a shared machine a spinning thread burns the core the other one
# needs (measured: 2 spinning threads used 2.5x the CPU of 1 thread for the same step).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import torch  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cpu_alloc import keep_freed_memory  # noqa: E402
from data import TextureSet  # noqa: E402
from edm import EDMPrecond, edm_loss_weight, fixed_sigma_losses  # noqa: E402
from run_loop import Run, add_run_args  # noqa: E402
from unet import TESSERA_CONFIG  # noqa: E402

CACHE = os.path.expanduser("~/.cache/tessera")


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_args(ap, os.path.join(CACHE, "runs", "teacher64"), os.path.join(CACHE, "train.pid"))
    ap.add_argument("--data", default=os.path.join(CACHE, "data"))
    ap.add_argument("--resolution", type=int, default=64)
    ap.add_argument("--p-uncond", type=float, default=0.1, help="probability of the null class (for CFG)")
    ap.add_argument("--p-mean", type=float, default=-1.2)
    ap.add_argument("--p-std", type=float, default=1.2)
    ap.add_argument("--no-roll", action="store_true")
    ap.add_argument("--no-flip", action="store_true")
    ap.add_argument("--no-rotate", action="store_true")
    return ap.parse_args(argv)


def build_config(args, classes):
    if args.config:
        with open(args.config) as f:
            cfg = json.load(f)
    else:
        cfg = dict(TESSERA_CONFIG)
    cfg["sample_size"] = args.resolution
    cfg["num_class_embeds"] = len(classes) + 1  # last index = null class for classifier-free guidance
    cfg["tessera"] = {"padding_mode": "circular", "classes": classes, "null_class": len(classes)}
    return cfg


@torch.no_grad()
def validate(den, sets, sigma_data, device, n_img=24, sigmas=(0.05, 0.3, 1.0, 4.0)):
    """Weighted denoising loss at fixed sigmas with fixed noise: comparable over time and train vs held-out."""
    den.eval()
    out = {}
    for name, ds in sets.items():
        g = torch.Generator().manual_seed(1234)
        idx = torch.randperm(len(ds), generator=g)[:n_img]
        x = (ds.images[idx].float() / 127.5 - 1).to(device)
        y = ds.labels[idx].to(device)
        out[name] = fixed_sigma_losses(lambda xn, sig: den(xn, sig, y), x, sigma_data, g, sigmas)
    return out


def main(argv=None):
    args = parse_args(argv)
    keep_freed_memory()
    device = torch.device(args.device)
    train = TextureSet(args.data, args.resolution, "train", device)
    held = TextureSet(args.data, args.resolution, "heldout", device)
    run = Run(args, lambda: (build_config(args, train.classes), train.sigma_data()), args.resolution)
    run.extra["classes"] = train.classes
    sigma_data = run.sigma_data
    den = EDMPrecond(run.unet, sigma_data)
    print(f"train {len(train)} / held-out {len(held)} textures at {args.resolution}px, sigma_data {sigma_data:.4f}, "
          f"{run.parameters():,} parameters, device {device}", flush=True)
    null = len(train.classes)
    gen = run.gen

    def loss_fn():
        x, y = train.batch(args.batch, gen, roll=not args.no_roll, flip=not args.no_flip,
                           rotate=not args.no_rotate)
        drop = torch.rand(args.batch, generator=gen).to(device) < args.p_uncond
        y = torch.where(drop, torch.full_like(y, null), y)
        sigma = (torch.randn(args.batch, generator=gen) * args.p_std + args.p_mean).exp().to(device)
        noise = torch.randn(x.shape, generator=gen).to(device)
        d = den(x + sigma.view(-1, 1, 1, 1) * noise, sigma, y)
        return (edm_loss_weight(sigma, sigma_data).view(-1, 1, 1, 1) * (d - x) ** 2).mean()

    run.loop(loss_fn,
             validate=lambda: validate(EDMPrecond(run.ema, sigma_data), {"heldout": held, "train": train},
                                       sigma_data, device),
             log_fields=lambda: {"res": args.resolution})


if __name__ == "__main__":
    main()
