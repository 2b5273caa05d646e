#!/usr/bin/env python3
"""Write a weights-only training checkpoint from a .tsr package or a diffusers export.

Runs keep their checkpoints outside the source tree; on a machine without them the
committed packages (models/teacher.tsr, models/default.tsr) are the only copy of the
weights.  The checkpoint this writes is what train_edm.py --init continues from (with a
fresh optimizer); distill_ect.py, evaluate.py and export.py also read packages directly.
See checkpoints.py for what it holds.
"""
import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from checkpoints import checkpoint_from_source  # noqa: E402
from edm import EDMPrecond, atomic_save  # noqa: E402
from unet import UNet2DModel  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("source", help=".tsr package or export directory (config.json + safetensors)")
    ap.add_argument("out", help="checkpoint.pt to write")
    args = ap.parse_args()

    ckpt = checkpoint_from_source(args.source)
    unet = UNet2DModel.from_config(ckpt["config"]).eval()
    unet.load_state_dict(ckpt["ema"], strict=True)  # refuses tensors that do not match the config
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    atomic_save(ckpt, args.out)

    # The written checkpoint must give the same denoiser as the weights it came from.
    back = torch.load(args.out, map_location="cpu")
    check = UNet2DModel.from_config(back["config"]).eval()
    check.load_state_dict(back["ema"])
    g = torch.Generator().manual_seed(0)
    s = ckpt["config"]["sample_size"]
    x = torch.randn(2, 3, s, s, generator=g)
    sigma, y = torch.tensor([0.5, 5.0]), torch.tensor([0, ckpt["config"]["tessera"]["null_class"]])
    with torch.no_grad():
        err = (EDMPrecond(unet, ckpt["sigma_data"])(x, sigma, y) -
               EDMPrecond(check, back["sigma_data"])(x, sigma, y)).abs().max().item()
    assert err == 0.0, err
    print(f"{args.out}: {ckpt.get('kind', 'edm')} weights from {args.source} (step {ckpt['step']}, "
          f"{ckpt['nimg'] / 1000:.1f} kimg), {sum(t.numel() for t in ckpt['ema'].values()):,} parameters")


if __name__ == "__main__":
    main()
