"""EDM (Karras et al. 2022) preconditioning, samplers and shared helpers for tessera's tools.

The network is a diffusers UNet2DModel F; the denoiser is
    D(x; sigma, y) = c_skip x + c_out F(c_in x, c_noise, y)
with c_skip = sd^2/(s^2+sd^2), c_out = s sd/sqrt(s^2+sd^2), c_in = 1/sqrt(s^2+sd^2),
c_noise = ln(s)/4, passed to the UNet as its (float) `timestep`.
"""
import math
import os

import torch
import torch.nn as nn

from checkpoints import load_checkpoint
from unet import UNet2DModel


class EDMPrecond(nn.Module):
    def __init__(self, unet, sigma_data):
        super().__init__()
        self.unet = unet
        self.sigma_data = float(sigma_data)

    def coefficients(self, sigma):
        sd2 = self.sigma_data ** 2
        c_skip = sd2 / (sigma ** 2 + sd2)
        c_out = sigma * self.sigma_data / (sigma ** 2 + sd2).sqrt()
        c_in = 1 / (sigma ** 2 + sd2).sqrt()
        c_noise = sigma.log() / 4
        return c_skip, c_out, c_in, c_noise

    def forward(self, x, sigma, class_labels=None):
        sigma = sigma.to(x.dtype).reshape(-1)
        if sigma.numel() == 1:
            sigma = sigma.expand(x.shape[0])
        c_skip, c_out, c_in, c_noise = (c.reshape(-1, 1, 1, 1) if i < 3 else c
                                        for i, c in enumerate(self.coefficients(sigma)))
        f = self.unet(c_in * x, c_noise, class_labels, return_dict=False)[0]
        return c_skip * x + c_out * f


def edm_loss_weight(sigma, sigma_data):
    """lambda(sigma) = (sigma^2 + sd^2) / (sigma sd)^2: unit-variance target for F at every sigma."""
    return (sigma ** 2 + sigma_data ** 2) / (sigma * sigma_data) ** 2


@torch.no_grad()
def fixed_sigma_losses(denoise, x, sigma_data, generator, sigmas):
    """EDM-weighted denoising loss of denoise(x_noisy, sigma) at each fixed sigma, with noise from
    `generator` (the validation of both long runs): {"mean", "per_sigma"}."""
    per = []
    for s in sigmas:
        noise = torch.randn(x.shape, generator=generator).to(x.device)
        sig = torch.full((len(x),), s, device=x.device)
        d = denoise(x + s * noise, sig)
        per.append(float((edm_loss_weight(sig, sigma_data).view(-1, 1, 1, 1) * (d - x) ** 2).mean()))
    return {"mean": sum(per) / len(per), "per_sigma": dict(zip(map(str, sigmas), per))}


def karras_sigmas(n, sigma_min=0.002, sigma_max=80.0, rho=7.0, device="cpu"):
    """n noise levels from sigma_max to sigma_min (EDM eq. 5), followed by a final 0."""
    i = torch.arange(n, dtype=torch.float64, device=device)
    s = (sigma_max ** (1 / rho) + i / max(n - 1, 1) * (sigma_min ** (1 / rho) - sigma_max ** (1 / rho))) ** rho
    return torch.cat([s, torch.zeros(1, dtype=torch.float64, device=device)])


def guided(denoiser, null_label, scale):
    """Classifier-free guidance D_u + w (D_c - D_u); scale 1 is plain conditional (1 NFE per step)."""
    def d(x, sigma, labels):
        if scale == 1.0 or labels is None:
            return denoiser(x, sigma, labels)
        xx = torch.cat([x, x])
        ll = torch.cat([labels, torch.full_like(labels, null_label)])
        ss = sigma.reshape(-1)
        ss = torch.cat([ss, ss]) if ss.numel() > 1 else ss
        dc, du = denoiser(xx, ss, ll).chunk(2)
        return du + scale * (dc - du)
    return d


