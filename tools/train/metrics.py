"""Image-set metrics that need no pretrained network.

* swd: sliced Wasserstein distance between Laplacian-pyramid 7x7 patch
  descriptors (Karras et al. 2018, "Progressive growing of GANs"): 128 random
  patches per image and level, descriptors normalised per set and channel,
  4 x 128 = 512 random projections; reported x1e3 per level and averaged.
* colour: per-channel 1-D Wasserstein distance between the pixel-value
  distributions of two sets (0..255 units), averaged over R, G, B.
* seam: mean |difference across the wrap-around border| / mean |interior
  neighbour difference|, both axes; ~1 for a seamless texture.
All inputs are uint8 tensors N,3,H,W.
"""
import numpy as np
import torch
import torch.nn.functional as F

_G = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0]) / 16.0
_G2 = (_G[:, None] * _G[None, :])[None, None]


def _blur(x, scale=1.0):
    c = x.shape[1]
    k = (_G2 * scale).repeat(c, 1, 1, 1)
    return F.conv2d(F.pad(x, (2, 2, 2, 2), mode="reflect"), k, groups=c)  # reflect == scipy "mirror"


def laplacian_pyramid(x, num_levels):
    """Finest first; the last level is the low-pass residual (as in the reference code)."""
    pyr = [x.float()]
    for _ in range(1, num_levels):
        down = _blur(pyr[-1])[:, :, ::2, ::2]
        up = torch.zeros(down.shape[0], down.shape[1], down.shape[2] * 2, down.shape[3] * 2)
        up[:, :, ::2, ::2] = down
        pyr[-1] = pyr[-1] - _blur(up, 4.0)
        pyr.append(down)
    return pyr


def _descriptors(level, per_image, rng, size=7):
    n, c, h, w = level.shape
    half = size // 2
    ys = rng.integers(half, h - half, size=(n, per_image))
    xs = rng.integers(half, w - half, size=(n, per_image))
    patches = level.unfold(2, size, 1).unfold(3, size, 1)  # n,c,h-6,w-6,7,7
    out = []
    for i in range(n):
        p = patches[i][:, ys[i] - half, xs[i] - half]  # c, per_image, 7, 7
        out.append(p.permute(1, 0, 2, 3))
    d = torch.cat(out).numpy().astype(np.float64)
    d -= d.mean(axis=(0, 2, 3), keepdims=True)
    d /= d.std(axis=(0, 2, 3), keepdims=True) + 1e-12
    return d.reshape(d.shape[0], -1)


def _sliced_wasserstein(a, b, rng, repeats=4, dirs=128):
    res = []
    for _ in range(repeats):
        v = rng.standard_normal((a.shape[1], dirs))
        v /= np.sqrt((v ** 2).sum(0, keepdims=True))
        pa, pb = np.sort(a @ v, axis=0), np.sort(b @ v, axis=0)
        if len(pa) != len(pb):  # unequal set sizes: compare matching quantiles
            q = np.linspace(0, 1, min(len(pa), len(pb)))
            pa = np.quantile(pa, q, axis=0)
            pb = np.quantile(pb, q, axis=0)
        res.append(np.abs(pa - pb).mean())
    return float(np.mean(res))


def swd(a, b, min_res=16, per_image=128, seed=0):
    """Returns (per-level SWD x1e3 list, finest first; their mean)."""
    levels = int(np.log2(a.shape[-1] // min_res)) + 1
    rng = np.random.default_rng(seed)
    pa, pb = laplacian_pyramid(a, levels), laplacian_pyramid(b, levels)
    per = [1e3 * _sliced_wasserstein(_descriptors(la, per_image, rng), _descriptors(lb, per_image, rng), rng)
           for la, lb in zip(pa, pb)]
    return per, float(np.mean(per))


def colour_distance(a, b):
    out = []
    for ch in range(3):
        va = np.sort(a[:, ch].flatten().numpy().astype(np.float64))
        vb = np.sort(b[:, ch].flatten().numpy().astype(np.float64))
        q = np.linspace(0, 1, 2001)
        out.append(np.abs(np.quantile(va, q) - np.quantile(vb, q)).mean())
    return float(np.mean(out))


def seam_scores(x):
    """Per-image seam score (see module doc)."""
    x = x.float()
    inner = (x[:, :, :, 1:] - x[:, :, :, :-1]).abs().mean((1, 2, 3)) + (x[:, :, 1:] - x[:, :, :-1]).abs().mean(
        (1, 2, 3))
    wrap = (x[:, :, :, 0] - x[:, :, :, -1]).abs().mean((1, 2)) + (x[:, :, 0] - x[:, :, -1]).abs().mean((1, 2))
    return wrap / inner.clamp_min(1e-6)


def _dihedral(x):
    """The 8 flips / 90-degree rotations of a batch (training augments with a subset of them)."""
    out = []
    for k in range(4):
        r = torch.rot90(x, k, (2, 3))
        out += [r, r.flip(3)]
    return torch.stack(out, 1)  # n, 8, c, h, w


def nearest_train_distance(x, train, res=32, chunk=64, query_chunk=32):
    """Per image of x, the RMS pixel distance (0..255 units) to its nearest training texture at `res` px,
    minimised over every toroidal shift and the 8 flips / rotations of the training texture, since
    training sees textures shifted, flipped and rotated. ||a - T b||^2 = |a|^2 + |b|^2 - 2 <a, T b>,
    with the correlation over all shifts from one FFT product."""
    def prep(t):
        t = t.float()
        if t.shape[-1] != res:
            t = F.interpolate(t, size=(res, res), mode="area")
        return t

    a, b = prep(x), _dihedral(prep(train))  # n,c,h,w / m,8,c,h,w
    fa = torch.fft.rfft2(a.double()).conj()
    na = (a.double() ** 2).sum((1, 2, 3))
    best = torch.full((len(a),), float("inf"), dtype=torch.float64)
    for i in range(0, len(b), chunk):
        bb = b[i:i + chunk].double()
        fb = torch.fft.rfft2(bb)  # m,8,c,h,w/2+1
        nb = (bb ** 2).sum((2, 3, 4))  # m,8
        for j in range(0, len(a), query_chunk):
            # correlation of a with every shift of b, summed over channels in the frequency domain
            prod = torch.einsum("nchw,mkchw->nmkhw", fa[j:j + query_chunk], fb)
            corr = torch.fft.irfft2(prod, s=(res, res))  # n,m,8,h,w
            d2 = na[j:j + query_chunk, None, None] + nb[None] - 2 * corr.amax((3, 4))
            best[j:j + query_chunk] = torch.minimum(best[j:j + query_chunk], d2.reshape(len(d2), -1).amin(1))
    return (best.clamp_min(0) / (3 * res * res)).sqrt()
