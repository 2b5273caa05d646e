#version 450
// Scaled dot-product self-attention for one head, one query token per lane (the general
// variant: any head_dim, no subgroup operations):
//   o[t] = sum_j softmax_j(q[t] . k[j] * scale) v[j]
// q, k, v and o are head-major, [N, heads, HW, D]: head h holds channels h*D..h*D+D-1, as
// diffusers splits them, so pair z = n * heads + h starts at z * HW * D. The softmax is online
// (running max and sum, rescaled once per block of KB keys), all in fp32, so no HW x HW score
// matrix is stored. The output overwrites q in place: each lane reads only its own query row,
// before it writes the same elements. One dispatch covers one block of query rows for a run
// of pairs (push constants), which bounds the work of any one dispatch.
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#include "common.glsl"
layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint HW = 1;  // tokens
layout(constant_id = 2) const uint D = 1;   // head_dim
const uint KB = 8;                          // keys per online-softmax block
const float kNegBig = -1.0e30;              // finite "minus infinity": exp2 of it is 0, no inf - inf

layout(std430, binding = 0) buffer QO { STORE_T qo[]; };
layout(std430, binding = 1) readonly buffer K { STORE_T k[]; };
layout(std430, binding = 2) readonly buffer V { STORE_T v[]; };

layout(push_constant) uniform Push {
  float scaleLog2e;  // head_dim^-0.5 * log2(e): scores in base 2, so exp2 replaces exp
  uint z0;           // first (batch, head) pair of the block; gl_WorkGroupID.y counts on
  uint row0;         // the block's query rows: [row0, rowEnd)
  uint rowEnd;
} p;

void main() {
  const uint t = p.row0 + gl_GlobalInvocationID.x;
  // Lanes past the block stop here: the next block's query rows must stay unwritten until it
  // has read them.
  if (t >= p.rowEnd) return;
  const uint base = (p.z0 + gl_WorkGroupID.y) * HW * D;

  float q[D];
  float acc[D];
  [[dont_unroll]] for (uint d = 0; d < D; ++d) {
    q[d] = LD(qo[base + t * D + d]) * p.scaleLog2e;
    acc[d] = 0.0;
  }
  float runMax = kNegBig;
  float runSum = 0.0;

  // Loops over HW and D stay rolled: unrolled (both are specialization constants), one shape
  // took lavapipe 4-8 s to compile and ran no faster, since every load here is per lane anyway.
  [[dont_unroll]] for (uint j0 = 0; j0 < HW; j0 += KB) {
    float s[KB];
    float blockMax = kNegBig;
    [[unroll]] for (uint kb = 0; kb < KB; ++kb) {
      const uint j = j0 + kb;
      float dot = kNegBig;
      if (j < HW) {
        dot = 0.0;
        [[dont_unroll]] for (uint d = 0; d < D; ++d) dot += q[d] * LD(k[base + j * D + d]);
      }
      s[kb] = dot;
      blockMax = max(blockMax, dot);
    }
    const float newMax = max(runMax, blockMax);
    const float correction = exp2(runMax - newMax);
    runSum *= correction;
    [[dont_unroll]] for (uint d = 0; d < D; ++d) acc[d] *= correction;
    [[unroll]] for (uint kb = 0; kb < KB; ++kb) {
      const uint j = j0 + kb;
      if (j < HW) {
        const float w = exp2(s[kb] - newMax);
        runSum += w;
        [[dont_unroll]] for (uint d = 0; d < D; ++d) acc[d] += w * LD(v[base + j * D + d]);
      }
    }
    runMax = newMax;
  }

  const float inv = 1.0 / runSum;
  [[dont_unroll]] for (uint d = 0; d < D; ++d) qo[base + t * D + d] = ST(acc[d] * inv);
}
