"""The super-resolution stage of tessera's cascade (cascaded diffusion, Ho et al. 2021).

A base model makes a texture at low resolution (64 px); an SR model, conditioned on that texture
upsampled, adds the detail at 4x (or 2x) the size. This file is the one definition of how the two
meet, shared by training (train_sr.py), evaluation and the runtime's reference tests:

* conditioning: the low-resolution image in [-1, 1], clamped, plus Gaussian noise of level
  sigma_aug (noise conditioning augmentation; at sampling time the model's `cond_sigma`), then
  upsampled by `upsample_periodic` (bilinear, half-pixel centres, wrapping around: the texture
  is a torus at every stage);
* the network: a circular-padded diffusers UNet2DModel with in_channels = 3 + 3; channels 0-2
  carry c_in(sigma) x as in EDM, channels 3-5 the conditioning image as it is (not scaled);
* sigma_aug is the network's second condition: class_embed_type "timestep", class label
  aug_label(sigma_aug) = ln(sigma_aug) / 4 (the same map as EDM's c_noise);
* EDM preconditioning of the noisy image exactly as the base (edm.EDMPrecond), or, for a stage
  whose config says tessera.residual, of the residual against the conditioning's first three
  channels: D(x) = u + D_r(x - u) with u = the upsampled (noisy) low-resolution image and D_r an
  EDM denoiser whose sigma_data is the residual's. The low frequencies then come from u at every
  noise level, and the network learns only the detail the upsampling lacks.

No attention anywhere, so the cost grows linearly with the size and the model runs at any size.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from unet import TESSERA_CONFIG

# 4x stage, 2.5 M parameters, 15.5 GFLOP per evaluation at 256 px, 67 CPU ms per 64 px training crop.
SR_CONFIG = dict(
    TESSERA_CONFIG,
    in_channels=6,
    out_channels=3,
    down_block_types=["DownBlock2D"] * 4,
    up_block_types=["UpBlock2D"] * 4,
    block_out_channels=[16, 32, 64, 128],
    layers_per_block=1,
    norm_num_groups=8,
    attn_norm_num_groups=None,
    add_attention=False,
    class_embed_type="timestep",
    num_class_embeds=None,
    sample_size=256,
)

SIGMA_AUG_MIN = 0.002  # "clean": the smallest level, as EDM's sigma_min


def aug_label(sigma_aug):
    """The class label that tells the SR network how noisy its conditioning is."""
    if not torch.is_tensor(sigma_aug):
        sigma_aug = torch.tensor([float(sigma_aug)])
    return sigma_aug.clamp(min=SIGMA_AUG_MIN).log() / 4


def upsample_periodic(x, factor):
    """Bilinear upsampling by an integer factor on the torus: output pixel (y, x) samples the input at
    ((y + 0.5) / f - 0.5, (x + 0.5) / f - 0.5) with indices wrapping around (align_corners=False
    semantics of a periodic image)."""
    if factor == 1:
        return x
    p = F.pad(x, (1, 1, 1, 1), mode="circular")
    h, w = x.shape[-2:]
    up = F.interpolate(p, size=((h + 2) * factor, (w + 2) * factor), mode="bilinear", align_corners=False)
    return up[..., factor:factor + h * factor, factor:factor + w * factor]


def condition(low, sigma_aug, noise, factor):
    """The SR network's conditioning image from a low-resolution image in [-1, 1]:
    clamp, add sigma_aug * noise (noise shaped like low), upsample."""
    s = sigma_aug if torch.is_tensor(sigma_aug) else torch.tensor(float(sigma_aug))
    s = s.reshape(-1, 1, 1, 1) if s.numel() > 1 else s
    return upsample_periodic(low.clamp(-1, 1) + s * noise, factor)


class SRPrecond(nn.Module):
    """D(x; sigma, cond, sigma_aug) = c_skip x + c_out F([c_in x, cond], c_noise(sigma), aug_label(sigma_aug));
    residual: u + c_skip (x - u) + c_out F([c_in (x - u), cond], ...) with u = cond[:, :3]."""

    def __init__(self, unet, sigma_data, residual=None):
        super().__init__()
        self.unet = unet
        self.sigma_data = float(sigma_data)
        if residual is None:
            residual = bool(unet.config.get("tessera", {}).get("residual", False))
        self.residual = residual

    def forward(self, x, sigma, cond, sigma_aug):
        sigma = sigma.to(x.dtype).reshape(-1)
        if sigma.numel() == 1:
            sigma = sigma.expand(x.shape[0])
        sa = sigma_aug if torch.is_tensor(sigma_aug) else torch.tensor([float(sigma_aug)])
        sa = sa.to(x.dtype).reshape(-1)
        if sa.numel() == 1:
            sa = sa.expand(x.shape[0])
        sd2 = self.sigma_data ** 2
        c_skip = (sd2 / (sigma ** 2 + sd2)).view(-1, 1, 1, 1)
        c_out = (sigma * self.sigma_data / (sigma ** 2 + sd2).sqrt()).view(-1, 1, 1, 1)
        c_in = (1 / (sigma ** 2 + sd2).sqrt()).view(-1, 1, 1, 1)
        c_noise = sigma.log() / 4
        cond = cond.to(x.dtype)
        u = cond[:, : x.shape[1]] if self.residual else 0
        f = self.unet(torch.cat([c_in * (x - u), cond], 1), c_noise, aug_label(sa), return_dict=False)[0]
        return u + c_skip * (x - u) + c_out * f


def bound(den, cond, sigma_aug):
    """An SR denoiser with its conditioning fixed, in the (x, sigma, labels) form edm's samplers take."""
    return lambda x, sigma, labels=None: den(x, sigma, cond, sigma_aug)


