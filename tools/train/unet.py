#!/usr/bin/env python3
"""A faithful re-implementation of diffusers' `UNet2DModel` (no diffusers import).

Module tree, parameter names and numerics follow diffusers
(src/diffusers/models/unets/unet_2d.py, unet_2d_blocks.py, resnet.py,
embeddings.py, attention_processor.py, downsampling.py, upsampling.py), so a
state_dict saved here loads into diffusers and vice versa, and the C++ converter
can be tested against fixtures produced by this file.

The one addition is `padding_mode` ("zeros" as in diffusers, or "circular"),
applied to every 3x3 convolution including the stride-2 downsampling conv: with
"circular" the network is a function on the torus, so its outputs tile.

    /usr/bin/python3 tools/train/unet.py --selftest      # shapes, keys, tiling property
"""
import argparse
import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

# tessera's 64x64 model: 2.9 M parameters, 3.2 GFLOP per evaluation, attention only at 16x16.
TESSERA_CONFIG = {
    "_class_name": "UNet2DModel",
    "sample_size": 64,
    "in_channels": 3,
    "out_channels": 3,
    "center_input_sample": False,
    "time_embedding_type": "positional",
    "time_embedding_dim": None,
    "freq_shift": 0,
    "flip_sin_to_cos": True,
    "down_block_types": ["DownBlock2D", "DownBlock2D", "AttnDownBlock2D"],
    "mid_block_type": "UNetMidBlock2D",
    "up_block_types": ["AttnUpBlock2D", "UpBlock2D", "UpBlock2D"],
    "block_out_channels": [32, 64, 128],
    "layers_per_block": 1,
    "mid_block_scale_factor": 1,
    "downsample_padding": 1,
    "downsample_type": "conv",
    "upsample_type": "conv",
    "dropout": 0.0,
    "act_fn": "silu",
    "attention_head_dim": 32,
    "norm_num_groups": 32,
    "attn_norm_num_groups": 32,
    "norm_eps": 1e-05,
    "resnet_time_scale_shift": "scale_shift",
    "add_attention": True,
    "class_embed_type": None,
    "num_class_embeds": 11,
    "num_train_timesteps": None,
}

# Keys of diffusers' UNet2DModel.__init__ that this file implements, with diffusers' defaults.
DIFFUSERS_DEFAULTS = {
    "sample_size": None, "in_channels": 3, "out_channels": 3, "center_input_sample": False,
    "time_embedding_type": "positional", "time_embedding_dim": None, "freq_shift": 0, "flip_sin_to_cos": True,
    "down_block_types": ("DownBlock2D", "AttnDownBlock2D", "AttnDownBlock2D", "AttnDownBlock2D"),
    "mid_block_type": "UNetMidBlock2D",
    "up_block_types": ("AttnUpBlock2D", "AttnUpBlock2D", "AttnUpBlock2D", "UpBlock2D"),
    "block_out_channels": (224, 448, 672, 896), "layers_per_block": 2, "mid_block_scale_factor": 1,
    "downsample_padding": 1, "downsample_type": "conv", "upsample_type": "conv", "dropout": 0.0,
    "act_fn": "silu", "attention_head_dim": 8, "norm_num_groups": 32, "attn_norm_num_groups": None,
    "norm_eps": 1e-5, "resnet_time_scale_shift": "default", "add_attention": True, "class_embed_type": None,
    "num_class_embeds": None, "num_train_timesteps": None,
}


def get_activation(name):
    acts = {"swish": nn.SiLU, "silu": nn.SiLU, "mish": nn.Mish, "gelu": nn.GELU, "relu": nn.ReLU}
    return acts[name.lower()]()


def conv3x3(cin, cout, padding_mode, stride=1, padding=1):
    return nn.Conv2d(cin, cout, kernel_size=3, stride=stride, padding=padding, padding_mode=padding_mode)


# ----------------------------------------------------------------------------- embeddings.py
def get_timestep_embedding(timesteps, embedding_dim, flip_sin_to_cos=False, downscale_freq_shift=1.0, scale=1.0,
                           max_period=10000):
    """diffusers.models.embeddings.get_timestep_embedding (DDPM sinusoidal embedding)."""
    assert len(timesteps.shape) == 1, "Timesteps should be a 1d-array"
    half_dim = embedding_dim // 2
    exponent = -math.log(max_period) * torch.arange(start=0, end=half_dim, dtype=torch.float32,
                                                    device=timesteps.device)
    exponent = exponent / (half_dim - downscale_freq_shift)
    emb = torch.exp(exponent)
    emb = timesteps[:, None].float() * emb[None, :]
    emb = scale * emb
    emb = torch.cat([torch.sin(emb), torch.cos(emb)], dim=-1)
    if flip_sin_to_cos:
        emb = torch.cat([emb[:, half_dim:], emb[:, :half_dim]], dim=-1)
    if embedding_dim % 2 == 1:
        emb = F.pad(emb, (0, 1, 0, 0))
    return emb


