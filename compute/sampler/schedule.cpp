#include "sampler/schedule.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <sstream>

#include "error.hpp"

namespace tessera::sampler {

namespace {

[[noreturn]] void invalid(const std::string& what) {
  fail(ErrorCode::InvalidArgument, "sampler plan: " + what);
}
[[noreturn]] void unsupported(const std::string& what) {
  fail(ErrorCode::Unsupported, "sampler plan: " + what);
}

std::string num(double v) {
  std::ostringstream o;
  o << v;
  return o.str();
}

const char* parameterizationName(Parameterization p) {
  switch (p) {
    case Parameterization::Edm:
      return "edm";
    case Parameterization::Epsilon:
      return "epsilon";
    case Parameterization::VPrediction:
      return "v_prediction";
  }
  return "?";
}

// --- plans -----------------------------------------------------------------------------------

using Level = PlanLevel;

struct Precond {
  double cIn, cSkip, cOut;
};

// D = cSkip*E + cOut*F(cIn*E) for a state whose VE noise level is `s`.
Precond precond(Parameterization p, double s, double sigmaData) {
  switch (p) {
    case Parameterization::Edm: {
      const double sd2 = sigmaData * sigmaData, n2 = s * s + sd2;
      return {1.0 / std::sqrt(n2), sd2 / n2, s * sigmaData / std::sqrt(n2)};
    }
    case Parameterization::Epsilon:
      return {1.0 / std::sqrt(1.0 + s * s), 1.0, -s};
    case Parameterization::VPrediction:
      return {1.0 / std::sqrt(1.0 + s * s), 1.0 / (1.0 + s * s), -s / std::sqrt(1.0 + s * s)};
  }
  return {};
}

void setX(StageParams& r, double x0, double x1, double x2, double x3, double x4) {
  const double v[5] = {x0, x1, x2, x3, x4};
  for (int i = 0; i < 5; ++i) r.x[i] = static_cast<float>(v[i]);
}

// E follows X (every stage but the first half of a Heun step).
void eFollowsX(StageParams& r) {
  std::copy(std::begin(r.x), std::end(r.x), std::begin(r.e));
  r.fE = r.fX;
  r.sigmaE = r.sigmaX;
}

void checkSigmas(const std::vector<double>& s, const char* what) {
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (!std::isfinite(s[i]) || s[i] <= 0)
      invalid(std::string(what) + "[" + std::to_string(i) + "] = " + num(s[i]) +
              " is not a positive noise level");
    if (i > 0 && !(s[i] < s[i - 1]))
      invalid(std::string(what) + " must descend strictly: " + num(s[i - 1]) + " then " + num(s[i]));
  }
}

uint32_t keptSteps(double strength, uint32_t steps) {
  // A tolerance so that e.g. 0.3 * 10 = 3.0000000000000004 keeps 3 steps, not 4.
  const double k = std::ceil(strength * steps - 1e-9);
  return static_cast<uint32_t>(std::clamp(k, 0.0, double(steps)));
}

StageParams baseRow(const PlanInput& in) {
  StageParams r;
  r.guidance = static_cast<float>(in.guidance);
  r.nullClass = in.nullClass;
  r.classCount = in.classCount;
  return r;
}

// Euler, Heun, DPM-Solver++(2M) and consistency over levels[first..] (then sigma 0).
void planContinuous(const PlanInput& in, const std::vector<Level>& levels, uint32_t first, StagePlan& out) {
  const std::size_t n = levels.size();
  const auto sigmaAt = [&](std::size_t i) { return i < n ? levels[i].sigma : 0.0; };
  const auto evaluation = [&](std::size_t i) {
    StageParams r = baseRow(in);
    const Precond c = precond(in.parameterization, levels[i].sigma, in.sigmaData);
    r.cIn = static_cast<float>(c.cIn);
    r.cSkip = static_cast<float>(c.cSkip);
    r.cOut = static_cast<float>(c.cOut);
    r.cNoise = static_cast<float>(levels[i].cNoise);
    r.stream = stageStream(static_cast<uint32_t>(out.stages.size()));
    if (in.inpaint) r.flags |= kInpaint;
    out.sigmas.push_back(levels[i].sigma);
    out.cNoise.push_back(levels[i].cNoise);
    return r;
  };
  for (std::size_t i = first; i < n; ++i) {
    const double s = levels[i].sigma, next = sigmaAt(i + 1), ratio = next / s;
    StageParams r = evaluation(i);
    r.sigmaX = static_cast<float>(next);
    switch (in.sampler) {
      case SamplerKind::Euler:
        // x' = x + (s' - s)(x - D)/s
        setX(r, ratio, 1.0 - ratio, 0, 0, 0);
        break;
      case SamplerKind::Consistency:
        // x' = D + s' z
        setX(r, 0, 1, 0, 0, next);
        break;
      case SamplerKind::DpmPP2M: {
        r.flags |= kStoreDenoised;
        if (next == 0) {
          setX(r, 0, 1, 0, 0, 0);
          break;
        }
        // x' = (s'/s) x - expm1(-h) Dmix, h = ln(s/s'); Dmix = D on the first step, else
        // (1 + 1/2r) D - (1/2r) Dold with r = h_last / h.
        const double h = std::log(s) - std::log(next), a = -std::expm1(-h);
        if (i == first) {
          setX(r, ratio, a, 0, 0, 0);
        } else {
          const double half = 1.0 / (2.0 * ((std::log(levels[i - 1].sigma) - std::log(s)) / h));
          setX(r, ratio, a * (1.0 + half), -a * half, 0, 0);
        }
        break;
      }
      case SamplerKind::Heun: {
        if (next == 0) {  // the last step to 0 is a plain Euler step (one evaluation)
          setX(r, 0, 1, 0, 0, 0);
          break;
        }
        // First evaluation: keep X, store D1 in P, move E to the Euler predictor at s'.
        setX(r, 1, 0, 0, 0, 0);
        r.flags |= kStoreDenoised;
        r.sigmaX = static_cast<float>(s);
        const double e[5] = {ratio, 1.0 - ratio, 0, 0, 0};
        for (int k = 0; k < 5; ++k) r.e[k] = static_cast<float>(e[k]);
        r.sigmaE = static_cast<float>(next);
        out.stages.push_back(r);
        // Second evaluation at E (level s'), D = D2: x' = x + (h/2)((x - D1)/s + (E - D2)/s').
        StageParams r2 = evaluation(i + 1);
        const double h = next - s;
        setX(r2, 1.0 + h / (2 * s), -h / (2 * next), -h / (2 * s), h / (2 * next), 0);
        r2.sigmaX = static_cast<float>(next);
        eFollowsX(r2);
        out.stages.push_back(r2);
        continue;
      }
      default:  // Ddim and Ddpm: planDiscrete
        break;
    }
    eFollowsX(r);
    out.stages.push_back(r);
  }
}

// diffusers DDIM (eta 0) and DDPM steps, written in the VE state X = x_vp / sqrt(aState), where
// aState is the alpha_cumprod the state was formed at (the previous step's target).
void planDiscrete(const PlanInput& in, const NoiseSchedule& sch, uint32_t first, PlanWorkspace& ws, StagePlan& out) {
  alphasCumprodInto(sch, ws.alphasCumprod);
  diffusersTimestepsInto(sch, in.steps, ws.timesteps);
  const std::vector<double>& ab = ws.alphasCumprod;
  const std::vector<uint32_t>& ts = ws.timesteps;
  const bool v = in.parameterization == Parameterization::VPrediction;
  double aState = ab[ts[first]];
  const double sigmaStart = sigmaOfAlphaCumprod(aState);
  // diffusers starts from unit noise in VP space (x_vp = z: X = z / sqrt(ab)), img2img from
  // add_noise (X = init + sigma * z).
  out.start.sigmaX = static_cast<float>(out.fromInit ? sigmaStart : 1.0 / std::sqrt(aState));
  for (std::size_t k = first; k < ts.size(); ++k) {
    const uint32_t t = ts[k];
    const double a = ab[t], s = sigmaOfAlphaCumprod(a);
    double aPrev;
    if (in.sampler == SamplerKind::Ddim) {
      const int64_t prev = int64_t(t) - int64_t(sch.numTrainTimesteps / in.steps);
      aPrev = prev >= 0 ? ab[prev] : (sch.setAlphaToOne ? 1.0 : ab[0]);
    } else {
      aPrev = k + 1 < ts.size() ? ab[ts[k + 1]] : 1.0;
    }
    const double sPrev = sigmaOfAlphaCumprod(aPrev);

    StageParams r = baseRow(in);
    // Network input x_vp = sqrt(aState) X; D is the predicted x0 (diffusers' pred_original_sample).
    r.cIn = static_cast<float>(std::sqrt(aState));
    r.cNoise = static_cast<float>(t);
    r.cSkip = static_cast<float>(v ? std::sqrt(a * aState) : std::sqrt(aState / a));
    r.cOut = static_cast<float>(v ? -std::sqrt(1.0 - a) : -s);
    r.stream = stageStream(static_cast<uint32_t>(out.stages.size()));
    if (in.inpaint) r.flags |= kInpaint;
    if (sch.clipSample) {
      r.flags |= kClipDenoised;
      r.clipRange = static_cast<float>(sch.clipSampleRange);
    }
    if (in.sampler == SamplerKind::Ddim) {
      // x_prev = sqrt(aPrev) x0 + sqrt(1 - aPrev) eps, eps the network's (unclipped) epsilon:
      // X' = D + sPrev * eps, with eps = F, or sqrt(a) F + sqrt(1 - a) x_vp for v-prediction.
      setX(r, 0, 1, 0, v ? sPrev * std::sqrt((1.0 - a) * aState) : 0.0, 0);
      r.fX = static_cast<float>(v ? sPrev * std::sqrt(a) : sPrev);
    } else {
      // Posterior mean c0 x0 + c1 x_t plus sqrt(variance) z (fixed_small), in VE.
      const double alpha = a / aPrev, beta = 1.0 - alpha;
      const double c0 = std::sqrt(aPrev) * beta / (1.0 - a);
      const double c1 = std::sqrt(alpha) * (1.0 - aPrev) / (1.0 - a);
      // diffusers' _get_variance: the posterior's (small, clamped at 1e-20) or beta (large);
      // learned variances scale the noise per element in the update shader.
      const double small = std::max((1.0 - aPrev) / (1.0 - a) * beta, 1e-20);
      const std::string& vt = sch.varianceType;
      const bool learned = sch.learnedVariance();
      const double variance = t == 0 ? 0.0 : learned ? 1.0 : vt.rfind("fixed_large", 0) == 0 ? beta : small;
      const double root = std::sqrt(aPrev);
      setX(r, 0, c0 / root, 0, c1 * std::sqrt(aState) / root, std::sqrt(variance) / root);
      if (learned) {
        r.flags |= vt == "learned" ? kLearnedVariance : kLearnedRange;
        r.minLog = static_cast<float>(std::log(small));
        r.maxLog = static_cast<float>(std::log(beta));
      }
    }
    r.sigmaX = static_cast<float>(sPrev);
    eFollowsX(r);
    out.stages.push_back(r);
    out.sigmas.push_back(s);
    out.cNoise.push_back(double(t));
    aState = aPrev;
  }
}

// diffusers CMStochasticIterativeScheduler.set_timesteps and step: `steps` timesteps spaced by
// n // steps from 0, their ramp (ascending) through Karras' schedule, then the boundary-condition
// denoiser and re-noising to sqrt(s'^2 - smin^2) (s' clamped to [smin, smax], smin after the last).
void planConsistencyModel(const PlanInput& in, const ConsistencySchedule& cm, uint32_t first, PlanWorkspace& ws,
                          StagePlan& out) {
  const uint32_t n = cm.numTrainTimesteps, ratio = n / in.steps;
  const double hi = std::pow(cm.sigmaMax, 1.0 / cm.rho), lo = std::pow(cm.sigmaMin, 1.0 / cm.rho);
  std::vector<double>& sig = ws.sigmas;
  sig.clear();
  for (uint32_t k = 0; k < in.steps; ++k) sig.push_back(std::pow(hi + double(k * ratio) / (n - 1) * (lo - hi), cm.rho));
  const double sd = cm.sigmaData, sd2 = sd * sd, smin = cm.sigmaMin;
  out.start.sigmaX = static_cast<float>(out.fromInit ? sig[first] : cm.sigmaMax);
  for (uint32_t i = first; i < in.steps; ++i) {
    const double s = sig[i];
    const double next = std::clamp(i + 1 < in.steps ? sig[i + 1] : smin, smin, cm.sigmaMax);
    StageParams r = baseRow(in);
    r.cIn = static_cast<float>(1.0 / std::sqrt(s * s + sd2));
    r.cSkip = static_cast<float>(sd2 / ((s - smin) * (s - smin) + sd2));
    r.cOut = static_cast<float>((s - smin) * sd / std::sqrt(s * s + sd2));
    const double cNoise = 1000.0 * 0.25 * std::log(s + 1e-44);
    r.cNoise = static_cast<float>(cNoise);
    r.stream = stageStream(static_cast<uint32_t>(out.stages.size()));
    if (in.inpaint) r.flags |= kInpaint;
    if (cm.clipDenoised) {
      r.flags |= kClipDenoised;
      r.clipRange = 1.0f;
    }
    const double renoise = std::sqrt(std::max(next * next - smin * smin, 0.0));
    setX(r, 0, 1, 0, 0, cm.sNoise * renoise);
    r.sigmaX = static_cast<float>(renoise);
    eFollowsX(r);
    out.stages.push_back(r);
    out.sigmas.push_back(s);
    out.cNoise.push_back(cNoise);
  }
}

// diffusers EulerDiscreteScheduler.set_timesteps: float timesteps by its spacing, and the sigma
// of each by linear interpolation between the training timesteps' sigmas.
void eulerLevels(const NoiseSchedule& sch, uint32_t steps, PlanWorkspace& ws) {
  alphasCumprodInto(sch, ws.alphasCumprod);
  const uint32_t n = sch.numTrainTimesteps;
  if (steps == 0 || steps > n)
    invalid(std::to_string(steps) + " steps for a schedule of " + std::to_string(n) + " training timesteps");
  const auto sigmaAt = [&](uint32_t t) { return sigmaOfAlphaCumprod(ws.alphasCumprod[t]); };
  ws.levels.clear();
  ws.sigmas.clear();
  for (uint32_t k = 0; k < steps; ++k) {
    double t = 0;
    switch (sch.spacing) {
      case TimestepSpacing::Linspace:  // linspace(0, n - 1, steps), reversed, in float32
        t = steps == 1 ? 0.0 : double(float(double(n - 1) * double(steps - 1 - k) / double(steps - 1)));
        break;
      case TimestepSpacing::Leading:
        t = double(steps - 1 - k) * (n / steps) + sch.stepsOffset;
        break;
      case TimestepSpacing::Trailing:
        t = std::nearbyint(double(n) - k * (double(n) / steps)) - 1;
        break;
    }
    if (t < 0 || t > n - 1)
      invalid("timestep " + num(t) + " falls outside the schedule's " + std::to_string(n) + " training timesteps");
    const uint32_t i = static_cast<uint32_t>(std::floor(t));
    const double frac = t - i;
    const double sigma = i + 1 < n ? sigmaAt(i) + frac * (sigmaAt(i + 1) - sigmaAt(i)) : sigmaAt(i);
    ws.levels.push_back({sigma, t});
    ws.sigmas.push_back(sigma);
  }
}

}  // namespace

