#!/usr/bin/env python3
"""Evaluate teacher and student on the held-out textures; write a table and sample grids.

The held-out set is split into two disjoint halves A and B (by texture).  Every
row is compared against half B: "real vs real" uses half A (the floor), the
generators produce one sample per texture of half A with that texture's class
label (same class mix), from fixed seeds.

Every row also gets:
* class accuracy: a small classifier trained only on the training textures (classifier.py)
  judges --class-samples generated textures of every class; the real row is its accuracy on
  held-out textures. Both are balanced (mean over classes), so the large classes do not hide
  the small ones.
* memorisation: each texture's RMS distance to its nearest training texture (over shifts,
  flips and rotations, at 32 px); the real row is held-out half A's, the distance a new
  texture of the same kind has. Generated textures should not be closer than that.

Rows: teacher Heun 35 NFE (18 steps, EDM schedule rho=7), teacher
DPM-Solver++(2M) at 8 and 4 NFE, student (consistency) at 1, 2 and 4 steps.
NFE counts network evaluations per sample without guidance; --cfg w > 1 doubles them.
"""
import argparse
import json
import os
import sys
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cpu_alloc import keep_freed_memory  # noqa: E402
from data import TextureSet  # noqa: E402
from edm import (guided, karras_sigmas, load_denoiser, sample_consistency, sample_dpmpp_2m,  # noqa: E402
                 sample_heun, to_u8, to_unit)
from classifier import accuracy, ensure_classifier  # noqa: E402
from metrics import colour_distance, nearest_train_distance, seam_scores, swd  # noqa: E402

CACHE = os.path.expanduser("~/.cache/tessera")
DEFAULT_STUDENT_SIGMAS = {1: [80.0], 2: [80.0, 0.821], 4: [80.0, 2.0, 0.821, 0.3]}


