#!/usr/bin/env python3
"""Build tessera's tileable-texture dataset from Debian's game-texture packages.

Steps (all outputs live under --cache, never in the source tree):
  1. `apt-get download` the packages into <cache>/debs (skipped when present),
     unpack them with `dpkg-deb -x` into <cache>/extract.
  2. Walk every image (loose files and members of .pk3 zips), drop everything
     that is not a tileable albedo texture (see `reject_by_name` /
     `reject_by_pixels`), measure the wrap-around seam score.
  3. Assign a category from name keywords, split train / held-out by texture,
     write manifest.csv, rejected.csv, summary.json and the cached tensors
     textures_64.pt / textures_128.pt (uint8, NCHW) used by training.

The output only depends on the package versions (recorded in summary.json).
"""
import argparse
import csv
import fnmatch
import hashlib
import io
import json
import os
import re
import subprocess
import sys
import zipfile
from multiprocessing import Pool

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from categories import CLASSES, ROTATABLE, categorize  # noqa: E402

# Package -> (prefix that the copyright file's `Files:` patterns use for our paths).
PACKAGES = {
    "openarena-081-textures": "",
    "ufoai-textures": "base/",
    "colobot-common-textures": "data/",
}
IMAGE_EXT = (".png", ".jpg", ".jpeg", ".tga")

# Suffixes of non-albedo maps (normal, specular, gloss, height, glow, masks).
MAP_SUFFIX = re.compile(
    r"(_nm|_n|_norm|_normal|_bump|_local|_h|_hm|_height|_disp|_sm|_s|_spec|_specular|_gm|_gloss|_rm|_rough|"
    r"_g|_glow|_lum|_luma|_emit|_mask|_alpha|_blend|\.blend|_fx|_add|_ao)$")
# Whole path tokens (split on non-letters) that mark UI art, signs, sprites, skies, effects.
EXCLUDE_TOKENS = {
    "sky", "skies", "env", "sfx", "sfx2", "flare", "flares", "flame", "fog", "portal", "telep", "teleport",
    "logo", "sign", "signs", "icon", "decal", "decals", "screen", "screens", "monitor", "poster", "pics",
    "anim", "common", "lights", "light", "lamp", "shop", "art", "book", "books", "dvds", "dvd", "text",
    "letter", "letters", "number", "numbers", "arrow", "font", "banner", "flag", "team", "redteam",
    "blueteam", "symbols", "ctf", "caulk", "clip", "nodraw", "hint", "trigger", "interface", "objects",
    "planet", "planets", "cloud", "effect", "lens", "back", "res", "sprite", "particle", "blood", "gib",
    "skin", "liquids", "lava", "slime", "water",
}
EXCLUDE_PREFIXES = ("sky", "flare", "light", "lite", "lamp", "sign", "logo", "cloud", "planet", "effect",
                    "lens", "screen", "poster", "telep", "monitor")


def run(cmd, cwd=None):
    subprocess.run(cmd, cwd=cwd, check=True)


def fetch_packages(cache):
    """apt-get download + dpkg-deb -x; returns {package: {version, sha256, root}}."""
    debs, extract = os.path.join(cache, "debs"), os.path.join(cache, "extract")
    os.makedirs(debs, exist_ok=True)
    info = {}
    for pkg in PACKAGES:
        found = [f for f in os.listdir(debs) if f.startswith(pkg + "_") and f.endswith(".deb")]
        if not found:
            run(["apt-get", "download", pkg], cwd=debs)
            found = [f for f in os.listdir(debs) if f.startswith(pkg + "_") and f.endswith(".deb")]
        deb = os.path.join(debs, sorted(found)[-1])
        root = os.path.join(extract, pkg)
        if not os.path.isdir(os.path.join(root, "usr")):
            os.makedirs(root, exist_ok=True)
            run(["dpkg-deb", "-x", deb, root])
        with open(deb, "rb") as f:
            sha = hashlib.sha256(f.read()).hexdigest()
        info[pkg] = {"version": os.path.basename(deb).split("_")[1], "sha256": sha, "root": root,
                     "deb": os.path.basename(deb)}
    return info


