#!/usr/bin/env python3
"""Build tessera's tileable-texture dataset from Debian's game-texture packages.

Steps (all outputs live under --cache, never in the source tree):
  1. `apt-get download` the packages of texture_sources.PACKAGES into <cache>/debs
     (skipped when present), unpack them with `dpkg-deb -x` into <cache>/extract.
  2. Walk every image (loose files and members of .pk3 / .zip archives), drop
     everything that is not a tileable albedo texture (see `reject_by_name` and
     `process`), measure the wrap-around seam score.
  3. Assign a category from name keywords, split train / held-out by texture,
     write manifest.csv, rejected.csv, summary.json and the cached tensors
     textures_<S>.pt (uint8, NCHW) used by training.  Sizes up to --native-from
     hold every texture; larger ones only those whose source is at least that big
     (no upscaled images in the super-resolution data).
  4. Keep the normal / height / specular / gloss / roughness maps that sit next to
     the kept albedo textures as aligned pairs: maps_<S>.pt and pairs.csv.

The output only depends on the package versions (recorded in summary.json).
"""
import argparse
import csv
import hashlib
import io
import json
import os
import re
import sys
from multiprocessing import Pool

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from categories import CLASSES, ROTATABLE, categorize  # noqa: E402
from texture_sources import (MAP_KINDS, OTHER_MAP_SUFFIXES, PACKAGES, fetch_packages, find_maps, index_maps, iter_sources,  # noqa: E402
                             licence_for, load_bytes, parse_copyright, relative_to_include, split_key)

# Names of every non-albedo map: the paired kinds and the rest.
MAP_SUFFIX = re.compile("(" + "|".join(re.escape(x) for x in sorted(
    {x for sufs in MAP_KINDS.values() for x in sufs} | set(OTHER_MAP_SUFFIXES))) + ")$")
# Whole path tokens (split on non-letters) that mark UI art, signs, sprites, skies, effects, characters.
EXCLUDE_TOKENS = {
    "sky", "skies", "env", "sfx", "sfx2", "flare", "flares", "flame", "fog", "portal", "telep", "teleport",
    "logo", "sign", "signs", "icon", "decal", "decals", "screen", "screens", "monitor", "poster", "pics",
    "anim", "common", "lights", "light", "lamp", "shop", "art", "book", "books", "dvds", "dvd", "text",
    "letter", "letters", "number", "numbers", "arrow", "font", "banner", "flag", "team", "redteam",
    "blueteam", "symbols", "ctf", "caulk", "clip", "nodraw", "hint", "trigger", "interface", "objects",
    "planet", "planets", "cloud", "effect", "lens", "back", "res", "sprite", "particle", "blood", "gib",
    "skin", "liquids", "lava", "slime", "water",
    "gui", "icons", "skins", "kart", "karts", "eye", "eyes", "hair", "head", "face", "body", "smoke",
    "explode", "explosion", "confetti", "caustics", "shadow", "cloudshadow", "particles",
}
EXCLUDE_PREFIXES = ("sky", "flare", "light", "lite", "lamp", "sign", "logo", "cloud", "planet", "effect",
                    "lens", "screen", "poster", "telep", "monitor")
# How each kind of map is stored: its PIL mode before resizing, and its channels.
MAP_MODES = {"normal": "RGB", "height": "L", "specular": "RGB", "gloss": "L", "roughness": "L"}


def reject_by_name(path):
    stem = os.path.splitext(path.lower())[0]
    if MAP_SUFFIX.search(stem):
        return "non-albedo map (name)"
    tokens = [t for t in re.split(r"[^a-z]+", path.lower()) if t]
    for t in tokens[:-1] + [re.sub(r"(png|jpg|jpeg|tga|dds)$", "", tokens[-1])]:
        if t in EXCLUDE_TOKENS or t.startswith(EXCLUDE_PREFIXES):
            return f"excluded kind ({t})"
    return None


def looks_like_normal_map(a):
    """A tangent-space normal map whatever its name says: read as n = 2 rgb - 1, most pixels are
    unit vectors facing out (n_z > 0.3), the mean faces out, and the tangent components average
    to about zero. (A test on the mean colour alone let ~100 named `normal.png`, `norm.jpg`,
    `*n.jpg` through: their channels' spread made the overall std large.)"""
    n = 2.0 * a.reshape(-1, 3) - 1.0
    unit = (np.abs(np.linalg.norm(n, axis=1) - 1.0) < 0.2) & (n[:, 2] > 0.3)
    m = a.reshape(-1, 3).mean(0)
    return unit.mean() > 0.8 and n[:, 2].mean() > 0.6 and abs(m[0] - 0.5) < 0.1 and abs(m[1] - 0.5) < 0.1


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


