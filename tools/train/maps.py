"""tessera's material stage: normal and height maps made from an albedo texture (Palette-style
image-to-image, Saharia et al. 2022). This file is the one definition shared by training
(train_maps.py) and evaluation (evaluate_maps.py):

* the data: materials_<S>.pt (material_maps.py: normals in the OpenGL convention, heights 0..1
  white = high) aligned row for row with textures_<S>.pt; a texture counts when it has a normal or
  a height map, and a map it lacks is masked out of the loss;
* the target: 4 channels in [-1, 1], the normal's x, y, z and the height; roughness is not a
  target (36 pairs in all: too few to learn from, docs/MATERIALS.md);
* the network: a circular-padded diffusers UNet2DModel, no attention, so it is local and runs at
  any size; in_channels = 4 + 3, the noisy maps (scaled by c_in as in EDM) and the albedo in
  [-1, 1] as it is; out 4;
* two ways to use it, compared at equal CPU time: `diffusion` (EDM preconditioning of the maps,
  sampled in a few steps) and `regression` (the same network and input, the noisy channels zero
  and the timestep fixed at 0: a direct prediction trained with a masked L2 loss);
* augmentation that keeps the normals true to their height field: a flip or a 90-degree rotation
  of the image moves the normal's tangent components with it (checked in the self-test).
"""
import math
import os

import torch
import torch.nn as nn

from edm import to_unit
from sr import SR_CONFIG

# The SR stage's network shape (local, no attention), narrower at its two lowest levels, with the
# maps' 4 channels plus the albedo's 3 in and the 4 maps out, and no class or sigma_aug input:
# 1.06 M parameters.
MAPS_CONFIG = dict(SR_CONFIG, in_channels=7, out_channels=4, block_out_channels=[16, 32, 64, 64],
                   class_embed_type=None)
MAP_CHANNELS = {"normal": (0, 3), "height": (3, 4)}


def flip_w(albedo, maps):
    """Mirror along the columns: the normal's x (along the columns) changes sign."""
    m = maps.flip(-1).clone()
    m[..., 0, :, :] = -m[..., 0, :, :]
    return albedo.flip(-1), m


def rot90(albedo, maps, k):
    """Rotate by k quarter turns (torch.rot90 on the image axes, rows then columns). In image
    coordinates (x along the columns, y up = against the rows) the picture turns counter-clockwise,
    and so does the normal's tangent part: (nx, ny) -> (-ny, nx) per quarter turn."""
    k %= 4
    a, m = torch.rot90(albedo, k, (-2, -1)), torch.rot90(maps, k, (-2, -1)).clone()
    nx, ny = m[..., 0, :, :].clone(), m[..., 1, :, :].clone()
    for _ in range(k):
        nx, ny = -ny, nx
    m[..., 0, :, :], m[..., 1, :, :] = nx, ny
    return a, m


