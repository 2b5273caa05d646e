#version 450
// Winograd F(4,3), stage 2 of 3: for each of the 36 positions, M = U x V, a GEMM over input
// channels (U: [out channel][in channel] transformed weights, V: [in channel][tile]).
// Lane = MB output-channel quads (MB vec4 of U per input channel) of one of S / QL tile groups:
// QL lanes cover the workgroup's quads, so a layer with fewer quads than lanes puts its lanes on
// more tiles instead of on padding. Per chunk of 4 input channels a lane loads 4*MB vec4 of U and
// the subgroup NB vec4 of V (one per tile, over the chunk's 4 channels); each V value reaches the
// lanes of its tile group by subgroupShuffle (one permute on lavapipe) for 4 * (NB / (S / QL)) * MB
// vec4 multiply-adds per lane. Results: M[36][quad][tile] as vec4.
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_shuffle : require
#include "common.glsl"
layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint NB = 16;  // tiles per workgroup (a multiple of the lane count)
layout(constant_id = 2) const uint MB = 1;   // output-channel quads per lane
layout(constant_id = 3) const uint QL = 1;   // lanes across quads: a power of two dividing S (1 keeps the defaults valid)

const uint S = gl_WorkGroupSize.x;  // lanes; the workgroup is one subgroup
const uint PL = NB / (S / QL);      // tiles per lane

layout(std430, binding = 0) readonly buffer U { STORE_VEC4 u[]; };
layout(std430, binding = 1) readonly buffer V { vec4 v[]; };
layout(std430, binding = 2) writeonly buffer M { vec4 m[]; };

layout(push_constant) uniform Push {
  uint chunks;       // of 4 input channels
  uint quads;        // output-channel quads, padded to a multiple of QL * MB
  uint tilesPadded;  // a multiple of NB
} p;

void main() {
  const uint lane = gl_SubgroupInvocationID;
  const uint t0 = gl_WorkGroupID.x * NB;
  const uint quad = (gl_WorkGroupID.y * QL + lane % QL) * MB;
  // The lane's tile group: of every S tiles the subgroup loads, QL belong to each group; a lane's
  // b-th tile is tile (b / QL) * S + group * QL + b % QL of the workgroup.
  const uint group = lane / QL;
  const uint pos = gl_WorkGroupID.z;
  vec4 acc[MB][PL];
  [[unroll]] for (uint i = 0; i < MB; ++i)
    [[unroll]] for (uint b = 0; b < PL; ++b) acc[i][b] = vec4(0.0);

  uint uAt = pos * p.chunks * 4u * p.quads + quad;
  uint vAt = pos * p.chunks * p.tilesPadded + t0 + lane;
  for (uint q = 0; q < p.chunks; ++q) {
    vec4 w[4][MB];
    [[unroll]] for (uint j = 0; j < 4; ++j)
      [[unroll]] for (uint i = 0; i < MB; ++i) w[j][i] = LD4(u[uAt + j * p.quads + i]);
    // One V vector live at a time: with few quads a lane has many tile blocks to walk.
    [[unroll]] for (uint k = 0; k < NB / S; ++k) {
      const vec4 vin = v[vAt + k * S];
      [[unroll]] for (uint j = 0; j < 4; ++j)
        [[unroll]] for (uint bb = 0; bb < QL; ++bb) {
          const vec4 s = vec4(subgroupShuffle(vin[j], group * QL + bb));
          [[unroll]] for (uint i = 0; i < MB; ++i) acc[i][k * QL + bb] = fma(w[j][i], s, acc[i][k * QL + bb]);
        }
    }
    uAt += 4u * p.quads;
    vAt += p.tilesPadded;
  }
  [[unroll]] for (uint i = 0; i < MB; ++i) {
    const uint mAt = (pos * p.quads + quad + i) * p.tilesPadded + t0;
    [[unroll]] for (uint b = 0; b < PL; ++b) m[mAt + (b / QL) * S + group * QL + b % QL] = acc[i][b];
  }
}