def parse_copyright(path):
    """Debian machine-readable copyright -> list of (patterns, licence); the last match wins."""
    stanzas = []
    with open(path, encoding="utf-8", errors="replace") as f:
        text = f.read()
    for block in re.split(r"\n\s*\n", text):
        fields, first, key = {}, {}, None
        for line in block.splitlines():
            if line[:1] in (" ", "\t") and key:
                fields[key] += " " + line.strip()
            elif ":" in line:
                key, val = line.split(":", 1)
                fields[key] = first[key] = val.strip()
        if "Files" in fields and "License" in fields:
            stanzas.append((fields["Files"].split(), first["License"]))
    return stanzas


def licence_for(stanzas, path):
    lic = "unknown"
    for patterns, l in stanzas:
        if any(fnmatch.fnmatchcase(path, p) for p in patterns):
            lic = l
    return lic


def iter_sources(pkg, root):
    """Yield (path_in_package, loader) for every image of the package, sorted."""
    items = []
    for dirpath, _, files in os.walk(root):
        for fn in files:
            full = os.path.join(dirpath, fn)
            if fn.lower().endswith(".pk3"):
                with zipfile.ZipFile(full) as z:
                    for m in z.namelist():
                        if m.lower().endswith(IMAGE_EXT):
                            items.append((m, ("zip", full, m)))
            elif fn.lower().endswith(IMAGE_EXT):
                rel = os.path.relpath(full, root)
                # colobot keeps its textures under usr/share/games/colobot/; upstream calls that data/.
                rel = rel.split("games/colobot/", 1)[-1]
                items.append((rel, ("file", full, None)))
    return sorted(items)


def load_bytes(src):
    kind, full, member = src
    if kind == "zip":
        with zipfile.ZipFile(full) as z:
            return z.read(member)
    with open(full, "rb") as f:
        return f.read()


def reject_by_name(path):
    stem = os.path.splitext(path.lower())[0]
    if MAP_SUFFIX.search(stem):
        return "non-albedo map (name)"
    tokens = [t for t in re.split(r"[^a-z]+", path.lower()) if t]
    for t in tokens[:-1] + [re.sub(r"(png|jpg|jpeg|tga)$", "", tokens[-1])]:
        if t in EXCLUDE_TOKENS or t.startswith(EXCLUDE_PREFIXES):
            return f"excluded kind ({t})"
    return None


