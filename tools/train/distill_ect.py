#!/usr/bin/env python3
"""Easy Consistency Tuning (ECT, Geng et al. 2024) of the EDM teacher into a 1-4 step model.

Why ECT: consistency *distillation* needs a teacher ODE step (one or two extra
teacher evaluations) for every training sample; ECT needs none.  The student is
initialised from the teacher (EMA weights, same EDM parameterisation, so at
t -> 0 it is already the identity) and trained on pairs of noise levels t > r
sharing one noise direction:
    loss = d(D(x + t e, t), sg[D(x + r e, r)]) / (t - r)
with d the pseudo-Huber distance (iCT: c = 0.00054 sqrt(dim)).  r = 0 targets the
data itself.  r follows ECT's mapping r = t (1 - q^-(stage+1) (1 + k sigmoid(-b t))),
clamped at 0, and the gap t - r halves at every stage (--double-every steps).
On this compute budget that means two student forward passes (one without
gradient) per sample and no teacher at all.

Class labels are dropped to the null class with --p-uncond like the teacher, so
classifier-free guidance still works at sampling time: at each consistency
step the conditional and unconditional outputs are mixed D_u + w (D_c - D_u).

Resumable like train_edm.py (checkpoint.pt in --run-dir, SIGTERM-safe).
"""
import argparse
import json
import math
import os
import signal
import sys
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import torch  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cpu_alloc import keep_freed_memory  # noqa: E402
from checkpoints import load_checkpoint  # noqa: E402
from data import TextureSet  # noqa: E402
from edm import EDMPrecond, atomic_save, lr_at, power_ema_gamma  # noqa: E402
from unet import UNet2DModel  # noqa: E402

CACHE = os.path.expanduser("~/.cache/tessera")
DEFAULT_STEP_SIGMAS = {"1": [80.0], "2": [80.0, 0.821], "4": [80.0, 2.0, 0.821, 0.3]}


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--teacher", default=os.path.join(CACHE, "runs/teacher64/checkpoint.pt"),
                    help="teacher checkpoint, .tsr package (e.g. models/teacher.tsr) or export directory")
    ap.add_argument("--run-dir", default=os.path.join(CACHE, "runs/ect64"))
    ap.add_argument("--data", default=os.path.join(CACHE, "data"))
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--steps", type=int, default=8000, help="total tuning steps (0: until killed)")
    ap.add_argument("--double-every", type=int, default=1000, help="steps per stage (gap t-r halves)")
    ap.add_argument("--max-stage", type=int, default=0,
                    help="the gap stops halving at this stage, which then runs until --steps (0: no cap)")
    ap.add_argument("--max-wall-min", type=float, default=0.0, help="stop after this many minutes (0: no limit)")
    ap.add_argument("--p-mean", type=float, default=-1.1)
    ap.add_argument("--p-std", type=float, default=2.0)
    ap.add_argument("--q", type=float, default=2.0)
    ap.add_argument("--k", type=float, default=8.0)
    ap.add_argument("--b", type=float, default=1.0)
    ap.add_argument("--huber-c", type=float, default=None, help="pseudo-Huber c (default 0.00054 sqrt(dim))")
    ap.add_argument("--dropout", type=float, default=0.0)
    ap.add_argument("--p-uncond", type=float, default=0.1)
    ap.add_argument("--ema-sigma-rel", type=float, default=0.05)
    ap.add_argument("--step-sigmas", default=json.dumps(DEFAULT_STEP_SIGMAS),
                    help="JSON {steps: [sigmas]} recorded for sampling/export")
    ap.add_argument("--ckpt-min", type=float, default=5.0)
    ap.add_argument("--log-every", type=int, default=50)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--pid-file", default=None)
    return ap.parse_args()


def t_to_r(t, stage, q, k, b):
    """ECT mapping function (sigmoid variant)."""
    decay = 1.0 / q ** (stage + 1)
    return (t * (1 - decay * (1 + k * torch.sigmoid(-b * t)))).clamp(min=0)


