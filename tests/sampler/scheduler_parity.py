#!/usr/bin/env python3
"""Step-by-step parity of tessera's sampling loop with diffusers' scheduler formulas.

For each published checkpoint layout this writes a small random model folder (tools/train/unet.py,
diffusers' module tree), converts it with tessera-convert, runs `tessera-eval --sample` from a
given initial noise with injected per-step noise, and checks every step against diffusers'
scheduler step written out here in float64 from diffusers' documented algorithms:

  * the timesteps tessera feeds the network (DDPM/DDIM leading spacing, Euler's float linspace
    timesteps, CM's 1000 * 0.25 * ln(sigma));
  * the network output: unet.py in float64 on the scheduler's scaled model input;
  * the next sample: the scheduler's step applied to tessera's previous sample and tessera's own
    network output (so each step is checked on its own, without accumulated drift).

Each converted package is also sampled through the public API (tessera-gen), which must report
the scheduler's sampler and the model's classes (--list-classes).

    python3 tests/sampler/scheduler_parity.py TESSERA_CONVERT TESSERA_EVAL TESSERA_GEN [CASE...]

Exit status 0 when every layout matches, 1 on a mismatch, 77 without PyTorch.
"""
import json
import math
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tools", "train"))
try:
    import torch  # noqa: E402
except ImportError:
    sys.exit(77)
from cascade_reference import randomise  # noqa: E402  (weights scaled so activations stay O(1))
from safetensors_io import load_file, save_file  # noqa: E402
from unet import UNet2DModel  # noqa: E402

# Relative tolerances: the sampler's coefficients travel as fp32 (one rounding each), the network
# runs in fp32 on the device against a float64 reference.
SAMPLE_TOL = 2e-5
NETWORK_TOL = 2e-4

BASE = {"_class_name": "UNet2DModel", "_diffusers_version": "0.25.0", "sample_size": 8, "in_channels": 3,
        "out_channels": 3, "norm_eps": 1e-6, "act_fn": "silu", "dropout": 0.0, "center_input_sample": False,
        "time_embedding_type": "positional", "layers_per_block": 1, "norm_num_groups": 4,
        "block_out_channels": [8, 16]}

# google/ddpm-cifar10-32's form, scaled down: downsample_padding 0, freq_shift 1, no flip.
DDPM_UNET = dict(BASE, down_block_types=["DownBlock2D", "AttnDownBlock2D"], up_block_types=["AttnUpBlock2D", "UpBlock2D"],
                 downsample_padding=0, flip_sin_to_cos=False, freq_shift=1, attention_head_dim=None)
# openai/diffusers-cd_* / ct_*: class embeddings, resnet resamplers, scale_shift.
CM_UNET = dict(BASE, down_block_types=["ResnetDownsampleBlock2D", "AttnDownBlock2D"],
               up_block_types=["AttnUpBlock2D", "ResnetUpsampleBlock2D"], num_class_embeds=10,
               resnet_time_scale_shift="scale_shift", attention_head_dim=8, downsample_type="resnet",
               upsample_type="resnet", flip_sin_to_cos=True, freq_shift=0, norm_eps=1e-5)
DDPM_SCHED = {"_class_name": "DDPMScheduler", "_diffusers_version": "0.25.0", "beta_schedule": "linear",
              "beta_start": 0.0001, "beta_end": 0.02, "clip_sample": True, "num_train_timesteps": 1000,
              "trained_betas": None, "variance_type": "fixed_large"}
DDIM_SCHED = {"_class_name": "DDIMScheduler", "beta_schedule": "scaled_linear", "beta_start": 0.00085,
              "beta_end": 0.012, "clip_sample": False, "num_train_timesteps": 1000, "set_alpha_to_one": False,
              "steps_offset": 1, "prediction_type": "epsilon", "timestep_spacing": "leading"}
EULER_SCHED = {"_class_name": "EulerDiscreteScheduler", "beta_schedule": "scaled_linear", "beta_start": 0.00085,
               "beta_end": 0.012, "num_train_timesteps": 1000, "prediction_type": "epsilon",
               "interpolation_type": "linear", "use_karras_sigmas": False, "timestep_spacing": "linspace"}
CM_SCHED = {"_class_name": "CMStochasticIterativeScheduler", "num_train_timesteps": 40, "sigma_min": 0.002,
            "sigma_max": 80.0, "sigma_data": 0.5, "s_noise": 1.0, "rho": 7.0, "clip_denoised": True}