const char* samplerName(SamplerKind kind) {
  switch (kind) {
    case SamplerKind::Euler:
      return "euler";
    case SamplerKind::Heun:
      return "heun";
    case SamplerKind::DpmPP2M:
      return "dpmpp_2m";
    case SamplerKind::Ddim:
      return "ddim";
    case SamplerKind::Ddpm:
      return "ddpm";
    case SamplerKind::Consistency:
      return "consistency";
  }
  return "?";
}

SamplerKind parseSamplerKind(std::string_view name) {
  for (SamplerKind k : {SamplerKind::Euler, SamplerKind::Heun, SamplerKind::DpmPP2M, SamplerKind::Ddim,
                        SamplerKind::Ddpm, SamplerKind::Consistency})
    if (name == samplerName(k)) return k;
  fail(ErrorCode::InvalidArgument, "unknown sampler \"" + std::string(name) +
                                       "\" (known: euler, heun, dpmpp_2m, ddim, ddpm, consistency)");
}

NoiseSchedule NoiseSchedule::fromJson(const model::Json& config) {
  const model::SchedulerSpec spec = model::parseSchedulerConfig(config);
  if (!spec.discrete())
    fail(ErrorCode::InvalidArgument, "scheduler config: " + spec.className + " is not a discrete-time noise schedule");
  return fromSpec(spec);
}

