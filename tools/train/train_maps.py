#!/usr/bin/env python3
"""Train tessera's material stage (maps.py): normal and height maps from an albedo texture.

Random crops of the --size px training textures with their maps, augmented by rolls, flips and
quarter turns that turn the normals with the image; a map a texture lacks is masked out of the
loss. --mode diffusion trains an EDM denoiser of the maps conditioned on the albedo (sampled in a
few steps); --mode regression trains the same network to predict the maps directly (masked L2).
The two are compared at equal CPU time (--max-cpu-min) by evaluate_maps.py.

Resumable like the other runs (run_loop.py); val.jsonl holds the held-out and train loss of the
EMA model on fixed crops (diffusion: the denoising loss at fixed sigmas and noise).

    nice -n 19 /usr/bin/python3 tools/train/train_maps.py --mode diffusion --threads 1   # runs/maps256d
"""
import argparse
import os
import sys

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import torch  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cpu_alloc import keep_freed_memory  # noqa: E402
from edm import edm_loss_weight  # noqa: E402
from maps import MAPS_CONFIG, MapsPrecond, MaterialPairs  # noqa: E402
from run_loop import Run, add_run_args  # noqa: E402

CACHE = os.path.expanduser("~/.cache/tessera")


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_args(ap, os.path.join(CACHE, "runs", "maps256d"), os.path.join(CACHE, "maps.pid"))
    ap.add_argument("--data", default=os.path.join(CACHE, "data"))
    ap.add_argument("--mode", choices=["diffusion", "regression"], default="diffusion")
    ap.add_argument("--size", type=int, default=256, help="resolution of the textures the crops come from")
    ap.add_argument("--crop", type=int, default=64)
    ap.add_argument("--p-mean", type=float, default=-1.2)
    ap.add_argument("--p-std", type=float, default=1.2)
    return ap.parse_args(argv)


def masked_mean(err, mask):
    """Mean of err (N,C,H,W) over the channels the mask (N,C) keeps."""
    m = mask[:, :, None, None].expand_as(err)
    return (err * m).sum() / m.sum().clamp(min=1)


@torch.no_grad()
def validate(den, sets, sigma_data, crop, mode, n_img=24, sigmas=(0.05, 0.3, 1.0, 4.0)):
    den.eval()
    out = {}
    for name, ds in sets.items():
        g = torch.Generator().manual_seed(1234)
        idx = torch.randperm(len(ds), generator=g)[:n_img]
        alb, tgt, mask = ds.batch(len(idx), crop, g, idx=idx)
        if mode == "regression":
            out[name] = {"l2": round(float(masked_mean((den(None, None, alb) - tgt) ** 2, mask)), 5)}
            continue
        res = {}
        for s in sigmas:
            sig = torch.full((len(idx),), s)
            x = tgt + s * torch.randn(tgt.shape, generator=g)
            w = float(edm_loss_weight(torch.tensor(s), sigma_data))
            res[str(s)] = round(w * float(masked_mean((den(x, sig, alb) - tgt) ** 2, mask)), 5)
        out[name] = res
    return out


def main(argv=None):
    args = parse_args(argv)
    keep_freed_memory()
    if args.device != "cpu":
        raise SystemExit("train_maps.py runs on the CPU (its crops are small); --device cpu")
    train = MaterialPairs(args.data, args.size, "train")
    held = MaterialPairs(args.data, args.size, "heldout")
    if args.crop > args.size or args.crop % 8:
        raise SystemExit(f"--crop {args.crop} must be at most --size and a multiple of 8")

    def new_config():
        cfg = dict(MAPS_CONFIG, sample_size=args.size)
        cfg["tessera"] = {"padding_mode": "circular", "stage": "material_maps", "maps_mode": args.mode,
                          "maps": ["normal_x", "normal_y", "normal_z", "height"]}
        return cfg, train.sigma_data()

    run = Run(args, new_config)
    mode = run.cfg["tessera"]["maps_mode"]
    if mode != args.mode:
        raise SystemExit(f"the run in {args.run_dir} trains --mode {mode}")
    sigma_data = run.sigma_data
    den = MapsPrecond(run.unet, sigma_data, mode)
    print(f"maps ({mode}) at {args.size} px: train {len(train)} / held-out {len(held)} textures, crops {args.crop}, "
          f"sigma_data {sigma_data:.4f}, {run.parameters():,} parameters", flush=True)
    gen, n = run.gen, args.batch

    def loss_fn():
        alb, tgt, mask = train.batch(n, args.crop, gen)
        if mode == "regression":
            return masked_mean((den(None, None, alb) - tgt) ** 2, mask)
        sigma = (torch.randn(n, generator=gen) * args.p_std + args.p_mean).exp()
        x = tgt + sigma.view(-1, 1, 1, 1) * torch.randn(tgt.shape, generator=gen)
        err = edm_loss_weight(sigma, sigma_data).view(-1, 1, 1, 1) * (den(x, sigma, alb) - tgt) ** 2
        return masked_mean(err, mask)

    run.loop(loss_fn, validate=lambda: validate(MapsPrecond(run.ema, sigma_data, mode),
                                                {"heldout": held, "train": train}, sigma_data, args.crop, mode),
             log_fields=lambda: {"mode": mode})


if __name__ == "__main__":
    main()