# name: (layout, unet config, scheduler config, sampler for --sampler or None, steps)
CASES = {
    "ddpm_pipeline": ("pipeline", DDPM_UNET, DDPM_SCHED, None, 10),
    "ddpm_pipeline_ddim": ("pipeline", DDPM_UNET, DDPM_SCHED, "ddim", 5),
    "ddim_unet_folder_fp16": ("unet_folder", DDPM_UNET, DDIM_SCHED, None, 6),
    "euler_pipeline": ("pipeline", DDPM_UNET, EULER_SCHED, None, 7),
    "euler_leading": ("pipeline", DDPM_UNET, dict(EULER_SCHED, timestep_spacing="leading", steps_offset=1), None, 5),
    "ddpm_learned_range": ("pipeline", dict(DDPM_UNET, out_channels=6), dict(DDPM_SCHED, variance_type="learned_range"),
                           None, 8),
    "ddpm_learned_range_ddim": ("pipeline", dict(DDPM_UNET, out_channels=6),
                                dict(DDPM_SCHED, variance_type="learned_range"), "ddim", 4),
    "cm_pipeline_2": ("pipeline", CM_UNET, CM_SCHED, None, 2),
    "cm_pipeline_3": ("pipeline", CM_UNET, CM_SCHED, None, 3),
}
PIPELINES = {"DDPMScheduler": "DDPMPipeline", "DDIMScheduler": "DDIMPipeline",
             "EulerDiscreteScheduler": "DiffusionPipeline", "CMStochasticIterativeScheduler": "ConsistencyModelPipeline"}


def alphas_cumprod(s):
    n = s["num_train_timesteps"]
    if s.get("beta_schedule", "linear") == "scaled_linear":
        betas = torch.linspace(s["beta_start"] ** 0.5, s["beta_end"] ** 0.5, n, dtype=torch.float64) ** 2
    else:
        betas = torch.linspace(s.get("beta_start", 0.0001), s.get("beta_end", 0.02), n, dtype=torch.float64)
    return torch.cumprod(1.0 - betas, 0)


# --- diffusers' schedulers, step by step ---------------------------------------------------------

def ddpm_timesteps(s, steps):
    ratio = s["num_train_timesteps"] // steps
    return [k * ratio + s.get("steps_offset", 0) for k in reversed(range(steps))], ratio


def ddpm_step(s, ab, t, ratio, out, x, noise):
    c = x.shape[1]
    var_half = out[:, c:] if out.shape[1] == 2 * c and s.get("variance_type") in ("learned", "learned_range") else None
    eps = out[:, :c]
    prev = t - ratio
    a, a_prev = ab[t], (ab[prev] if prev >= 0 else torch.tensor(1.0, dtype=torch.float64))
    beta_t, beta_prev = 1 - a, 1 - a_prev
    cur_alpha = a / a_prev
    cur_beta = 1 - cur_alpha
    x0 = (x - beta_t ** 0.5 * eps) / a ** 0.5
    if s.get("clip_sample", True):
        x0 = x0.clamp(-1, 1)
    mean = (a_prev ** 0.5 * cur_beta / beta_t) * x0 + (cur_alpha ** 0.5 * beta_prev / beta_t) * x
    if t == 0:
        return mean, x0
    small = torch.clamp(beta_prev / beta_t * cur_beta, min=1e-20)
    vt = s.get("variance_type", "fixed_small")
    if vt == "learned_range":
        frac = (var_half + 1) / 2
        std = torch.exp(0.5 * (frac * torch.log(cur_beta) + (1 - frac) * torch.log(small)))
    elif vt == "learned":
        std = var_half ** 0.5
    elif vt.startswith("fixed_large"):
        std = cur_beta ** 0.5
    else:
        std = small ** 0.5
    return mean + std * noise, x0


def ddim_step(s, ab, t, ratio, out, x):
    eps = out[:, :x.shape[1]]
    prev = t - ratio
    final = torch.tensor(1.0, dtype=torch.float64) if s.get("set_alpha_to_one", True) else ab[0]
    a, a_prev = ab[t], (ab[prev] if prev >= 0 else final)
    x0 = (x - (1 - a) ** 0.5 * eps) / a ** 0.5
    if s.get("clip_sample", True):
        x0 = x0.clamp(-1, 1)
    return a_prev ** 0.5 * x0 + (1 - a_prev) ** 0.5 * eps, x0


def euler_schedule(s, steps):
    n = s["num_train_timesteps"]
    sp = s.get("timestep_spacing", "linspace")
    if sp == "linspace":
        ts = torch.linspace(0, n - 1, steps, dtype=torch.float32).flip(0).double().tolist()
    elif sp == "leading":
        ratio = n // steps
        ts = [float(k * ratio + s.get("steps_offset", 0)) for k in reversed(range(steps))]
    else:
        ratio = n / steps
        ts = [round(n - k * ratio) - 1.0 for k in range(steps)]
    ab = alphas_cumprod(s)
    table = ((1 - ab) / ab) ** 0.5
    sig = []
    for t in ts:
        i = int(math.floor(t))
        f = t - i
        sig.append(float(table[i] + f * (table[min(i + 1, n - 1)] - table[i])))
    init = max(sig) if sp in ("linspace", "trailing") else (max(sig) ** 2 + 1) ** 0.5
    return ts, sig + [0.0], init


