#pragma once
// The sampler's params buffer, mirrored from shaders/sampler_params.glsl (std430). It is the only
// place request- and stage-specific values live: Programs are built once per shape and recorded
// for every request, so push constants hold shapes only. The generator rewrites the stage row
// (offset 0, 128 bytes, one vkCmdUpdateBuffer) before recording each stage, and the item rows once
// per request. docs/SAMPLER.md derives every field.
//
// Byte layout:
//   0    StageParams stage      32 words
//   128  ItemParams  items[n]   4 words each, one per image of the batch (n <= kMaxItems)
#include <cstddef>
#include <cstdint>

namespace tessera::sampler {

// StageParams::flags bits.
constexpr uint32_t kStoreDenoised = 1u << 0;  // after the update, P = D (DPM++ 2M, Heun)
constexpr uint32_t kInpaint = 1u << 1;        // RePaint blend with Init where Mask = 1
constexpr uint32_t kClipDenoised = 1u << 2;   // D = clamp(D, -clipRange, clipRange) (diffusers clip_sample)
// The noise terms x4*z and e4*z are scaled per element by the standard deviation the network's
// variance half V predicts (the element at the same place, C channels after the output's):
constexpr uint32_t kLearnedVariance = 1u << 3;  // std = sqrt(V)                            (learned)
constexpr uint32_t kLearnedRange = 1u << 4;     // std = exp((f maxLog + (1-f) minLog) / 2), f = (V+1)/2

// One network evaluation and the update after it. All values are written by plan(); the shaders
// read them as given.
//   network input  netIn = cIn * E, timesteps = cNoise
//   guidance       F = Fu + guidance * (Fc - Fu) when the batch holds conditional and null rows
//   denoised       D = cSkip * E + cOut * F, clamped when kClipDenoised
//   update         Xn = x0*X + x1*D + x2*P + x3*E + x4*z + fX*F
//                  En = e0*X + e1*D + e2*P + e3*E + e4*z + fE*F
//   z              normal(seed_i, stream, index in item); not computed when x4 == e4 == 0
//   inpainting     zk = normal(seed_i, stream + 1, index), m = Mask,
//                  Xn = m*(Init + sigmaX*zk) + (1-m)*Xn, En = m*(Init + sigmaE*zk) + (1-m)*En
// samplerStart reads the same row as: X = E = x[3]*Init + sigmaX*normal(seed_i, stream, index),
// D = P = 0.
struct StageParams {
  float cIn = 0, cNoise = 0, cSkip = 0, cOut = 0;  // words 0-3
  float guidance = 1;                              // 4
  float x[5] = {};                                 // 5-9
  float e[5] = {};                                 // 10-14
  float sigmaX = 0, sigmaE = 0;                    // 15-16
  uint32_t stream = 0;                             // 17
  uint32_t flags = 0;                              // 18
  uint32_t nullClass = 0;                          // 19
  uint32_t classCount = 0;  // 20: K, as plan() was told (the shaders use the tensor's K)
  float clipRange = 1;      // 21
  float fX = 0, fE = 0;     // 22-23: weights of the guided network output F
  float minLog = 0, maxLog = 0;  // 24-25: kLearnedRange's log-variance bounds
  uint32_t spare[6] = {};   // 26-31
};

struct ItemParams {
  uint32_t seedLo = 0, seedHi = 0;  // the image's 64-bit seed
  uint32_t classLabel = 0;          // its class (conditional rows of the batch)
  uint32_t flags = 0;               // reserved, 0
};

static_assert(sizeof(StageParams) == 128, "the stage row is exactly 32 words");
static_assert(offsetof(StageParams, guidance) == 16);
static_assert(offsetof(StageParams, x) == 20);
static_assert(offsetof(StageParams, e) == 40);
static_assert(offsetof(StageParams, sigmaX) == 60);
static_assert(offsetof(StageParams, stream) == 68);
static_assert(offsetof(StageParams, flags) == 72);
static_assert(offsetof(StageParams, nullClass) == 76);
static_assert(offsetof(StageParams, classCount) == 80);
static_assert(offsetof(StageParams, clipRange) == 84);
static_assert(offsetof(StageParams, fX) == 88);
static_assert(offsetof(StageParams, minLog) == 96);
static_assert(offsetof(StageParams, spare) == 104);
static_assert(sizeof(ItemParams) == 16, "std430 stride of ItemParams");

constexpr std::size_t kStageOffset = 0;
constexpr std::size_t kItemsOffset = sizeof(StageParams);
// More images per batch than this is refused by the ops (a guard on the params buffer's size,
// not a shader limit).
constexpr uint32_t kMaxItems = 4096;

constexpr std::size_t paramsBytes(uint32_t items) {
  return kItemsOffset + std::size_t(items) * sizeof(ItemParams);
}

inline ItemParams itemParams(uint64_t seed, uint32_t classLabel = 0) {
  return ItemParams{uint32_t(seed), uint32_t(seed >> 32), classLabel, 0};
}

}  // namespace tessera::sampler
