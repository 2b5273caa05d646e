#version 450
// Direct convolution tiled through shared memory, for GPUs: a workgroup of 256 invocations owns
// 64 output channels x an 8x8 block of output pixels. Per chunk of 8 input channels it stages
// the weights (64 x 8 x K*K) and the input patch (8 x patch) in shared memory, then every
// invocation accumulates 4 output channels x 4 pixels from there: each staged value is read by
// 16 invocations instead of each fetching it from memory. On lavapipe a barrier costs a switch
// of every subgroup and shared memory saves nothing, so CPUs take the subgroup variants instead.
// Weights are OIHW as PyTorch stores them, then bias (the direct variant's packing).
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#include "common.glsl"
layout(local_size_x = 256) in;
layout(constant_id = 0) const uint KSIZE = 3;
layout(constant_id = 1) const uint STRIDE = 1;
layout(constant_id = 2) const bool CIRCULAR = false;

const uint KK = KSIZE * KSIZE;
const uint CO = 64;  // output channels per workgroup
const uint PB = 8;   // output pixels per side of the block
const uint CI = 8;   // input channels per chunk
const uint PW = (PB - 1u) * STRIDE + KSIZE;  // input patch per side

layout(std430, binding = 0) readonly buffer In { STORE_T x[]; };
layout(std430, binding = 1) readonly buffer In2 { STORE_T x2[]; };
layout(std430, binding = 2) readonly buffer Weights { STORE_T wts[]; };
layout(std430, binding = 3) readonly buffer Residual { STORE_T res[]; };
layout(std430, binding = 4) writeonly buffer Out { STORE_T o[]; };

layout(push_constant) uniform Push {
  uint c1, c2;  // channels of each input
  uint h, w;
  uint ho, wo;
  uint cout;
  uint coBlocks;
  uint hasBias, hasResidual;
  float outputScale;
  uint padBefore;  // 1, or 0 when padding only after (a push constant: no more pipelines)
} p;

shared float ws[CO * CI * KK];
shared float xs[CI * PW * PW];

void main() {
  const uint tid = gl_LocalInvocationIndex;
  const uint n = gl_WorkGroupID.z / p.coBlocks, co0 = (gl_WorkGroupID.z % p.coBlocks) * CO;
  const uint ox0 = gl_WorkGroupID.x * PB, oy0 = gl_WorkGroupID.y * PB;
  const int ix0 = int(ox0 * STRIDE) - int(p.padBefore), iy0 = int(oy0 * STRIDE) - int(p.padBefore);
  const uint cin = p.c1 + p.c2, plane = p.h * p.w;
  // This invocation's 4 output channels and 4 pixels (a row segment of the block).
  const uint cg = tid / 16u, pg = tid % 16u;
  const uint py = pg / 2u, px0 = (pg % 2u) * 4u;

  float acc[4][4];
  [[unroll]] for (uint i = 0; i < 4; ++i)
    [[unroll]] for (uint j = 0; j < 4; ++j) acc[i][j] = 0.0;

  for (uint c0 = 0; c0 < cin; c0 += CI) {
    // Stage the chunk: weights [co][ci][tap], then the padded input patch [ci][row][col].
    for (uint i = tid; i < CO * CI * KK; i += 256u) {
      const uint co = co0 + i / (CI * KK), ci = c0 + (i / KK) % CI;
      ws[i] = co < p.cout && ci < cin ? LD(wts[(co * cin + ci) * KK + i % KK]) : 0.0;
    }
    for (uint i = tid; i < CI * PW * PW; i += 256u) {
      const uint ci = c0 + i / (PW * PW);
      int iy = iy0 + int((i / PW) % PW), ix = ix0 + int(i % PW);
      bool ok = ci < cin;
      if (CIRCULAR) {
        iy = iy < 0 ? iy + int(p.h) : (iy >= int(p.h) ? iy - int(p.h) : iy);
        ix = ix < 0 ? ix + int(p.w) : (ix >= int(p.w) ? ix - int(p.w) : ix);
      }
      ok = ok && iy >= 0 && iy < int(p.h) && ix >= 0 && ix < int(p.w);
      float v = 0.0;
      if (ok) {
        const uint pix = uint(iy) * p.w + uint(ix);
        v = ci < p.c1 ? LD(x[(n * p.c1 + ci) * plane + pix]) : LD(x2[(n * p.c2 + ci - p.c1) * plane + pix]);
      }
      xs[i] = v;
    }
    barrier();
    for (uint ci = 0; ci < CI; ++ci)
      [[unroll]] for (uint ky = 0; ky < KSIZE; ++ky)
        [[unroll]] for (uint kx = 0; kx < KSIZE; ++kx) {
          float xv[4];
          [[unroll]] for (uint j = 0; j < 4; ++j)
            xv[j] = xs[(ci * PW + py * STRIDE + ky) * PW + (px0 + j) * STRIDE + kx];
          [[unroll]] for (uint i = 0; i < 4; ++i) {
            const float wv = ws[((cg * 4u + i) * CI + ci) * KK + ky * KSIZE + kx];
            [[unroll]] for (uint j = 0; j < 4; ++j) acc[i][j] = fma(wv, xv[j], acc[i][j]);
          }
        }
    barrier();
  }

  const uint oy = oy0 + py;
  if (oy >= p.ho) return;
  [[unroll]] for (uint i = 0; i < 4; ++i) {
    const uint co = co0 + cg * 4u + i;
    if (co >= p.cout) break;
    const float bias = p.hasBias != 0u ? LD(wts[p.cout * cin * KK + co]) : 0.0;
    [[unroll]] for (uint j = 0; j < 4; ++j) {
      const uint ox = ox0 + px0 + j;
      if (ox >= p.wo) break;
      const uint at = ((n * p.cout + co) * p.ho + oy) * p.wo + ox;
      float v = acc[i][j] + bias;
      if (p.hasResidual != 0u) v += LD(res[at]);
      o[at] = ST(v * p.outputScale);
    }
  }
}
