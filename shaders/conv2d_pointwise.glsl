// 1x1 stride-1 convolution as a GEMM over pixels: out[co][pixel] = sum_ci W[co][ci] x[ci][pixel].
// Included by conv2d_pointwise.comp (PIXELS4 0: any plane size, pixels loaded one by one) and
// conv2d_pointwise4.comp (PIXELS4 1: plane size a multiple of 4, pixels loaded as vec4).
// Lane = 4 output channels (a vec4 of weights per input channel) of one of S / QL pixel groups, NB
// pixels per lane: QL lanes cover the workgroup's quads, so a layer with fewer quads than lanes
// puts its other lanes on more pixels instead of on zero padding (as the Winograd GEMM does). Per
// input channel the subgroup loads the workgroup's NB * S / QL pixels once and hands each to the
// lanes of its group by subgroupShuffle (one permute on lavapipe), for NB vec4 multiply-adds.
// Weights: [chunk of 4 input channels][4][output-channel quad] as vec4, then the bias by quad.
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_shuffle : require
#include "common.glsl"
layout(local_size_x_id = 0) in;
layout(constant_id = 1) const bool HAS_IN2 = false;
layout(constant_id = 2) const uint NB = 16;  // pixels per lane
layout(constant_id = 3) const uint QL = 1;   // lanes across quads: a power of two dividing S

const uint S = gl_WorkGroupSize.x;  // lanes; the workgroup is one subgroup
const uint PW = NB * (S / QL);      // pixels per workgroup

#if PIXELS4
#define PIX_T STORE_VEC4
#define PER_LOAD 4u  // pixels per load
#else
#define PIX_T STORE_T
#define PER_LOAD 1u
#endif
const uint SLOTS = (PW + PER_LOAD * S - 1u) / (PER_LOAD * S);  // loads per lane per channel

layout(std430, binding = 0) readonly buffer In { PIX_T x[]; };
layout(std430, binding = 1) readonly buffer In2 { PIX_T y[]; };
layout(std430, binding = 2) readonly buffer Weights { STORE_VEC4 w4[]; };
layout(std430, binding = 3) readonly buffer Residual { PIX_T res[]; };
layout(std430, binding = 4) writeonly buffer Out { PIX_T o[]; };

layout(push_constant) uniform Push {
  uint c1, c2;   // channels of each input
  uint qa, qb;   // their chunks of 4
  uint plane;    // pixels per channel
  uint cout;
  uint quads;    // output-channel quads, padded to a multiple of QL
  uint pixelBlocks;  // per image
  uint hasBias, hasResidual;
  float outputScale;
} p;

vec4 acc[NB];

// Which loaded value a lane's b-th pixel is: slot, source lane and component are compile-time
// for a given b except the lane's group, so no register is indexed at run time. Group g's pixels
// in slot i are the PER_LOAD * QL consecutive ones loaded by lanes g*QL ... g*QL + QL - 1.
uint slotOf(uint b) { return b / (PER_LOAD * QL); }
uint sourceLane(uint group, uint b) { return group * QL + (b / PER_LOAD) % QL; }
// First pixel (within the workgroup's block) of the lane's m-th load-sized run of pixels.
uint runStart(uint group, uint m) { return PER_LOAD * ((m / QL) * S + group * QL + m % QL); }

// One input channel: lane l's slot i holds pixels PER_LOAD*(i*S + l) ... of the block; every
// pixel reaches the lanes of its group, each of which adds its 4 output channels. Lanes past a
// short block repeat the block's pixels (PW < PER_LOAD * S), which costs nothing extra: a load is
// one loop over all lanes either way.
#define CHANNEL(buf, channels, c, wv)                                                       \
  {                                                                                         \
    const uint cc = min(c, channels - 1u);                                                  \
    const float k = c < channels ? 1.0 : 0.0;                                               \
    const uint base = (n * channels + cc) * p.plane;                                        \
    vec4 px[SLOTS];                                                                         \
    [[unroll]] for (uint i = 0; i < SLOTS; ++i) {                                           \
      const uint first = p0 + PER_LOAD * ((i * S + lane) % (PW / PER_LOAD));                \
      px[i] = k * LD4(buf[(base + min(first, p.plane - PER_LOAD)) / PER_LOAD]);             \
    }                                                                                       \
    [[unroll]] for (uint b = 0; b < NB; ++b) {                                              \
      const float v = subgroupShuffle(px[slotOf(b)][b % PER_LOAD], sourceLane(group, b));   \
      acc[b] = fma(wv, vec4(v), acc[b]);                                                    \
    }                                                                                       \
  }

void main() {
  const uint lane = gl_SubgroupInvocationID;
  const uint n = gl_WorkGroupID.x / p.pixelBlocks, p0 = (gl_WorkGroupID.x % p.pixelBlocks) * PW;
  const uint quad = gl_WorkGroupID.y * QL + lane % QL;
  const uint group = lane / QL;
  [[unroll]] for (uint b = 0; b < NB; ++b) acc[b] = vec4(0.0);
  uint wAt = quad;
  for (uint q = 0; q < p.qa; ++q)
    [[unroll]] for (uint j = 0; j < 4; ++j, wAt += p.quads) CHANNEL(x, p.c1, q * 4u + j, LD4(w4[wAt]))
  if (HAS_IN2)
    for (uint q = 0; q < p.qb; ++q)
      [[unroll]] for (uint j = 0; j < 4; ++j, wAt += p.quads) CHANNEL(y, p.c2, q * 4u + j, LD4(w4[wAt]))

  const vec4 bias = p.hasBias != 0u ? LD4(w4[(p.qa + p.qb) * 4u * p.quads + quad]) : vec4(0.0);
  [[unroll]] for (uint j = 0; j < 4; ++j) {
    const uint co = quad * 4u + j;
    if (co >= p.cout) break;
    const uint base = (n * p.cout + co) * p.plane + p0;
    [[unroll]] for (uint i = 0; i < NB / PER_LOAD; ++i) {
      const uint at = runStart(group, i);  // increases with i
      if (p0 + at >= p.plane) break;
#if PIXELS4
      vec4 v = vec4(acc[4u * i][j], acc[4u * i + 1u][j], acc[4u * i + 2u][j], acc[4u * i + 3u][j]) + bias[j];
      if (p.hasResidual != 0u) v += LD4(res[(base + at) / 4u]);
      o[(base + at) / 4u] = ST4(v * p.outputScale);
#else
      float v = acc[i][j] + bias[j];
      if (p.hasResidual != 0u) v += LD(res[base + at]);
      o[base + at] = ST(v * p.outputScale);
#endif
    }
  }
}