def box_reduce(a, k):
    """Exact k x k box average (keeps periodicity when the size is divisible by k)."""
    h, w, c = a.shape
    return a.reshape(h // k, k, w // k, k, c).mean(axis=(1, 3))


def seam_score(a):
    """max over axes of (mean |wrap-around difference|) / (mean |interior neighbour difference|)."""
    scores = []
    for ax in (0, 1):
        d = np.abs(np.diff(a, axis=ax)).mean()
        wrap = np.abs(np.take(a, 0, axis=ax) - np.take(a, -1, axis=ax)).mean()
        scores.append(wrap / max(d, 1e-6))
    return float(max(scores))


def make_square(a):
    """Tile the short side of an integer-ratio image so the texture keeps its aspect and period."""
    h, w = a.shape[:2]
    if h == w:
        return a
    if h < w:
        return np.concatenate([a] * (w // h), axis=0)
    return np.concatenate([a] * (h // w), axis=1)


def periodic_resize(a, size):
    """Resize a periodic square image to size x size without creating a seam.

    Box-reduce by an exact divisor first, then resample a 3x3 tiling with Lanczos
    and keep the centre, so the filter sees wrapped neighbours at the borders."""
    n = a.shape[0]
    k = 1
    for cand in range(n // (2 * size), 1, -1):
        if n % cand == 0:
            k = cand
            break
    if k > 1:
        a = box_reduce(a, k)
    n = a.shape[0]
    tiled = np.tile(a, (3, 3, 1))
    img = Image.fromarray(np.clip(tiled * 255.0 + 0.5, 0, 255).astype(np.uint8))
    img = img.resize((3 * size, 3 * size), Image.LANCZOS)
    out = np.asarray(img)[size:2 * size, size:2 * size]
    return out.transpose(2, 0, 1).copy()


def process(job):
    """Worker: returns (record, images) or (record with 'reject')."""
    pkg, path, src, args = job
    rec = {"package": pkg, "path": path}
    why = reject_by_name(path)
    if why:
        rec["reject"] = why
        return rec, None
    try:
        img = Image.open(io.BytesIO(load_bytes(src)))
        img.load()
    except Exception as e:  # a few game files are truncated or exotic
        rec["reject"] = f"decode error ({type(e).__name__})"
        return rec, None
    w, h = img.size
    rec["width"], rec["height"] = w, h
    if min(w, h) < args["min_size"]:
        rec["reject"] = "tiny"
        return rec, None
    if max(w, h) % min(w, h) or max(w, h) // min(w, h) > 2:
        rec["reject"] = "aspect ratio"
        return rec, None
    if img.mode in ("RGBA", "LA") or (img.mode == "P" and "transparency" in img.info):
        alpha = np.asarray(img.convert("RGBA"))[..., 3]
        if (alpha < 250).mean() > 0.01:
            rec["reject"] = "transparent (cut-out/sprite)"
            return rec, None
    a = np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0
    m = a.reshape(-1, 3).mean(0)
    if m[2] > 0.65 and abs(m[0] - 0.5) < 0.12 and abs(m[1] - 0.5) < 0.12 and a.std() < 0.2:
        rec["reject"] = "normal map (colour)"
        return rec, None
    a = make_square(a)
    if np.abs(np.diff(a, axis=1)).mean() < args["min_detail"]:
        rec["reject"] = "flat"
        return rec, None
    imgs = {s: periodic_resize(a, s) for s in args["sizes"]}
    # The seam is judged at the largest training resolution: that is what the
    # network sees, and a sub-pixel seam at 1024 px vanishes at 128 px.
    score = seam_score(imgs[max(imgs)].transpose(1, 2, 0).astype(np.float32) / 255.0)
    rec["seam_score"] = round(score, 4)
    if score > args["max_seam"]:
        rec["reject"] = "not tileable"
        return rec, None
    tiny = Image.fromarray(imgs[min(imgs)].transpose(1, 2, 0)).resize((8, 8), Image.BOX)
    rec["dedupe"] = hashlib.sha1((np.asarray(tiny) // 16).tobytes()).hexdigest()
    return rec, imgs


def assign_splits(kept, heldout_frac):
    """Deterministic by-texture split that stays stable when the dataset changes.

    A texture is held out when the hash of package/path falls below heldout_frac,
    so adding or removing other textures never moves it between the sets.  A
    category with >= 5 textures but no held-out one gives up its lowest-hash
    texture, so small categories are evaluated too."""
    def h(r):
        return int(hashlib.sha256(f"{r['package']}/{r['path']}".encode()).hexdigest()[:12], 16) / 16 ** 12
    by_cat = {}
    for r in kept:
        r["split"] = "heldout" if h(r) < heldout_frac else "train"
        by_cat.setdefault(r["category"], []).append(r)
    for rs in by_cat.values():
        if len(rs) >= 5 and not any(r["split"] == "heldout" for r in rs):
            min(rs, key=h)["split"] = "heldout"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cache", default=os.path.expanduser("~/.cache/tessera"), help="work/cache directory")
    ap.add_argument("--out", default=None, help="dataset directory (default <cache>/data)")
    ap.add_argument("--sizes", type=int, nargs="+", default=[64, 128], help="cached training resolutions")
    ap.add_argument("--max-seam", type=float, default=1.5, help="max seam score to count as tileable")
    ap.add_argument("--min-size", type=int, default=64, help="drop images with a side below this")
    ap.add_argument("--min-detail", type=float, default=0.004, help="drop near-flat images (mean |grad|)")
    ap.add_argument("--heldout", type=float, default=0.1, help="held-out fraction (by texture)")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    out = args.out or os.path.join(args.cache, "data")
    os.makedirs(out, exist_ok=True)

    info = fetch_packages(args.cache)
    jobs = []
    wargs = {"min_size": args.min_size, "max_seam": args.max_seam, "min_detail": args.min_detail,
             "sizes": args.sizes}
    licences = {}
    for pkg, prefix in PACKAGES.items():
        root = info[pkg]["root"]
        stanzas = parse_copyright(os.path.join(root, "usr/share/doc", pkg, "copyright"))
        for path, src in iter_sources(pkg, root):
            licences[(pkg, path)] = licence_for(stanzas, prefix + path)
            jobs.append((pkg, path, src, wargs))
    print(f"{len(jobs)} images in {len(PACKAGES)} packages", flush=True)

    kept, rejected, images, seen = [], [], {s: [] for s in args.sizes}, {}
    with Pool(args.workers) as pool:
        for i, (rec, imgs) in enumerate(pool.imap(process, jobs, chunksize=8)):
            if i % 500 == 0:
                print(f"  {i}/{len(jobs)}", flush=True)
            if imgs is None:
                rejected.append(rec)
                continue
            if rec["dedupe"] in seen:
                rec["reject"] = "duplicate of " + seen[rec["dedupe"]]
                rejected.append(rec)
                continue
            seen[rec["dedupe"]] = f"{rec['package']}/{rec['path']}"
            rec["licence"] = licences[(rec["package"], rec["path"])]
            rec["version"] = info[rec["package"]]["version"]
            rec["category"] = categorize(rec["path"])
            kept.append(rec)
            for s in args.sizes:
                images[s].append(imgs[s])

    assign_splits(kept, args.heldout)
    import torch  # imported late: the scan above does not need it
    labels = torch.tensor([CLASSES.index(r["category"]) for r in kept], dtype=torch.int64)
    for s in args.sizes:
        torch.save({
            "images": torch.from_numpy(np.stack(images[s])),  # uint8 N,3,S,S (sRGB)
            "labels": labels,
            "allow_rot": torch.tensor([r["category"] in ROTATABLE for r in kept]),
            "heldout": torch.tensor([r["split"] == "heldout" for r in kept]),
            "classes": CLASSES,
            "ids": [f"{r['package']}/{r['path']}" for r in kept],
        }, os.path.join(out, f"textures_{s}.pt"))

    cols = ["id", "package", "version", "path", "licence", "category", "seam_score", "width", "height", "split"]
    with open(os.path.join(out, "manifest.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(cols)
        for i, r in enumerate(kept):
            w.writerow([i] + [r[c] for c in cols[1:]])
    with open(os.path.join(out, "rejected.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["package", "path", "reason", "seam_score"])
        for r in rejected:
            w.writerow([r["package"], r["path"], r["reject"], r.get("seam_score", "")])

    counts = {c: {"train": 0, "heldout": 0} for c in CLASSES}
    for r in kept:
        counts[r["category"]][r["split"]] += 1
    reasons = {}
    for r in rejected:
        key = r["reject"].split(" (")[0] if not r["reject"].startswith("duplicate") else "duplicate"
        reasons[key] = reasons.get(key, 0) + 1
    summary = {
        "packages": {p: {k: v for k, v in d.items() if k != "root"} for p, d in info.items()},
        "images_scanned": len(jobs), "kept": len(kept), "rejected": reasons,
        "train": sum(r["split"] == "train" for r in kept),
        "heldout": sum(r["split"] == "heldout" for r in kept),
        "per_category": counts, "per_package": {p: sum(r["package"] == p for r in kept) for p in PACKAGES},
        "licences": sorted({r["licence"] for r in kept}),
        "settings": {"max_seam": args.max_seam, "min_size": args.min_size, "min_detail": args.min_detail,
                     "heldout": args.heldout, "sizes": args.sizes},
    }
    with open(os.path.join(out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)
    print(json.dumps({k: summary[k] for k in ("images_scanned", "kept", "train", "heldout", "rejected",
                                               "per_package")}, indent=1))
    for c in CLASSES:
        print(f"  {c:10s} train {counts[c]['train']:5d}  held-out {counts[c]['heldout']:4d}")


if __name__ == "__main__":
    main()
