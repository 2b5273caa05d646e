#!/usr/bin/env python3
"""Check unet.py against diffusers' own UNet2DModel source, without installing diffusers.

diffusers' package __init__ needs huggingface_hub, safetensors, ... which are not
available here, so this loads only the model files from a diffusers source tree
(`--diffusers-src`, the directory that contains `diffusers/`) and replaces the
few hub/config helpers they import with small stand-ins.  For several configs it
builds both models, loads diffusers' random weights into ours with
strict=True (same keys and shapes) and compares forward outputs; then it does the
same with every 3x3 conv of the diffusers model switched to circular padding.

    git clone https://github.com/huggingface/diffusers /tmp/diffusers   # any recent checkout
    /usr/bin/python3 tools/train/check_diffusers_parity.py --diffusers-src /tmp/diffusers/src
"""
import argparse
import functools
import inspect
import logging
import os
import sys
import types

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from unet import TESSERA_CONFIG, UNet2DModel  # noqa: E402


def _module(name, path=None, **attrs):
    m = types.ModuleType(name)
    if path is not None:
        m.__path__ = [path]
    m.__dict__.update(attrs)
    sys.modules[name] = m
    return m


def install_stubs(src):
    root = os.path.join(src, "diffusers")

    class _Anything:
        """Module attribute fallback: is_* helpers say False, everything else is a no-op."""

        def __init__(self, name):
            self.name = name

        def __call__(self, *a, **k):
            if self.name.startswith("is_"):
                return False
            if len(a) == 1 and callable(a[0]) and not k:  # used as a decorator
                return a[0]
            return None

    def fallback(mod):
        def __getattr__(name):
            if name.startswith("__"):
                raise AttributeError(name)
            return _Anything(name)
        mod.__getattr__ = __getattr__
        return mod

    class BaseOutput(dict):
        def __init__(self, **kw):
            super().__init__(**kw)
            self.__dict__.update(kw)

        def __getitem__(self, k):
            return list(self.values())[k] if isinstance(k, int) else super().__getitem__(k)

    def deprecate(*a, **k):
        return None

    utils_logging = types.SimpleNamespace(get_logger=logging.getLogger)
    _module("diffusers", root)
    fallback(_module("diffusers.utils", os.path.join(root, "utils"), BaseOutput=BaseOutput, deprecate=deprecate,
                     logging=utils_logging))
    fallback(_module("diffusers.utils.import_utils"))
    fallback(_module("diffusers.utils.torch_utils", apply_freeu=None, maybe_allow_in_graph=lambda c: c,
                     is_torch_version=lambda *a: False, maybe_adjust_dtype_for_device=lambda *a, **k: a[0]
                     if a else None))
    fallback(_module("diffusers.image_processor"))

    class ConfigMixin:
        pass

    def register_to_config(init):
        sig = inspect.signature(init)

        @functools.wraps(init)
        def wrapped(self, *args, **kwargs):
            bound = sig.bind(self, *args, **kwargs)
            bound.apply_defaults()
            cfg = dict(bound.arguments)
            cfg.pop("self")
            init(self, *args, **kwargs)
            self.config = types.SimpleNamespace(**cfg)
        return wrapped

    _module("diffusers.configuration_utils", ConfigMixin=ConfigMixin, register_to_config=register_to_config)
    _module("diffusers.models", os.path.join(root, "models"))
    _module("diffusers.models.unets", os.path.join(root, "models", "unets"))

    class ModelMixin(nn.Module):
        @property
        def dtype(self):
            return next(self.parameters()).dtype

    _module("diffusers.models.modeling_utils", ModelMixin=ModelMixin)
    _module("diffusers.models.transformers", os.path.join(root, "models", "transformers"))
    fallback(_module("diffusers.models.transformers.dual_transformer_2d"))
    fallback(_module("diffusers.models.transformers.transformer_2d"))
    from diffusers.models.unets.unet_2d import UNet2DModel as Ref
    return Ref


CONFIGS = {
    "tessera": {},
    "default-shift": {"resnet_time_scale_shift": "default", "attn_norm_num_groups": None},
    "scale-shift-no-mid-attn-norm": {"attn_norm_num_groups": None},
    "lpb2-attn-everywhere": {"layers_per_block": 2, "down_block_types": ["AttnDownBlock2D"] * 3,
                             "up_block_types": ["AttnUpBlock2D"] * 3, "attention_head_dim": None},
    "resnet-resample": {"down_block_types": ["ResnetDownsampleBlock2D", "DownBlock2D", "AttnDownBlock2D"],
                        "up_block_types": ["AttnUpBlock2D", "UpBlock2D", "ResnetUpsampleBlock2D"]},
    "pad0-center-shift-unconditional": {"downsample_padding": 0, "center_input_sample": True, "freq_shift": 1,
                                        "flip_sin_to_cos": False, "num_class_embeds": None,
                                        "mid_block_scale_factor": 1.4142, "add_attention": False},
}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--diffusers-src", required=True, help="directory containing diffusers/ (e.g. checkout/src)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    Ref = install_stubs(args.diffusers_src)
    accepted = set(inspect.signature(Ref.__init__).parameters) - {"self"}
    worst = 0.0
    for name, over in CONFIGS.items():
        cfg = {k: v for k, v in dict(TESSERA_CONFIG, sample_size=32, **over).items() if not k.startswith("_")}
        ref_kwargs = {k: (tuple(v) if isinstance(v, list) else v) for k, v in cfg.items() if k in accepted}
        torch.manual_seed(0)
        ref = Ref(**ref_kwargs).eval()
        with torch.no_grad():  # random non-trivial weights (diffusers zero-inits nothing, but be sure)
            for p in ref.parameters():
                p.add_(0.02 * torch.randn_like(p))
        x = torch.randn(2, 3, 32, 32)
        t = torch.tensor([0.3, -1.2])
        y = torch.tensor([1, 10]) if cfg.get("num_class_embeds") else None
        # diffusers pads padding=0 downsampling with explicit zeros, which a conv padding_mode cannot change.
        modes = ("zeros", "circular") if cfg["downsample_padding"] == 1 else ("zeros",)
        for mode in modes:
            ours = UNet2DModel(padding_mode=mode, **cfg).eval()
            ours.load_state_dict(ref.state_dict(), strict=True)
            if mode == "circular":
                for m in ref.modules():
                    if isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3):
                        m.padding_mode = "circular"
            with torch.no_grad():
                a = ref(x, t, y).sample
                b = ours(x, t, y).sample
            err = (a - b).abs().max().item()
            worst = max(worst, err)
            print(f"{name:34s} {mode:8s} keys {len(ref.state_dict())} max|diff| {err:.2e} (|out| {a.abs().mean():.3f})")
    print("PARITY OK" if worst < 1e-4 else "PARITY FAILED")
    sys.exit(0 if worst < 1e-4 else 1)


if __name__ == "__main__":
    main()
