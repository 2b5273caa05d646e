#!/usr/bin/env python3
"""Evaluate material-stage runs (train_maps.py) on the held-out textures, whole and at full size.

For each held-out texture with a normal or height map, every model makes the maps from the real
albedo (diffusion: DPM-Solver++(2M) with --steps evaluations from fixed noise; regression: one
evaluation). Measures, over the textures that have the map:

* normals: mean angular error in degrees (per texture, then the mean over textures);
* heights: L1 in 0..1 units, and SWD x1e3 (Laplacian pyramid, metrics.swd) against the real heights;
* seam: metrics.seam_scores of the generated maps (~1 means they tile);
* baselines: a flat normal (0, 0, 1), and a height from the albedo's luminance (Rec. 709) with the
  real heights' mean and spread over the held-out set (what a tool without a model offers).

Grids (--grid): rows of albedo | generated normal | real normal | generated height | real height.

    nice -n 19 /usr/bin/python3 tools/train/evaluate_maps.py \\
      --run diffusion=~/.cache/tessera/runs/maps256d/checkpoint.pt --run regression=~/.cache/tessera/runs/maps256r/checkpoint.pt
"""
import argparse
import json
import os
import sys

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from checkpoints import load_checkpoint  # noqa: E402
from edm import karras_sigmas, sample_dpmpp_2m, to_unit  # noqa: E402
from maps import MapsPrecond, MaterialPairs, angular_error_deg, decode  # noqa: E402
from metrics import seam_scores, swd  # noqa: E402
from unet import UNet2DModel  # noqa: E402

CACHE = os.path.expanduser("~/.cache/tessera")


def load_model(path):
    ck = load_checkpoint(path)
    unet = UNet2DModel.from_config(ck["config"]).eval()
    unet.load_state_dict(ck["ema"])
    mode = ck["config"]["tessera"]["maps_mode"]
    return MapsPrecond(unet, ck["sigma_data"], mode), ck


@torch.no_grad()
def predict(den, albedo, steps, seed, batch=4):
    out = []
    for i in range(0, len(albedo), batch):
        a = albedo[i:i + batch]
        if den.mode == "regression":
            out.append(den(None, None, a))
            continue
        g = torch.Generator().manual_seed(seed + i)
        z = torch.randn(a.shape[0], 4, *a.shape[2:], generator=g)
        out.append(sample_dpmpp_2m(lambda x, s, _l: den(x, s.reshape(1), a), z, karras_sigmas(steps), None))
    return torch.cat(out).clamp(-1, 1)


def height_u8(h):
    return (h * 255).round().clamp(0, 255).to(torch.uint8).expand(-1, 3, -1, -1)


def scores(normals, heights, ds, idx_n, idx_h):
    """normals (N,3,H,W unit), heights (N,1,H,W 0..1) for every texture of ds."""
    real_n = to_unit(ds.normal)
    real_n = real_n / real_n.norm(dim=1, keepdim=True).clamp(min=1e-6)
    real_h = ds.height.float() / 255
    r = {}
    if len(idx_n):
        r["normal_deg"] = round(float(angular_error_deg(normals[idx_n], real_n[idx_n]).mean()), 2)
        r["normal_seam"] = round(float(seam_scores(((normals[idx_n] + 1) * 127.5)).mean()), 3)
    if len(idx_h):
        r["height_l1"] = round(float((heights[idx_h] - real_h[idx_h]).abs().mean()), 4)
        per, mean = swd(height_u8(heights[idx_h]), height_u8(real_h[idx_h]))
        r["height_swd"] = round(mean, 1)
        r["height_swd_levels"] = [round(v, 1) for v in per]
        r["height_seam"] = round(float(seam_scores(heights[idx_h] * 255).mean()), 3)
    return r