def sigma_data_of(images_u8):
    return float((images_u8.float() / 127.5 - 1).std())


def log_uniform(n, lo, hi, generator):
    return (torch.rand(n, generator=generator) * (math.log(hi) - math.log(lo)) + math.log(lo)).exp()


def _selftest():
    import numpy as np
    g = torch.Generator().manual_seed(0)
    for f in (2, 4):
        x = torch.randn(2, 3, 5, 7, generator=g, dtype=torch.float64)
        up = upsample_periodic(x, f).numpy()
        ref = np.zeros((2, 3, 5 * f, 7 * f))
        xn = x.numpy()
        for yy in range(5 * f):  # the definition, pixel by pixel
            sy = (yy + 0.5) / f - 0.5
            y0 = math.floor(sy)
            wy = sy - y0
            for xx in range(7 * f):
                sx = (xx + 0.5) / f - 0.5
                x0 = math.floor(sx)
                wx = sx - x0
                ref[..., yy, xx] = ((1 - wy) * (1 - wx) * xn[..., y0 % 5, x0 % 7] + (1 - wy) * wx * xn[..., y0 % 5, (x0 + 1) % 7]
                                    + wy * (1 - wx) * xn[..., (y0 + 1) % 5, x0 % 7] + wy * wx * xn[..., (y0 + 1) % 5, (x0 + 1) % 7])
        assert np.abs(up - ref).max() < 1e-12, np.abs(up - ref).max()
    from unet import UNet2DModel
    cfg = dict(SR_CONFIG, block_out_channels=[8, 16, 16, 16], tessera={"padding_mode": "circular"})
    den = SRPrecond(UNet2DModel.from_config(cfg), 0.5).eval()
    x, cond = torch.randn(2, 3, 32, 32, generator=g), torch.randn(2, 3, 32, 32, generator=g)
    with torch.no_grad():
        a = den(x, torch.tensor([0.3, 3.0]), cond, torch.tensor([0.01, 0.2]))
        b = den(x.roll((8, 16), (2, 3)), torch.tensor([0.3, 3.0]), cond.roll((8, 16), (2, 3)), torch.tensor([0.01, 0.2]))
        c = den(x, torch.tensor([0.3, 3.0]), cond, torch.tensor([0.2, 0.2]))
    assert (a.roll((8, 16), (2, 3)) - b).abs().max() < 1e-4, "the SR network must commute with shifts (circular padding)"
    assert (a[0] - c[0]).abs().max() > 1e-6, "sigma_aug must reach the network"
    # The residual form is the plain form on x - u, shifted by u.
    res = SRPrecond(den.unet, 0.5, residual=True).eval()
    with torch.no_grad():
        r = res(x, torch.tensor([0.3, 3.0]), cond, torch.tensor([0.01, 0.2]))
        p = den(x - cond[:, :3], torch.tensor([0.3, 3.0]), cond, torch.tensor([0.01, 0.2])) + cond[:, :3]
    assert (r - p).abs().max() < 1e-5, "residual = u + plain(x - u)"
    print("sr selftest: periodic upsampling matches its definition; the network is shift-equivariant and sees "
          "sigma_aug; the residual form is the plain one on x - u")


if __name__ == "__main__":
    _selftest()
