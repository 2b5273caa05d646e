#!/usr/bin/env python3
"""Material maps in one convention: normals, heights and roughness paired with the albedo textures.

make_dataset.py stores each package's maps as the package has them (maps_<S>.pt). Packages, and
even textures within one package, disagree on conventions, so this script measures each map's and
writes them normalised (materials_<S>.pt, materials.json beside them):

* normals: tangent space, unit length, **OpenGL convention** (green = +Y = up the image). Which
  convention a map uses is measured, not assumed: a normal map that shades a height field h is
  n ~ (-h_x, +h_r, 1) in OpenGL's convention and (-h_x, -h_r, 1) in DirectX's (x along columns,
  r down the rows), so exactly one of (n_x, -n_g) and (n_x, n_g) is curl-free. The score
  s = (E_dx - E_gl) / (E_dx + E_gl), with E the mean squared curl of either reading, is > 0 for
  OpenGL and < 0 for DirectX; |s| < --min-score (noisy maps) and flat maps (no relief) are left out.
* heights: 0..1, white = high, from a separate height map or a normal map's alpha. Checked against
  the normals: the height integrated from the normal map (periodic Poisson solve) must correlate
  positively with it (reported per package; a map that correlates negatively is inverted).
* roughness: 1 - gloss where a gloss map exists (perceptual roughness, glTF's G channel). Specular
  maps are kept as they are (specular intensity, not a PBR quantity).

    nice -n 19 /usr/bin/python3 tools/train/material_maps.py       # ~/.cache/tessera/data
"""
import argparse
import collections
import json
import math
import os

import torch

CACHE = os.path.expanduser("~/.cache/tessera")


def _dx(a):
    return (a.roll(-1, -1) - a.roll(1, -1)) / 2


def _dr(a):
    return (a.roll(-1, -2) - a.roll(1, -2)) / 2


def decode_normal(rgb_u8):
    """uint8 [3,H,W] -> float [3,H,W] in [-1,1] (not renormalised)."""
    return rgb_u8.float() / 127.5 - 1


def green_score(n):
    """> 0: OpenGL (green up), < 0: DirectX (green down); near 0: undecidable (flat or noisy)."""
    nx, g = n[0], n[1]
    e_gl = ((_dr(nx) + _dx(g)) ** 2).mean()
    e_dx = ((_dr(nx) - _dx(g)) ** 2).mean()
    return float((e_dx - e_gl) / (e_dx + e_gl).clamp_min(1e-12))


def is_flat(n, tol=0.02):
    return float(n[0].std()) < tol and float(n[1].std()) < tol


def integrate_height(n, green_up=True):
    """The periodic height field whose central-difference gradient best matches the normal map's slopes
    (least squares, by FFT); zero mean."""
    nz = n[2].clamp_min(0.05)
    gx, gr = -n[0] / nz, (n[1] if green_up else -n[1]) / nz
    h, w = gx.shape
    ky = torch.fft.fftfreq(h, dtype=torch.float64).view(-1, 1) * 2 * math.pi
    kx = torch.fft.fftfreq(w, dtype=torch.float64).view(1, -1) * 2 * math.pi
    sx, sy = 1j * torch.sin(kx), 1j * torch.sin(ky)
    num = sx.conj() * torch.fft.fft2(gx.double()) + sy.conj() * torch.fft.fft2(gr.double())
    den = sx.abs() ** 2 + sy.abs() ** 2
    den[den < 1e-12] = 1.0
    return torch.fft.ifft2(num / den).real.float()


def to_opengl(n, green_up):
    """Unit normals in the OpenGL convention."""
    out = n.clone()
    if not green_up:
        out[1] = -out[1]
    out[2] = out[2].clamp_min(0.0)
    return out / out.norm(dim=0, keepdim=True).clamp_min(1e-6)