NoiseSchedule NoiseSchedule::fromSpec(const model::SchedulerSpec& spec) {
  NoiseSchedule s;
  s.numTrainTimesteps = spec.numTrainTimesteps;
  s.betaStart = spec.betaStart;
  s.betaEnd = spec.betaEnd;
  s.betaSchedule = spec.betaSchedule == "scaled_linear"       ? BetaSchedule::ScaledLinear
                   : spec.betaSchedule == "squaredcos_cap_v2" ? BetaSchedule::SquaredCosCapV2
                                                              : BetaSchedule::Linear;
  s.prediction = spec.predictionType == "v_prediction" ? Parameterization::VPrediction : Parameterization::Epsilon;
  s.spacing = spec.timestepSpacing == "trailing"   ? TimestepSpacing::Trailing
              : spec.timestepSpacing == "linspace" ? TimestepSpacing::Linspace
                                                   : TimestepSpacing::Leading;
  s.stepsOffset = spec.stepsOffset;
  s.setAlphaToOne = spec.setAlphaToOne;
  s.clipSample = spec.clipSample;
  s.clipSampleRange = spec.clipSampleRange;
  s.varianceType = spec.varianceType;
  s.euler = spec.cls == model::SchedulerClass::EulerDiscrete;
  s.validate();
  return s;
}