def save_grid(rows, path, tile):
    """rows: list of lists of uint8 (3,S,S) tensors."""
    cols = max(len(r) for r in rows)
    s = tile
    grid = np.full((len(rows) * (s + 2), cols * (s + 2), 3), 255, np.uint8)
    for ri, row in enumerate(rows):
        for ci, im in enumerate(row):
            a = torch.nn.functional.interpolate(im[None].float(), size=(s, s), mode="area")[0]
            grid[ri * (s + 2):ri * (s + 2) + s, ci * (s + 2):ci * (s + 2) + s] = a.round().byte().permute(1, 2, 0).numpy()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    Image.fromarray(grid).save(path, optimize=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", action="append", default=[], help="NAME=CHECKPOINT (repeatable)")
    ap.add_argument("--data", default=os.path.join(CACHE, "data"))
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--steps", type=int, default=2, help="diffusion: sampler evaluations")
    ap.add_argument("--max-images", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--out", default=os.path.join(CACHE, "eval", "maps"))
    ap.add_argument("--grid", default=None, help="write a grid PNG of the first run here")
    ap.add_argument("--grid-rows", type=int, default=8)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    ds = MaterialPairs(args.data, args.size, "heldout")
    if args.max_images:
        keep = list(range(min(args.max_images, len(ds))))
        for k in ("albedo", "normal", "height", "has", "labels"):
            setattr(ds, k, getattr(ds, k)[keep])
        ds.ids = [ds.ids[i] for i in keep]
    idx_n = torch.nonzero(ds.has[:, 0]).flatten()
    idx_h = torch.nonzero(ds.has[:, 1]).flatten()
    albedo = to_unit(ds.albedo)
    rows = {}
    # Baselines.
    n_flat = torch.zeros(len(ds), 3, args.size, args.size)
    n_flat[:, 2] = 1
    lum = (0.2126 * ds.albedo[:, 0] + 0.7152 * ds.albedo[:, 1] + 0.0722 * ds.albedo[:, 2]).float()[:, None] / 255
    real_h = ds.height.float() / 255
    mu, sd = real_h[idx_h].mean(), real_h[idx_h].std()
    lum_std = lum.flatten(1).std(1).clamp(min=1e-3).view(-1, 1, 1, 1)
    h_lum = ((lum - lum.flatten(1).mean(1).view(-1, 1, 1, 1)) / lum_std * sd + mu).clamp(0, 1)
    rows["flat normal / luminance height"] = scores(n_flat, h_lum, ds, idx_n, idx_h)
    results = {}
    for spec in args.run:
        name, path = spec.split("=", 1)
        den, ck = load_model(os.path.expanduser(path))
        pred = predict(den, albedo, args.steps, args.seed)
        n, h = decode(pred)
        r = scores(n, h, ds, idx_n, idx_h)
        r.update(step=ck.get("step"), cpu_h=round(ck.get("cpu_sec", 0) / 3600, 3),
                 nfe=1 if den.mode == "regression" else args.steps)
        rows[name] = r
        results[name] = (n, h)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "metrics.json"), "w") as f:
        json.dump({"textures": len(ds), "with_normal": len(idx_n), "with_height": len(idx_h), "rows": rows}, f, indent=1)
    print(f"held-out at {args.size} px: {len(idx_n)} normal maps, {len(idx_h)} height maps")
    print("| row | NFE | normal error (deg) | height L1 | height SWD x1e3 | seam (normal / height) | CPU h |")
    print("|---|---|---|---|---|---|---|")
    for name, r in rows.items():
        print(f"| {name} | {r.get('nfe', '-')} | {r.get('normal_deg', '-')} | {r.get('height_l1', '-')} | "
              f"{r.get('height_swd', '-')} | {r.get('normal_seam', '-')} / {r.get('height_seam', '-')} | {r.get('cpu_h', '-')} |")
    if args.grid and results:
        n, h = next(iter(results.values()))
        both = [i for i in range(len(ds)) if ds.has[i, 0] and ds.has[i, 1]][:args.grid_rows]
        grid = [[ds.albedo[i], ((n[i] + 1) * 127.5).round().byte(), ds.normal[i],
                 height_u8(h[i:i + 1])[0], height_u8(real_h[i:i + 1])[0]] for i in both]
        save_grid(grid, args.grid, 96)
        print(f"grid: {args.grid}")


if __name__ == "__main__":
    main()
