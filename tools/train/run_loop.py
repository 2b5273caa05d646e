"""The resumable training run shared by the teacher (train_edm.py) and the SR stage (train_sr.py).

A run directory holds config.json (the network it trains), args.json, checkpoint.pt (model, EMA,
optimizer, step, image count, wall and CPU seconds, RNG states; written atomically every --ckpt-min
minutes and on SIGTERM/SIGINT), log.jsonl (one line per --log-every steps), val.jsonl (whatever
the script's validation returns) and EMA snapshots every --snapshot-every steps. Starting the same
command again continues from checkpoint.pt; --init starts a new run from other weights (a .tsr
package, an export directory or a checkpoint) with a fresh optimizer. The process id goes to
--pid-file so that others can pause the run (SIGSTOP / SIGCONT).
"""
import json
import os
import signal
import time

import torch

from checkpoints import load_checkpoint
from edm import atomic_save, lr_at, power_ema_gamma
from unet import UNet2DModel


def add_run_args(ap, run_dir, pid_file, lr=2e-4, batch=16):
    ap.add_argument("--run-dir", default=run_dir)
    ap.add_argument("--device", default="cpu", help="cpu or cuda (the same run can move between them)")
    ap.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    ap.add_argument("--batch", type=int, default=batch)
    ap.add_argument("--lr", type=float, default=lr, help="Adam learning rate after warm-up")
    ap.add_argument("--warmup", type=int, default=500, help="linear warm-up steps")
    ap.add_argument("--decay-ref", type=int, default=40000,
                    help="inverse-sqrt decay lr*sqrt(ref/step) after this step (0: constant lr)")
    ap.add_argument("--dropout", type=float, default=0.0, help="ResNet dropout (may change on resume)")
    ap.add_argument("--ema", choices=["power", "halflife"], default="power")
    ap.add_argument("--ema-sigma-rel", type=float, default=0.1, help="power-function EMA width (EDM2)")
    ap.add_argument("--ema-halflife-kimg", type=float, default=50.0, help="for --ema halflife")
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
    ap.add_argument("--pid-file", default=pid_file)
    ap.add_argument("--config", help="UNet config.json to use instead of the built-in one (only for a new run)")
    ap.add_argument("--init", help="start a new run from these weights (a .tsr package, an export directory or a "
                                   "checkpoint): config, sigma_data, weights and step counters are "
                                   "taken over, the optimizer starts fresh with --warmup steps of warm-up")


