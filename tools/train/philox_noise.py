"""tessera's counter-based Gaussian noise in numpy, value for value (shaders/gaussian_noise.comp).

normal(seed, stream, i) is lane i % 4 of Box-Muller applied to philox4x32_10(counter, key) with
counter = (lo32(i/4), hi32(i/4), stream, 0) and key = (lo32(seed), hi32(seed)). So PyTorch code
can start from exactly the noise the GPU draws for a seed (the sampler draws image i of a batch
from its own seed, stream 0 for the start).
"""
import numpy as np

M0, M1 = np.uint64(0xD2511F53), np.uint64(0xCD9E8D57)
W0, W1 = 0x9E3779B9, 0xBB67AE85
MASK = np.uint64(0xFFFFFFFF)


def philox4x32_10(c0, c1, c2, c3, k0, k1):
    c = [np.asarray(x, dtype=np.uint64) for x in (c0, c1, c2, c3)]
    for r in range(10):
        if r > 0:
            k0, k1 = (k0 + W0) & 0xFFFFFFFF, (k1 + W1) & 0xFFFFFFFF
        p0, p1 = M0 * c[0], M1 * c[2]
        hi0, lo0, hi1, lo1 = p0 >> np.uint64(32), p0 & MASK, p1 >> np.uint64(32), p1 & MASK
        c = [hi1 ^ c[1] ^ np.uint64(k0), lo1, hi0 ^ c[3] ^ np.uint64(k1), lo0]
    return c


def normal(seed, stream, count):
    """count values normal(seed, stream, 0..count-1) as float64."""
    blocks = (count + 3) // 4
    b = np.arange(blocks, dtype=np.uint64)
    w = philox4x32_10(b & MASK, b >> np.uint64(32), np.full(blocks, stream, dtype=np.uint64),
                      np.zeros(blocks, dtype=np.uint64), seed & 0xFFFFFFFF, (seed >> 32) & 0xFFFFFFFF)
    out = np.empty((blocks, 4))
    for pair, (a, bb) in enumerate(((w[0], w[1]), (w[2], w[3]))):
        u1 = (((a >> np.uint64(9)) << np.uint64(1)) | np.uint64(1)).astype(np.float64) * 2.0 ** -24
        u2 = (bb >> np.uint64(8)).astype(np.float64) * 2.0 ** -24
        r = np.sqrt(-2.0 * np.log(u1))
        out[:, 2 * pair] = r * np.cos(2 * np.pi * u2)
        out[:, 2 * pair + 1] = r * np.sin(2 * np.pi * u2)
    return out.reshape(-1)[:count]
