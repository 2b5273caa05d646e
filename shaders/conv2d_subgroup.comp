#version 450
// Direct convolution for devices where a load whose address differs per lane costs a loop over
// the lanes (lavapipe): one workgroup is one subgroup, each lane owns MB output channels and a
// PY x PX block of output pixels. Per input channel the subgroup loads the input inp once, each
// lane a few scalars, and hands every value to all lanes with subgroupShuffle (a single permute on
// lavapipe, where subgroupBroadcast is a loop). Weights are packed so that each lane reads one
// vec4 (four input channels) per tap and output channel; all loops unroll, so the inp, the
// weights and the accumulators live in registers.
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_shuffle : require
#include "common.glsl"
layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint KSIZE = 3;
layout(constant_id = 2) const uint STRIDE = 1;
layout(constant_id = 3) const bool HAS_IN2 = false;
layout(constant_id = 4) const uint PX = 8;  // output pixels per lane, x
layout(constant_id = 5) const uint PY = 8;  // output pixels per lane, y
layout(constant_id = 6) const uint MB = 1;  // output channels per lane

const uint S = gl_WorkGroupSize.x;  // lanes; the workgroup is one subgroup
const uint KK = KSIZE * KSIZE;
const uint IW = (PX - 1) * STRIDE + KSIZE;  // input inp for one lane's pixel block
const uint IH = (PY - 1) * STRIDE + KSIZE;
const uint NL = (IW * IH + S - 1) / S;  // inp values each lane loads

layout(std430, binding = 0) readonly buffer In { STORE_T x[]; };
layout(std430, binding = 1) readonly buffer In2 { STORE_T x2[]; };
layout(std430, binding = 2) readonly buffer Weights { STORE_VEC4 w4[]; };
layout(std430, binding = 3) readonly buffer Residual { STORE_T res[]; };
layout(std430, binding = 4) writeonly buffer Out { STORE_T o[]; };

layout(push_constant) uniform Push {
  uint c1, c2;  // channels of each input
  uint qa, qb;  // chunks of 4 channels of each input (the packed layout)
  uint h, w;
  uint ho, wo;
  uint cout;
  uint coBlocks;  // ceil(cout / (S * MB))
  uint circular;  // pad by wrapping around instead of with zeros (a push constant: half the pipelines)
  uint hasBias, hasResidual;
  float outputScale;
  uint padBefore;  // 1, or 0 when padding only after (a push constant: no more pipelines)
} p;

float acc[MB][PY][PX];

// Loads this lane's share of the input inp of channel c (of an input with `channels` channels),
// with the padding applied: zero outside the image, or wrapped around.
#define LOAD_PATCH(buf, channels, c, inp)                                                   \
  {                                                                                           \
    const uint cidx = (c);                                                                    \
    const uint base = (n * channels + min(cidx, channels - 1u)) * p.h * p.w;                  \
    [[unroll]] for (uint j = 0; j < NL; ++j) {                                                \
      const uint e = min(j * S + lane, IW * IH - 1u);                                         \
      int iy = iy0 + int(e / IW), ix = ix0 + int(e % IW);                                     \
      bool valid = cidx < channels;                                                           \
      if (p.circular != 0u) {                                                                 \
        iy = iy < 0 ? iy + int(p.h) : (iy >= int(p.h) ? iy - int(p.h) : iy);                  \
        ix = ix < 0 ? ix + int(p.w) : (ix >= int(p.w) ? ix - int(p.w) : ix);                  \
      } else {                                                                                \
        valid = valid && iy >= 0 && iy < int(p.h) && ix >= 0 && ix < int(p.w);                \
      }                                                                                       \
      /* Rows or columns past the image only feed outputs that are not stored. */             \
      iy = clamp(iy, 0, int(p.h) - 1);                                                        \
      ix = clamp(ix, 0, int(p.w) - 1);                                                        \
      const float v = LD(buf[base + uint(iy) * p.w + uint(ix)]);                              \
      inp[j] = valid ? v : 0.0;                                                             \
    }                                                                                         \
  }