def main():
    args = parse_args()
    torch.set_num_threads(args.threads)
    keep_freed_memory()
    device = torch.device(args.device)
    os.makedirs(args.run_dir, exist_ok=True)
    if args.pid_file:
        with open(args.pid_file, "w") as f:
            f.write(f"{os.getpid()}\n")
    ckpt_path = os.path.join(args.run_dir, "checkpoint.pt")
    resume = torch.load(ckpt_path, map_location="cpu") if os.path.exists(ckpt_path) else None
    src = resume if resume else load_checkpoint(args.teacher)
    cfg = dict(src["config"], dropout=args.dropout)
    sigma_data = src["sigma_data"]
    res = cfg["sample_size"]
    train = TextureSet(args.data, res, "train", device)

    net = UNet2DModel.from_config(cfg).to(device)
    ema = UNet2DModel.from_config(cfg).to(device).eval()
    net.load_state_dict(src["model"] if resume else src["ema"])  # teacher's EMA is the starting point
    ema.load_state_dict(src["ema"])
    for p in ema.parameters():
        p.requires_grad_(False)
    den = EDMPrecond(net, sigma_data)
    opt = torch.optim.Adam(net.parameters(), lr=args.lr, betas=(0.9, 0.99), eps=1e-8)
    gen = torch.Generator().manual_seed(args.seed)
    step, nimg, train_sec, cpu_sec = 0, 0, 0.0, 0.0
    teacher_info = {"path": args.teacher, "step": src.get("step"), "nimg": src.get("nimg")}
    if resume:
        opt.load_state_dict(resume["optimizer"])
        step, nimg, train_sec = resume["step"], resume["nimg"], resume["train_sec"]
        cpu_sec = resume.get("cpu_sec", train_sec * args.threads)
        gen.set_state(resume["rng"]["data"])
        torch.set_rng_state(resume["rng"]["torch"])
        teacher_info = resume["teacher"]
        print(f"resumed from step {step}", flush=True)
    del src, resume
    step_sigmas = json.loads(args.step_sigmas)
    dim = 3 * res * res
    c = args.huber_c if args.huber_c is not None else 0.00054 * math.sqrt(dim)
    gamma = power_ema_gamma(args.ema_sigma_rel)
    null = len(train.classes)

    def save():
        atomic_save({"config": cfg, "sigma_data": sigma_data, "model": net.state_dict(), "ema": ema.state_dict(),
                     "optimizer": opt.state_dict(), "step": step, "nimg": nimg, "train_sec": train_sec,
                     "cpu_sec": cpu_sec, "rng": {"data": gen.get_state(), "torch": torch.get_rng_state()}, "args": vars(args),
                     "teacher": teacher_info, "step_sigmas": step_sigmas, "kind": "consistency",
                     "classes": train.classes}, ckpt_path)

    stop = {"now": False}
    signal.signal(signal.SIGTERM, lambda *a: stop.update(now=True))
    signal.signal(signal.SIGINT, lambda *a: stop.update(now=True))
    log = open(os.path.join(args.run_dir, "log.jsonl"), "a")
    last_ckpt, t_log, acc, acc_n = time.time(), time.time(), 0.0, 0
    net.train()
    t_start = time.time()
    while not stop["now"] and (args.steps == 0 or step < args.steps) and \
            (args.max_wall_min == 0 or time.time() - t_start < args.max_wall_min * 60):
        t0, c0 = time.time(), time.process_time()
        stage = step // args.double_every
        if args.max_stage:
            stage = min(stage, args.max_stage)
        lr = lr_at(step, args.lr, args.warmup, 0)
        for grp in opt.param_groups:
            grp["lr"] = lr
        x, y = train.batch(args.batch, gen)
        drop = torch.rand(args.batch, generator=gen).to(device) < args.p_uncond
        y = torch.where(drop, torch.full_like(y, null), y)
        t = (torch.randn(args.batch, generator=gen) * args.p_std + args.p_mean).exp().to(device)
        r = t_to_r(t, stage, args.q, args.k, args.b)
        eps = torch.randn(x.shape, generator=gen).to(device)
        # Both passes share the dropout mask: restore the RNG state before the target pass.
        rng = torch.get_rng_state()
        d_t = den(x + t.view(-1, 1, 1, 1) * eps, t, y)
        with torch.no_grad():
            torch.set_rng_state(rng)
            pos = r > 0  # r = 0: the target is the clean image (boundary condition)
            target = x.clone()
            if args.dropout > 0:  # the same dropout mask needs the same batch layout
                d_r = den(x + r.view(-1, 1, 1, 1) * eps, r.clamp(min=1e-4), y)
                target = torch.where(pos.view(-1, 1, 1, 1), d_r, x)
            elif pos.any():
                target[pos] = den(x[pos] + r[pos].view(-1, 1, 1, 1) * eps[pos], r[pos], y[pos])
        dist = ((d_t - target) ** 2).flatten(1).sum(1)
        loss = ((dist + c * c).sqrt() - c) / (t - r)
        loss = loss.mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        nimg += args.batch
        beta = (1 - 1 / step) ** (gamma + 1)
        with torch.no_grad():
            for pe, pm in zip(ema.parameters(), net.parameters()):
                pe.lerp_(pm, 1 - beta)
        train_sec += time.time() - t0
        cpu_sec += time.process_time() - c0
        acc += loss.item()
        acc_n += 1
        if step % args.log_every == 0:
            now = time.time()
            rec = {"step": step, "stage": stage, "kimg": round(nimg / 1000, 3), "loss": round(acc / acc_n, 5),
                   "img_s": round(acc_n * args.batch / (now - t_log), 2), "lr": lr,
                   "train_h": round(train_sec / 3600, 3), "cpu_h": round(cpu_sec / 3600, 3), "time": int(now)}
            log.write(json.dumps(rec) + "\n")
            log.flush()
            print(" ".join(f"{k} {v}" for k, v in rec.items() if k != "time"), flush=True)
            acc, acc_n, t_log = 0.0, 0, now
        if time.time() - last_ckpt > args.ckpt_min * 60:
            save()
            last_ckpt = time.time()
    save()
    print(f"checkpoint saved at step {step}", flush=True)
    if args.pid_file and os.path.exists(args.pid_file):
        os.remove(args.pid_file)


if __name__ == "__main__":
    main()