class Timesteps(nn.Module):
    def __init__(self, num_channels, flip_sin_to_cos, downscale_freq_shift, scale=1):
        super().__init__()
        self.num_channels, self.flip_sin_to_cos = num_channels, flip_sin_to_cos
        self.downscale_freq_shift, self.scale = downscale_freq_shift, scale

    def forward(self, timesteps):
        return get_timestep_embedding(timesteps, self.num_channels, flip_sin_to_cos=self.flip_sin_to_cos,
                                      downscale_freq_shift=self.downscale_freq_shift, scale=self.scale)


class TimestepEmbedding(nn.Module):
    """Linear -> SiLU -> Linear (keys linear_1, linear_2)."""

    def __init__(self, in_channels, time_embed_dim, act_fn="silu"):
        super().__init__()
        self.linear_1 = nn.Linear(in_channels, time_embed_dim)
        self.act = get_activation(act_fn)
        self.linear_2 = nn.Linear(time_embed_dim, time_embed_dim)

    def forward(self, sample):
        return self.linear_2(self.act(self.linear_1(sample)))


# ----------------------------------------------------------------------------- resampling
class Downsample2D(nn.Module):
    """Stride-2 3x3 conv (use_conv) or 2x2 average pool; key `conv`."""

    def __init__(self, channels, use_conv=False, out_channels=None, padding=1, padding_mode="zeros"):
        super().__init__()
        self.channels = channels
        self.out_channels = out_channels or channels
        self.use_conv, self.padding, self.padding_mode = use_conv, padding, padding_mode
        if use_conv:
            self.conv = conv3x3(channels, self.out_channels, padding_mode, stride=2, padding=padding)
        else:
            assert self.channels == self.out_channels
            self.conv = nn.AvgPool2d(kernel_size=2, stride=2)

    def forward(self, hidden_states):
        assert hidden_states.shape[1] == self.channels
        if self.use_conv and self.padding == 0:
            # diffusers pads right/bottom by one; on the torus that pad wraps around.
            mode = "circular" if self.padding_mode == "circular" else "constant"
            hidden_states = F.pad(hidden_states, (0, 1, 0, 1), mode=mode)
        return self.conv(hidden_states)


class Upsample2D(nn.Module):
    """Nearest-neighbour 2x, then an optional 3x3 conv; key `conv`."""

    def __init__(self, channels, use_conv=False, out_channels=None, padding_mode="zeros"):
        super().__init__()
        self.channels = channels
        self.out_channels = out_channels or channels
        self.use_conv = use_conv
        self.conv = conv3x3(channels, self.out_channels, padding_mode) if use_conv else None

    def forward(self, hidden_states, output_size=None):
        assert hidden_states.shape[1] == self.channels
        if output_size is None:
            hidden_states = F.interpolate(hidden_states, scale_factor=2.0, mode="nearest")
        else:
            hidden_states = F.interpolate(hidden_states, size=output_size, mode="nearest")
        if self.use_conv:
            hidden_states = self.conv(hidden_states)
        return hidden_states


# ----------------------------------------------------------------------------- resnet.py
class ResnetBlock2D(nn.Module):
    """diffusers ResnetBlock2D (pre-norm), time_embedding_norm "default" or "scale_shift"."""

    def __init__(self, *, in_channels, out_channels=None, dropout=0.0, temb_channels=512, groups=32,
                 groups_out=None, eps=1e-6, non_linearity="swish", skip_time_act=False,
                 time_embedding_norm="default", output_scale_factor=1.0, use_in_shortcut=None, up=False,
                 down=False, conv_shortcut_bias=True, padding_mode="zeros"):
        super().__init__()
        if time_embedding_norm not in ("default", "scale_shift"):
            raise ValueError(f"unsupported time_embedding_norm: {time_embedding_norm}")
        out_channels = in_channels if out_channels is None else out_channels
        self.in_channels, self.out_channels = in_channels, out_channels
        self.output_scale_factor = output_scale_factor
        self.time_embedding_norm = time_embedding_norm
        self.skip_time_act = skip_time_act
        groups_out = groups if groups_out is None else groups_out

        self.norm1 = nn.GroupNorm(num_groups=groups, num_channels=in_channels, eps=eps, affine=True)
        self.conv1 = conv3x3(in_channels, out_channels, padding_mode)
        if temb_channels is not None:
            mult = 2 if time_embedding_norm == "scale_shift" else 1
            self.time_emb_proj = nn.Linear(temb_channels, mult * out_channels)
        else:
            self.time_emb_proj = None
        self.norm2 = nn.GroupNorm(num_groups=groups_out, num_channels=out_channels, eps=eps, affine=True)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = conv3x3(out_channels, out_channels, padding_mode)
        self.nonlinearity = get_activation(non_linearity)

        self.upsample = self.downsample = None
        if up:
            self.upsample = Upsample2D(in_channels, use_conv=False)
        elif down:
            self.downsample = Downsample2D(in_channels, use_conv=False, padding=1)

        self.use_in_shortcut = in_channels != out_channels if use_in_shortcut is None else use_in_shortcut
        self.conv_shortcut = None
        if self.use_in_shortcut:
            self.conv_shortcut = nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=1, padding=0,
                                           bias=conv_shortcut_bias)

    def forward(self, input_tensor, temb):
        hidden_states = self.nonlinearity(self.norm1(input_tensor))
        if self.upsample is not None:
            input_tensor = self.upsample(input_tensor)
            hidden_states = self.upsample(hidden_states)
        elif self.downsample is not None:
            input_tensor = self.downsample(input_tensor)
            hidden_states = self.downsample(hidden_states)
        hidden_states = self.conv1(hidden_states)

        if self.time_emb_proj is not None:
            if not self.skip_time_act:
                temb = self.nonlinearity(temb)
            temb = self.time_emb_proj(temb)[:, :, None, None]

        if self.time_embedding_norm == "default":
            if temb is not None:
                hidden_states = hidden_states + temb
            hidden_states = self.norm2(hidden_states)
        else:  # scale_shift
            time_scale, time_shift = torch.chunk(temb, 2, dim=1)
            hidden_states = self.norm2(hidden_states)
            hidden_states = hidden_states * (1 + time_scale) + time_shift

        hidden_states = self.nonlinearity(hidden_states)
        hidden_states = self.dropout(hidden_states)
        hidden_states = self.conv2(hidden_states)
        if self.conv_shortcut is not None:
            input_tensor = self.conv_shortcut(input_tensor)
        return (input_tensor + hidden_states) / self.output_scale_factor


