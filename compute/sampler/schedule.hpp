#pragma once
// Noise schedules and sampler plans, on the CPU (no Vulkan). plan() turns a request's sampler
// settings into the rows of the params buffer (sampler_params.hpp): every supported sampler is a
// sequence of stages, each one network evaluation followed by a linear combination of the state,
// with its coefficients computed here in double precision. docs/SAMPLER.md derives them.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sampler/sampler_params.hpp"
#include "scheduler_config.hpp"
#include "strict_json.hpp"

namespace tessera::sampler {

enum class SamplerKind { Euler, Heun, DpmPP2M, Ddim, Ddpm, Consistency };
enum class Parameterization { Edm, Epsilon, VPrediction };

// "euler", "heun", "dpmpp_2m", "ddim", "ddpm", "consistency" (as in a package's tessera.sampler).
const char* samplerName(SamplerKind kind);
// Throws InvalidArgument listing the known names.
SamplerKind parseSamplerKind(std::string_view name);

enum class BetaSchedule { Linear, ScaledLinear, SquaredCosCapV2 };
enum class TimestepSpacing { Leading, Trailing, Linspace };

// A discrete-time (DDPM-family) noise schedule, as a diffusers scheduler config states it.
// Defaults are diffusers' DDPMScheduler / DDIMScheduler defaults.
struct NoiseSchedule {
  uint32_t numTrainTimesteps = 1000;
  double betaStart = 0.0001, betaEnd = 0.02;
  BetaSchedule betaSchedule = BetaSchedule::Linear;
  Parameterization prediction = Parameterization::Epsilon;
  TimestepSpacing spacing = TimestepSpacing::Leading;
  uint32_t stepsOffset = 0;
  bool setAlphaToOne = true;  // DDIM's alpha after the last step: 1, or alphas_cumprod[0]
  bool clipSample = true;     // clamp the predicted x0 to [-clipSampleRange, clipSampleRange]
  double clipSampleRange = 1.0;
  std::string varianceType = "fixed_small";  // DDPM's posterior variance
  // diffusers' EulerDiscreteScheduler conventions: float timesteps (its spacing, default
  // linspace), sigmas interpolated linearly between the training timesteps', the timestep itself
  // as the network's input, and an initial noise of sqrt(sigma_max^2 + 1) for linspace / trailing.
  bool euler = false;
  // DDPM reads the network's variance half (variance_type learned / learned_range).
  bool learnedVariance() const { return varianceType == "learned" || varianceType == "learned_range"; }

  // From a diffusers scheduler_config.json (the object, checked by model::checkNoiseSchedule or
  // not): missing keys take the defaults above. Throws InvalidArgument for values out of range,
  // Unsupported for what tessera does not run (prediction_type "sample", thresholding, other
  // beta schedules or spacings).
  static NoiseSchedule fromJson(const model::Json& config);
  static NoiseSchedule fromSpec(const model::SchedulerSpec& spec);

  // Throws InvalidArgument naming the field when the schedule is unusable.
  void validate() const;
  // alphas_cumprod[t], t < numTrainTimesteps, in double (diffusers accumulates in fp32).
  std::vector<double> alphasCumprod() const;
};

// The VE noise level of a discrete timestep's alpha_cumprod: sqrt((1 - ab) / ab).
double sigmaOfAlphaCumprod(double alphaCumprod);

// Karras et al. (2022) eq. 5: `steps` levels from sigmaMax down to sigmaMin, then a final 0.
std::vector<double> karrasSigmas(uint32_t steps, double sigmaMin, double sigmaMax, double rho = 7.0);

// diffusers DDIMScheduler / DDPMScheduler.set_timesteps: `steps` timesteps, descending.
std::vector<uint32_t> diffusersTimesteps(const NoiseSchedule& schedule, uint32_t steps);

// diffusers' CMStochasticIterativeScheduler: Karras sigmas over its training timesteps, the
// boundary-condition scalings c_skip = sd^2 / ((s - smin)^2 + sd^2), c_out = (s - smin) sd /
// sqrt(s^2 + sd^2), c_in = 1 / sqrt(s^2 + sd^2), timestep input 250 ln(s), and multistep
// sampling that re-noises to sqrt(s'^2 - smin^2) between steps.
struct ConsistencySchedule {
  uint32_t numTrainTimesteps = 40;
  double sigmaMin = 0.002, sigmaMax = 80.0, sigmaData = 0.5, sNoise = 1.0, rho = 7.0;
  bool clipDenoised = true;
  static ConsistencySchedule fromSpec(const model::SchedulerSpec& spec);
};

struct PlanInput {
  SamplerKind sampler = SamplerKind::Euler;
  Parameterization parameterization = Parameterization::Edm;
  uint32_t steps = 0;

