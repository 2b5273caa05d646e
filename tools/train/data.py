"""Cached texture tensors (from make_dataset.py) and periodic augmentation.

Every training sample is a whole tileable texture: random toroidal shift (roll),
horizontal flip, and -- for categories whose look is rotation invariant --
90-degree rotations and vertical flips.  There are no crops, so the network
never sees a seam.
"""
import os

import torch

from edm import to_unit


class TextureSet:
    def __init__(self, data_dir, resolution, split="train", device="cpu"):
        path = os.path.join(data_dir, f"textures_{resolution}.pt")
        d = torch.load(path)
        keep = d["heldout"] if split == "heldout" else ~d["heldout"]
        if split == "all":
            keep = torch.ones_like(keep)
        self.images = d["images"][keep].to(device)  # uint8 N,3,S,S
        self.labels = d["labels"][keep].to(device)
        self.allow_rot = d["allow_rot"][keep].to(device)
        self.ids = [i for i, k in zip(d["ids"], keep.tolist()) if k]
        self.classes = list(d["classes"])
        self.resolution = resolution
        self.device = device

    def __len__(self):
        return len(self.images)

    def sigma_data(self):
        """Pixel std of the set in [-1, 1] units (EDM's sigma_data)."""
        return float(to_unit(self.images).std())

    def batch(self, n, generator, roll=True, flip=True, rotate=True, idx=None):
        """A random augmented batch: (float images in [-1,1], labels); `idx` picks the textures
        (default: n uniformly at random)."""
        dev = self.device
        if idx is None:
            idx = torch.randint(len(self.images), (n,), generator=generator)
        idx = idx.to(dev)
        x = to_unit(self.images[idx])
        y = self.labels[idx]
        s = self.resolution
        # All random numbers come from `generator` (CPU) so a resumed run continues the same stream.
        shifts = torch.randint(s, (n, 2), generator=generator).tolist()
        hflip = (torch.rand(n, generator=generator) < 0.5).tolist()
        rot = torch.randint(4, (n,), generator=generator).tolist()
        vflip = (torch.rand(n, generator=generator) < 0.5).tolist()
        allow = self.allow_rot[idx].tolist()
        out = []
        for i in range(n):
            xi = x[i]
            if roll:
                xi = torch.roll(xi, shifts[i], (1, 2))
            if flip and hflip[i]:
                xi = xi.flip(2)
            if rotate and allow[i]:
                if vflip[i]:
                    xi = xi.flip(1)
                xi = torch.rot90(xi, rot[i], (1, 2))
            out.append(xi)
        return torch.stack(out), y