def _resize_channels(a, size):
    """periodic_resize for 1 or 3 channels (4-channel images would be premultiplied by PIL)."""
    if a.shape[2] == 3:
        return periodic_resize(a, size)
    return np.concatenate([periodic_resize(np.repeat(a[..., c:c + 1], 3, axis=2), size)[:1]
                           for c in range(a.shape[2])])


def decode(src):
    img = Image.open(io.BytesIO(load_bytes(src)))
    img.load()
    return img


def load_map(kind, src, albedo_size, sizes):
    """A map resized like its albedo: {size: uint8 C,S,S}, plus its alpha channel for normal maps
    (games often keep the height there); None when it cannot be paired (decode error, other shape)."""
    try:
        img = decode(src)
    except Exception:
        return None, "decode error"
    w, h = img.size
    aw, ah = albedo_size
    if w * ah != h * aw:
        return None, f"aspect {w}x{h} differs from the albedo's {aw}x{ah}"
    out = {}
    a = np.asarray(img.convert(MAP_MODES[kind]), dtype=np.float32) / 255.0
    a = make_square(a if a.ndim == 3 else a[..., None])
    out[kind] = {s: _resize_channels(a, s) for s in sizes}
    if kind == "normal" and img.mode in ("RGBA", "LA"):
        alpha = np.asarray(img.convert("RGBA"), dtype=np.float32)[..., 3:] / 255.0
        if alpha.std() > 0.01:  # a constant alpha carries nothing
            out["normal_alpha"] = {s: _resize_channels(make_square(alpha), s) for s in sizes}
    return out, None