void NoiseSchedule::validate() const {
  const auto bad = [](const std::string& what) {
    fail(ErrorCode::InvalidArgument, "noise schedule: " + what);
  };
  if (numTrainTimesteps == 0) bad("num_train_timesteps must be at least 1");
  if (betaSchedule != BetaSchedule::SquaredCosCapV2) {
    if (!(betaStart > 0 && betaStart < 1) || !(betaEnd > 0 && betaEnd < 1))
      bad("beta_start " + num(betaStart) + " and beta_end " + num(betaEnd) + " must lie in (0, 1)");
  }
  if (clipSample && !(clipSampleRange > 0 && std::isfinite(clipSampleRange)))
    bad("clip_sample_range " + num(clipSampleRange) + " must be positive");
}

std::vector<double> NoiseSchedule::alphasCumprod() const {
  std::vector<double> ab;
  alphasCumprodInto(*this, ab);
  return ab;
}

void alphasCumprodInto(const NoiseSchedule& schedule, std::vector<double>& ab) {
  schedule.validate();
  const uint32_t n = schedule.numTrainTimesteps;
  const double betaStart = schedule.betaStart, betaEnd = schedule.betaEnd;
  ab.resize(n);
  double prod = 1.0;
  // torch.linspace(start, end, n): start + i*(end - start)/(n - 1).
  const auto lerp = [n](double a, double b, uint32_t i) { return n == 1 ? a : a + (b - a) * i / (n - 1); };
  const auto alphaBar = [](double t) {
    const double c = std::cos((t + 0.008) / 1.008 * std::numbers::pi / 2);
    return c * c;
  };
  for (uint32_t i = 0; i < n; ++i) {
    double beta = 0;
    switch (schedule.betaSchedule) {
      case BetaSchedule::Linear:
        beta = lerp(betaStart, betaEnd, i);
        break;
      case BetaSchedule::ScaledLinear: {
        const double r = lerp(std::sqrt(betaStart), std::sqrt(betaEnd), i);
        beta = r * r;
        break;
      }
      case BetaSchedule::SquaredCosCapV2:
        beta = std::min(1.0 - alphaBar(double(i + 1) / n) / alphaBar(double(i) / n), 0.999);
        break;
    }
    prod *= 1.0 - beta;
    ab[i] = prod;
  }
}

