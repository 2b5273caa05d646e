#!/usr/bin/env python3
"""Evaluate the cascade (base model, then the SR stage) on the held-out textures at the SR resolution.

The held-out textures that exist at --high px are split into halves A and B (by texture, fixed seed);
every row is compared with half B by SWD on a Laplacian pyramid from --high px down to 16 px, per
level, plus colour W1 and the seam score. Generated rows make one texture per texture of half A with
its class (same class mix), from fixed seeds.

Rows:
  real       real vs real at --high (half A against B): the floor
  real_bic   half A's own --low px version, bicubically upsampled (periodic): what the low resolution keeps
  real_sr    half A's own --low px version through the SR stage: the SR stage alone
  base_bic   the base model's --low px samples, bicubically upsampled
  cascade    the base model's samples through the SR stage
  native     the base model run directly at --high px (what tessera did without a cascade)

    nice -n 19 /usr/bin/python3 tools/train/evaluate_sr.py --base models/default.tsr \\
        --sr ~/.cache/tessera/runs/sr256/checkpoint.pt --out ~/.cache/tessera/eval/sr
"""
import argparse
import json
import os
import sys
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from checkpoints import load_checkpoint  # noqa: E402
from cpu_alloc import keep_freed_memory  # noqa: E402
from edm import guided, karras_sigmas, load_denoiser, sample_consistency, sample_dpmpp_2m, sample_heun  # noqa: E402
from edm import to_u8, to_unit  # noqa: E402
from evaluate import DEFAULT_STUDENT_SIGMAS, save_grid  # noqa: E402
from metrics import colour_distance, seam_scores, swd  # noqa: E402
from sr import SRPrecond, bound, condition  # noqa: E402
from train_sr import SRPairs  # noqa: E402
from unet import UNet2DModel  # noqa: E402

CACHE = os.path.expanduser("~/.cache/tessera")


def bicubic_periodic(x, factor):
    """Bicubic upsampling on the torus (half-pixel centres)."""
    p = F.pad(x, (2, 2, 2, 2), mode="circular")
    h, w = x.shape[-2:]
    up = F.interpolate(p, size=((h + 4) * factor, (w + 4) * factor), mode="bicubic", align_corners=False)
    return up[..., 2 * factor:2 * factor + h * factor, 2 * factor:2 * factor + w * factor]


def load_sr(path):
    ck = load_checkpoint(path)
    unet = UNet2DModel.from_config(ck["config"])
    unet.load_state_dict(ck["ema"])
    return SRPrecond(unet, ck["sigma_data"]).eval(), ck


