// samplerUpdate body: everything between two network evaluations, in one pass over the state.
// Per element (fields in compute/sampler/sampler_params.hpp):
//   F  = Fc, or Fu + w*(Fc - Fu) when the batch has null rows (guided)
//   D  = cSkip*E + cOut*F (clamped with kClipDenoised)
//   Xn = x0*X + x1*D + x2*P + x3*E + x4*s*z + fX*F, En likewise with e*, fE; s = 1, or the
//        standard deviation the network's variance half predicts (kLearnedVariance / kLearnedRange)
//   inpainting (SAMPLER_HAS_MASK and kInpaint): Xn = m*(Init + sigmaX*zk) + (1-m)*Xn, same for En
//   X = Xn, E = En, D = D, and P = D with kStoreDenoised.
// In place: each element is read by the invocation that writes it, before it writes it.
#include "sampler_params.glsl"
#include "sampler_noise.glsl"
layout(local_size_x_id = 0) in;

layout(std430, binding = 1) readonly buffer NetOut { STORE_T netOut[]; };
layout(std430, binding = 2) buffer X { float xs[]; };
layout(std430, binding = 3) buffer E { float es[]; };
layout(std430, binding = 4) writeonly buffer D { float ds[]; };
layout(std430, binding = 5) buffer P { float ps[]; };
#if SAMPLER_HAS_MASK
layout(std430, binding = 6) readonly buffer Init { float init[]; };
layout(std430, binding = 7) readonly buffer Mask { float mask[]; };
#endif

layout(push_constant) uniform Push {
  uint items;          // n
  uint perItem;        // C*H*W
  uint plane;          // H*W: the mask has one channel
  uint blocksPerItem;  // ceil(perItem / 4): one Philox block per invocation
  uint guided;         // 1: netOut holds 2n rows, the null (unconditional) ones after the n conditional
  uint netPerItem;     // netOut elements per item: perItem, or 2*perItem with a variance half
} p;

void main() {
  const uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
  const uint blocks = p.items * p.blocksPerItem;
  const float w = params.stage.guidance;
  const float cSkip = params.stage.cSkip, cOut = params.stage.cOut;
  const float x0 = params.stage.x[0], x1 = params.stage.x[1], x2 = params.stage.x[2], x3 = params.stage.x[3],
              x4 = params.stage.x[4], fX = params.stage.fX;
  const float e0 = params.stage.e[0], e1 = params.stage.e[1], e2 = params.stage.e[2], e3 = params.stage.e[3],
              e4 = params.stage.e[4], fE = params.stage.fE;
  const uint flags = params.stage.flags;
  const float clipRange = params.stage.clipRange;
  // Deterministic samplers skip the Philox rounds entirely; the branch is uniform.
  const bool needZ = x4 != 0.0 || e4 != 0.0;
  const bool learned = (flags & (kLearnedVariance | kLearnedRange)) != 0u;
  const float minLog = params.stage.minLog, maxLog = params.stage.maxLog;
#if SAMPLER_HAS_MASK
  const bool inpaint = (flags & kInpaint) != 0u;
  const float sigmaX = params.stage.sigmaX, sigmaE = params.stage.sigmaE;
#endif
  for (uint b = gl_GlobalInvocationID.x; b < blocks; b += stride) {
    const uint item = b / p.blocksPerItem;
    const uint block = b - item * p.blocksPerItem;
    const uint seedLo = params.items[item].seedLo, seedHi = params.items[item].seedHi;
    const vec4 z = needZ ? samplerNormal4(seedLo, seedHi, params.stage.stream, block) : vec4(0.0);
#if SAMPLER_HAS_MASK
    const vec4 zk = inpaint ? samplerNormal4(seedLo, seedHi, params.stage.stream + 1u, block) : vec4(0.0);
#endif
    for (uint lane = 0u; lane < 4u; ++lane) {
      const uint index = 4u * block + lane;
      if (index >= p.perItem) break;
      const uint o = item * p.perItem + index;
      const uint on = item * p.netPerItem + index;
      float f = LD(netOut[on]);
      if (p.guided != 0u) {
        const float fu = LD(netOut[on + p.items * p.netPerItem]);
        f = fu + w * (f - fu);
      }
      float zs = z[lane];
      if (learned) {
        const float v = LD(netOut[on + p.perItem]);
        const float frac = 0.5 * (v + 1.0);
        zs *= (flags & kLearnedRange) != 0u ? exp(0.5 * (frac * maxLog + (1.0 - frac) * minLog)) : sqrt(max(v, 0.0));
      }
      const float ev = es[o];
      float d = cSkip * ev + cOut * f;
      if ((flags & kClipDenoised) != 0u) d = clamp(d, -clipRange, clipRange);
      const float xv = xs[o];
      const float pv = ps[o];
      float xn = x0 * xv + x1 * d + x2 * pv + x3 * ev + x4 * zs + fX * f;
      float en = e0 * xv + e1 * d + e2 * pv + e3 * ev + e4 * zs + fE * f;
#if SAMPLER_HAS_MASK
      if (inpaint) {
        const float m = mask[item * p.plane + index % p.plane];
        const float known = init[o];
        xn = m * (known + sigmaX * zk[lane]) + (1.0 - m) * xn;
        en = m * (known + sigmaE * zk[lane]) + (1.0 - m) * en;
      }
#endif
      xs[o] = xn;
      es[o] = en;
      ds[o] = d;
      if ((flags & kStoreDenoised) != 0u) ps[o] = d;
    }
  }
}