double sigmaOfAlphaCumprod(double alphaCumprod) { return std::sqrt((1.0 - alphaCumprod) / alphaCumprod); }

std::vector<double> karrasSigmas(uint32_t steps, double sigmaMin, double sigmaMax, double rho) {
  std::vector<double> s;
  karrasSigmasInto(steps, sigmaMin, sigmaMax, rho, s);
  return s;
}

void karrasSigmasInto(uint32_t steps, double sigmaMin, double sigmaMax, double rho, std::vector<double>& s) {
  if (steps == 0) invalid("0 steps");
  if (!(sigmaMin > 0 && sigmaMin < sigmaMax && std::isfinite(sigmaMax)))
    invalid("Karras schedule needs 0 < sigma_min < sigma_max, got " + num(sigmaMin) + ", " + num(sigmaMax));
  if (!(rho > 0 && std::isfinite(rho))) invalid("Karras schedule needs rho > 0, got " + num(rho));
  s.assign(steps + 1, 0.0);
  const double hi = std::pow(sigmaMax, 1.0 / rho), lo = std::pow(sigmaMin, 1.0 / rho);
  for (uint32_t i = 0; i < steps; ++i)
    s[i] = std::pow(hi + double(i) / std::max(steps - 1, 1u) * (lo - hi), rho);
}

