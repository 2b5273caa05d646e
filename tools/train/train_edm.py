#!/usr/bin/env python3
"""Train tessera's EDM teacher (class-conditional, circular-padded UNet2DModel).

Resumable: the run directory holds config.json, checkpoint.pt (model, EMA,
optimizer, step, RNG states; written atomically every --ckpt-min minutes and on
SIGTERM/SIGINT), log.jsonl (one line per --log-every steps) and val.jsonl
(held-out and train denoising loss of the EMA model at fixed sigmas and noise).
Starting the same command again continues from checkpoint.pt.  The process id is
written to --pid-file so that others can pause the run (SIGSTOP / SIGCONT).
"""
import argparse
import json
import os
import signal
import sys
import time

# Passive OpenMP waiting: on a shared machine a spinning thread burns the core the other one
# needs (measured: 2 spinning threads used 2.5x the CPU of 1 thread for the same step).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import torch  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cpu_alloc import keep_freed_memory  # noqa: E402
from checkpoints import load_checkpoint  # noqa: E402
from data import TextureSet  # noqa: E402
from edm import EDMPrecond, atomic_save, edm_loss_weight, lr_at, power_ema_gamma  # noqa: E402
from unet import TESSERA_CONFIG, UNet2DModel  # noqa: E402

CACHE = os.path.expanduser("~/.cache/tessera")


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run-dir", default=os.path.join(CACHE, "runs", "teacher64"))
    ap.add_argument("--data", default=os.path.join(CACHE, "data"))
    ap.add_argument("--resolution", type=int, default=64)
    ap.add_argument("--device", default="cpu", help="cpu or cuda (the same run can move between them)")
    ap.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=2e-4, help="Adam learning rate after warm-up")
    ap.add_argument("--warmup", type=int, default=500, help="linear warm-up steps")
    ap.add_argument("--decay-ref", type=int, default=40000,
                    help="inverse-sqrt decay lr*sqrt(ref/step) after this step (0: constant lr)")
    ap.add_argument("--dropout", type=float, default=0.0, help="ResNet dropout (may change on resume)")
    ap.add_argument("--p-uncond", type=float, default=0.1, help="probability of the null class (for CFG)")
    ap.add_argument("--p-mean", type=float, default=-1.2)
    ap.add_argument("--p-std", type=float, default=1.2)
    ap.add_argument("--ema", choices=["power", "halflife"], default="power")
    ap.add_argument("--ema-sigma-rel", type=float, default=0.1, help="power-function EMA width (EDM2)")
    ap.add_argument("--ema-halflife-kimg", type=float, default=50.0, help="for --ema halflife")
    ap.add_argument("--no-roll", action="store_true")
    ap.add_argument("--no-flip", action="store_true")
    ap.add_argument("--no-rotate", action="store_true")
    ap.add_argument("--grad-clip", type=float, default=0.0, help="clip grad norm (0: off)")
    ap.add_argument("--max-steps", type=int, default=0, help="stop after this many steps (0: run until killed)")
    ap.add_argument("--max-wall-min", type=float, default=0.0,
                    help="stop after this many minutes of this process (0: no limit; for a GPU run's time box)")
    ap.add_argument("--max-cpu-min", type=float, default=0.0,
                    help="stop once the run has used this much CPU time in all (0: no limit); pilots are "
                         "compared at equal CPU time, which a shared machine does not distort as it does wall time")
    ap.add_argument("--ckpt-min", type=float, default=5.0, help="checkpoint interval in minutes")
    ap.add_argument("--snapshot-every", type=int, default=5000, help="keep EMA snapshots every N steps")
    ap.add_argument("--val-min", type=float, default=30.0, help="validation interval in minutes (0: off)")
    ap.add_argument("--log-every", type=int, default=50)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--pid-file", default=os.path.join(CACHE, "train.pid"))
    ap.add_argument("--config", help="UNet config.json to use instead of the built-in TESSERA_CONFIG "
                                     "(only for a new run)")
    ap.add_argument("--init", help="start a new run from these weights (a .tsr package, an export directory or a "
                                   "checkpoint): config, sigma_data, weights and step counters are "
                                   "taken over, the optimizer starts fresh with --warmup steps of warm-up")
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
        per = []
        for s in sigmas:
            noise = torch.randn(x.shape, generator=g).to(device)
            sig = torch.full((len(x),), s, device=device)
            d = den(x + s * noise, sig, y)
            per.append(float((edm_loss_weight(sig, sigma_data).view(-1, 1, 1, 1) * (d - x) ** 2).mean()))
        out[name] = {"mean": sum(per) / len(per), "per_sigma": dict(zip(map(str, sigmas), per))}
    return out


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    keep_freed_memory()
    device = torch.device(args.device)
    os.makedirs(args.run_dir, exist_ok=True)
    if args.pid_file:
        os.makedirs(os.path.dirname(args.pid_file), exist_ok=True)
        with open(args.pid_file, "w") as f:
            f.write(f"{os.getpid()}\n")

    train = TextureSet(args.data, args.resolution, "train", device)
    held = TextureSet(args.data, args.resolution, "heldout", device)
    ckpt_path = os.path.join(args.run_dir, "checkpoint.pt")
    resume = torch.load(ckpt_path, map_location="cpu") if os.path.exists(ckpt_path) else None
    new_run = resume is None

    init = load_checkpoint(args.init) if args.init and new_run else None
    if resume:
        cfg, sigma_data = resume["config"], resume["sigma_data"]
    elif init:
        cfg, sigma_data = init["config"], init["sigma_data"]
    else:
        cfg, sigma_data = build_config(args, train.classes), train.sigma_data()
    torch.manual_seed(args.seed)  # weight init
    # Dropout is a training choice, not a weight, and the network runs at any size: both may change on
    # resume (a progressive run trains at 32 px, then continues at 64 px).
    cfg = dict(cfg, dropout=args.dropout, sample_size=args.resolution)
    unet = UNet2DModel.from_config(cfg).to(device)
    ema = UNet2DModel.from_config(cfg).to(device).eval()
    ema.load_state_dict(unet.state_dict())
    for p in ema.parameters():
        p.requires_grad_(False)
    den = EDMPrecond(unet, sigma_data)
    opt = torch.optim.Adam(unet.parameters(), lr=args.lr, betas=(0.9, 0.999), eps=1e-8)
    gen = torch.Generator().manual_seed(args.seed)  # drives data sampling and augmentation
    step, nimg, train_sec, cpu_sec = 0, 0, 0.0, 0.0
    warm_from = 0  # the step the learning-rate warm-up counts from (a fresh optimizer needs one)
    if resume:
        warm_from = resume.get("warm_from", 0)
        unet.load_state_dict(resume["model"])
        ema.load_state_dict(resume["ema"])
        opt.load_state_dict(resume["optimizer"])
        step, nimg, train_sec = resume["step"], resume["nimg"], resume.get("train_sec", 0.0)
        cpu_sec = resume.get("cpu_sec", train_sec * args.threads)
        gen.set_state(resume["rng"]["data"])
        torch.set_rng_state(resume["rng"]["torch"])
        if device.type == "cuda" and resume["rng"].get("cuda") is not None:
            torch.cuda.set_rng_state(resume["rng"]["cuda"])
        print(f"resumed from step {step} ({nimg / 1000:.1f} kimg)", flush=True)
        del resume
    elif init:
        unet.load_state_dict(init["model"])
        ema.load_state_dict(init["ema"])
        step, nimg, train_sec = init.get("step") or 0, init.get("nimg", 0), init.get("train_sec", 0.0)
        cpu_sec = init.get("cpu_sec", train_sec * args.threads)
        warm_from = step
        print(f"new run from the weights of {args.init} (step {step}, {nimg / 1000:.1f} kimg)", flush=True)
        del init
    if new_run:  # records the network it trains
        with open(os.path.join(args.run_dir, "config.json"), "w") as f:
            json.dump(cfg, f, indent=1)
    print(f"train {len(train)} / held-out {len(held)} textures at {args.resolution}px, sigma_data {sigma_data:.4f}, "
          f"{sum(p.numel() for p in unet.parameters()):,} parameters, device {device}", flush=True)
    with open(os.path.join(args.run_dir, "args.json"), "w") as f:
        json.dump(vars(args), f, indent=1)

    gamma = power_ema_gamma(args.ema_sigma_rel)
    null = len(train.classes)

    def save():
        state = {
            "config": cfg, "sigma_data": sigma_data, "model": unet.state_dict(), "ema": ema.state_dict(),
            "optimizer": opt.state_dict(), "step": step, "nimg": nimg, "train_sec": train_sec, "cpu_sec": cpu_sec,
            "rng": {"data": gen.get_state(), "torch": torch.get_rng_state(),
                    "cuda": torch.cuda.get_rng_state() if device.type == "cuda" else None},
            "args": vars(args), "ema_kind": args.ema, "ema_gamma": gamma, "classes": train.classes,
            "warm_from": warm_from,
        }
        atomic_save(state, ckpt_path)

    stop = {"now": False}

    def on_signal(signum, frame):
        stop["now"] = True  # finish the current step, checkpoint, exit

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    log = open(os.path.join(args.run_dir, "log.jsonl"), "a")
    last_ckpt = last_val = time.time()
    acc_loss, acc_n, t_log, cpu_log = 0.0, 0, time.time(), time.process_time()
    unet.train()
    t_start = time.time()
    while not stop["now"] and (args.max_steps == 0 or step < args.max_steps) and \
            (args.max_cpu_min == 0 or cpu_sec < args.max_cpu_min * 60) and \
            (args.max_wall_min == 0 or time.time() - t_start < args.max_wall_min * 60):
        t0, c0 = time.time(), time.process_time()
        lr = lr_at(step, args.lr, args.warmup, args.decay_ref, warm_from)
        for g in opt.param_groups:
            g["lr"] = lr
        x, y = train.batch(args.batch, gen, roll=not args.no_roll, flip=not args.no_flip,
                           rotate=not args.no_rotate)
        drop = torch.rand(args.batch, generator=gen).to(device) < args.p_uncond
        y = torch.where(drop, torch.full_like(y, null), y)
        sigma = (torch.randn(args.batch, generator=gen) * args.p_std + args.p_mean).exp().to(device)
        noise = torch.randn(x.shape, generator=gen).to(device)
        d = den(x + sigma.view(-1, 1, 1, 1) * noise, sigma, y)
        loss = (edm_loss_weight(sigma, sigma_data).view(-1, 1, 1, 1) * (d - x) ** 2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if args.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(unet.parameters(), args.grad_clip)
        opt.step()
        step += 1
        nimg += args.batch

        # EMA: power-function profile beta = (1 - 1/t)^(gamma+1) (EDM2), or a fixed half-life in images
        # with EDM's ramp-up (half-life <= 5% of the images seen so far).
        if args.ema == "power":
            beta = (1 - 1 / step) ** (gamma + 1)
        else:
            hl = min(args.ema_halflife_kimg * 1000, nimg * 0.05)
            beta = 0.5 ** (args.batch / max(hl, 1e-8))
        with torch.no_grad():
            for pe, pm in zip(ema.parameters(), unet.parameters()):
                pe.lerp_(pm, 1 - beta)

        train_sec += time.time() - t0
        cpu_sec += time.process_time() - c0
        acc_loss += loss.item()
        acc_n += 1
        if step % args.log_every == 0:
            now = time.time()
            rec = {"step": step, "kimg": round(nimg / 1000, 3), "loss": round(acc_loss / acc_n, 5),
                   "img_s": round(acc_n * args.batch / (now - t_log), 2),
                   "cpu_s_per_img": round((time.process_time() - cpu_log) / (acc_n * args.batch), 4),
                   "lr": lr, "train_h": round(train_sec / 3600, 3), "cpu_h": round(cpu_sec / 3600, 3),
                   "res": args.resolution, "time": int(now)}
            log.write(json.dumps(rec) + "\n")
            log.flush()
            print(" ".join(f"{k} {v}" for k, v in rec.items() if k != "time"), flush=True)
            acc_loss, acc_n, t_log, cpu_log = 0.0, 0, now, time.process_time()
        if args.val_min > 0 and time.time() - last_val > args.val_min * 60:
            v = validate(EDMPrecond(ema, sigma_data), {"heldout": held, "train": train}, sigma_data, device)
            with open(os.path.join(args.run_dir, "val.jsonl"), "a") as f:
                f.write(json.dumps({"step": step, "kimg": round(nimg / 1000, 3), "cpu_h": round(cpu_sec / 3600, 3),
                                    **v}) + "\n")
            print(f"val step {step}: held-out {v['heldout']['mean']:.4f} train {v['train']['mean']:.4f}", flush=True)
            last_val = time.time()
            unet.train()
        if time.time() - last_ckpt > args.ckpt_min * 60:
            save()
            last_ckpt = time.time()
        if args.snapshot_every and step % args.snapshot_every == 0:
            atomic_save({"config": cfg, "sigma_data": sigma_data, "ema": ema.state_dict(), "step": step,
                         "nimg": nimg, "train_sec": train_sec, "cpu_sec": cpu_sec, "classes": train.classes},
                        os.path.join(args.run_dir, f"snapshot-{step:07d}.pt"))
    save()
    print(f"checkpoint saved at step {step}", flush=True)
    if args.pid_file and os.path.exists(args.pid_file):
        with open(args.pid_file) as f:
            if f.read().strip() == str(os.getpid()):
                os.remove(args.pid_file)


if __name__ == "__main__":
    main()