def cm_schedule(s, steps):
    n = s["num_train_timesteps"]
    ratio = n // steps
    ts = [k * ratio for k in reversed(range(steps))]
    ramp = [t / (n - 1) for t in reversed(ts)]
    lo, hi = s["sigma_min"] ** (1 / s["rho"]), s["sigma_max"] ** (1 / s["rho"])
    sig = [(hi + r * (lo - hi)) ** s["rho"] for r in ramp]
    return [1000 * 0.25 * math.log(x + 1e-44) for x in sig], sig + [s["sigma_min"]]


def cm_step(s, sigma, sigma_next, out, x, noise):
    sd, smin = s["sigma_data"], s["sigma_min"]
    c_skip = sd ** 2 / ((sigma - smin) ** 2 + sd ** 2)
    c_out = (sigma - smin) * sd / (sigma ** 2 + sd ** 2) ** 0.5
    d = c_out * out + c_skip * x
    if s["clip_denoised"]:
        d = d.clamp(-1, 1)
    hat = min(max(sigma_next, smin), s["sigma_max"])
    return d + noise * s["s_noise"] * (hat ** 2 - smin ** 2) ** 0.5, d


# --- fixtures ------------------------------------------------------------------------------------

def write_case(root, layout, unet_cfg, sched, gen):
    model = UNet2DModel.from_config(unet_cfg).eval()
    state = {k: v.float() for k, v in randomise(model, gen).items()}
    unet_dir = os.path.join(root, "unet") if layout == "pipeline" else root
    os.makedirs(unet_dir)
    weights = "diffusion_pytorch_model.safetensors"
    if layout == "unet_folder":  # the hub's fp16 variant, the scheduler beside the model
        weights = "diffusion_pytorch_model.fp16.safetensors"
        state_file = {k: v.half() for k, v in state.items()}
        state = {k: v.float() for k, v in state_file.items()}
        with open(os.path.join(unet_dir, "scheduler_config.json"), "w") as f:
            json.dump(sched, f)
    else:
        state_file = state
        os.makedirs(os.path.join(root, "scheduler"))
        with open(os.path.join(root, "scheduler", "scheduler_config.json"), "w") as f:
            json.dump(sched, f)
        with open(os.path.join(root, "model_index.json"), "w") as f:
            json.dump({"_class_name": PIPELINES[sched["_class_name"]], "_diffusers_version": "0.25.0",
                       "unet": ["diffusers", "UNet2DModel"], "scheduler": ["diffusers", sched["_class_name"]]}, f)
    save_file(state_file, os.path.join(unet_dir, weights), {"format": "pt"})
    with open(os.path.join(unet_dir, "config.json"), "w") as f:
        json.dump(unet_cfg, f)
    model.load_state_dict({k: v.double() for k, v in state.items()})
    return model.double()


def close(name, got, want, tol, errors):
    err = float((got - want).abs().max()) / (1.0 + float(want.abs().max()))
    if not err <= tol:
        errors.append(f"{name}: relative error {err:.3g} > {tol:g}")
    return err