# ----------------------------------------------------------------------------- attention_processor.py
class Attention(nn.Module):
    """Spatial self-attention as diffusers builds it for UNet2DModel blocks
    (`_from_deprecated_attn_block=True`, residual_connection=True, bias=True,
    upcast_softmax=True): GroupNorm -> q,k,v -> softmax(q k^T / sqrt(head_dim)) v
    -> to_out.0 -> + residual -> / rescale_output_factor."""

    def __init__(self, query_dim, heads=8, dim_head=64, dropout=0.0, bias=True, out_bias=True,
                 norm_num_groups=None, eps=1e-5, rescale_output_factor=1.0, residual_connection=True):
        super().__init__()
        self.inner_dim = dim_head * heads
        self.heads = heads
        self.scale = dim_head ** -0.5
        self.rescale_output_factor = rescale_output_factor
        self.residual_connection = residual_connection
        if norm_num_groups is not None:
            self.group_norm = nn.GroupNorm(num_channels=query_dim, num_groups=norm_num_groups, eps=eps, affine=True)
        else:
            self.group_norm = None
        self.to_q = nn.Linear(query_dim, self.inner_dim, bias=bias)
        self.to_k = nn.Linear(query_dim, self.inner_dim, bias=bias)
        self.to_v = nn.Linear(query_dim, self.inner_dim, bias=bias)
        self.to_out = nn.ModuleList([nn.Linear(self.inner_dim, query_dim, bias=out_bias), nn.Dropout(dropout)])

    def forward(self, hidden_states):
        residual = hidden_states
        b, c, h, w = hidden_states.shape
        hidden_states = hidden_states.view(b, c, h * w).transpose(1, 2)
        if self.group_norm is not None:
            hidden_states = self.group_norm(hidden_states.transpose(1, 2)).transpose(1, 2)
        q, k, v = self.to_q(hidden_states), self.to_k(hidden_states), self.to_v(hidden_states)
        head_dim = k.shape[-1] // self.heads
        q, k, v = (t.view(b, -1, self.heads, head_dim).transpose(1, 2) for t in (q, k, v))
        # torch 1.13 has no scaled_dot_product_attention; this is its math, softmax in float32.
        scores = torch.matmul(q, k.transpose(-1, -2)) * self.scale
        probs = scores.float().softmax(dim=-1).to(q.dtype)
        hidden_states = torch.matmul(probs, v)
        hidden_states = hidden_states.transpose(1, 2).reshape(b, -1, self.heads * head_dim)
        hidden_states = self.to_out[1](self.to_out[0](hidden_states))
        hidden_states = hidden_states.transpose(-1, -2).reshape(b, c, h, w)
        if self.residual_connection:
            hidden_states = hidden_states + residual
        return hidden_states / self.rescale_output_factor


def make_attention(channels, head_dim, eps, groups, output_scale_factor=1.0):
    return Attention(channels, heads=channels // head_dim, dim_head=head_dim, rescale_output_factor=output_scale_factor,
                     eps=eps, norm_num_groups=groups, residual_connection=True, bias=True)


# ----------------------------------------------------------------------------- unet_2d_blocks.py
class _Down(nn.Module):
    """Shared forward of the down blocks: resnet (+attention) per layer, then the downsampler.
    Every intermediate output is appended to the skip tuple, the downsampled one last."""
    downsample_takes_temb = False

    def forward(self, hidden_states, temb=None):
        output_states = ()
        attns = self.attentions if hasattr(self, "attentions") else [None] * len(self.resnets)
        for resnet, attn in zip(self.resnets, attns):
            hidden_states = resnet(hidden_states, temb)
            if attn is not None:
                hidden_states = attn(hidden_states)
            output_states = output_states + (hidden_states,)
        if self.downsamplers is not None:
            for downsampler in self.downsamplers:
                hidden_states = downsampler(hidden_states, temb) if self.downsample_takes_temb else downsampler(
                    hidden_states)
            output_states = output_states + (hidden_states,)
        return hidden_states, output_states