std::vector<uint32_t> diffusersTimesteps(const NoiseSchedule& schedule, uint32_t steps) {
  std::vector<uint32_t> t;
  diffusersTimestepsInto(schedule, steps, t);
  return t;
}

void diffusersTimestepsInto(const NoiseSchedule& schedule, uint32_t steps, std::vector<uint32_t>& t) {
  const uint32_t n = schedule.numTrainTimesteps;
  if (steps == 0 || steps > n)
    invalid(std::to_string(steps) + " steps for a schedule of " + std::to_string(n) +
            " training timesteps (1 to " + std::to_string(n) + ")");
  t.resize(steps);
  for (uint32_t k = 0; k < steps; ++k) {
    double v = 0;
    switch (schedule.spacing) {
      case TimestepSpacing::Leading:  // arange(0, steps) * (n // steps), reversed, + steps_offset
        v = double(steps - 1 - k) * (n / steps) + schedule.stepsOffset;
        break;
      case TimestepSpacing::Trailing:  // round(arange(n, 0, -n / steps)) - 1
        v = std::nearbyint(double(n) - k * (double(n) / steps)) - 1;
        break;
      case TimestepSpacing::Linspace:  // linspace(0, n - 1, steps).round(), reversed
        v = steps == 1 ? 0.0 : std::nearbyint(double(steps - 1 - k) * (double(n - 1) / (steps - 1)));
        if (k == 0 && steps > 1) v = n - 1;
        break;
    }
    if (v < 0 || v >= n)
      invalid("timestep " + num(v) + " (steps_offset " + std::to_string(schedule.stepsOffset) +
              ") falls outside the schedule's " + std::to_string(n) + " training timesteps");
    t[k] = static_cast<uint32_t>(v);
  }
}

ConsistencySchedule ConsistencySchedule::fromSpec(const model::SchedulerSpec& spec) {
  ConsistencySchedule c;
  c.numTrainTimesteps = spec.numTrainTimesteps;
  c.sigmaMin = spec.sigmaMin;
  c.sigmaMax = spec.sigmaMax;
  c.sigmaData = spec.sigmaData;
  c.sNoise = spec.sNoise;
  c.rho = spec.rho;
  c.clipDenoised = spec.clipDenoised;
  return c;
}

void PlanWorkspace::reserve(uint32_t maxSteps, uint32_t trainTimesteps) {
  alphasCumprod.reserve(trainTimesteps);
  sigmas.reserve(maxSteps + 1);
  timesteps.reserve(maxSteps);
  levels.reserve(maxSteps);
}

StagePlan plan(const PlanInput& in) {
  PlanWorkspace ws;
  StagePlan out;
  plan(in, ws, out);
  return out;
}

