#!/usr/bin/env python3
"""Train a super-resolution stage of tessera's cascade (sr.py has the model and its conditioning).

Each sample is a random crop of a training texture at --high px together with the same crop of
the texture's own --low px version (the dataset's periodic resize of the same source), upsampled
periodically: the conditioning shows every discontinuity the target crop has, so the network never
learns to make a seam its input lacks. The crop position, flips and rotations are drawn on the
low-resolution grid, so conditioning and target stay aligned pixel for pixel as at sampling time.
Noise conditioning augmentation: the low-resolution image gets Gaussian noise of a random level
sigma_aug (clean with --p-clean, else log-uniform up to --aug-max), which the network is told.

Resumable like the teacher (run_loop.py); val.jsonl holds the held-out and train denoising loss
of the EMA model at fixed sigmas, fixed crops, fixed noise and sigma_aug = --val-aug.

    nice -n 19 /usr/bin/python3 tools/train/train_sr.py --threads 1     # 64 -> 256, runs/sr256
"""
import argparse
import os
import sys

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import torch  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cpu_alloc import keep_freed_memory  # noqa: E402
from edm import edm_loss_weight, fixed_sigma_losses, to_unit  # noqa: E402
from run_loop import Run, add_run_args  # noqa: E402
from sr import SIGMA_AUG_MIN, SR_CONFIG, SRPrecond, condition, log_uniform, upsample_periodic  # noqa: E402

CACHE = os.path.expanduser("~/.cache/tessera")