def encode_normal(n):
    return ((n.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


def _corr(a, b):
    a, b = a.flatten() - a.mean(), b.flatten() - b.mean()
    return float((a * b).sum() / (a.norm() * b.norm()).clamp_min(1e-12))


def decide(maps, min_score=0.25):
    """Per map of maps_<S>.pt (decided once, at the smallest size, and applied to every size): the
    normal map's convention and whether its height is inverted -> {id: record}."""
    records = {}
    for i, tid in enumerate(maps["ids"]):
        rec = {"id": tid, "package": tid.split("/")[0]}
        h = None
        if maps["has_height"][i]:
            h, rec["height_from"] = maps["height"][i][0].float() / 255, "height map"
        elif maps["has_normal_alpha"][i]:
            h, rec["height_from"] = maps["normal_alpha"][i][0].float() / 255, "normal alpha"
        if h is not None and float(h.std()) <= 0.005:
            rec["height_from"] += " (constant, left out)"
            h = None
        if maps["has_normal"][i]:
            n = decode_normal(maps["normal"][i])
            s = green_score(n)
            rec["green_score"] = round(s, 3)
            if is_flat(n):  # no relief: as a training target it would teach "flat" for a textured albedo
                rec["normal"] = "flat (left out)"
            elif abs(s) >= min_score:
                rec["normal"] = "opengl" if s > 0 else "directx"
                if h is not None:
                    nn = to_opengl(n, s > 0)
                    rec["height_corr"] = round(_corr(h, integrate_height(nn, True)), 3)
                    rec["height_corr_other_green"] = round(_corr(h, integrate_height(nn, False)), 3)
                    rec["height_inverted"] = rec["height_corr"] < 0  # dark = high in this map
            else:
                rec["normal"] = "undecided (left out)"
        if maps["has_gloss"][i]:
            rec["roughness_from"] = "1 - gloss"
        elif maps["has_roughness"][i]:
            rec["roughness_from"] = "roughness map"
        records[tid] = rec
    return records


def normalise(maps, records):
    """maps_<S>.pt with the decisions of decide() -> the materials dict."""
    n_rows = len(maps["ids"])
    size = maps["normal"].shape[-1]
    normal = torch.zeros(n_rows, 3, size, size, dtype=torch.uint8)
    height = torch.zeros(n_rows, 1, size, size, dtype=torch.uint8)
    rough = torch.zeros(n_rows, 1, size, size, dtype=torch.uint8)
    has_n, has_h, has_r = (torch.zeros(n_rows, dtype=torch.bool) for _ in range(3))
    for i, tid in enumerate(maps["ids"]):
        rec = records[tid]
        if rec.get("normal") in ("opengl", "directx"):
            normal[i] = encode_normal(to_opengl(decode_normal(maps["normal"][i]), rec["normal"] == "opengl"))
            has_n[i] = True
        src = rec.get("height_from")
        if src in ("height map", "normal alpha"):
            h = maps["height" if src == "height map" else "normal_alpha"][i]
            height[i], has_h[i] = (255 - h) if rec.get("height_inverted") else h, True
        if rec.get("roughness_from") == "1 - gloss":
            rough[i], has_r[i] = 255 - maps["gloss"][i], True
        elif rec.get("roughness_from") == "roughness map":
            rough[i], has_r[i] = maps["roughness"][i], True
    return {"index": maps["index"], "ids": maps["ids"], "heldout": maps["heldout"],
            "normal": normal, "has_normal": has_n, "height": height, "has_height": has_h,
            "roughness": rough, "has_roughness": has_r,
            "specular": maps["specular"], "has_specular": maps["has_specular"],
            "convention": {"normal": "tangent space, unit, OpenGL (green = up the image), encoded (n + 1) * 127.5",
                           "height": "0..1 (uint8 / 255), white = high",
                           "roughness": "perceptual roughness 0..1 (uint8 / 255); 1 - gloss",
                           "specular": "as the package has it (specular intensity)"}}


def summarise(records):
    per = collections.defaultdict(lambda: collections.Counter())
    corr = collections.defaultdict(list)
    for rec in records.values():
        p = per[rec["package"]]
        if "normal" in rec:
            p["normal: " + rec["normal"]] += 1
        if "height_from" in rec:
            p["height: " + rec["height_from"]] += 1
        if rec.get("height_inverted"):
            p["height: inverted (dark = high)"] += 1
        if "roughness_from" in rec:
            p["roughness: " + rec["roughness_from"]] += 1
        if "height_corr" in rec:
            corr[rec["package"]].append((rec["height_corr"], rec["height_corr_other_green"]))
    out = {}
    for pk, c in sorted(per.items()):
        entry = dict(sorted(c.items()))
        if corr[pk]:
            a = torch.tensor(corr[pk])
            entry["height_vs_normals_corr_median"] = round(float(a[:, 0].abs().median()), 3)
            entry["height_vs_normals_corr_median_other_green"] = round(float(a[:, 1].abs().median()), 3)
        out[pk] = entry
    return out


def normals_from_height(h, strength, green_up):
    """A tangent-space normal map of a periodic height field (central differences)."""
    g = _dr(h) if green_up else -_dr(h)
    n = torch.stack([-_dx(h) * strength, g * strength, torch.ones_like(h)])
    return n / n.norm(dim=0, keepdim=True)


def selftest():
    gen = torch.Generator().manual_seed(0)
    for trial in range(8):
        # smooth random periodic height: low-pass filtered noise
        f = torch.fft.fft2(torch.randn(64, 64, generator=gen, dtype=torch.float64))
        k = torch.fft.fftfreq(64, dtype=torch.float64)
        f *= torch.exp(-(k.view(-1, 1) ** 2 + k.view(1, -1) ** 2) / 0.01)
        h = torch.fft.ifft2(f).real.float()
        h = (h - h.min()) / (h.max() - h.min())
        gl, dx = normals_from_height(h, 8.0, True), normals_from_height(h, 8.0, False)
        # through the 8-bit encoding, as the packages store them
        gl8, dx8 = decode_normal(encode_normal(gl)), decode_normal(encode_normal(dx))
        assert green_score(gl8) > 0.5 and green_score(dx8) < -0.5, (green_score(gl8), green_score(dx8))
        assert (to_opengl(dx8, False) - to_opengl(gl8, True)).abs().max() < 0.02
        assert _corr(h, integrate_height(gl8, True)) > 0.99
        assert _corr(h, integrate_height(to_opengl(dx8, False), True)) > 0.99
        assert not is_flat(gl8) and is_flat(normals_from_height(h, 0.0, True))
    print("material_maps selftest: convention detection, conversion and height integration ok")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=os.path.join(CACHE, "data"))
    ap.add_argument("--sizes", type=int, nargs="+", default=[64, 256, 512])
    ap.add_argument("--min-score", type=float, default=0.25, help="|green score| needed to decide a normal map")
    ap.add_argument("--selftest", action="store_true", help="check the convention detection on synthetic maps")
    args = ap.parse_args()
    if args.selftest:
        return selftest()
    sizes = sorted(sz for sz in args.sizes if os.path.exists(os.path.join(args.data, f"maps_{sz}.pt")))
    if not sizes:
        raise SystemExit(f"no maps_<S>.pt in {args.data} (make_dataset.py writes them)")
    records = decide(torch.load(os.path.join(args.data, f"maps_{sizes[0]}.pt")), args.min_score)
    report = {"min_score": args.min_score, "decided_at": sizes[0], "per_package": summarise(records), "pairs": {}}
    for size in sizes:
        mats = normalise(torch.load(os.path.join(args.data, f"maps_{size}.pt")), records)
        torch.save(mats, os.path.join(args.data, f"materials_{size}.pt"))
        held = mats["heldout"]
        report["pairs"][size] = {k: {"train": int((mats[f"has_{k}"] & ~held).sum()),
                                     "heldout": int((mats[f"has_{k}"] & held).sum())}
                                 for k in ("normal", "height", "roughness", "specular")}
        print(size, json.dumps(report["pairs"][size]), flush=True)
    report["maps"] = list(records.values())
    with open(os.path.join(args.data, "materials.json"), "w") as f:
        json.dump(report, f, indent=1)
    print(json.dumps(report["per_package"], indent=1))


if __name__ == "__main__":
    main()
