#!/usr/bin/env python3
"""Short training pilots compared at equal CPU time on the held-out SWD.

Each arm is a train_edm.py run from random weights with its own network, resolution and
recipe, stopped at the same CPU-time budgets (--budgets, CPU minutes; resuming is bit-exact,
so stopping at each budget and continuing is the same run). After each budget the arm's EMA
weights sample the held-out half A's labels with Heun (35 NFE) and are scored against half
B, at 64 px (the 64 px arms) and at 32 px (every arm: 64 px samples are resized to 32 px the
way the dataset resizes), so a 32 px base and a 64 px one are compared on the same footing.

    nice -n 19 /usr/bin/python3 tools/train/pilots.py --arms base64,base32 --budgets 6 12

writes <out>/<arm>/ (the runs), <out>/results.jsonl (one line per arm and budget) and
prints a markdown table for docs/MODEL.md.
"""
import argparse
import copy
import json
import os
import subprocess
import sys

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from data import TextureSet  # noqa: E402
from edm import karras_sigmas, load_denoiser, sample_heun, to_u8  # noqa: E402
from metrics import seam_scores, swd  # noqa: E402
from unet import TESSERA_CONFIG  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
CACHE = os.path.expanduser("~/.cache/tessera")


def _mid_attention_only(cfg):
    cfg["down_block_types"] = ["DownBlock2D", "DownBlock2D", "DownBlock2D"]
    cfg["up_block_types"] = ["UpBlock2D", "UpBlock2D", "UpBlock2D"]
    return cfg


def _four_levels(cfg):
    # one level more: the lowest is 8x8 at 64 px, where attention is 16x cheaper than at 16x16
    cfg["block_out_channels"] = [32, 64, 128, 128]
    cfg["down_block_types"] = ["DownBlock2D", "DownBlock2D", "DownBlock2D", "AttnDownBlock2D"]
    cfg["up_block_types"] = ["AttnUpBlock2D", "UpBlock2D", "UpBlock2D", "UpBlock2D"]
    return cfg


# name: (phases [(resolution, batch, fraction of the budget)...], config edit, extra train_edm args)
ARMS = {
    "base64": ([(64, 16, 1.0)], None, []),
    "midattn64": ([(64, 16, 1.0)], _mid_attention_only, []),
    "levels4_64": ([(64, 16, 1.0)], _four_levels, []),
    "base32": ([(32, 32, 1.0)], None, []),
    "prog32to64": ([(32, 32, 0.5), (64, 16, 1.0)], None, []),
    "base64_b32_lr4": ([(64, 32, 1.0)], None, ["--lr", "4e-4"]),
}


def resize32(imgs):
    """64 -> 32 px as make_dataset.periodic_resize does it (Lanczos of a 3x3 tiling, keep the centre)."""
    out = []
    for im in imgs:
        a = np.tile(im.permute(1, 2, 0).numpy(), (3, 3, 1))
        r = np.asarray(Image.fromarray(a).resize((96, 96), Image.LANCZOS))[32:64, 32:64]
        out.append(torch.from_numpy(r.copy()).permute(2, 0, 1))
    return torch.stack(out)