def run_case(convert, evaluate, tessera_gen, tmp, name, case, gen):
    layout, unet_cfg, sched, sampler, steps = case
    folder = os.path.join(tmp, name)
    model = write_case(folder, layout, unet_cfg, sched, gen)
    pkg = os.path.join(tmp, name + ".tsr")
    subprocess.run([convert, folder, pkg], check=True, capture_output=True)
    kind = sampler or {"DDPMScheduler": "ddpm", "DDIMScheduler": "ddim", "EulerDiscreteScheduler": "euler",
                       "CMStochasticIterativeScheduler": "consistency"}[sched["_class_name"]]
    errors = []
    listed = subprocess.run([tessera_gen, "--model", pkg, "--list-classes"], capture_output=True, text=True)
    classes = unet_cfg.get("num_class_embeds", 0)
    own = {"DDPMScheduler": "ddpm", "DDIMScheduler": "ddim", "EulerDiscreteScheduler": "euler",
           "CMStochasticIterativeScheduler": "consistency"}[sched["_class_name"]]
    if listed.returncode != 0 or f"model: {own} sampler" not in listed.stderr or \
            f"{classes} class" not in listed.stderr or (classes and f"{classes - 1} {classes - 1}" not in listed.stdout):
        errors.append(f"{name}: tessera-gen --list-classes: {listed.stderr.strip()} / {listed.stdout.strip()}")
    gen_cmd = [tessera_gen, "--model", pkg, "--steps", str(steps), "--size", str(unet_cfg["sample_size"]),
               "--count", "1", "--quiet", "--validation", "--out", os.path.join(tmp, name + "_{class}_{seed}.png")]
    if sampler:
        gen_cmd += ["--sampler", sampler]
    if classes:
        gen_cmd += ["--class", "1"]
    made = subprocess.run(gen_cmd, capture_output=True, text=True)
    if made.returncode != 0:
        errors.append(f"{name}: tessera-gen failed: {made.stderr.strip()}")
    if classes:  # no null class: guidance has no unconditional branch and is refused, saying so
        guided = subprocess.run(gen_cmd + ["--guidance", "2"], capture_output=True, text=True)
        if guided.returncode == 0 or "null class" not in guided.stderr:
            errors.append(f"{name}: guidance without a null class was not refused: {guided.stderr.strip()}")
    n, c, hw = 2, unet_cfg["in_channels"], unet_cfg["sample_size"]
    noise = torch.randn(n, c, hw, hw, generator=gen)
    step_noise = torch.randn(steps, n, c, hw, hw, generator=gen)
    io = {"noise": noise, "step_noise": step_noise}
    labels = None
    if unet_cfg.get("num_class_embeds"):
        labels = torch.randint(0, unet_cfg["num_class_embeds"], (n,), generator=gen)
        io["class_labels"] = labels.float()
    inp, outp = os.path.join(tmp, name + "_in.safetensors"), os.path.join(tmp, name + "_out.safetensors")
    save_file(io, inp, {"format": "pt"})
    cmd = [evaluate, pkg, "--sample", inp, outp, "--steps", str(steps)] + (["--sampler", sampler] if sampler else [])
    subprocess.run(cmd, check=True, capture_output=True)
    got = {k: v.double() for k, v in load_file(outp)[0].items()}
    noise, step_noise = noise.double(), step_noise.double()
    worst = [0.0, 0.0]
    ab = alphas_cumprod(sched) if kind != "consistency" else None
    if kind in ("ddpm", "ddim"):
        ts, ratio = ddpm_timesteps(sched, steps)
        init = noise
    elif kind == "euler":
        ts, sig, init_sigma = euler_schedule(sched, steps)
        init = noise * init_sigma
    else:
        ts, sig = cm_schedule(sched, steps)
        init = noise * sched["sigma_max"]
    close(name + " timesteps", got["timesteps"], torch.tensor(ts, dtype=torch.float64), 1e-6, errors)
    close(name + " sample_init", got["sample_init"], init, SAMPLE_TOL, errors)
    x = got["sample_init"]
    for k, t in enumerate(ts):
        out = got[f"model_output.{k}"]
        if kind in ("ddpm", "ddim"):
            model_in = x
        elif kind == "euler":
            model_in = x / (sig[k] ** 2 + 1) ** 0.5
        else:
            model_in = x / (sig[k] ** 2 + sched["sigma_data"] ** 2) ** 0.5
        with torch.no_grad():
            ref = model(model_in, torch.full((n,), float(t), dtype=torch.float64), labels).sample
        worst[1] = max(worst[1], close(f"{name} model_output.{k}", out, ref, NETWORK_TOL, errors))
        if kind == "ddpm":
            want, _ = ddpm_step(sched, ab, t, ratio, out, x, step_noise[k])
        elif kind == "ddim":
            want, _ = ddim_step(sched, ab, t, ratio, out, x)
        elif kind == "euler":
            x0 = x - sig[k] * out[:, :c]
            want = x + (sig[k + 1] - sig[k]) * (x - x0) / sig[k]
        else:
            want, _ = cm_step(sched, sig[k], sig[k + 1], out, x, step_noise[k] if steps > 1 else 0 * x)
        worst[0] = max(worst[0], close(f"{name} sample.{k}", got[f"sample.{k}"], want, SAMPLE_TOL, errors))
        x = got[f"sample.{k}"]
    print(f"{name}: {len(ts)} steps ({kind}), worst relative error: sample {worst[0]:.2e}, network {worst[1]:.2e}")
    return errors


def main():
    convert, evaluate, tessera_gen = sys.argv[1:4]
    only = sys.argv[4:]
    gen = torch.Generator().manual_seed(20261203)
    errors = []
    with tempfile.TemporaryDirectory(prefix="tessera_sched_") as tmp:
        for name, case in CASES.items():
            if only and name not in only:
                continue
            errors += run_case(convert, evaluate, tessera_gen, tmp, name, case, gen)
    for e in errors:
        print("MISMATCH", e)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