class SRPairs:
    """Aligned (low, high) versions of the textures that exist at the high resolution."""

    def __init__(self, data_dir, low, high, split="train", device="cpu"):
        if high % low:
            raise ValueError(f"--high {high} is not a multiple of --low {low}")
        hi = torch.load(os.path.join(data_dir, f"textures_{high}.pt"))
        lo = torch.load(os.path.join(data_dir, f"textures_{low}.pt"))
        row = {t: i for i, t in enumerate(lo["ids"])}
        keep = [i for i, h in enumerate(hi["heldout"].tolist()) if h == (split == "heldout")]
        self.high = hi["images"][keep].to(device)
        self.low = lo["images"][[row[hi["ids"][i]] for i in keep]].to(device)
        self.allow_rot = hi["allow_rot"][keep].tolist()
        self.factor = high // low
        self.device = device

    def __len__(self):
        return len(self.high)

    def sigma_data(self, residual=False):
        """The std of the targets: the high-resolution images, or their residual against the
        periodic bilinear upsampling of their low-resolution versions."""
        if not residual:
            return float(to_unit(self.high).std())
        r = [to_unit(self.high[i:i + 64]) - upsample_periodic(to_unit(self.low[i:i + 64]), self.factor)
             for i in range(0, len(self.high), 64)]
        return float(torch.cat(r).std())

    def batch(self, n, crop, generator, idx=None, augment=True):
        """(high crops, low images rolled/flipped alike) in [-1, 1]; the low images are whole so that
        their periodic upsampling sees the wrap-around, the caller crops the conditioning."""
        if idx is None:
            idx = torch.randint(len(self.high), (n,), generator=generator)
        s_lo = self.low.shape[-1]
        shifts = torch.randint(s_lo, (n, 2), generator=generator).tolist()
        ops = torch.randint(8, (n,), generator=generator).tolist()
        his, los = [], []
        for k, i in enumerate(idx.tolist()):
            h, lo = to_unit(self.high[i]), to_unit(self.low[i])
            if augment:
                sy, sx = shifts[k]
                lo = torch.roll(lo, (sy, sx), (1, 2))
                h = torch.roll(h, (sy * self.factor, sx * self.factor), (1, 2))
                op = ops[k] if self.allow_rot[i] else ops[k] % 2  # only a horizontal flip for directional ones
                if op % 2:
                    lo, h = lo.flip(2), h.flip(2)
                lo, h = torch.rot90(lo, op // 2, (1, 2)), torch.rot90(h, op // 2, (1, 2))
            his.append(h[:, :crop, :crop])
            los.append(lo)
        return torch.stack(his), torch.stack(los)


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_args(ap, os.path.join(CACHE, "runs", "sr256"), os.path.join(CACHE, "sr.pid"))
    ap.add_argument("--data", default=os.path.join(CACHE, "data"))
    ap.add_argument("--low", type=int, default=64, help="resolution of the conditioning")
    ap.add_argument("--high", type=int, default=256, help="resolution of the target")
    ap.add_argument("--crop", type=int, default=64, help="training crop at --high px")
    ap.add_argument("--p-mean", type=float, default=-1.2)
    ap.add_argument("--p-std", type=float, default=1.2)
    ap.add_argument("--p-clean", type=float, default=0.3, help="probability of sigma_aug = the minimum")
    ap.add_argument("--aug-max", type=float, default=0.5, help="largest augmentation noise level")
    ap.add_argument("--val-aug", type=float, default=0.05, help="sigma_aug of the validation loss")
    ap.add_argument("--residual", action="store_true",
                    help="a new run denoises the residual against the upsampled conditioning (sr.py); with "
                         "--init from a plain stage it fine-tunes those weights in the residual form")
    return ap.parse_args(argv)


@torch.no_grad()
def validate(den, sets, sigma_data, crop, sigma_aug, n_img=24, sigmas=(0.05, 0.3, 1.0, 4.0)):
    den.eval()
    out = {}
    for name, ds in sets.items():
        g = torch.Generator().manual_seed(1234)
        idx = torch.randperm(len(ds), generator=g)[:n_img]
        hi, lo = ds.batch(len(idx), crop, g, idx=idx)
        cond = condition(lo, sigma_aug, torch.randn(lo.shape, generator=g), ds.factor)[..., :crop, :crop]
        out[name] = fixed_sigma_losses(lambda xn, sig: den(xn, sig, cond, sigma_aug), hi, sigma_data, g, sigmas)
    return out


def main(argv=None):
    args = parse_args(argv)
    keep_freed_memory()
    if args.device != "cpu":
        raise SystemExit("train_sr.py runs on the CPU (its crops are small); --device cpu")
    train = SRPairs(args.data, args.low, args.high, "train")
    held = SRPairs(args.data, args.low, args.high, "heldout")
    if args.crop > args.high or args.crop % (8 * train.factor):
        raise SystemExit(f"--crop {args.crop} must be at most --high and a multiple of {8 * train.factor}")

    def new_config():
        cfg = dict(SR_CONFIG, sample_size=args.high)
        cfg["tessera"] = {"padding_mode": "circular", "stage": "super_resolution", "scale_factor": train.factor}
        if args.residual:
            cfg["tessera"]["residual"] = True
        return cfg, train.sigma_data(args.residual)

    def adapt_init(cfg, sigma_data):
        """--residual on a plain stage's weights: a new run that fine-tunes them in the residual form."""
        if not args.residual or cfg.get("tessera", {}).get("residual"):
            return cfg, sigma_data
        return dict(cfg, tessera=dict(cfg.get("tessera", {}), residual=True)), train.sigma_data(True)

    run = Run(args, new_config, adapt_init=adapt_init)
    if run.cfg["tessera"]["scale_factor"] != train.factor:
        raise SystemExit(f"the run trains a {run.cfg['tessera']['scale_factor']}x stage, not {train.factor}x")
    run.extra["stage"] = {"low": args.low, "high": args.high}
    sigma_data = run.sigma_data
    den = SRPrecond(run.unet, sigma_data)
    print(f"SR {args.low} -> {args.high} px: train {len(train)} / held-out {len(held)} textures, crops {args.crop}, "
          f"sigma_data {sigma_data:.4f}, {run.parameters():,} parameters", flush=True)
    gen, crop, n = run.gen, args.crop, args.batch

    def loss_fn():
        hi, lo = train.batch(n, crop, gen)
        clean = torch.rand(n, generator=gen) < args.p_clean
        s_aug = torch.where(clean, torch.full((n,), SIGMA_AUG_MIN), log_uniform(n, SIGMA_AUG_MIN, args.aug_max, gen))
        cond = condition(lo, s_aug, torch.randn(lo.shape, generator=gen), train.factor)[..., :crop, :crop]
        sigma = (torch.randn(n, generator=gen) * args.p_std + args.p_mean).exp()
        noise = torch.randn(hi.shape, generator=gen)
        d = den(hi + sigma.view(-1, 1, 1, 1) * noise, sigma, cond, s_aug)
        return (edm_loss_weight(sigma, sigma_data).view(-1, 1, 1, 1) * (d - hi) ** 2).mean()

    run.loop(loss_fn, validate=lambda: validate(SRPrecond(run.ema, sigma_data), {"heldout": held, "train": train},
                                                sigma_data, crop, args.val_aug),
             log_fields=lambda: {"res": f"{args.low}->{args.high}/{crop}"})


if __name__ == "__main__":
    main()