void plan(const PlanInput& in, PlanWorkspace& ws, StagePlan& out) {
  if (in.steps == 0) invalid("0 steps: a generation needs at least one step");
  if (!(in.strength >= 0 && in.strength <= 1)) invalid("strength " + num(in.strength) + " outside [0, 1]");
  if (!std::isfinite(in.guidance)) invalid("guidance must be finite");
  if (in.guidance != 1.0) {
    if (in.classCount == 0) invalid("guidance " + num(in.guidance) + " needs a class-conditional model");
    if (in.nullClass >= in.classCount)
      invalid("null class " + std::to_string(in.nullClass) + " outside the model's " +
              std::to_string(in.classCount) + " classes");
  }
  const bool edm = in.parameterization == Parameterization::Edm;
  const bool discreteSampler = in.sampler == SamplerKind::Ddim || in.sampler == SamplerKind::Ddpm;
  if (discreteSampler && edm)
    unsupported(std::string(samplerName(in.sampler)) +
                " needs a discrete-time (epsilon or v_prediction) model with its noise schedule; for an EDM "
                "model use euler (which is what DDIM is in the VE parameterisation), heun or dpmpp_2m");
  const bool cm = in.sampler == SamplerKind::Consistency && in.consistency;
  if (in.consistency && in.sampler != SamplerKind::Consistency)
    unsupported(std::string(samplerName(in.sampler)) +
                " on a consistency model (CMStochasticIterativeScheduler): it samples with consistency only");
  if (in.sampler == SamplerKind::Consistency && !edm && !cm)
    unsupported("consistency sampling needs an EDM-parameterised (distilled) model");
  if (cm) {
    const ConsistencySchedule& c = *in.consistency;
    if (in.steps > c.numTrainTimesteps)
      invalid(std::to_string(in.steps) + " steps for a consistency schedule of " +
              std::to_string(c.numTrainTimesteps) + " training timesteps");
  } else if (!edm) {
    if (!in.schedule)
      invalid(std::string(parameterizationName(in.parameterization)) + " model without a noise schedule");
    if (in.schedule->prediction != in.parameterization)
      invalid(std::string("the noise schedule predicts ") + parameterizationName(in.schedule->prediction) +
              ", the plan was asked for " + parameterizationName(in.parameterization));
    if (in.sampler == SamplerKind::Ddpm && in.schedule->learnedVariance() && !in.learnedVariance)
      unsupported("DDPM variance_type \"" + in.schedule->varianceType +
                  "\" needs a model whose output has a variance half (out_channels = 2 x in_channels)");
  } else if (!(in.sigmaData > 0 && std::isfinite(in.sigmaData))) {
    invalid("sigma_data " + num(in.sigmaData) + " must be positive");
  }
  if (!in.sigmas.empty()) {
    if (in.sigmas.size() != in.steps)
      invalid(std::to_string(in.sigmas.size()) + " step sigmas for " + std::to_string(in.steps) + " steps");
    checkSigmas(in.sigmas, "sigmas");
    if (!edm) invalid("explicit sigmas apply to EDM models only");
  } else if (in.sampler == SamplerKind::Consistency && !cm) {
    invalid("consistency sampling with " + std::to_string(in.steps) +
            " steps needs the model's recorded step sigmas for that count");
  }

  out.stages.clear();
  out.sigmas.clear();
  out.cNoise.clear();
  out.start = baseRow(in);
  out.start.stream = 0;
  const uint32_t kept = keptSteps(in.strength, in.steps);
  const uint32_t first = in.steps - kept;
  out.fromInit = in.strength < 1.0;
  out.start.x[3] = out.fromInit ? 1.0f : 0.0f;
  if (kept == 0) return;  // X = Init: no stage, sigma 0

  if (discreteSampler) {
    planDiscrete(in, *in.schedule, first, ws, out);
    return;
  }
  if (cm) {
    planConsistencyModel(in, *in.consistency, first, ws, out);
    return;
  }
  std::vector<Level>& levels = ws.levels;
  levels.clear();
  if (edm) {
    if (in.sigmas.empty()) karrasSigmasInto(in.steps, in.sigmaMin, in.sigmaMax, in.rho, ws.sigmas);
    const std::vector<double>& sig = in.sigmas.empty() ? ws.sigmas : in.sigmas;
    for (uint32_t i = 0; i < in.steps; ++i) levels.push_back({sig[i], std::log(sig[i]) / 4});
  } else if (in.schedule->euler) {
    eulerLevels(*in.schedule, in.steps, ws);
    checkSigmas(ws.sigmas, "timestep sigmas");
  } else {
    // k-diffusion on a discrete model: the levels of diffusers' timesteps, the timestep as input.
    alphasCumprodInto(*in.schedule, ws.alphasCumprod);
    diffusersTimestepsInto(*in.schedule, in.steps, ws.timesteps);
    ws.sigmas.clear();
    for (uint32_t t : ws.timesteps) {
      levels.push_back({sigmaOfAlphaCumprod(ws.alphasCumprod[t]), double(t)});
      ws.sigmas.push_back(levels.back().sigma);
    }
    checkSigmas(ws.sigmas, "timestep sigmas");
  }
  out.start.sigmaX = static_cast<float>(levels[first].sigma);
  // diffusers' Euler draws its initial noise at init_noise_sigma: sqrt(s0^2 + 1) for leading spacing.
  if (!edm && in.schedule->euler && !out.fromInit && in.schedule->spacing == TimestepSpacing::Leading)
    out.start.sigmaX = static_cast<float>(std::sqrt(levels[first].sigma * levels[first].sigma + 1.0));
  planContinuous(in, levels, first, out);
}

}  // namespace tessera::sampler
