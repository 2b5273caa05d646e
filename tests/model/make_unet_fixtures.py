#!/usr/bin/env python3
"""Writes small diffusers UNet2DModel folders for the converter tests.

Each model is built by tools/train/unet.py (diffusers' module tree and parameter names), its
parameters are randomised and saved with tools/train/safetensors_io.py; expected.json beside
each records, per state_dict key, the shape and float64 sums of the values as stored, so the
C++ test checks the package against numbers it did not compute itself.

    python3 tests/model/make_unet_fixtures.py OUT_DIR

Exit status 77 when this interpreter has no PyTorch.
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tools", "train"))

try:
    import torch  # noqa: E402
except ImportError:
    sys.exit(77)  # no PyTorch in this interpreter: the caller tries another or skips
from safetensors_io import save_file  # noqa: E402
from unet import UNet2DModel  # noqa: E402

BASE = {"_class_name": "UNet2DModel", "_diffusers_version": "0.25.0", "in_channels": 3, "out_channels": 3,
        "sample_size": 16, "norm_eps": 1e-05, "act_fn": "silu", "dropout": 0.0, "flip_sin_to_cos": True,
        "freq_shift": 0, "center_input_sample": False, "time_embedding_type": "positional"}

MODELS = {
    # Attention down and up, scale_shift (so the mid attention has no GroupNorm), class labels, fp16 file.
    "attn_scale_shift": (dict(BASE, down_block_types=["DownBlock2D", "AttnDownBlock2D"],
                              up_block_types=["AttnUpBlock2D", "UpBlock2D"], block_out_channels=[8, 16],
                              layers_per_block=1, norm_num_groups=4, attention_head_dim=4,
                              resnet_time_scale_shift="scale_shift", num_class_embeds=5, class_embed_type=None,
                              attn_norm_num_groups=None, mid_block_type="UNetMidBlock2D",
                              tessera={"padding_mode": "circular", "classes": ["brick", "grass", "rock", "wood"],
                                       "null_class": 4, "sigma_data": 0.5, "sigma_min": 0.002, "sigma_max": 80.0,
                                       "step_sigmas": {"1": [80.0], "2": [80.0, 1.5]}, "default_steps": 2}),
                         torch.float16),
    # Resnet-style resampling in every form, three levels, two layers, no mid attention, padding 0.
    "resnet_resample": (dict(BASE, down_block_types=["ResnetDownsampleBlock2D", "AttnDownBlock2D", "DownBlock2D"],
                             up_block_types=["UpBlock2D", "AttnUpBlock2D", "ResnetUpsampleBlock2D"],
                             block_out_channels=[8, 12, 16], layers_per_block=2, norm_num_groups=4,
                             attention_head_dim=None, downsample_type="resnet", upsample_type="resnet",
                             downsample_padding=0, add_attention=False, time_embedding_dim=24,
                             mid_block_scale_factor=1.0),
                        torch.float32),
    # One level, no mid block, explicit attention GroupNorm groups, bf16 file.
    "no_mid": (dict(BASE, down_block_types=["AttnDownBlock2D"], up_block_types=["AttnUpBlock2D"],
                    block_out_channels=[6], layers_per_block=1, norm_num_groups=3, attention_head_dim=2,
                    attn_norm_num_groups=2, mid_block_type=None, sample_size=8, in_channels=4, out_channels=8),
               torch.bfloat16),
}

SCHEDULER = {"_class_name": "DDPMScheduler", "_diffusers_version": "0.25.0", "beta_schedule": "linear",
             "beta_start": 0.0001, "beta_end": 0.02, "num_train_timesteps": 1000, "prediction_type": "epsilon",
             "clip_sample": True, "clip_sample_range": 1.0, "variance_type": "fixed_small", "trained_betas": None}


def write_model(folder, config, dtype, seed):
    os.makedirs(folder, exist_ok=True)
    torch.manual_seed(seed)
    model = UNet2DModel.from_config(config)
    state = {k: torch.randn(v.shape).to(dtype) for k, v in model.state_dict().items()}
    save_file(state, os.path.join(folder, "diffusion_pytorch_model.safetensors"), {"format": "pt"})
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(config, f, indent=1)
    expected = {k: {"shape": list(v.shape), "sum": float(v.double().sum()), "sumsq": float((v.double() ** 2).sum())}
                for k, v in state.items()}
    with open(os.path.join(folder, "expected.json"), "w") as f:
        json.dump(expected, f)


def main():
    out = sys.argv[1]
    for i, (name, (config, dtype)) in enumerate(MODELS.items()):
        write_model(os.path.join(out, name), config, dtype, seed=i)
    # A diffusers pipeline folder: the model in unet/, its noise schedule in scheduler/.
    pipe = os.path.join(out, "pipeline")
    write_model(os.path.join(pipe, "unet"), MODELS["attn_scale_shift"][0], torch.float32, seed=7)
    os.makedirs(os.path.join(pipe, "scheduler"), exist_ok=True)
    with open(os.path.join(pipe, "scheduler", "scheduler_config.json"), "w") as f:
        json.dump(SCHEDULER, f, indent=1)
    with open(os.path.join(pipe, "model_index.json"), "w") as f:
        json.dump({"_class_name": "DDPMPipeline", "unet": ["diffusers", "UNet2DModel"],
                   "scheduler": ["diffusers", "DDPMScheduler"]}, f)
    print("fixtures written to", out)


if __name__ == "__main__":
    main()
