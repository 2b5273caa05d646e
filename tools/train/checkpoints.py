"""One reader for every form the model's weights take: a training checkpoint (.pt), a .tsr
package, or a diffusers export directory (config.json + diffusion_pytorch_model.safetensors).

A package or an export becomes a weights-only checkpoint dict: the network config with its
tessera section, sigma_data, the weights as both "model" and "ema" (an export holds one set),
the step / images / hours it records, and for a student its step sigmas.  fp16 packages are
widened to fp32.  It has no optimizer state: it starts runs (train_edm.py --init,
distill_ect.py --teacher), it does not resume them.
"""
import json
import os

import torch

from safetensors_io import load_file
from tsr_io import read_tsr


def split_stage(path):
    """'cascade.tsr:stage1' -> ('cascade.tsr', 1): stage k of a cascade package (0: its base)."""
    head, sep, tail = path.rpartition(":stage")
    if sep and head.endswith(".tsr") and tail.isdigit():
        return head, int(tail)
    return path, 0


def read_source(path):
    """(diffusers config with a tessera section, {name: tensor}) from a .tsr (or one stage of a
    cascade package, PATH.tsr:stageK) or an export dir."""
    if os.path.isdir(path):
        with open(os.path.join(path, "config.json")) as f:
            cfg = json.load(f)
        tensors, _ = load_file(os.path.join(path, "diffusion_pytorch_model.safetensors"))
        return cfg, tensors
    path, stage = split_stage(path)
    meta, tensors = read_tsr(path)
    if stage == 0:
        return (dict(meta["architecture"], tessera=meta["tessera"]),
                {k: v for k, v in tensors.items() if not k.startswith("stages.")})
    stages = meta.get("stages", [])
    if stage > len(stages):
        raise ValueError(f"{path} has {len(stages)} super-resolution stage(s), not a stage {stage}")
    prefix = f"stages.{stage}."
    st = stages[stage - 1]
    return (dict(st["architecture"], tessera=st["tessera"]),
            {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)})


def checkpoint_from_source(path):
    cfg, tensors = read_source(path)
    tess = cfg["tessera"]
    info = tess.get("data", {})
    training = info.get("training", {})
    net_cfg = {k: v for k, v in cfg.items() if k != "tessera"}
    if tess.get("stage") == "super_resolution":
        net_cfg["tessera"] = {"padding_mode": tess.get("padding_mode", "zeros"), "stage": tess["stage"],
                              "scale_factor": tess["scale_factor"]}
        if tess.get("residual"):  # the stage denoises x - u (sr.py): its weights mean nothing without it
            net_cfg["tessera"]["residual"] = True
    else:
        net_cfg["tessera"] = {"padding_mode": tess.get("padding_mode", "zeros"), "classes": tess["classes"],
                              "null_class": tess["null_class"]}
    state = {k: v.float().contiguous() for k, v in tensors.items()}
    ckpt = {"config": net_cfg, "sigma_data": float(tess["sigma_data"]), "model": state, "ema": state,
            "step": training.get("step"), "nimg": int(round(training.get("kimg", 0) * 1000)),
            "train_sec": training.get("train_hours", 0.0) * 3600, "classes": tess.get("classes")}
    if "cpu_hours" in training:
        ckpt["cpu_sec"] = training["cpu_hours"] * 3600
    if info.get("stage"):
        ckpt["stage"] = info["stage"]
    if "step_sigmas" in tess:
        ckpt["kind"] = "consistency"
        ckpt["step_sigmas"] = tess["step_sigmas"]
        ckpt["teacher"] = info.get("teacher")
    return ckpt


def load_checkpoint(path):
    """A checkpoint dict from a .pt file, a .tsr package or an export directory."""
    if os.path.isfile(path) and not path.endswith(".tsr"):  # (PATH.tsr:stageK is no file name)
        return torch.load(path, map_location="cpu")
    return checkpoint_from_source(path)