def process(job):
    """Worker: returns (record, images, maps) or (record with 'reject', None, None)."""
    pkg, path, src, maps, args = job
    rec = {"package": pkg, "path": path}
    why = reject_by_name(relative_to_include(pkg, path))
    if why:
        rec["reject"] = why
        return rec, None, None
    try:
        img = decode(src)
    except Exception as e:  # a few game files are truncated or exotic
        rec["reject"] = f"decode error ({type(e).__name__})"
        return rec, None, None
    w, h = img.size
    rec["width"], rec["height"] = w, h
    if min(w, h) < args["min_size"]:
        rec["reject"] = "tiny"
        return rec, None, None
    if max(w, h) % min(w, h) or max(w, h) // min(w, h) > 2:
        rec["reject"] = "aspect ratio"
        return rec, None, None
    if img.mode in ("RGBA", "LA") or (img.mode == "P" and "transparency" in img.info):
        alpha = np.asarray(img.convert("RGBA"))[..., 3]
        if (alpha < 250).mean() > 0.01:
            rec["reject"] = "transparent (cut-out/sprite)"
            return rec, None, None
    a = np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0
    if looks_like_normal_map(a):
        rec["reject"] = "normal map (content)"
        return rec, None, None
    a = make_square(a)
    if np.abs(np.diff(a, axis=1)).mean() < args["min_detail"]:
        rec["reject"] = "flat"
        return rec, None, None
    # Sizes above native_from are made only from sources at least that large (never upscaled).
    sizes = [s for s in args["sizes"] if s <= args["native_from"] or s <= min(w, h)]
    imgs = {s: periodic_resize(a, s) for s in sorted(set(sizes) | {args["seam_size"]})}
    # The seam is judged at the base model's largest training resolution: a sub-pixel seam at
    # 1024 px vanishes there. Larger sizes record theirs in the manifest.
    score = seam_score(imgs[args["seam_size"]].transpose(1, 2, 0).astype(np.float32) / 255.0)
    rec["seam_score"] = round(score, 4)
    big = max(sizes)
    rec["seam_score_max"] = round(seam_score(imgs[big].transpose(1, 2, 0).astype(np.float32) / 255.0), 4)
    if score > args["max_seam"]:
        rec["reject"] = "not tileable"
        return rec, None, None
    imgs = {s: imgs[s] for s in sizes}
    tiny = Image.fromarray(imgs[min(imgs)].transpose(1, 2, 0)).resize((8, 8), Image.BOX)
    rec["dedupe"] = hashlib.sha1((np.asarray(tiny) // 16).tobytes()).hexdigest()
    found, rec["maps"], rec["map_rejects"] = {}, {}, {}
    map_sizes = [s for s in args["map_sizes"] if s in imgs]
    for kind, (mpath, msrc) in sorted(maps.items()):
        got, why = load_map(kind, msrc, (w, h), map_sizes)
        if got is None:
            rec["map_rejects"][mpath] = why
            continue
        found.update(got)
        rec["maps"][kind] = mpath
    return rec, imgs, found

def assign_splits(kept, heldout_frac):
    """Deterministic by-texture split that stays stable when the dataset changes.

    A texture is held out when the hash of its split key (package/path, with packages
    that re-ship another's textures in that one's namespace) falls below heldout_frac,
    so adding or removing other textures never moves it between the sets.  A
    category with >= 5 textures but no held-out one gives up its lowest-hash
    texture, so small categories are evaluated too."""
    def h(r):
        return int(hashlib.sha256(split_key(r["package"], r["path"]).encode()).hexdigest()[:12], 16) / 16 ** 12
    by_cat = {}
    for r in kept:
        r["split"] = "heldout" if h(r) < heldout_frac else "train"
        by_cat.setdefault(r["category"], []).append(r)
    for rs in by_cat.values():
        if len(rs) >= 5 and not any(r["split"] == "heldout" for r in rs):
            min(rs, key=h)["split"] = "heldout"


def write_maps(out, kept, maps, sizes):
    """maps_<S>.pt: for every kept texture with at least one map, each kind (zeros + has_<kind> False
    where it is missing), aligned with the rows of textures_<S>.pt."""
    import torch
    kinds = list(MAP_KINDS) + ["normal_alpha"]
    chans = {k: (3 if MAP_MODES.get(k) == "RGB" else 1) for k in kinds}
    for s in sizes:
        # a texture's maps come at every map size its albedo has
        rows = [(i, r, maps[r["_key"]]) for i, r in enumerate(r for r in kept if s in r["_sizes"])
                if maps[r["_key"]]]
        if not rows:
            continue
        d = {"index": torch.tensor([i for i, _, _ in rows], dtype=torch.int64),
             "ids": [r["_key"] for _, r, _ in rows],
             "heldout": torch.tensor([r["split"] == "heldout" for _, r, _ in rows])}
        for k in kinds:
            arr = np.zeros((len(rows), chans[k], s, s), np.uint8)
            has = np.zeros(len(rows), bool)
            for j, (_, _, m) in enumerate(rows):
                if k in m:
                    arr[j], has[j] = m[k][s], True
            d[k], d["has_" + k] = torch.from_numpy(arr), torch.from_numpy(has)
        torch.save(d, os.path.join(out, f"maps_{s}.pt"))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cache", default=os.path.expanduser("~/.cache/tessera"), help="work/cache directory")
    ap.add_argument("--out", default=None, help="dataset directory (default <cache>/data)")
    ap.add_argument("--sizes", type=int, nargs="+", default=[32, 64, 128, 256, 512],
                    help="cached training resolutions")
    ap.add_argument("--native-from", type=int, default=128,
                    help="sizes above this are made only from sources at least that large")
    ap.add_argument("--map-sizes", type=int, nargs="+", default=[64, 256, 512], help="sizes of the paired maps")
    ap.add_argument("--seam-size", type=int, default=128, help="resolution the seam score is judged at")
    ap.add_argument("--max-seam", type=float, default=1.5, help="max seam score to count as tileable")
    ap.add_argument("--min-size", type=int, default=64, help="drop images with a side below this")
    ap.add_argument("--min-detail", type=float, default=0.004, help="drop near-flat images (mean |grad|)")
    ap.add_argument("--heldout", type=float, default=0.1, help="held-out fraction (by texture)")
    ap.add_argument("--packages", nargs="+", default=list(PACKAGES), help="subset of the packages (for tests)")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    out = args.out or os.path.join(args.cache, "data")
    os.makedirs(out, exist_ok=True)

    info = fetch_packages(args.cache, args.packages)
    jobs = []
    wargs = {"min_size": args.min_size, "max_seam": args.max_seam, "min_detail": args.min_detail,
             "sizes": args.sizes, "native_from": args.native_from, "map_sizes": args.map_sizes,
             "seam_size": args.seam_size}
    licences = {}
    for pkg in info:
        root = info[pkg]["root"]
        stanzas = parse_copyright(os.path.join(root, "usr/share/doc", pkg, "copyright"))
        sources = iter_sources(pkg, root)
        maps_index = index_maps(sources)
        for path, src in sources:
            licences[(pkg, path)] = licence_for(stanzas, PACKAGES[pkg]["licence_prefix"] + path)
            jobs.append((pkg, path, src, find_maps(maps_index, path), wargs))
    print(f"{len(jobs)} images in {len(info)} packages", flush=True)

    kept, rejected, seen, maps = [], [], {}, {}
    images = {s: [] for s in args.sizes}
    with Pool(args.workers) as pool:
        for i, (rec, imgs, found) in enumerate(pool.imap(process, jobs, chunksize=4)):
            if i % 500 == 0:
                print(f"  {i}/{len(jobs)}", flush=True)
            if imgs is None:
                rejected.append(rec)
                continue
            if rec["dedupe"] in seen:
                rec["reject"] = "duplicate of " + seen[rec["dedupe"]]
                rejected.append(rec)
                continue
            rec["_key"] = f"{rec['package']}/{rec['path']}"
            seen[rec["dedupe"]] = rec["_key"]
            rec["licence"] = licences[(rec["package"], rec["path"])]
            rec["version"] = info[rec["package"]]["version"]
            rec["category"] = categorize(relative_to_include(rec["package"], rec["path"]))
            rec["_sizes"] = sorted(imgs)
            kept.append(rec)
            maps[rec["_key"]] = found
            for s in imgs:
                images[s].append(imgs[s])

    assign_splits(kept, args.heldout)
    import torch  # imported late: the scan above does not need it
    for s in args.sizes:
        rows = [r for r in kept if s in r["_sizes"]]
        if not rows:
            continue
        torch.save({
            "images": torch.from_numpy(np.stack(images[s])),  # uint8 N,3,S,S (sRGB)
            "labels": torch.tensor([CLASSES.index(r["category"]) for r in rows], dtype=torch.int64),
            "allow_rot": torch.tensor([r["category"] in ROTATABLE for r in rows]),
            "heldout": torch.tensor([r["split"] == "heldout" for r in rows]),
            "classes": CLASSES,
            "ids": [r["_key"] for r in rows],
        }, os.path.join(out, f"textures_{s}.pt"))
    write_maps(out, kept, maps, args.map_sizes)

    cols = ["id", "package", "version", "path", "licence", "category", "seam_score", "seam_score_max", "width",
            "height", "split", "maps"]
    with open(os.path.join(out, "manifest.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(cols)
        for i, r in enumerate(kept):
            w.writerow([i] + [r[c] for c in cols[1:-1]] + [" ".join(sorted(r["maps"]))])
    with open(os.path.join(out, "pairs.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "package", "albedo", "split"] + list(MAP_KINDS) + ["normal_alpha", "unpaired"])
        for i, r in enumerate(kept):
            if r["maps"] or r["map_rejects"]:
                w.writerow([i, r["package"], r["path"], r["split"]] + [r["maps"].get(k, "") for k in MAP_KINDS]
                           + [int("normal_alpha" in maps[r["_key"]])]
                           + ["; ".join(f"{p}: {why}" for p, why in sorted(r["map_rejects"].items()))])
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
    map_counts = {k: {"train": 0, "heldout": 0} for k in list(MAP_KINDS) + ["normal_alpha"]}
    for r in kept:
        for k in maps[r["_key"]]:
            map_counts[k][r["split"]] += 1
    summary = {
        "packages": {p: {k: v for k, v in d.items() if k != "root"} for p, d in info.items()},
        "images_scanned": len(jobs), "kept": len(kept), "rejected": reasons,
        "train": sum(r["split"] == "train" for r in kept),
        "heldout": sum(r["split"] == "heldout" for r in kept),
        "per_size": {s: sum(s in r["_sizes"] for r in kept) for s in args.sizes},
        "per_category": counts, "per_package": {p: sum(r["package"] == p for r in kept) for p in info},
        "maps": map_counts,
        "licences": sorted({r["licence"] for r in kept}),
        "settings": {"max_seam": args.max_seam, "min_size": args.min_size, "min_detail": args.min_detail,
                     "heldout": args.heldout, "sizes": args.sizes, "native_from": args.native_from,
                     "map_sizes": args.map_sizes, "seam_size": args.seam_size},
    }
    with open(os.path.join(out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)
    print(json.dumps({k: summary[k] for k in ("images_scanned", "kept", "train", "heldout", "rejected",
                                               "per_package", "per_size", "maps")}, indent=1))
    for c in CLASSES:
        print(f"  {c:10s} train {counts[c]['train']:5d}  held-out {counts[c]['heldout']:4d}")


if __name__ == "__main__":
    main()
