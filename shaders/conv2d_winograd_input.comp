#version 450
// Winograd F(4,3), stage 1 of 3: the input transform V = B^T d B of every 6x6 input tile d (tiles
// overlap by 2 and step by 4), for 4 channels at once. Lane = tile, so the tile's 36 loads are one
// instruction each for all lanes; the 36 results go out as vec4 over the 4 channels, the layout the
// GEMM reads: V[36 positions][channel chunk][tile][4 channels]. Padding is applied on the way in:
// zero, or wrapped around (circular), which is all a tileable convolution needs.
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#include "common.glsl"
layout(local_size_x_id = 0) in;
layout(constant_id = 1) const bool CIRCULAR = false;
// The GroupNorm before the convolution, folded in (as in conv2d_winograd_input4.comp).
layout(constant_id = 2) const bool NORM = false;
layout(constant_id = 3) const bool NORM_SILU = false;

layout(std430, binding = 0) readonly buffer In { STORE_T x[]; };
layout(std430, binding = 1) writeonly buffer V { vec4 v[]; };
layout(std430, binding = 2) readonly buffer Coefficients { vec4 coefficients[]; };  // NORM: [N][coeffChannels]

layout(push_constant) uniform Push {
  uint channels;  // of this input
  uint chunkBase; // first chunk of this input in V (the second input of a concat follows the first)
  uint chunks;    // all chunks in V
  uint h, w;
  uint tilesX;
  uint rows;      // tile rows of each image in this block (all of them unless the op split it)
  uint tiles;     // of this block: images * rows * tilesX
  uint tilesPadded;
  uint imageBase, rowBase;  // the block's first image and first tile row in it
  uint coeffBase;      // NORM: this input's first channel among the coefficients' channels
  uint coeffChannels;  // NORM: channels of the coefficients (both inputs of a concat)
} p;

// d: 6 values along one axis -> B^T d.
void bt(inout vec4 d[6]) {
  const vec4 d0 = d[0], d1 = d[1], d2 = d[2], d3 = d[3], d4 = d[4], d5 = d[5];
  d[0] = 4.0 * d0 - 5.0 * d2 + d4;
  d[1] = -4.0 * (d1 + d2) + d3 + d4;
  d[2] = 4.0 * (d1 - d2) - d3 + d4;
  d[3] = 2.0 * (d3 - d1) - d2 + d4;
  d[4] = 2.0 * (d1 - d3) - d2 + d4;
  d[5] = 4.0 * d1 - 5.0 * d3 + d5;
}

void main() {
  const uint t = min(gl_GlobalInvocationID.x, p.tiles - 1u);  // padding tiles repeat the last one
  const uint q = gl_WorkGroupID.y;  // chunk of this input
  const uint tx = t % p.tilesX, ty = p.rowBase + (t / p.tilesX) % p.rows;
  const uint n = p.imageBase + t / (p.tilesX * p.rows);
  const int iy0 = int(ty * 4u) - 1, ix0 = int(tx * 4u) - 1;

  uint rowAt[6], colAt[6];
  bool rowOk[6], colOk[6];
  [[unroll]] for (uint i = 0; i < 6; ++i) {
    int iy = iy0 + int(i), ix = ix0 + int(i);
    if (CIRCULAR) {
      iy = iy < 0 ? iy + int(p.h) : (iy >= int(p.h) ? iy - int(p.h) : iy);
      ix = ix < 0 ? ix + int(p.w) : (ix >= int(p.w) ? ix - int(p.w) : ix);
      rowOk[i] = true;
      colOk[i] = true;
    } else {
      rowOk[i] = iy >= 0 && iy < int(p.h);
      colOk[i] = ix >= 0 && ix < int(p.w);
    }
    // Rows and columns past the image only feed outputs that are not stored.
    rowAt[i] = uint(clamp(iy, 0, int(p.h) - 1)) * p.w;
    colAt[i] = uint(clamp(ix, 0, int(p.w) - 1));
  }

  vec4 d[6][6];
  [[unroll]] for (uint j = 0; j < 4; ++j) {
    const uint c = q * 4u + j;
    const bool real = c < p.channels;
    const uint base = (n * p.channels + min(c, p.channels - 1u)) * p.h * p.w;
    const vec4 k = NORM ? coefficients[n * p.coeffChannels + p.coeffBase + min(c, p.channels - 1u)] : vec4(0.0);
    [[unroll]] for (uint r = 0; r < 6; ++r)
      [[unroll]] for (uint s = 0; s < 6; ++s) {
        float val = LD(x[base + rowAt[r] + colAt[s]]);
        if (NORM) {
          val = (val - k.x) * k.y + k.z;
          if (NORM_SILU) val = val / (1.0 + exp(-val));
        }
        d[r][s][j] = real && rowOk[r] && colOk[s] ? val : 0.0;
      }
  }
  // Columns of each row, then rows of each column.
  [[unroll]] for (uint r = 0; r < 6; ++r) bt(d[r]);
  [[unroll]] for (uint s = 0; s < 6; ++s) {
    vec4 col[6];
    [[unroll]] for (uint r = 0; r < 6; ++r) col[r] = d[r][s];
    bt(col);
    [[unroll]] for (uint r = 0; r < 6; ++r) d[r][s] = col[r];
  }
  const uint at = (p.chunkBase + q) * p.tilesPadded + gl_GlobalInvocationID.x;
  [[unroll]] for (uint r = 0; r < 6; ++r)
    [[unroll]] for (uint s = 0; s < 6; ++s) v[(r * 6u + s) * p.chunks * p.tilesPadded + at] = d[r][s];
}