@torch.no_grad()
def sample_heun(denoise, x, sigmas, labels):
    """EDM Algorithm 1, deterministic (S_churn = 0): 2n-1 evaluations for n steps to sigma=0."""
    x = x.to(torch.float64) * sigmas[0]
    for i in range(len(sigmas) - 1):
        s, s_next = sigmas[i], sigmas[i + 1]
        d = (x - denoise(x.float(), s.float(), labels).double()) / s
        x_next = x + (s_next - s) * d
        if s_next > 0:
            d2 = (x_next - denoise(x_next.float(), s_next.float(), labels).double()) / s_next
            x_next = x + (s_next - s) * (0.5 * d + 0.5 * d2)
        x = x_next
    return x.float()


@torch.no_grad()
def sample_dpmpp_2m(denoise, x, sigmas, labels):
    """DPM-Solver++(2M) (Lu et al. 2022) in the sigma parameterisation: one evaluation per step."""
    x = x.to(torch.float64) * sigmas[0]
    old = None
    for i in range(len(sigmas) - 1):
        s, s_next = sigmas[i], sigmas[i + 1]
        d = denoise(x.float(), s.float(), labels).double()
        if s_next == 0:
            x = d
            break
        t, t_next = -s.log(), -s_next.log()
        h = t_next - t
        if old is None:
            x = (s_next / s) * x - (-h).expm1() * d
        else:
            h_last = t - (-sigmas[i - 1].log())
            r = h_last / h
            d_mix = (1 + 1 / (2 * r)) * d - (1 / (2 * r)) * old
            x = (s_next / s) * x - (-h).expm1() * d_mix
        old = d
    return x.float()


@torch.no_grad()
def sample_consistency(denoise, x, sigmas, labels, generator=None, noise=None):
    """Multistep consistency sampling: denoise from sigmas[0], re-noise to each next sigma, denoise again.
    The re-noising after stage k draws noise(k) when given, else from `generator` / torch's RNG."""
    x = denoise(x * sigmas[0], sigmas[0].float().reshape(1), labels)
    for k, s in enumerate(sigmas[1:]):
        if s <= 0:
            break
        if noise is not None:
            z = noise(k)
        elif generator is not None:
            z = torch.randn(x.shape, generator=generator, device=x.device)
        else:
            z = torch.randn_like(x)
        x = denoise(x + s.float() * z, s.float().reshape(1), labels)
    return x


def to_unit(images_u8):
    """uint8 [0,255] -> float [-1,1]."""
    return images_u8.float() / 127.5 - 1.0


def to_u8(x):
    return ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


def atomic_save(obj, path):
    tmp = path + ".tmp"
    torch.save(obj, tmp)
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)


def load_denoiser(path, use_ema=True, device="cpu"):
    """Checkpoint (train_edm.py / distill_ect.py), .tsr package or export directory
    -> (EDMPrecond in eval mode, checkpoint dict)."""
    ckpt = load_checkpoint(path)
    unet = UNet2DModel.from_config(ckpt["config"])
    key = "ema" if use_ema and "ema" in ckpt else "model"
    unet.load_state_dict(ckpt[key])
    den = EDMPrecond(unet, ckpt["sigma_data"]).to(device).eval()
    return den, ckpt


def power_ema_gamma(sigma_rel):
    """EDM2 power-function EMA: gamma such that the profile's relative std equals sigma_rel."""
    # sigma_rel^2 = (g+1) / ((g+2)^2 (g+3)); solve by bisection (monotone in g).
    lo, hi = 0.0, 1e4
    for _ in range(200):
        g = 0.5 * (lo + hi)
        if (g + 1) / ((g + 2) ** 2 * (g + 3)) > sigma_rel ** 2:
            lo = g
        else:
            hi = g
    return g


def lr_at(step, base_lr, warmup, decay_ref, warm_from=0):
    """Linear warm-up from step warm_from, then constant, then (when decay_ref > 0) inverse-sqrt decay
    after decay_ref steps."""
    lr = base_lr * min(1.0, (step - warm_from + 1) / max(warmup, 1))
    if decay_ref > 0 and step > decay_ref:
        lr *= math.sqrt(decay_ref / step)
    return lr