def _resnets(num_layers, in_channels, out_channels, kw):
    return nn.ModuleList([ResnetBlock2D(in_channels=in_channels if i == 0 else out_channels,
                                        out_channels=out_channels, **kw) for i in range(num_layers)])


def _resnet_kw(temb_channels, resnet_eps, resnet_groups, dropout, resnet_time_scale_shift, resnet_act_fn,
               output_scale_factor, padding_mode, skip_time_act=False):
    return dict(temb_channels=temb_channels, eps=resnet_eps, groups=resnet_groups, dropout=dropout,
                time_embedding_norm=resnet_time_scale_shift, non_linearity=resnet_act_fn,
                output_scale_factor=output_scale_factor, skip_time_act=skip_time_act, padding_mode=padding_mode)


class DownBlock2D(_Down):
    def __init__(self, in_channels, out_channels, temb_channels, dropout=0.0, num_layers=1, resnet_eps=1e-6,
                 resnet_time_scale_shift="default", resnet_act_fn="swish", resnet_groups=32,
                 output_scale_factor=1.0, add_downsample=True, downsample_padding=1, padding_mode="zeros", **_):
        super().__init__()
        kw = _resnet_kw(temb_channels, resnet_eps, resnet_groups, dropout, resnet_time_scale_shift, resnet_act_fn,
                        output_scale_factor, padding_mode)
        self.resnets = _resnets(num_layers, in_channels, out_channels, kw)
        self.downsamplers = nn.ModuleList([Downsample2D(out_channels, use_conv=True, out_channels=out_channels,
                                                        padding=downsample_padding, padding_mode=padding_mode)]
                                          ) if add_downsample else None


class AttnDownBlock2D(_Down):
    def __init__(self, in_channels, out_channels, temb_channels, dropout=0.0, num_layers=1, resnet_eps=1e-6,
                 resnet_time_scale_shift="default", resnet_act_fn="swish", resnet_groups=32, attention_head_dim=1,
                 output_scale_factor=1.0, downsample_padding=1, downsample_type="conv", padding_mode="zeros", **_):
        super().__init__()
        kw = _resnet_kw(temb_channels, resnet_eps, resnet_groups, dropout, resnet_time_scale_shift, resnet_act_fn,
                        output_scale_factor, padding_mode)
        if attention_head_dim is None:
            attention_head_dim = out_channels
        self.resnets = _resnets(num_layers, in_channels, out_channels, kw)
        self.attentions = nn.ModuleList([make_attention(out_channels, attention_head_dim, resnet_eps, resnet_groups,
                                                        output_scale_factor) for _ in range(num_layers)])
        self.downsample_type = downsample_type
        self.downsample_takes_temb = downsample_type == "resnet"
        if downsample_type == "conv":
            self.downsamplers = nn.ModuleList([Downsample2D(out_channels, use_conv=True, out_channels=out_channels,
                                                            padding=downsample_padding, padding_mode=padding_mode)])
        elif downsample_type == "resnet":
            self.downsamplers = nn.ModuleList([ResnetBlock2D(in_channels=out_channels, out_channels=out_channels,
                                                             down=True, **kw)])
        else:
            self.downsamplers = None


class ResnetDownsampleBlock2D(_Down):
    downsample_takes_temb = True

    def __init__(self, in_channels, out_channels, temb_channels, dropout=0.0, num_layers=1, resnet_eps=1e-6,
                 resnet_time_scale_shift="default", resnet_act_fn="swish", resnet_groups=32,
                 output_scale_factor=1.0, add_downsample=True, skip_time_act=False, padding_mode="zeros", **_):
        super().__init__()
        kw = _resnet_kw(temb_channels, resnet_eps, resnet_groups, dropout, resnet_time_scale_shift, resnet_act_fn,
                        output_scale_factor, padding_mode, skip_time_act)
        self.resnets = _resnets(num_layers, in_channels, out_channels, kw)
        self.downsamplers = nn.ModuleList([ResnetBlock2D(in_channels=out_channels, out_channels=out_channels,
                                                         down=True, **kw)]) if add_downsample else None


