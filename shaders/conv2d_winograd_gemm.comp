#version 450
// Winograd F(4,3), stage 2 of 3: for each of the 36 positions, M = U x V, a GEMM over input
// channels (U: [out channel][in channel] transformed weights, V: [in channel][tile]).
// Lane = MB output-channel quads (MB vec4 of U per input channel), NB tiles per workgroup: per
// chunk of 4 input channels a lane loads 4*MB vec4 of U and the subgroup NB vec4 of V (one per
// tile, over the chunk's 4 channels); every V value then reaches all lanes by subgroupShuffle (one
// permute on lavapipe) for 4*NB*MB vec4 multiply-adds. Results: M[36][quad][tile] as vec4.
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_shuffle : require
#include "common.glsl"
layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint NB = 16;  // tiles per workgroup (a multiple of the lane count)
layout(constant_id = 2) const uint MB = 1;   // output-channel quads per lane

const uint S = gl_WorkGroupSize.x;  // lanes; the workgroup is one subgroup

layout(std430, binding = 0) readonly buffer U { STORE_VEC4 u[]; };
layout(std430, binding = 1) readonly buffer V { vec4 v[]; };
layout(std430, binding = 2) writeonly buffer M { vec4 m[]; };

layout(push_constant) uniform Push {
  uint chunks;       // of 4 input channels
  uint quads;        // output-channel quads, padded to a multiple of S * MB
  uint tilesPadded;  // a multiple of NB
} p;

void main() {
  const uint lane = gl_SubgroupInvocationID;
  const uint t0 = gl_WorkGroupID.x * NB;
  const uint quad = (gl_WorkGroupID.y * S + lane) * MB;
  const uint pos = gl_WorkGroupID.z;
  vec4 acc[MB][NB];
  [[unroll]] for (uint i = 0; i < MB; ++i)
    [[unroll]] for (uint b = 0; b < NB; ++b) acc[i][b] = vec4(0.0);

  uint uAt = pos * p.chunks * 4u * p.quads + quad;
  uint vAt = pos * p.chunks * p.tilesPadded + t0 + lane;
  for (uint q = 0; q < p.chunks; ++q) {
    vec4 w[4][MB];
    [[unroll]] for (uint j = 0; j < 4; ++j)
      [[unroll]] for (uint i = 0; i < MB; ++i) w[j][i] = LD4(u[uAt + j * p.quads + i]);
    vec4 vin[NB / S];
    [[unroll]] for (uint k = 0; k < NB / S; ++k) vin[k] = v[vAt + k * S];
    [[unroll]] for (uint j = 0; j < 4; ++j)
      [[unroll]] for (uint b = 0; b < NB; ++b) {
        const vec4 s = vec4(subgroupShuffle(vin[b / S][j], b % S));
        [[unroll]] for (uint i = 0; i < MB; ++i) acc[i][b] = fma(w[j][i], s, acc[i][b]);
      }
    uAt += 4u * p.quads;
    vAt += p.tilesPadded;
  }
  [[unroll]] for (uint i = 0; i < MB; ++i) {
    const uint mAt = (pos * p.quads + quad + i) * p.tilesPadded + t0;
    [[unroll]] for (uint b = 0; b < NB; ++b) m[mAt + b] = acc[i][b];
  }
}