def generate(method, den, labels, args, seed, student_sigmas=None):
    """uint8 samples for `labels` with a fixed seed per batch."""
    null = den.unet.config["num_class_embeds"] - 1
    d = guided(den, null, args.cfg)
    out = []
    for i in range(0, len(labels), args.batch):
        y = labels[i:i + args.batch]
        g = torch.Generator().manual_seed(seed + i)
        x = torch.randn(len(y), 3, args.resolution, args.resolution, generator=g)
        kind, n = method
        if kind == "heun":
            s = karras_sigmas((n + 1) // 2, args.sigma_min, args.sigma_max, args.rho)
            img = sample_heun(d, x, s, y)
        elif kind == "dpm2m":
            s = karras_sigmas(n, args.sigma_min, args.sigma_max, args.rho)
            img = sample_dpmpp_2m(d, x, s, y)
        else:
            s = torch.tensor(student_sigmas[n], dtype=torch.float64)
            img = sample_consistency(d, x, s, y, generator=g)
        out.append(to_u8(img))
    return torch.cat(out)


def save_grid(images, path, cols, tile=1):
    """images: uint8 [rows*cols,3,S,S] in row order; tile=2 shows each sample as a 2x2 tiling."""
    rows = len(images) // cols
    s = images.shape[-1] * tile
    grid = np.zeros((rows * (s + 2), cols * (s + 2), 3), np.uint8) + 255
    for k in range(rows * cols):
        a = images[k].permute(1, 2, 0).numpy()
        a = np.tile(a, (tile, tile, 1))
        r, c = divmod(k, cols)
        grid[r * (s + 2):r * (s + 2) + s, c * (s + 2):c * (s + 2) + s] = a
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    Image.fromarray(grid).save(path, optimize=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--teacher", default=os.path.join(CACHE, "runs/teacher64/checkpoint.pt"))
    ap.add_argument("--student", default=None, help="consistency checkpoint from distill_ect.py")
    ap.add_argument("--data", default=os.path.join(CACHE, "data"))
    ap.add_argument("--resolution", type=int, default=64)
    ap.add_argument("--out", default=os.path.join(CACHE, "eval/latest"))
    ap.add_argument("--rows", default="real,heun35,dpm8,dpm4,student1,student2,student4",
                    help="comma list of rows to compute")
    ap.add_argument("--max-images", type=int, default=0, help="limit each half (0: all) -- for quick tests")
    ap.add_argument("--cfg", type=float, default=1.0, help="classifier-free guidance scale (1: off)")
    ap.add_argument("--sigma-min", type=float, default=0.002)
    ap.add_argument("--sigma-max", type=float, default=80.0)
    ap.add_argument("--rho", type=float, default=7.0)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--grid-dir", default=None, help="write per-class sample grids (PNG) here")
    ap.add_argument("--grid-cols", type=int, default=6, help="samples per class in the grids")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1000)
    ap.add_argument("--raw", action="store_true", help="use raw weights instead of EMA")
    ap.add_argument("--class-samples", type=int, default=16,
                    help="generated textures per class for the class accuracy (0: skip it)")
    ap.add_argument("--classifier", default=None, help="classifier checkpoint (default: trained on first use)")
    ap.add_argument("--no-nn", action="store_true",
                    help="skip the nearest-training-texture distance (the slowest column) for a quick check")
    ap.add_argument("--cpu-hours", type=float, default=None,
                    help="the teacher's CPU hours where its package does not record them (marked as given)")
    ap.add_argument("--trajectory", default=None,
                    help="append one line (the model's step, images, hours and this table) to this jsonl")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    keep_freed_memory()
    os.makedirs(args.out, exist_ok=True)

    held = TextureSet(args.data, args.resolution, "heldout")
    g = torch.Generator().manual_seed(0)
    perm = torch.randperm(len(held), generator=g)
    a_idx, b_idx = perm[: len(held) // 2], perm[len(held) // 2:]
    if args.max_images:
        a_idx, b_idx = a_idx[: args.max_images], b_idx[: args.max_images]
    real_a, real_b = held.images[a_idx], held.images[b_idx]
    labels_a = held.labels[a_idx]
    classes = held.classes
    train_imgs = TextureSet(args.data, args.resolution, "train").images
    clf = None
    if args.class_samples:
        clf, clf_classes = ensure_classifier(args.data, args.classifier, threads=args.threads)
        assert clf_classes == classes, "the classifier was trained on another class list"

    teacher = student = None
    info = {}
    if os.path.exists(args.teacher):
        teacher, tck = load_denoiser(args.teacher, use_ema=not args.raw)
        info["teacher"] = {"path": args.teacher, "step": tck.get("step"), "kimg": tck.get("nimg", 0) / 1000,
                           "train_hours": round(tck.get("train_sec", 0) / 3600, 2),
                           "cpu_hours": round(tck.get("cpu_sec", 0) / 3600, 2)}
        if args.cpu_hours is not None and not tck.get("cpu_sec"):
            info["teacher"].update(cpu_hours=args.cpu_hours, cpu_hours_given=True)
    student_sigmas = dict(DEFAULT_STUDENT_SIGMAS)
    if args.student and os.path.exists(args.student):
        student, sck = load_denoiser(args.student, use_ema=not args.raw)
        student_sigmas.update({int(k): v for k, v in sck.get("step_sigmas", {}).items()})
        info["student"] = {"path": args.student, "step": sck.get("step"), "kimg": sck.get("nimg", 0) / 1000,
                           "step_sigmas": student_sigmas}

    methods = {
        "real": ("real vs real (held-out A vs B)", None, None, 0),
        "heun35": ("teacher, Heun 35 NFE", "teacher", ("heun", 35), 35),
        "dpm8": ("teacher, DPM-Solver++(2M) 8 NFE", "teacher", ("dpm2m", 8), 8),
        "dpm4": ("teacher, DPM-Solver++(2M) 4 NFE", "teacher", ("dpm2m", 4), 4),
        "student1": ("student (ECT), 1 step", "student", ("cm", 1), 1),
        "student2": ("student (ECT), 2 steps", "student", ("cm", 2), 2),
        "student4": ("student (ECT), 4 steps", "student", ("cm", 4), 4),
    }
    results = []
    # One class-ordered batch per row serves both the class accuracy and the grids.
    n_cls = max(args.grid_cols, args.class_samples)
    cls_labels = torch.arange(len(classes)).repeat_interleave(n_cls)

    def first_per_class(k):
        return torch.cat([torch.arange(c * n_cls, c * n_cls + k) for c in range(len(classes))])
    grid_sel, acc_sel = first_per_class(args.grid_cols), first_per_class(args.class_samples)
    for key in args.rows.split(","):
        name, which, method, nfe = methods[key]
        den = {"teacher": teacher, "student": student}.get(which)
        if which and den is None:
            print(f"skip {key}: no {which} checkpoint")
            continue
        t0 = time.time()
        with torch.no_grad():
            imgs = real_a if which is None else generate(method, den, labels_a, args, args.seed, student_sigmas)
        gen_sec = time.time() - t0
        per, mean = swd(imgs, real_b)
        row = {"key": key, "name": name, "nfe": nfe * (2 if which and args.cfg != 1 else 1),
               "swd": round(mean, 2), "swd_levels": [round(p, 2) for p in per],
               "colour": round(colour_distance(imgs, real_b), 2),
               "seam": round(float(seam_scores(imgs).mean()), 3), "n": len(imgs),
               "sec_per_image": round(gen_sec / len(imgs), 3),
               "nn_dist": None if args.no_nn else round(float(nearest_train_distance(imgs, train_imgs).median()), 2)}
        per_class_imgs = None
        if which is not None and (clf is not None or args.grid_dir):
            with torch.no_grad():
                per_class_imgs = generate(method, den, cls_labels, args, args.seed + 10 ** 6, student_sigmas)
        if clf is not None:
            if which is None:  # the attainable ceiling: every held-out texture
                acc = accuracy(clf, to_unit(held.images), held.labels)
            else:
                acc = accuracy(clf, to_unit(per_class_imgs[acc_sel]), cls_labels[acc_sel])
            row["class_acc"] = round(sum(acc["per_class"].values()) / len(acc["per_class"]), 3)
            row["class_acc_per_class"] = {classes[k]: round(v, 3) for k, v in acc["per_class"].items()}
        results.append(row)
        print(json.dumps(row), flush=True)
        if args.grid_dir:
            if which is None:
                # one real held-out (or train, for rare classes) texture per cell, ordered by class
                cells = []
                for c in range(len(classes)):
                    idx = (held.labels == c).nonzero().flatten()[: args.grid_cols]
                    pad = args.grid_cols - len(idx)
                    cells.append(torch.cat([held.images[idx],
                                            torch.full((pad, 3, args.resolution, args.resolution), 255,
                                                       dtype=torch.uint8)]))
                save_grid(torch.cat(cells), os.path.join(args.grid_dir, "real_heldout.png"), args.grid_cols)
            else:
                gimgs = per_class_imgs[grid_sel]
                save_grid(gimgs, os.path.join(args.grid_dir, f"{which}_{key}.png"), args.grid_cols)
                if key in ("heun35", "student1"):
                    sel = torch.cat([gimgs[c * args.grid_cols:c * args.grid_cols + 3] for c in range(len(classes))])
                    save_grid(sel, os.path.join(args.grid_dir, f"{which}_{key}_tiled2x2.png"), 3, tile=2)

    header = ("| method | NFE | SWD x1e3 (mean; 64/32/16 px) | colour W1 | seam | class acc. | NN dist. | n |\n"
              "|---|---|---|---|---|---|---|---|\n")
    lines = [f"| {r['name']} | {r['nfe'] or '-'} | {r['swd']:.1f} ({' / '.join(f'{p:.1f}' for p in r['swd_levels'])})"
             f" | {r['colour']:.1f} | {r['seam']:.3f} | {r.get('class_acc', '-')} | {r['nn_dist'] if r['nn_dist'] is not None else '-'} | {r['n']} |"
             for r in results]
    table = header + "\n".join(lines) + "\n"
    with open(os.path.join(args.out, "table.md"), "w") as f:
        f.write(table)
    with open(os.path.join(args.out, "metrics.json"), "w") as f:
        json.dump({"rows": results, "models": info, "cfg": args.cfg, "classes": classes,
                   "reference": f"held-out half B ({len(real_b)} textures)"}, f, indent=1)
    print(table)
    if args.trajectory:
        with open(args.trajectory, "a") as f:
            f.write(json.dumps({"time": int(time.time()), "models": info, "cfg": args.cfg,
                                "rows": [{k: r[k] for k in ("key", "swd", "colour", "seam", "nn_dist", "class_acc")
                                          if k in r} for r in results]}) + "\n")
    print("rows in class order for the grids:", ", ".join(classes))


if __name__ == "__main__":
    main()
