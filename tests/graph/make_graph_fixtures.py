#!/usr/bin/env python3
"""Writes the whole-network fixtures for tests/graph: small random diffusers UNet2DModel folders
(config.json + diffusion_pytorch_model.safetensors) built by tools/train/unet.py, with inputs and
the PyTorch outputs beside them.

Every parameter is random and scaled so activations stay O(1) through the whole network
(convolutions and linears by 1/sqrt(fan_in), GroupNorm affine around 1 and 0), so every path
(time and class embedding, shortcuts, attention, skips) changes the output. Weights are rounded
to fp16 and stored as F16 (half the bytes; the converter widens them exactly), and the forward
pass runs in float64 on exactly those values.

For each model and case (batch 1 and 3, two output sizes) io_<case>.safetensors holds `sample`
[N,C,H,W], `timestep` [N], `class_labels` [N] (as F32; integer labels of class models, the float labels of a timestep class
embedding) and `expected`, the
float64 forward rounded to fp32. Models listed in TILEABLE also get tile_<case>.safetensors: the
same weights and layout of inputs, `expected` from the model with circular padding.

    /usr/bin/python3 tests/graph/make_graph_fixtures.py [OUT_DIR]   (default: tests/graph/fixtures)
"""
import json
import os
import shutil
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tools", "train"))

import torch  # noqa: E402
from safetensors_io import save_file  # noqa: E402
from unet import UNet2DModel  # noqa: E402

BASE = {"_class_name": "UNet2DModel", "_diffusers_version": "0.25.0", "in_channels": 3, "out_channels": 3,
        "norm_eps": 1e-05, "act_fn": "silu", "dropout": 0.0, "flip_sin_to_cos": True, "freq_shift": 0,
        "center_input_sample": False, "time_embedding_type": "positional"}

# name: (config, [(batch, height, width), ...])
MODELS = {
    # Two levels, attention in the second level and the mid block (with GroupNorm: "default"),
    # class labels, circular padding.
    "two_level_default": (dict(BASE, sample_size=16, down_block_types=["DownBlock2D", "AttnDownBlock2D"],
                               up_block_types=["AttnUpBlock2D", "UpBlock2D"], block_out_channels=[8, 16],
                               layers_per_block=1, norm_num_groups=4, attention_head_dim=8,
                               num_class_embeds=5, tessera={"padding_mode": "circular"}),
                          [(1, 16, 16), (3, 16, 16), (1, 8, 12), (3, 8, 12)]),
    # Three levels, scale_shift (mid attention without GroupNorm), resnet resampling blocks,
    # zero padding, centred input, a mid-block scale factor, odd time embedding settings.
    "three_level_scale_shift": (dict(BASE, sample_size=16,
                                     down_block_types=["ResnetDownsampleBlock2D", "AttnDownBlock2D", "DownBlock2D"],
                                     up_block_types=["UpBlock2D", "AttnUpBlock2D", "ResnetUpsampleBlock2D"],
                                     block_out_channels=[8, 12, 16], layers_per_block=1, norm_num_groups=4,
                                     attention_head_dim=4, resnet_time_scale_shift="scale_shift",
                                     center_input_sample=True, mid_block_scale_factor=1.5, flip_sin_to_cos=False,
                                     freq_shift=1, time_embedding_dim=20, in_channels=4, out_channels=5,
                                     tessera={"padding_mode": "zeros"}),
                                [(1, 16, 16), (3, 16, 16), (1, 8, 12), (3, 8, 12)]),
    # Attention at the first level with resnet down/upsamplers, attention GroupNorm groups of its
    # own, no mid attention, single-head attention, class labels, circular padding.
    "attn_resnet_resample": (dict(BASE, sample_size=16, down_block_types=["AttnDownBlock2D", "DownBlock2D"],
                                  up_block_types=["UpBlock2D", "AttnUpBlock2D"], block_out_channels=[8, 16],
                                  layers_per_block=1, norm_num_groups=4, attention_head_dim=None,
                                  attn_norm_num_groups=2, downsample_type="resnet", upsample_type="resnet",
                                  add_attention=False, num_class_embeds=3, tessera={"padding_mode": "circular"}),
                             [(1, 16, 16), (3, 16, 16), (1, 12, 8), (3, 12, 8)]),
    # The super-resolution stage's form (tools/train/sr.py SR_CONFIG, scaled down): 6 input
    # channels (noisy image + conditioning), no attention anywhere, a timestep class embedding
    # whose float labels are the conditioning's noise level ln(sigma_aug)/4, circular padding.
    "sr_timestep_class": (dict(BASE, sample_size=16, in_channels=6, down_block_types=["DownBlock2D"] * 3,
                               up_block_types=["UpBlock2D"] * 3, block_out_channels=[8, 8, 16],
                               layers_per_block=1, norm_num_groups=4, add_attention=False,
                               class_embed_type="timestep", tessera={"padding_mode": "circular"}),
                          [(1, 16, 16), (3, 16, 16), (1, 8, 12), (3, 8, 12)]),
    # google/ddpm-cifar10-32's form, scaled down: downsample_padding 0 (diffusers pads right and
    # bottom by one before each stride-2 conv), zero padding, attention at the second level and in
    # the mid block with attention_head_dim null (one head of all channels), norm_eps 1e-6,
    # flip_sin_to_cos false, freq_shift 1, two resnets per block, no class embedding. Appended
    # last so the random stream of the fixtures above is unchanged.
    "ddpm_pad0": (dict(BASE, sample_size=16,
                       down_block_types=["DownBlock2D", "AttnDownBlock2D", "DownBlock2D"],
                       up_block_types=["UpBlock2D", "AttnUpBlock2D", "UpBlock2D"],
                       block_out_channels=[8, 16, 16], layers_per_block=2, norm_num_groups=4, attention_head_dim=None, norm_eps=1e-06,
                       flip_sin_to_cos=False, freq_shift=1, downsample_padding=0,
                       tessera={"padding_mode": "zeros"}),
                  [(1, 16, 16), (3, 16, 16), (1, 8, 12), (3, 8, 12)]),
}