def halves(data, res, max_images):
    held = TextureSet(data, res, "heldout")
    perm = torch.randperm(len(held), generator=torch.Generator().manual_seed(0))
    a, b = perm[: len(held) // 2][:max_images], perm[len(held) // 2:][:max_images]
    return held.images[a], held.images[b], held.labels[a]


@torch.no_grad()
def sample(den, labels, res, seed=1000, batch=16):
    out = []
    for i in range(0, len(labels), batch):
        y = labels[i:i + batch]
        x = torch.randn(len(y), 3, res, res, generator=torch.Generator().manual_seed(seed + i))
        out.append(to_u8(sample_heun(den, x, karras_sigmas(18), y)))
    return torch.cat(out)


def score(ckpt, res, refs):
    den, _ = load_denoiser(ckpt)
    real_a, real_b, labels = refs[res]
    imgs = sample(den, labels, res)
    row = {f"swd{res}": round(swd(imgs, real_b)[1], 1), "seam": round(float(seam_scores(imgs).mean()), 3)}
    if res == 64:
        row["swd32"] = round(swd(resize32(imgs), refs[32][1])[1], 1)
    return row


def speed(run_dir):
    """Median images/s and CPU s per image over the run's log lines."""
    with open(os.path.join(run_dir, "log.jsonl")) as f:
        recs = [json.loads(ln) for ln in f if ln.strip()]
    by_res = {}
    for r in recs:
        by_res.setdefault(r.get("res", 64), []).append(r)
    return {f"img_s_{k}": float(np.median([r["img_s"] for r in v])) for k, v in by_res.items()} | \
        {f"cpu_s_per_img_{k}": float(np.median([r["cpu_s_per_img"] for r in v])) for k, v in by_res.items()} | \
        _counts(run_dir)


def _counts(run_dir):
    """Steps and images from the checkpoint: the log only has every --log-every'th step."""
    ck = torch.load(os.path.join(run_dir, "checkpoint.pt"), map_location="cpu")
    return {"kimg": round(ck["nimg"] / 1000, 3), "step": ck["step"], "cpu_min_used": round(ck["cpu_sec"] / 60, 2)}


def run_arm(name, budget_min, args):
    phases, edit, extra = ARMS[name]
    run_dir = os.path.join(args.out, name)
    os.makedirs(run_dir, exist_ok=True)
    cfg_path = os.path.join(run_dir, "unet_config.json")
    if not os.path.exists(cfg_path):
        cfg = copy.deepcopy(TESSERA_CONFIG)
        with open(cfg_path, "w") as f:
            json.dump(edit(cfg) if edit else cfg, f, indent=1)
    for res, batch, frac in phases:
        cmd = [sys.executable, os.path.join(HERE, "train_edm.py"), "--run-dir", run_dir, "--data", args.data,
               "--resolution", str(res), "--batch", str(batch), "--threads", str(args.threads),
               "--max-cpu-min", str(budget_min * frac), "--warmup", str(args.warmup), "--val-min", "0",
               "--snapshot-every", "0", "--log-every", "10", "--config", cfg_path,
               "--pid-file", os.path.join(run_dir, "train.pid")] + extra
        subprocess.run(cmd, check=True, stdout=open(os.path.join(run_dir, "stdout.log"), "a"),
                       stderr=subprocess.STDOUT)
    return run_dir, phases[-1][0]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arms", default=",".join(ARMS), help=f"comma list of {', '.join(ARMS)}")
    ap.add_argument("--budgets", type=float, nargs="+", default=[6, 12], help="CPU minutes, ascending")
    ap.add_argument("--data", default=os.path.join(CACHE, "data"))
    ap.add_argument("--out", default=os.path.join(CACHE, "pilots"))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--warmup", type=int, default=100, help="learning-rate warm-up steps (short runs)")
    ap.add_argument("--max-images", type=int, default=64, help="held-out images per half")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    os.makedirs(args.out, exist_ok=True)
    refs = {r: halves(args.data, r, args.max_images) for r in (32, 64)}
    floor = {f"swd{r}": round(swd(refs[r][0], refs[r][1])[1], 1) for r in (32, 64)}
    print(json.dumps({"floor": floor}), flush=True)
    results = os.path.join(args.out, "results.jsonl")
    rows = []
    for name in args.arms.split(","):
        for budget in args.budgets:
            run_dir, res = run_arm(name, budget, args)
            row = {"arm": name, "cpu_min": budget, **speed(run_dir),
                   **score(os.path.join(run_dir, "checkpoint.pt"), res, refs), "floor": floor}
            rows.append(row)
            with open(results, "a") as f:
                f.write(json.dumps(row) + "\n")
            print(json.dumps(row), flush=True)
    print("| arm | CPU min | kimg | img/s | SWD 64 px | SWD 32 px | seam |\n|---|---|---|---|---|---|---|")
    for r in rows:
        ips = " / ".join(f"{v:.1f}" for k, v in r.items() if k.startswith("img_s_"))
        print(f"| {r['arm']} | {r['cpu_min']:g} | {r['kimg']} | {ips} | {r.get('swd64', '-')} | {r['swd32']} | "
              f"{r['seam']} |")
    print(f"floor (real vs real): 64 px {floor['swd64']}, 32 px {floor['swd32']}")


if __name__ == "__main__":
    main()