class _Up(nn.Module):
    """Shared forward of the up blocks: per layer, concatenate [hidden, skip] (skip popped from the end),
    resnet (+attention); then the upsampler."""
    upsample_takes_temb = False

    def forward(self, hidden_states, res_hidden_states_tuple, temb=None, upsample_size=None):
        attns = self.attentions if hasattr(self, "attentions") else [None] * len(self.resnets)
        for resnet, attn in zip(self.resnets, attns):
            res_hidden_states = res_hidden_states_tuple[-1]
            res_hidden_states_tuple = res_hidden_states_tuple[:-1]
            hidden_states = torch.cat([hidden_states, res_hidden_states], dim=1)
            hidden_states = resnet(hidden_states, temb)
            if attn is not None:
                hidden_states = attn(hidden_states)
        if self.upsamplers is not None:
            for upsampler in self.upsamplers:
                hidden_states = upsampler(hidden_states, temb) if self.upsample_takes_temb else upsampler(
                    hidden_states, upsample_size)
        return hidden_states


def _up_resnets(num_layers, in_channels, prev_output_channel, out_channels, kw):
    resnets = []
    for i in range(num_layers):
        res_skip_channels = in_channels if (i == num_layers - 1) else out_channels
        resnet_in_channels = prev_output_channel if i == 0 else out_channels
        resnets.append(ResnetBlock2D(in_channels=resnet_in_channels + res_skip_channels, out_channels=out_channels,
                                     **kw))
    return nn.ModuleList(resnets)


class UpBlock2D(_Up):
    def __init__(self, in_channels, prev_output_channel, out_channels, temb_channels, dropout=0.0, num_layers=1,
                 resnet_eps=1e-6, resnet_time_scale_shift="default", resnet_act_fn="swish", resnet_groups=32,
                 output_scale_factor=1.0, add_upsample=True, padding_mode="zeros", **_):
        super().__init__()
        kw = _resnet_kw(temb_channels, resnet_eps, resnet_groups, dropout, resnet_time_scale_shift, resnet_act_fn,
                        output_scale_factor, padding_mode)
        self.resnets = _up_resnets(num_layers, in_channels, prev_output_channel, out_channels, kw)
        self.upsamplers = nn.ModuleList([Upsample2D(out_channels, use_conv=True, out_channels=out_channels,
                                                    padding_mode=padding_mode)]) if add_upsample else None


class AttnUpBlock2D(_Up):
    def __init__(self, in_channels, prev_output_channel, out_channels, temb_channels, dropout=0.0, num_layers=1,
                 resnet_eps=1e-6, resnet_time_scale_shift="default", resnet_act_fn="swish", resnet_groups=32,
                 attention_head_dim=1, output_scale_factor=1.0, upsample_type="conv", padding_mode="zeros", **_):
        super().__init__()
        kw = _resnet_kw(temb_channels, resnet_eps, resnet_groups, dropout, resnet_time_scale_shift, resnet_act_fn,
                        output_scale_factor, padding_mode)
        if attention_head_dim is None:
            attention_head_dim = out_channels
        self.resnets = _up_resnets(num_layers, in_channels, prev_output_channel, out_channels, kw)
        self.attentions = nn.ModuleList([make_attention(out_channels, attention_head_dim, resnet_eps, resnet_groups,
                                                        output_scale_factor) for _ in range(num_layers)])
        self.upsample_type = upsample_type
        self.upsample_takes_temb = upsample_type == "resnet"
        if upsample_type == "conv":
            self.upsamplers = nn.ModuleList([Upsample2D(out_channels, use_conv=True, out_channels=out_channels,
                                                        padding_mode=padding_mode)])
        elif upsample_type == "resnet":
            self.upsamplers = nn.ModuleList([ResnetBlock2D(in_channels=out_channels, out_channels=out_channels,
                                                           up=True, **kw)])
        else:
            self.upsamplers = None


class ResnetUpsampleBlock2D(_Up):
    upsample_takes_temb = True

    def __init__(self, in_channels, prev_output_channel, out_channels, temb_channels, dropout=0.0, num_layers=1,
                 resnet_eps=1e-6, resnet_time_scale_shift="default", resnet_act_fn="swish", resnet_groups=32,
                 output_scale_factor=1.0, add_upsample=True, skip_time_act=False, padding_mode="zeros", **_):
        super().__init__()
        kw = _resnet_kw(temb_channels, resnet_eps, resnet_groups, dropout, resnet_time_scale_shift, resnet_act_fn,
                        output_scale_factor, padding_mode, skip_time_act)
        self.resnets = _up_resnets(num_layers, in_channels, prev_output_channel, out_channels, kw)
        self.upsamplers = nn.ModuleList([ResnetBlock2D(in_channels=out_channels, out_channels=out_channels, up=True,
                                                       **kw)]) if add_upsample else None