# name: [(batch, height, width), ...] for tile_<case>.safetensors: the same model run with circular
# padding (a tileable request on a zero-padded model), drawn after the model's io cases.
TILEABLE = {
    "ddpm_pad0": [(1, 16, 16), (3, 8, 12)],
}


def randomise(model, gen):
    state = {}
    for name, p in model.state_dict().items():
        if p.dim() >= 2:  # conv / linear weight, embedding table
            fan_in = p[0].numel() if not name.startswith("class_embedding") else 1
            v = torch.randn(p.shape, generator=gen) / fan_in ** 0.5
        elif "norm" in name and name.endswith(".weight"):
            v = 1.0 + 0.3 * torch.randn(p.shape, generator=gen)
        else:  # biases, GroupNorm shifts
            v = 0.3 * torch.randn(p.shape, generator=gen)
        state[name] = v.half()
    return state


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "fixtures")
    gen = torch.Generator().manual_seed(1234)
    for name, (config, cases) in MODELS.items():
        folder = os.path.join(out, name)
        shutil.rmtree(folder, ignore_errors=True)
        os.makedirs(folder)
        model = UNet2DModel.from_config(config).eval()
        state = randomise(model, gen)
        save_file(state, os.path.join(folder, "diffusion_pytorch_model.safetensors"), {"format": "pt"})
        with open(os.path.join(folder, "config.json"), "w") as f:
            json.dump(config, f, indent=1)
        model.load_state_dict({k: v.double() for k, v in state.items()})
        model.double()
        if config.get("class_embed_type") == "timestep":
            # time_proj's sinusoids come out in fp32 (as in diffusers, which then fails in float64):
            # widen them for the float64 reference.
            model.class_embedding.register_forward_pre_hook(lambda m, args: tuple(a.double() for a in args))
        ncls = config.get("num_class_embeds")
        tiled = None
        if name in TILEABLE:
            tiled = UNet2DModel.from_config(dict(config, tessera={"padding_mode": "circular"})).eval()
            tiled.load_state_dict({k: v.double() for k, v in state.items()})
            tiled.double()
        runs = [("io", model, c) for c in cases] + [("tile", tiled, c) for c in TILEABLE.get(name, [])]
        for prefix, net, (batch, h, w) in runs:
            sample = torch.randn(batch, config["in_channels"], h, w, generator=gen).float()
            timestep = (torch.rand(batch, generator=gen) * 999.0).float()
            io = {"sample": sample, "timestep": timestep}
            labels = None
            if ncls:
                labels = torch.randint(0, ncls, (batch,), generator=gen)
                io["class_labels"] = labels.float()
            if config.get("class_embed_type") == "timestep":  # ln(sigma_aug)/4 for sigma_aug in [0.002, 1]
                labels = (torch.rand(batch, generator=gen) * -1.55).float()
                io["class_labels"] = labels
                labels = labels.double()
            with torch.no_grad():
                expected = net(sample.double(), timestep.double(), labels).sample
            io["expected"] = expected.float()
            save_file(io, os.path.join(folder, f"{prefix}_b{batch}_{h}x{w}.safetensors"), {"format": "pt"})
        print(name, sum(p.numel() for p in model.parameters()), "parameters")


if __name__ == "__main__":
    main()