  // EDM-parameterised models (Karras et al. 2022 preconditioning).
  double sigmaData = 0.5;
  double sigmaMin = 0.002, sigmaMax = 80.0, rho = 7.0;
  // The noise levels to evaluate at, descending and positive, `steps` of them (a package's
  // tessera.step_sigmas[steps]). Required by Consistency; when given, replaces the Karras
  // schedule of the EDM samplers.
  std::vector<double> sigmas;

  // Epsilon / VPrediction models: the training schedule (its prediction type must agree).
  std::optional<NoiseSchedule> schedule;
  // The network's output holds a variance half after the model output (out = 2 x in): DDPM with
  // variance_type learned / learned_range reads it; every other sampler uses the first half.
  bool learnedVariance = false;
  // Consistency sampling of a CMStochasticIterativeScheduler model (replaces sigmas and the EDM
  // preconditioning).
  std::optional<ConsistencySchedule> consistency;

  // SDEdit: 1 starts from noise; s < 1 keeps the last ceil(s*steps) steps and starts from the
  // init image noised to that step's level; 0 runs no stage (the output is the init image).
  double strength = 1.0;
  bool inpaint = false;     // RePaint blend with the init image where the mask is 1
  double guidance = 1.0;    // classifier-free guidance weight w: F = Fu + w (Fc - Fu)
  uint32_t classCount = 0;  // K, 0 for an unconditional model
  uint32_t nullClass = 0;   // the unconditional label, when guidance is used
};

struct StagePlan {
  StageParams start;                // samplerStart's row
  std::vector<StageParams> stages;  // one per network evaluation, in order
  std::vector<double> sigmas;       // the VE noise level each stage evaluates at
  std::vector<double> cNoise;       // the network's timestep input of each stage, in double
  bool fromInit = false;            // the start reads the init image (strength < 1)
};

// One network evaluation of an EDM-family sampler: its VE noise level and timestep input.
struct PlanLevel {
  double sigma;
  double cNoise;
};

// plan()'s scratch. Reserved once (a generator does it at creation), it lets plan() run without
// touching the heap: every vector is cleared and refilled within its capacity.
struct PlanWorkspace {
  std::vector<double> alphasCumprod, sigmas;
  std::vector<uint32_t> timesteps;
  std::vector<PlanLevel> levels;
  void reserve(uint32_t maxSteps, uint32_t trainTimesteps);
};

// Throws InvalidArgument (Unsupported for a combination tessera does not run) naming the problem.
// `out` and `workspace` are overwritten; with capacity reserved for the step count (StagePlan's
// vectors: 2*steps), nothing is allocated unless an error is thrown.
void plan(const PlanInput& input, PlanWorkspace& workspace, StagePlan& out);
StagePlan plan(const PlanInput& input);

// The vector-returning schedule functions above, filling `out` within its capacity instead.
void alphasCumprodInto(const NoiseSchedule& schedule, std::vector<double>& out);
void karrasSigmasInto(uint32_t steps, double sigmaMin, double sigmaMax, double rho, std::vector<double>& out);
void diffusersTimestepsInto(const NoiseSchedule& schedule, uint32_t steps, std::vector<uint32_t>& out);

// A stage row's stream: the start draws stream 0, stage k draws 2k + 2 (and 2k + 3 for the
// inpainting noise), so no two draws of one seed share a stream.
constexpr uint32_t stageStream(uint32_t stage) { return 2 * stage + 2; }

}  // namespace tessera::sampler