class UNetMidBlock2D(nn.Module):
    def __init__(self, in_channels, temb_channels, dropout=0.0, num_layers=1, resnet_eps=1e-6,
                 resnet_time_scale_shift="default", resnet_act_fn="swish", resnet_groups=32, attn_groups=None,
                 add_attention=True, attention_head_dim=1, output_scale_factor=1.0, padding_mode="zeros"):
        super().__init__()
        resnet_groups = resnet_groups if resnet_groups is not None else min(in_channels // 4, 32)
        self.add_attention = add_attention
        if attn_groups is None:
            # diffusers: the mid attention only gets a GroupNorm with the "default" time shift.
            attn_groups = resnet_groups if resnet_time_scale_shift == "default" else None
        if attention_head_dim is None:
            attention_head_dim = in_channels
        kw = _resnet_kw(temb_channels, resnet_eps, resnet_groups, dropout, resnet_time_scale_shift, resnet_act_fn,
                        output_scale_factor, padding_mode)
        self.resnets = nn.ModuleList([ResnetBlock2D(in_channels=in_channels, out_channels=in_channels, **kw)
                                      for _ in range(num_layers + 1)])
        self.attentions = nn.ModuleList([
            make_attention(in_channels, attention_head_dim, resnet_eps, attn_groups, output_scale_factor)
            if add_attention else None for _ in range(num_layers)])

    def forward(self, hidden_states, temb=None):
        hidden_states = self.resnets[0](hidden_states, temb)
        for attn, resnet in zip(self.attentions, self.resnets[1:]):
            if attn is not None:
                hidden_states = attn(hidden_states)
            hidden_states = resnet(hidden_states, temb)
        return hidden_states


DOWN_BLOCKS = {"DownBlock2D": DownBlock2D, "AttnDownBlock2D": AttnDownBlock2D,
               "ResnetDownsampleBlock2D": ResnetDownsampleBlock2D}
UP_BLOCKS = {"UpBlock2D": UpBlock2D, "AttnUpBlock2D": AttnUpBlock2D, "ResnetUpsampleBlock2D": ResnetUpsampleBlock2D}


def get_down_block(block_type, add_downsample, downsample_type, **kw):
    block_type = block_type[7:] if block_type.startswith("UNetRes") else block_type
    if block_type not in DOWN_BLOCKS:
        raise NotImplementedError(f"down block {block_type}")
    if block_type == "AttnDownBlock2D":
        # diffusers: no downsampler in the last block, otherwise default to conv.
        kw["downsample_type"] = (downsample_type or "conv") if add_downsample else None
    else:
        kw["add_downsample"] = add_downsample
    return DOWN_BLOCKS[block_type](**kw)


def get_up_block(block_type, add_upsample, upsample_type, **kw):
    block_type = block_type[7:] if block_type.startswith("UNetRes") else block_type
    if block_type not in UP_BLOCKS:
        raise NotImplementedError(f"up block {block_type}")
    if block_type == "AttnUpBlock2D":
        kw["upsample_type"] = (upsample_type or "conv") if add_upsample else None
    else:
        kw["add_upsample"] = add_upsample
    return UP_BLOCKS[block_type](**kw)


# ----------------------------------------------------------------------------- unet_2d.py
@dataclass
class UNet2DOutput:
    sample: torch.Tensor


class UNet2DModel(nn.Module):
    """diffusers.UNet2DModel, positional time embedding, optional class embedding, plus padding_mode."""

    def __init__(self, padding_mode="zeros", **config):
        super().__init__()
        unknown = set(config) - set(DIFFUSERS_DEFAULTS)
        if unknown:
            raise ValueError(f"unsupported UNet2DModel config keys: {sorted(unknown)}")
        cfg = dict(DIFFUSERS_DEFAULTS, **config)
        if padding_mode not in ("zeros", "circular"):
            raise ValueError(f"padding_mode must be zeros or circular, not {padding_mode}")
        if cfg["time_embedding_type"] != "positional":
            raise NotImplementedError("only time_embedding_type='positional' is implemented")
        self.config = cfg
        self.padding_mode = padding_mode
        self.sample_size = cfg["sample_size"]
        boc = list(cfg["block_out_channels"])
        down_types, up_types = list(cfg["down_block_types"]), list(cfg["up_block_types"])
        if len(down_types) != len(up_types) or len(boc) != len(down_types):
            raise ValueError("down_block_types, up_block_types and block_out_channels must have equal length")
        time_embed_dim = cfg["time_embedding_dim"] or boc[0] * 4
        eps, groups, act = cfg["norm_eps"], cfg["norm_num_groups"], cfg["act_fn"]
        shift, dropout, head_dim = cfg["resnet_time_scale_shift"], cfg["dropout"], cfg["attention_head_dim"]

        self.conv_in = conv3x3(cfg["in_channels"], boc[0], padding_mode)
        self.time_proj = Timesteps(boc[0], cfg["flip_sin_to_cos"], cfg["freq_shift"])
        self.time_embedding = TimestepEmbedding(boc[0], time_embed_dim)

        if cfg["class_embed_type"] is None and cfg["num_class_embeds"] is not None:
            self.class_embedding = nn.Embedding(cfg["num_class_embeds"], time_embed_dim)
        elif cfg["class_embed_type"] == "timestep":
            self.class_embedding = TimestepEmbedding(boc[0], time_embed_dim)
        elif cfg["class_embed_type"] == "identity":
            self.class_embedding = nn.Identity()
        elif cfg["class_embed_type"] is None:
            self.class_embedding = None
        else:
            raise NotImplementedError(f"class_embed_type {cfg['class_embed_type']}")

        common = dict(temb_channels=time_embed_dim, resnet_eps=eps, resnet_act_fn=act, resnet_groups=groups,
                      resnet_time_scale_shift=shift, dropout=dropout, padding_mode=padding_mode)
        self.down_blocks = nn.ModuleList()
        output_channel = boc[0]
        for i, block_type in enumerate(down_types):
            input_channel, output_channel = output_channel, boc[i]
            is_final = i == len(boc) - 1
            self.down_blocks.append(get_down_block(
                block_type, add_downsample=not is_final, downsample_type=cfg["downsample_type"],
                num_layers=cfg["layers_per_block"], in_channels=input_channel, out_channels=output_channel,
                attention_head_dim=head_dim if head_dim is not None else output_channel,
                downsample_padding=cfg["downsample_padding"], **common))

        if cfg["mid_block_type"] is None:
            self.mid_block = None
        elif cfg["mid_block_type"] == "UNetMidBlock2D":
            self.mid_block = UNetMidBlock2D(
                in_channels=boc[-1], temb_channels=time_embed_dim, dropout=dropout, resnet_eps=eps,
                resnet_act_fn=act, output_scale_factor=cfg["mid_block_scale_factor"], resnet_time_scale_shift=shift,
                attention_head_dim=head_dim if head_dim is not None else boc[-1], resnet_groups=groups,
                attn_groups=cfg["attn_norm_num_groups"], add_attention=cfg["add_attention"],
                padding_mode=padding_mode)
        else:
            raise NotImplementedError(f"mid block {cfg['mid_block_type']}")

        self.up_blocks = nn.ModuleList()
        rev = list(reversed(boc))
        output_channel = rev[0]
        for i, block_type in enumerate(up_types):
            prev_output_channel, output_channel = output_channel, rev[i]
            input_channel = rev[min(i + 1, len(boc) - 1)]
            is_final = i == len(boc) - 1
            self.up_blocks.append(get_up_block(
                block_type, add_upsample=not is_final, upsample_type=cfg["upsample_type"],
                num_layers=cfg["layers_per_block"] + 1, in_channels=input_channel, out_channels=output_channel,
                prev_output_channel=prev_output_channel,
                attention_head_dim=head_dim if head_dim is not None else output_channel, **common))

        num_groups_out = groups if groups is not None else min(boc[0] // 4, 32)
        self.conv_norm_out = nn.GroupNorm(num_channels=boc[0], num_groups=num_groups_out, eps=eps)
        self.conv_act = nn.SiLU()
        self.conv_out = conv3x3(boc[0], cfg["out_channels"], padding_mode)

    @classmethod
    def from_config(cls, config):
        """Build from a diffusers config.json dict; `_*` keys are ignored, `tessera.padding_mode` is honoured."""
        cfg = {k: v for k, v in config.items() if not k.startswith("_") and k != "tessera"}
        padding_mode = cfg.pop("padding_mode", None) or config.get("tessera", {}).get("padding_mode", "zeros")
        return cls(padding_mode=padding_mode, **cfg)

    def to_config(self):
        """diffusers-style config.json dict (without the tessera section)."""
        out = {"_class_name": "UNet2DModel"}
        for k, v in self.config.items():
            out[k] = list(v) if isinstance(v, tuple) else v
        return out

    @property
    def dtype(self):
        return next(self.parameters()).dtype

    def forward(self, sample, timestep, class_labels=None, return_dict=True):
        """diffusers UNet2DModel.forward: returns UNet2DOutput(sample) or, with return_dict=False, (sample,)."""
        if self.config["center_input_sample"]:
            sample = 2 * sample - 1.0

        timesteps = timestep
        if not torch.is_tensor(timesteps):
            timesteps = torch.tensor([timesteps], dtype=torch.long, device=sample.device)
        elif torch.is_tensor(timesteps) and len(timesteps.shape) == 0:
            timesteps = timesteps[None].to(sample.device)
        timesteps = timesteps * torch.ones(sample.shape[0], dtype=timesteps.dtype, device=timesteps.device)

        t_emb = self.time_proj(timesteps).to(dtype=self.dtype)
        emb = self.time_embedding(t_emb)
        if self.class_embedding is not None:
            if class_labels is None:
                raise ValueError("class_labels should be provided when doing class conditioning")
            if self.config["class_embed_type"] == "timestep":
                class_labels = self.time_proj(class_labels)
            emb = emb + self.class_embedding(class_labels).to(dtype=self.dtype)
        elif class_labels is not None:
            raise ValueError("class_embedding needs to be initialized in order to use class conditioning")

        sample = self.conv_in(sample)
        down_block_res_samples = (sample,)
        for block in self.down_blocks:
            sample, res_samples = block(sample, emb)
            down_block_res_samples += res_samples

        if self.mid_block is not None:
            sample = self.mid_block(sample, emb)

        for block in self.up_blocks:
            res_samples = down_block_res_samples[-len(block.resnets):]
            down_block_res_samples = down_block_res_samples[:-len(block.resnets)]
            sample = block(sample, res_samples, emb)

        sample = self.conv_out(self.conv_act(self.conv_norm_out(sample)))
        if not return_dict:
            return (sample,)
        return UNet2DOutput(sample=sample)


# ----------------------------------------------------------------------------- self-test
def count_flops(model, size):
    """Multiply-accumulates x2 of convs, linears and attention matmuls for one sample."""
    flops = [0]

    def conv_hook(m, inp, out):
        flops[0] += 2 * out.numel() * (m.in_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1]

    def lin_hook(m, inp, out):
        flops[0] += 2 * out.numel() * m.in_features

    def attn_hook(m, inp, out):
        b, c, h, w = inp[0].shape
        flops[0] += 2 * 2 * b * (h * w) ** 2 * m.inner_dim

    hooks = []
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            hooks.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            hooks.append(m.register_forward_hook(lin_hook))
        elif isinstance(m, Attention):
            hooks.append(m.register_forward_hook(attn_hook))
    with torch.no_grad():
        labels = torch.zeros(1, dtype=torch.long) if model.class_embedding is not None else None
        model(torch.zeros(1, model.config["in_channels"], size, size), torch.zeros(1), labels)
    for h in hooks:
        h.remove()
    return flops[0]


def selftest(config, print_keys=True):
    torch.manual_seed(0)
    torch.set_num_threads(1)
    model = UNet2DModel.from_config(dict(config, tessera={"padding_mode": "circular"})).eval()
    n = sum(p.numel() for p in model.parameters())
    size = config.get("sample_size") or 64
    print(f"parameters: {n:,}   GFLOP per evaluation at {size}x{size}: {count_flops(model, size) / 1e9:.2f}")
    if print_keys:
        for k, v in model.state_dict().items():
            print(f"  {k:60s} {tuple(v.shape)}")

    # Perturb all parameters so the checks below are not trivially satisfied by zero-init-like weights.
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    ncls = config.get("num_class_embeds")
    x = torch.randn(2, config["in_channels"], size, size)
    t = torch.tensor([3.0, -1.5])
    y = torch.tensor([0, ncls - 1]) if ncls else None
    with torch.no_grad():
        out = model(x, t, y).sample
        assert out.shape == (2, config["out_channels"], size, size), out.shape
        print(f"forward: {tuple(x.shape)} -> {tuple(out.shape)}")
        out_tuple = model(x, t, y, return_dict=False)
        assert isinstance(out_tuple, tuple) and torch.equal(out_tuple[0], out)

        # 1) Tiling: a 2x2 tiling of the input gives the 2x2 tiling of the output, i.e. the
        #    network has no notion of a border (attention and GroupNorm see duplicated content).
        big = model(x.repeat(1, 1, 2, 2), t, y).sample
        err_tile = (big - out.repeat(1, 1, 2, 2)).abs().max().item()
        # 2) Toroidal shift equivariance for shifts that are multiples of the total stride.
        stride = 2 ** (len(config["block_out_channels"]) - 1)
        sh = (3 * stride, 5 * stride)
        rolled = model(torch.roll(x, sh, (2, 3)), t, y).sample
        err_roll = (rolled - torch.roll(out, sh, (2, 3))).abs().max().item()
        print(f"circular: tile-2x2 max err {err_tile:.2e}, roll{sh} max err {err_roll:.2e}  (scale {out.abs().mean():.2f})")
        assert err_tile < 1e-3 and err_roll < 1e-3

        # 3) The same weights with zero padding do see a border (the property is not vacuous).
        zmodel = UNet2DModel.from_config(config)
        zmodel.load_state_dict(model.state_dict())
        zmodel.eval()
        zout = zmodel(x, t, y).sample
        zbig = zmodel(x.repeat(1, 1, 2, 2), t, y).sample
        err_zero = (zbig - zout.repeat(1, 1, 2, 2)).abs().max().item()
        print(f"zeros padding: tile-2x2 max err {err_zero:.2e} (expected large)")
        assert err_zero > 1e-2

        # 4) Integer / scalar timesteps broadcast like diffusers.
        a = model(x, 7, y).sample
        b = model(x, torch.tensor([7, 7]), y).sample
        assert torch.allclose(a, b, atol=1e-5)
    # 5) Embedding details: flip_sin_to_cos puts cos first.
    e = get_timestep_embedding(torch.tensor([0.0]), 8, flip_sin_to_cos=True, downscale_freq_shift=0)
    assert torch.allclose(e, torch.tensor([[1.0] * 4 + [0.0] * 4]))
    print("selftest OK")
    return model


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--selftest", action="store_true", help="run the self-check on TESSERA_CONFIG")
    ap.add_argument("--config", help="config.json to test instead of TESSERA_CONFIG")
    ap.add_argument("--no-keys", action="store_true", help="do not print the state_dict keys")
    args = ap.parse_args()
    if not args.selftest:
        ap.print_help()
        return
    config = dict(TESSERA_CONFIG)
    if args.config:
        import json
        with open(args.config) as f:
            config = json.load(f)
    selftest(config, print_keys=not args.no_keys)


if __name__ == "__main__":
    main()