// One chunk of 4 input channels: weights, then per channel the inp and its multiply-adds.
#define CHUNK(buf, channels, q, cFirst)                                                       \
  {                                                                                           \
    vec4 wv[MB][KK];                                                                          \
    [[unroll]] for (uint m = 0; m < MB; ++m)                                                  \
      [[unroll]] for (uint t = 0; t < KK; ++t)                                                \
        wv[m][t] = LD4(w4[(((cob * (p.qa + p.qb) + q) * MB + m) * KK + t) * S + lane]);       \
    /* Not unrolled: a quarter of the code for LLVM to compile, and the loads cost the same. */ \
    for (uint j = 0; j < 4; ++j) {                                                            \
      float inp[NL];                                                                        \
      LOAD_PATCH(buf, channels, cFirst + j, inp)                                            \
      [[unroll]] for (uint r = 0; r < IH; ++r)                                                \
        [[unroll]] for (uint c = 0; c < IW; ++c) {                                            \
          const float s = subgroupShuffle(inp[(r * IW + c) / S], (r * IW + c) % S);         \
          [[unroll]] for (uint ky = 0; ky < KSIZE; ++ky)                                      \
            [[unroll]] for (uint kx = 0; kx < KSIZE; ++kx) {                                  \
              const uint dy = r - ky, dx = c - kx;                                            \
              if (r >= ky && c >= kx && dy % STRIDE == 0 && dx % STRIDE == 0 &&               \
                  dy / STRIDE < PY && dx / STRIDE < PX)                                       \
                [[unroll]] for (uint m = 0; m < MB; ++m)                                      \
                  acc[m][dy / STRIDE][dx / STRIDE] =                                          \
                      fma(wv[m][ky * KSIZE + kx][j], s, acc[m][dy / STRIDE][dx / STRIDE]);    \
            }                                                                                 \
        }                                                                                     \
    }                                                                                         \
  }

void main() {
  const uint lane = gl_SubgroupInvocationID;
  const uint n = gl_WorkGroupID.z / p.coBlocks, cob = gl_WorkGroupID.z % p.coBlocks;
  const uint ox0 = gl_WorkGroupID.x * PX, oy0 = gl_WorkGroupID.y * PY;
  const int ix0 = int(ox0 * STRIDE) - int(p.padBefore), iy0 = int(oy0 * STRIDE) - int(p.padBefore);
  [[unroll]] for (uint m = 0; m < MB; ++m)
    [[unroll]] for (uint py = 0; py < PY; ++py)
      [[unroll]] for (uint px = 0; px < PX; ++px) acc[m][py][px] = 0.0;

  for (uint q = 0; q < p.qa; ++q) CHUNK(x, p.c1, q, q * 4)
  if (HAS_IN2)
    for (uint q = 0; q < p.qb; ++q) CHUNK(x2, p.c2, p.qa + q, q * 4)

  [[unroll]] for (uint m = 0; m < MB; ++m) {
    const uint co = (cob * MB + m) * S + lane;
    float bias = 0.0;
    if (p.hasBias != 0u)
      bias = LD4(w4[p.coBlocks * (p.qa + p.qb) * MB * KK * S + (cob * MB + m) * S + lane]).x;
    if (co >= p.cout) continue;
    [[unroll]] for (uint py = 0; py < PY; ++py) {
      const uint oy = oy0 + py;
      if (oy >= p.ho) break;
      [[unroll]] for (uint px = 0; px < PX; ++px) {
        const uint ox = ox0 + px;
        if (ox >= p.wo) break;
        const uint at = ((n * p.cout + co) * p.ho + oy) * p.wo + ox;
        float v = acc[m][py][px] + bias;
        if (p.hasResidual != 0u) v += LD(res[at]);
        o[at] = ST(v * p.outputScale);
      }
    }
  }
}