def sample(den, method, x, sigmas_kw, labels, g, student_sigmas):
    kind, n = method
    if kind == "heun":
        return sample_heun(den, x, karras_sigmas((n + 1) // 2, **sigmas_kw), labels)
    if kind == "dpm2m":
        return sample_dpmpp_2m(den, x, karras_sigmas(n, **sigmas_kw), labels)
    return sample_consistency(den, x, torch.tensor(student_sigmas[n], dtype=torch.float64), labels, generator=g)


def parse_method(s):
    """'dpm2m8' -> ('dpm2m', 8); 'heun35'; 'cm2' (a consistency model's 2 steps)."""
    for kind in ("dpm2m", "heun", "cm"):
        if s.startswith(kind):
            return kind, int(s[len(kind):])
    raise SystemExit(f"unknown method {s} (dpm2mN, heunN, cmN)")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", default="models/default.tsr", help="base model (checkpoint, .tsr or export)")
    ap.add_argument("--base-method", default="cm2", help="cmN for a student, dpm2mN / heunN for a teacher")
    ap.add_argument("--cfg", type=float, default=1.0, help="guidance scale of the base")
    ap.add_argument("--sr", default=os.path.join(CACHE, "runs/sr256/checkpoint.pt"))
    ap.add_argument("--sr-method", default="dpm2m8")
    ap.add_argument("--sr-sigma-max", type=float, default=80.0)
    ap.add_argument("--cond-sigma", type=float, default=0.05, help="sigma_aug at sampling time")
    ap.add_argument("--sr-start", choices=("noise", "cond"), default="noise",
                    help="start the SR sampler from noise at --sr-sigma-max, or from the upsampled conditioning "
                         "plus noise of that level")
    ap.add_argument("--data", default=os.path.join(CACHE, "data"))
    ap.add_argument("--low", type=int, default=64)
    ap.add_argument("--high", type=int, default=256)
    ap.add_argument("--rows", default="real,real_bic,real_sr,base_bic,cascade,native")
    ap.add_argument("--max-images", type=int, default=0, help="limit each half (0: all)")
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=2000)
    ap.add_argument("--out", default=os.path.join(CACHE, "eval/sr"))
    ap.add_argument("--grid-dir", default=None, help="write 256 px contact sheets (PNG) here")
    ap.add_argument("--grid-count", type=int, default=8)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    keep_freed_memory()
    os.makedirs(args.out, exist_ok=True)

    held = SRPairs(args.data, args.low, args.high, "heldout")
    perm = torch.randperm(len(held), generator=torch.Generator().manual_seed(0))
    a_idx, b_idx = perm[: len(held) // 2], perm[len(held) // 2:]
    if args.max_images:
        a_idx, b_idx = a_idx[: args.max_images], b_idx[: args.max_images]
    real_b = held.high[b_idx]
    labels = torch.load(os.path.join(args.data, f"textures_{args.high}.pt"))
    labels_a = labels["labels"][labels["heldout"]][a_idx]
    f = held.factor

    base, bck = load_denoiser(args.base)
    null = base.unet.config["num_class_embeds"] - 1
    base_g = guided(base, null, args.cfg)
    student_sigmas = dict(DEFAULT_STUDENT_SIGMAS)
    student_sigmas.update({int(k): v for k, v in bck.get("step_sigmas", {}).items()})
    bm, srm = parse_method(args.base_method), parse_method(args.sr_method)
    sr_den, sck = load_sr(args.sr) if os.path.exists(args.sr) else (None, None)
    base_kw = dict(sigma_min=0.002, sigma_max=80.0, rho=7.0)
    sr_kw = dict(sigma_min=0.002, sigma_max=args.sr_sigma_max, rho=7.0)

    def base_samples(res):
        out = []
        for i in range(0, len(labels_a), args.batch):
            y = labels_a[i:i + args.batch]
            g = torch.Generator().manual_seed(args.seed + i)
            x = torch.randn(len(y), 3, res, res, generator=g)
            out.append(sample(base_g, bm, x, base_kw, y, g, student_sigmas).clamp(-1, 1))
        return torch.cat(out)

    def super_resolve(low):
        out = []
        for i in range(0, len(low), args.batch):
            lo = low[i:i + args.batch]
            g = torch.Generator().manual_seed(args.seed + 10 ** 6 + i)
            cond = condition(lo, args.cond_sigma, torch.randn(lo.shape, generator=g), f)
            x = torch.randn(len(lo), 3, args.high, args.high, generator=g)
            # sample_* scale x by the first sigma; the start is cond + sigma z (a residual stage's noise
            # is added to x - cond, so it always starts there)
            if args.sr_start == "cond" or sr_den.residual:
                x = x + cond[:, :3] / args.sr_sigma_max
            out.append(sample(bound(sr_den, cond, args.cond_sigma), srm, x, sr_kw, None, g, {}))
        return torch.cat(out)

    cache = {}

    def base_low():
        if "base" not in cache:
            cache["base"] = base_samples(args.low)
        return cache["base"]

    real_low_a = to_unit(held.low[a_idx])
    makers = {
        "real": ("real vs real (held-out A vs B)", lambda: to_unit(held.high[a_idx])),
        "real_bic": (f"real {args.low} px, bicubic", lambda: bicubic_periodic(real_low_a, f)),
        "real_sr": (f"real {args.low} px, SR stage", lambda: super_resolve(real_low_a)),
        "base_bic": ("base, bicubic", lambda: bicubic_periodic(base_low(), f)),
        "cascade": ("cascade (base, SR stage)", lambda: super_resolve(base_low())),
        "native": (f"base run at {args.high} px", lambda: base_samples(args.high)),
    }
    results = []
    for key in args.rows.split(","):
        name, make = makers[key]
        if key in ("real_sr", "cascade") and sr_den is None:
            print(f"skip {key}: no SR checkpoint at {args.sr}")
            continue
        t0 = time.time()
        with torch.no_grad():
            imgs = to_u8(make())
        sec = time.time() - t0
        per, mean = swd(imgs, real_b)
        row = {"key": key, "name": name, "swd": round(mean, 2), "swd_levels": [round(p, 2) for p in per],
               "colour": round(colour_distance(imgs, real_b), 2), "seam": round(float(seam_scores(imgs).mean()), 3),
               "n": len(imgs), "sec_per_image": round(sec / len(imgs), 3)}
        results.append(row)
        print(json.dumps(row), flush=True)
        if args.grid_dir:
            save_grid(imgs[: args.grid_count], os.path.join(args.grid_dir, f"sr_{key}.png"), args.grid_count // 2)

    levels = [args.high >> k for k in range(len(results[0]["swd_levels"]))] if results else []
    header = (f"| row | SWD x1e3 (mean; {' / '.join(f'{s} px' for s in levels)}) | colour W1 | seam | n | s / image |\n"
              "|---|---|---|---|---|---|\n")
    lines = [f"| {r['name']} | {r['swd']:.1f} ({' / '.join(f'{p:.1f}' for p in r['swd_levels'])}) | "
             f"{r['colour']:.1f} | {r['seam']:.3f} | {r['n']} | {r['sec_per_image']} |" for r in results]
    table = header + "\n".join(lines) + "\n"
    info = {"base": {"path": args.base, "step": bck.get("step"), "method": args.base_method, "cfg": args.cfg},
            "sr": {"path": args.sr, "step": sck.get("step") if sck else None,
                   "cpu_hours": round(sck.get("cpu_sec", 0) / 3600, 3) if sck else None,
                   "method": args.sr_method, "cond_sigma": args.cond_sigma}}
    with open(os.path.join(args.out, "table.md"), "w") as fh:
        fh.write(table)
    with open(os.path.join(args.out, "metrics.json"), "w") as fh:
        json.dump({"rows": results, "models": info, "reference": f"held-out half B ({len(real_b)} textures)"},
                  fh, indent=1)
    print(table)


if __name__ == "__main__":
    main()
