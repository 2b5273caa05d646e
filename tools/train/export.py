#!/usr/bin/env python3
"""Export a teacher or student checkpoint in the diffusers UNet2DModel layout.

<out>/config.json                          diffusers UNet2DModel config + a "tessera" section
<out>/diffusion_pytorch_model.safetensors  F32 weights (EMA by default), our own writer

The "tessera" section carries what the runtime needs besides the network:
preconditioning (EDM: sigma_data, c_noise = ln(sigma)/4), the sigma range and
schedule of the teacher, the distilled step sigmas of a student, class names and
the null class for guidance, padding mode, and a data / training summary; for a
super-resolution stage (train_sr.py) its scale factor and conditioning noise level instead of classes.
The export is verified by reading it back and comparing a forward pass.
"""
import argparse
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from checkpoints import load_checkpoint  # noqa: E402
from edm import EDMPrecond  # noqa: E402
from safetensors_io import load_file, save_file  # noqa: E402
from sr import SRPrecond  # noqa: E402
from unet import UNet2DModel  # noqa: E402

CACHE = os.path.expanduser("~/.cache/tessera")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", default=os.path.join(CACHE, "runs/teacher64/checkpoint.pt"))
    ap.add_argument("--out", default=os.path.join(CACHE, "export/teacher64"))
    ap.add_argument("--data", default=os.path.join(CACHE, "data"), help="for the data summary")
    ap.add_argument("--raw", action="store_true", help="export the raw weights instead of the EMA")
    ap.add_argument("--sigma-min", type=float, default=0.002)
    ap.add_argument("--sigma-max", type=float, default=80.0)
    ap.add_argument("--rho", type=float, default=7.0)
    ap.add_argument("--guidance", type=float, default=1.0, help="recommended CFG scale recorded in the config")
    ap.add_argument("--sampler", default=None,
                    help="recommended sampler (default: consistency for a student, dpmpp_2m for a teacher)")
    ap.add_argument("--steps", type=int, default=None,
                    help="recommended step count (default: 2 for a student, 16 for a teacher, 8 for an SR stage)")
    ap.add_argument("--cond-sigma", type=float, default=0.05,
                    help="an SR stage's noise augmentation level at sampling time (sigma_aug)")
    args = ap.parse_args()

    ckpt = load_checkpoint(args.checkpoint)
    cfg = dict(ckpt["config"])
    tess_in = cfg.pop("tessera", {})
    cfg["dropout"] = 0.0  # inference config
    model = UNet2DModel.from_config(dict(cfg, tessera=tess_in)).eval()
    model.load_state_dict(ckpt["model" if args.raw else "ema"])
    student = ckpt.get("kind") == "consistency"

    summary = {}
    sp = os.path.join(args.data, "summary.json")
    if os.path.exists(sp):
        with open(sp) as f:
            s = json.load(f)
        summary = {"packages": {p: d["version"] for p, d in s["packages"].items()}, "train": s["train"],
                   "heldout": s["heldout"], "licences": s["licences"],
                   "per_category": {c: v["train"] + v["heldout"] for c, v in s["per_category"].items()}}
    sr = tess_in.get("stage") == "super_resolution"
    classes = None if sr else tess_in.get("classes") or ckpt.get("classes")
    # Keys the runtime reads (docs/FORMAT.md); everything descriptive goes under "data".
    tessera = {
        "sigma_data": ckpt["sigma_data"],
        "sigma_min": args.sigma_min,
        "sigma_max": args.sigma_max,
        "rho": args.rho,
        "padding_mode": tess_in.get("padding_mode", "circular"),
        "sampler": args.sampler or ("consistency" if student else "dpmpp_2m"),
        "default_steps": args.steps or (2 if student else 8 if sr else 16),
    }
    if sr:  # conditioning of the stage (tools/train/sr.py)
        tessera.update(stage="super_resolution", scale_factor=tess_in["scale_factor"], cond_sigma=args.cond_sigma)
        if tess_in.get("residual"):  # it denoises x - u (train_sr.py --residual)
            tessera["residual"] = True
    else:
        tessera.update(classes=classes, null_class=len(classes), guidance_scale=args.guidance)
    tessera.update({
        "data": {
            "kind": "consistency" if student else "edm",
            "precondition": "edm, c_noise = ln(sigma)/4",
            "value_range": [-1.0, 1.0],
            "color_space": "sRGB",
            "weights": "raw" if args.raw else "ema",
            "training": {"step": ckpt.get("step"), "kimg": round(ckpt.get("nimg", 0) / 1000, 1),
                         "train_hours": round(ckpt.get("train_sec", 0.0) / 3600, 2),
                         "cpu_hours": round(ckpt.get("cpu_sec", 0.0) / 3600, 2)},
            "dataset": summary,
        },
    })
    if sr:
        tessera["data"]["precondition"] = ("edm, c_noise = ln(sigma)/4; input channels 3-5: the upsampled "
                                           "low-resolution image; class label ln(sigma_aug)/4")
        tessera["data"]["stage"] = ckpt.get("stage")
    if student:
        tessera["step_sigmas"] = ckpt["step_sigmas"]  # {"steps": [sigmas...]}
        teacher = dict(ckpt.get("teacher") or {})
        if teacher.get("path"):  # a file name, not a path on the machine that trained it
            teacher["path"] = os.path.basename(teacher["path"])
        tessera["data"]["teacher"] = teacher
    config = model.to_config()
    config["tessera"] = tessera

    os.makedirs(args.out, exist_ok=True)
    weights = os.path.join(args.out, "diffusion_pytorch_model.safetensors")
    save_file({k: v.float() for k, v in model.state_dict().items()}, weights, {"format": "pt"})
    tmp = os.path.join(args.out, "config.json.tmp")
    with open(tmp, "w") as f:
        json.dump(config, f, indent=2)
        f.write("\n")
    os.replace(tmp, os.path.join(args.out, "config.json"))

    # Verify: rebuild from the written files and compare the denoiser on a fixed input.
    with open(os.path.join(args.out, "config.json")) as f:
        cfg2 = json.load(f)
    back = UNet2DModel.from_config(cfg2).eval()
    tensors, meta = load_file(weights)
    back.load_state_dict(tensors)
    assert set(tensors) == set(model.state_dict()), "key mismatch"
    g = torch.Generator().manual_seed(0)
    s = min(cfg2["sample_size"], 64)
    x = torch.randn(2, 3, s, s, generator=g)
    sigma = torch.tensor([0.5, 5.0])
    with torch.no_grad():
        if sr:
            cond = torch.randn(2, 3, s, s, generator=g)
            res = bool(tess_in.get("residual"))
            a = SRPrecond(model, ckpt["sigma_data"], res)(x, sigma, cond, torch.tensor([0.01, 0.3]))
            b = SRPrecond(back, cfg2["tessera"]["sigma_data"], cfg2["tessera"].get("residual", False))(
                x, sigma, cond, torch.tensor([0.01, 0.3]))
        else:
            y = torch.tensor([0, len(classes)])
            a = EDMPrecond(model, ckpt["sigma_data"])(x, sigma, y)
            b = EDMPrecond(back, cfg2["tessera"]["sigma_data"])(x, sigma, y)
    err = (a - b).abs().max().item()
    assert err == 0.0, err
    n = sum(t.numel() for t in tensors.values())
    print(f"exported {len(tensors)} tensors ({n:,} parameters, {os.path.getsize(weights) / 1e6:.1f} MB) "
          f"to {args.out}; reload check exact")


if __name__ == "__main__":
    main()
