#version 450
// Winograd F(4,3), stage 3 of 3: the output transform Y = A^T M A of each tile's 6x6 GEMM results
// into its 4x4 outputs, for 4 output channels at once (lane = tile, one vec4 per position), with
// bias, residual and output scale applied on the way out: out = scale * (Y + bias + residual).
// When the width is a multiple of 4 (ROWS4), each output row of a tile is one aligned vec4.
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#include "common.glsl"
layout(local_size_x_id = 0) in;
layout(constant_id = 1) const bool ROWS4 = false;

layout(std430, binding = 0) readonly buffer M { vec4 m[]; };
layout(std430, binding = 1) readonly buffer Bias { STORE_VEC4 bias[]; };
layout(std430, binding = 2) readonly buffer Residual { STORE_T res[]; };
layout(std430, binding = 3) readonly buffer Residual4 { STORE_VEC4 res4[]; };  // the same buffer
layout(std430, binding = 4) writeonly buffer Out { STORE_T o[]; };
layout(std430, binding = 5) writeonly buffer Out4 { STORE_VEC4 o4[]; };  // the same buffer

layout(push_constant) uniform Push {
  uint cout;
  uint quads;        // output-channel quads in M
  uint h, w;
  uint tilesX;
  uint rows;         // tile rows of each image in this block (all of them unless the op split it)
  uint tiles;        // of this block: images * rows * tilesX
  uint tilesPadded;
  uint biasAt;       // vec4 index of the bias in its buffer
  uint hasBias, hasResidual;
  float outputScale;
  uint imageBase, rowBase;  // the block's first image and first tile row in it
} p;

// m: 6 values along one axis -> A^T m (4 values).
void at(inout vec4 d[6]) {
  const vec4 a = d[1] + d[2], b = d[1] - d[2], c = d[3] + d[4], e = d[3] - d[4];
  d[0] = d[0] + a + c;
  d[1] = b + 2.0 * e;
  d[2] = a + 4.0 * c;
  d[3] = b + 8.0 * e + d[5];
}

void main() {
  const uint t = gl_GlobalInvocationID.x;
  const uint quad = gl_WorkGroupID.y;
  if (t >= p.tiles) return;
  vec4 d[6][6];
  const uint base = quad * p.tilesPadded + t, step = p.quads * p.tilesPadded;
  [[unroll]] for (uint r = 0; r < 6; ++r)
    [[unroll]] for (uint s = 0; s < 6; ++s) d[r][s] = m[(r * 6u + s) * step + base];
  [[unroll]] for (uint r = 0; r < 6; ++r) at(d[r]);
  [[unroll]] for (uint s = 0; s < 4; ++s) {
    vec4 col[6];
    [[unroll]] for (uint r = 0; r < 6; ++r) col[r] = d[r][s];
    at(col);
    [[unroll]] for (uint r = 0; r < 4; ++r) d[r][s] = col[r];
  }
  const vec4 b = p.hasBias != 0u ? LD4(bias[p.biasAt + quad]) : vec4(0.0);
  const uint tx = t % p.tilesX, ty = p.rowBase + (t / p.tilesX) % p.rows;
  const uint n = p.imageBase + t / (p.tilesX * p.rows);
  [[unroll]] for (uint j = 0; j < 4; ++j) {
    const uint co = quad * 4u + j;
    if (co >= p.cout) break;
    const uint plane = (n * p.cout + co) * p.h;
    [[unroll]] for (uint r = 0; r < 4; ++r) {
      const uint oy = ty * 4u + r;
      if (ROWS4) {
        if (oy >= p.h) break;
        const uint i = ((plane + oy) * p.w + tx * 4u) / 4u;
        vec4 val = vec4(d[r][0][j], d[r][1][j], d[r][2][j], d[r][3][j]) + b[j];
        if (p.hasResidual != 0u) val += LD4(res4[i]);
        o4[i] = ST4(val * p.outputScale);
        continue;
      }
      [[unroll]] for (uint s = 0; s < 4; ++s) {
        const uint ox = tx * 4u + s;
        if (oy < p.h && ox < p.w) {
          const uint i = (plane + oy) * p.w + ox;
          float val = d[r][s][j] + b[j];
          if (p.hasResidual != 0u) val += LD(res[i]);
          o[i] = ST(val * p.outputScale);
        }
      }
    }
  }
}