class MaterialPairs:
    """Albedo textures with their normal and height maps at one resolution, one split."""

    def __init__(self, data_dir, size, split="train"):
        tex = torch.load(os.path.join(data_dir, f"textures_{size}.pt"))
        mats = torch.load(os.path.join(data_dir, f"materials_{size}.pt"))
        row = {t: i for i, t in enumerate(tex["ids"])}
        want_held = split == "heldout"
        keep = [i for i, tid in enumerate(mats["ids"])
                if bool(mats["heldout"][i]) == want_held and (mats["has_normal"][i] or mats["has_height"][i])
                and tid in row]
        self.ids = [mats["ids"][i] for i in keep]
        self.albedo = tex["images"][[row[mats["ids"][i]] for i in keep]]  # uint8 N,3,S,S
        self.normal = mats["normal"][keep]                                 # uint8 N,3,S,S, (n + 1) * 127.5
        self.height = mats["height"][keep]                                 # uint8 N,1,S,S
        self.has = torch.stack([mats["has_normal"][keep], mats["has_height"][keep]], 1)  # N,2
        self.labels = tex["labels"][[row[mats["ids"][i]] for i in keep]]
        self.allow_rot = tex["allow_rot"][[row[mats["ids"][i]] for i in keep]].tolist()
        self.size = size

    def __len__(self):
        return len(self.ids)

    def targets(self, idx):
        """The 4-channel target in [-1, 1] and its channel mask (N,4)."""
        t = torch.cat([to_unit(self.normal[idx]), to_unit(self.height[idx])], 1)
        mask = torch.cat([self.has[idx, :1].expand(-1, 3), self.has[idx, 1:]], 1).float()
        return t, mask

    def sigma_data(self):
        t, mask = self.targets(torch.arange(len(self)))
        sel = mask.bool()[:, :, None, None].expand_as(t)
        return float(t[sel].std())

    def batch(self, n, crop, generator, idx=None, augment=True):
        """(albedo crops, target crops, masks), augmented by rolls, flips and (where the class allows)
        quarter turns, the normals turned with the image."""
        if idx is None:
            idx = torch.randint(len(self), (n,), generator=generator)
        s = self.size
        shifts = torch.randint(s, (n, 2), generator=generator).tolist()
        ops = torch.randint(8, (n,), generator=generator).tolist()
        t_all, m_all = self.targets(idx)
        alb, tgt = [], []
        for k, i in enumerate(idx.tolist()):
            a, t = to_unit(self.albedo[i]), t_all[k]
            if augment:
                a, t = torch.roll(a, shifts[k], (1, 2)), torch.roll(t, shifts[k], (1, 2))
                op = ops[k] if self.allow_rot[i] else ops[k] % 2
                if op % 2:
                    a, t = flip_w(a, t)
                a, t = rot90(a, t, op // 2)
            alb.append(a[:, :crop, :crop])
            tgt.append(t[:, :crop, :crop])
        return torch.stack(alb), torch.stack(tgt), m_all


class MapsPrecond(nn.Module):
    """diffusion: D(x; sigma, albedo) = c_skip x + c_out F([c_in x, albedo], c_noise(sigma));
    regression: F([0, albedo], 0)."""

    def __init__(self, unet, sigma_data, mode):
        super().__init__()
        self.unet, self.sigma_data, self.mode = unet, float(sigma_data), mode

    def forward(self, x, sigma, albedo):
        if self.mode == "regression":
            z = torch.zeros(albedo.shape[0], 4, *albedo.shape[2:], dtype=albedo.dtype)
            t = torch.zeros(albedo.shape[0], dtype=albedo.dtype)
            return self.unet(torch.cat([z, albedo], 1), t, return_dict=False)[0]
        sigma = sigma.to(x.dtype).reshape(-1)
        if sigma.numel() == 1:
            sigma = sigma.expand(x.shape[0])
        sd2 = self.sigma_data ** 2
        c_skip = (sd2 / (sigma ** 2 + sd2)).view(-1, 1, 1, 1)
        c_out = (sigma * self.sigma_data / (sigma ** 2 + sd2).sqrt()).view(-1, 1, 1, 1)
        c_in = (1 / (sigma ** 2 + sd2).sqrt()).view(-1, 1, 1, 1)
        f = self.unet(torch.cat([c_in * x, albedo.to(x.dtype)], 1), sigma.log() / 4, return_dict=False)[0]
        return c_skip * x + c_out * f


def decode(maps):
    """Network output [-1, 1] -> (unit normals N,3,H,W in the OpenGL convention, heights 0..1)."""
    n = maps[:, :3]
    n = n / n.norm(dim=1, keepdim=True).clamp(min=1e-6)
    return n, ((maps[:, 3:4] + 1) / 2).clamp(0, 1)


def angular_error_deg(n_pred, n_true):
    """Mean angle between unit normals, per image (N,)."""
    cos = (n_pred * n_true).sum(1).clamp(-1, 1)
    return torch.rad2deg(torch.acos(cos)).flatten(1).mean(1)


def _selftest():
    import sys
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from material_maps import normals_from_height
    g = torch.Generator().manual_seed(0)
    f = torch.fft.fft2(torch.randn(32, 32, generator=g, dtype=torch.float64))
    k = torch.fft.fftfreq(32, dtype=torch.float64)
    h = torch.fft.ifft2(f * torch.exp(-(k.view(-1, 1) ** 2 + k.view(1, -1) ** 2) / 0.02)).real.float()
    n = normals_from_height(h, 6.0, True)  # OpenGL
    maps = torch.cat([n, h[None]], 0)
    alb = torch.randn(3, 32, 32, generator=g)
    # Augmenting the maps must equal deriving the normals from the augmented height.
    for name, fn in [("flip", lambda a, m: flip_w(a, m))] + [(f"rot{q}", lambda a, m, q=q: rot90(a, m, q))
                                                               for q in range(1, 4)]:
        _, m2 = fn(alb, maps)
        want = normals_from_height(m2[3], 6.0, True)
        err = (m2[:3] - want).abs().max()
        assert err < 1e-5, f"{name}: normals do not follow the image ({err})"
    from unet import UNet2DModel
    cfg = dict(MAPS_CONFIG, block_out_channels=[8, 16, 16, 16], tessera={"padding_mode": "circular"})
    unet = UNet2DModel.from_config(cfg).eval()
    for mode in ("diffusion", "regression"):
        den = MapsPrecond(unet, 0.5, mode)
        x, a = torch.randn(2, 4, 32, 32, generator=g), torch.randn(2, 3, 32, 32, generator=g)
        with torch.no_grad():
            y1 = den(x, torch.tensor([0.3, 2.0]), a)
            y2 = den(x.roll((8, 16), (2, 3)), torch.tensor([0.3, 2.0]), a.roll((8, 16), (2, 3)))
        assert (y1.roll((8, 16), (2, 3)) - y2).abs().max() < 1e-4, f"{mode}: not shift-equivariant"
    d = angular_error_deg(n[None], normals_from_height(h, 0.0, True)[None])
    assert 0 < float(d) < 90 and math.isfinite(float(d))
    print("maps selftest: flips and quarter turns keep the normals true to the height; the network is "
          "shift-equivariant in both modes")


if __name__ == "__main__":
    _selftest()