class Run:
    """Network, EMA, optimizer and counters of one run, resumed or new.

    new_config() -> (config, sigma_data) is called only for a run that neither resumes nor has --init;
    adapt_init(config, sigma_data) -> (config, sigma_data), where given, changes an --init run's
    parameterisation (the weights carry over, the denoiser around them may not).
    """

    def __init__(self, args, new_config, resolution=None, adapt_init=None):
        self.args = args
        torch.set_num_threads(args.threads)
        self.device = torch.device(args.device)
        os.makedirs(args.run_dir, exist_ok=True)
        if args.pid_file:
            os.makedirs(os.path.dirname(args.pid_file), exist_ok=True)
            with open(args.pid_file, "w") as f:
                f.write(f"{os.getpid()}\n")
        self.ckpt_path = os.path.join(args.run_dir, "checkpoint.pt")
        resume = torch.load(self.ckpt_path, map_location="cpu") if os.path.exists(self.ckpt_path) else None
        new_run = resume is None
        init = load_checkpoint(args.init) if args.init and new_run else None
        if resume:
            cfg, self.sigma_data = resume["config"], resume["sigma_data"]
        elif init:
            cfg, self.sigma_data = init["config"], init["sigma_data"]
            if adapt_init:
                cfg, self.sigma_data = adapt_init(cfg, self.sigma_data)
        else:
            cfg, self.sigma_data = new_config()
        torch.manual_seed(args.seed)  # weight init
        # Dropout is a training choice, not a weight, and the network runs at any size: both may change
        # on resume (a progressive run trains at 32 px, then continues at 64 px).
        cfg = dict(cfg, dropout=args.dropout)
        if resolution:
            cfg["sample_size"] = resolution
        self.cfg = cfg
        dev = self.device
        self.unet = UNet2DModel.from_config(cfg).to(dev)
        self.ema = UNet2DModel.from_config(cfg).to(dev).eval()
        self.ema.load_state_dict(self.unet.state_dict())
        for p in self.ema.parameters():
            p.requires_grad_(False)
        self.opt = torch.optim.Adam(self.unet.parameters(), lr=args.lr, betas=(0.9, 0.999), eps=1e-8)
        self.gen = torch.Generator().manual_seed(args.seed)  # drives data sampling and augmentation
        self.step, self.nimg, self.train_sec, self.cpu_sec = 0, 0, 0.0, 0.0
        self.warm_from = 0  # the step the learning-rate warm-up counts from (a fresh optimizer needs one)
        self.extra = {}  # script-specific entries that go into every checkpoint
        if resume:
            self.warm_from = resume.get("warm_from", 0)
            self.unet.load_state_dict(resume["model"])
            self.ema.load_state_dict(resume["ema"])
            self.opt.load_state_dict(resume["optimizer"])
            self.step, self.nimg, self.train_sec = resume["step"], resume["nimg"], resume.get("train_sec", 0.0)
            self.cpu_sec = resume.get("cpu_sec", self.train_sec * args.threads)
            self.gen.set_state(resume["rng"]["data"])
            torch.set_rng_state(resume["rng"]["torch"])
            if dev.type == "cuda" and resume["rng"].get("cuda") is not None:
                torch.cuda.set_rng_state(resume["rng"]["cuda"])
            print(f"resumed from step {self.step} ({self.nimg / 1000:.1f} kimg)", flush=True)
        elif init:
            self.unet.load_state_dict(init["model"])
            self.ema.load_state_dict(init["ema"])
            self.step, self.nimg = init.get("step") or 0, init.get("nimg", 0)
            self.train_sec = init.get("train_sec", 0.0)
            self.cpu_sec = init.get("cpu_sec", self.train_sec * args.threads)
            self.warm_from = self.step
            print(f"new run from the weights of {args.init} (step {self.step}, {self.nimg / 1000:.1f} kimg)",
                  flush=True)
        if new_run:  # records the network it trains
            with open(os.path.join(args.run_dir, "config.json"), "w") as f:
                json.dump(cfg, f, indent=1)
        with open(os.path.join(args.run_dir, "args.json"), "w") as f:
            json.dump(vars(args), f, indent=1)
        self.gamma = power_ema_gamma(args.ema_sigma_rel)

    def parameters(self):
        return sum(p.numel() for p in self.unet.parameters())

    def save(self):
        dev = self.device
        state = {
            "config": self.cfg, "sigma_data": self.sigma_data, "model": self.unet.state_dict(),
            "ema": self.ema.state_dict(), "optimizer": self.opt.state_dict(), "step": self.step, "nimg": self.nimg,
            "train_sec": self.train_sec, "cpu_sec": self.cpu_sec,
            "rng": {"data": self.gen.get_state(), "torch": torch.get_rng_state(),
                    "cuda": torch.cuda.get_rng_state() if dev.type == "cuda" else None},
            "args": vars(self.args), "ema_kind": self.args.ema, "ema_gamma": self.gamma, "warm_from": self.warm_from,
            **self.extra,
        }
        atomic_save(state, self.ckpt_path)

    def _ema_update(self):
        # Power-function profile beta = (1 - 1/t)^(gamma+1) (EDM2), or a fixed half-life in images with
        # EDM's ramp-up (half-life <= 5% of the images seen so far).
        a = self.args
        if a.ema == "power":
            beta = (1 - 1 / self.step) ** (self.gamma + 1)
        else:
            hl = min(a.ema_halflife_kimg * 1000, self.nimg * 0.05)
            beta = 0.5 ** (a.batch / max(hl, 1e-8))
        with torch.no_grad():
            for pe, pm in zip(self.ema.parameters(), self.unet.parameters()):
                pe.lerp_(pm, 1 - beta)

    def loop(self, loss_fn, validate=None, log_fields=None):
        """Train until a stop condition or a signal. loss_fn() draws a batch and returns its loss;
        validate() returns a dict for val.jsonl; log_fields() adds entries to each log line."""
        a = self.args
        stop = {"now": False}

        def on_signal(signum, frame):
            stop["now"] = True  # finish the current step, checkpoint, exit

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        log = open(os.path.join(a.run_dir, "log.jsonl"), "a")
        last_ckpt = last_val = time.time()
        acc_loss, acc_n, t_log, cpu_log = 0.0, 0, time.time(), time.process_time()
        self.unet.train()
        t_start = time.time()
        while not stop["now"] and (a.max_steps == 0 or self.step < a.max_steps) and \
                (a.max_cpu_min == 0 or self.cpu_sec < a.max_cpu_min * 60) and \
                (a.max_wall_min == 0 or time.time() - t_start < a.max_wall_min * 60):
            t0, c0 = time.time(), time.process_time()
            lr = lr_at(self.step, a.lr, a.warmup, a.decay_ref, self.warm_from)
            for g in self.opt.param_groups:
                g["lr"] = lr
            loss = loss_fn()
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            if a.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(self.unet.parameters(), a.grad_clip)
            self.opt.step()
            self.step += 1
            self.nimg += a.batch
            self._ema_update()
            self.train_sec += time.time() - t0
            self.cpu_sec += time.process_time() - c0
            acc_loss += loss.item()
            acc_n += 1
            if self.step % a.log_every == 0:
                now = time.time()
                rec = {"step": self.step, "kimg": round(self.nimg / 1000, 3), "loss": round(acc_loss / acc_n, 5),
                       "img_s": round(acc_n * a.batch / (now - t_log), 2),
                       "cpu_s_per_img": round((time.process_time() - cpu_log) / (acc_n * a.batch), 4),
                       "lr": lr, "train_h": round(self.train_sec / 3600, 3), "cpu_h": round(self.cpu_sec / 3600, 3),
                       **(log_fields() if log_fields else {}), "time": int(now)}
                log.write(json.dumps(rec) + "\n")
                log.flush()
                print(" ".join(f"{k} {v}" for k, v in rec.items() if k != "time"), flush=True)
                acc_loss, acc_n, t_log, cpu_log = 0.0, 0, now, time.process_time()
            if validate and a.val_min > 0 and time.time() - last_val > a.val_min * 60:
                v = validate()
                with open(os.path.join(a.run_dir, "val.jsonl"), "a") as f:
                    f.write(json.dumps({"step": self.step, "kimg": round(self.nimg / 1000, 3),
                                        "cpu_h": round(self.cpu_sec / 3600, 3), **v}) + "\n")
                print(f"val step {self.step}: " + json.dumps(v), flush=True)
                last_val = time.time()
                self.unet.train()
            if time.time() - last_ckpt > a.ckpt_min * 60:
                self.save()
                last_ckpt = time.time()
            if a.snapshot_every and self.step % a.snapshot_every == 0:
                atomic_save({"config": self.cfg, "sigma_data": self.sigma_data, "ema": self.ema.state_dict(),
                             "step": self.step, "nimg": self.nimg, "train_sec": self.train_sec,
                             "cpu_sec": self.cpu_sec, **self.extra},
                            os.path.join(a.run_dir, f"snapshot-{self.step:07d}.pt"))
        self.save()
        print(f"checkpoint saved at step {self.step}", flush=True)
        if a.pid_file and os.path.exists(a.pid_file):
            with open(a.pid_file) as f:
                if f.read().strip() == str(os.getpid()):
                    os.remove(a.pid_file)
