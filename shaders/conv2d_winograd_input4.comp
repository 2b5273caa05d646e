#version 450
// Winograd F(4,3) input transform for widths that are a multiple of 4 (every layer of the network):
// the same V = B^T d B as conv2d_winograd_input, with far fewer loads. The lanes are neighbouring
// tiles of one tile row: each reads its tile's middle 4 columns of an input row as one vec4 and
// takes the 2 columns it shares with its neighbours by subgroupShuffle (the group's two edge
// columns come from one extra scalar load). The group walks down a band of tile rows keeping the
// 2 input rows consecutive tiles share. Per tile row and channel: 4 vec4 + 4 scalar loads, not 36.
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_shuffle : require
#include "common.glsl"
layout(local_size_x_id = 0) in;
layout(constant_id = 1) const bool CIRCULAR = false;
layout(constant_id = 2) const uint BAND = 4;  // tile rows per workgroup
// The GroupNorm before the convolution, folded in: each loaded value becomes
// (x - center) * scale + shift (then SiLU) with its channel's coefficients, before the padding zeros.
layout(constant_id = 3) const bool NORM = false;
layout(constant_id = 4) const bool NORM_SILU = false;

const uint S = gl_WorkGroupSize.x;  // lanes; the workgroup is one subgroup

layout(std430, binding = 0) readonly buffer In { STORE_T x[]; };
layout(std430, binding = 1) readonly buffer In4 { STORE_VEC4 x4[]; };  // the same buffer
layout(std430, binding = 2) writeonly buffer V { vec4 v[]; };
layout(std430, binding = 3) readonly buffer Coefficients { vec4 coefficients[]; };  // NORM: [N][coeffChannels]

layout(push_constant) uniform Push {
  uint channels;   // of this input
  uint inChunks;   // its chunks of 4 channels
  uint chunkBase;  // its first chunk in V
  uint chunks;     // all chunks in V
  uint h, w;
  uint tilesX;
  uint rows;       // tile rows of each image in this block (all of them unless the op split it)
  uint tilesPadded;
  uint imageBase, rowBase;  // the block's first image and first tile row in it
  uint coeffBase;      // NORM: this input's first channel among the coefficients' channels
  uint coeffChannels;  // NORM: channels of the coefficients (both inputs of a concat)
} p;

vec4 raw[6][6];
vec4 norm[4];  // NORM: the chunk's 4 channels' (center, scale, shift, -)  // the current tile's input rows: [row][column], one component per channel

uint lane, tx0, tx, lastLane, q, n, nLocal;  // n: the image; nLocal: its place in the block
uint left, right;
int haloCol;
bool leftOk, rightOk;

int wrap(int i, uint size) { return i < 0 ? i + int(size) : (i >= int(size) ? i - int(size) : i); }

// Input row r of tile row ty, for the chunk's 4 channels.
void loadRow(uint r, uint ty) {
  int iy = int(ty * 4u + r) - 1;
  bool rowOk = true;
  if (CIRCULAR) iy = wrap(iy, p.h);
  else rowOk = iy >= 0 && iy < int(p.h);
  const uint rowAt = uint(clamp(iy, 0, int(p.h) - 1)) * p.w;
  [[unroll]] for (uint j = 0; j < 4; ++j) {
    const bool ok = rowOk && q * 4u + j < p.channels;
    const uint at = (n * p.channels + min(q * 4u + j, p.channels - 1u)) * p.h * p.w + rowAt;
    vec4 mid = LD4(x4[at / 4u + tx]);
    float halo = LD(x[at + uint(haloCol)]);
    if (NORM) {
      mid = (mid - norm[j].x) * norm[j].y + norm[j].z;
      halo = (halo - norm[j].x) * norm[j].y + norm[j].z;
      if (NORM_SILU) {
        mid = mid / (1.0 + exp(-mid));
        halo = halo / (1.0 + exp(-halo));
      }
    }
    const float l = lane == 0u ? (leftOk ? subgroupShuffle(halo, 0u) : 0.0) : subgroupShuffle(mid.w, left);
    const float rr = lane == lastLane ? (rightOk ? subgroupShuffle(halo, 1u) : 0.0) : subgroupShuffle(mid.x, right);
    raw[r][0][j] = ok ? l : 0.0;
    raw[r][1][j] = ok ? mid.x : 0.0;
    raw[r][2][j] = ok ? mid.y : 0.0;
    raw[r][3][j] = ok ? mid.z : 0.0;
    raw[r][4][j] = ok ? mid.w : 0.0;
    raw[r][5][j] = ok ? rr : 0.0;
  }
}

void bt(inout vec4 d[6]) {
  const vec4 d0 = d[0], d1 = d[1], d2 = d[2], d3 = d[3], d4 = d[4], d5 = d[5];
  d[0] = 4.0 * d0 - 5.0 * d2 + d4;
  d[1] = -4.0 * (d1 + d2) + d3 + d4;
  d[2] = 4.0 * (d1 - d2) - d3 + d4;
  d[3] = 2.0 * (d3 - d1) - d2 + d4;
  d[4] = 2.0 * (d1 - d3) - d2 + d4;
  d[5] = 4.0 * d1 - 5.0 * d3 + d5;
}

void transformAndStore(uint ty) {
  vec4 d[6][6] = raw;
  [[unroll]] for (uint r = 0; r < 6; ++r) bt(d[r]);
  [[unroll]] for (uint s = 0; s < 6; ++s) {
    vec4 col[6];
    [[unroll]] for (uint r = 0; r < 6; ++r) col[r] = d[r][s];
    bt(col);
    [[unroll]] for (uint r = 0; r < 6; ++r) d[r][s] = col[r];
  }
  if (lane > lastLane) return;
  const uint at = (p.chunkBase + q) * p.tilesPadded + (nLocal * p.rows + ty - p.rowBase) * p.tilesX + tx;
  [[unroll]] for (uint r = 0; r < 6; ++r)
    [[unroll]] for (uint s = 0; s < 6; ++s) v[(r * 6u + s) * p.chunks * p.tilesPadded + at] = d[r][s];
}

void main() {
  lane = gl_SubgroupInvocationID;
  tx0 = gl_WorkGroupID.x * S;
  lastLane = min(S, p.tilesX - tx0) - 1u;
  tx = tx0 + min(lane, lastLane);
  q = gl_WorkGroupID.z % p.inChunks;
  nLocal = gl_WorkGroupID.z / p.inChunks;
  n = p.imageBase + nLocal;
  left = (lane + S - 1u) % S;
  right = (lane + 1u) % S;
  // The group's edge columns: lane 0 loads the one left of its first tile, lane 1 the one right
  // of its last; wrapped around (circular) or zero (padding).
  const int edge = lane == 1u ? int(4u * (tx0 + lastLane + 1u)) : int(4u * tx0) - 1;
  leftOk = CIRCULAR || tx0 > 0u;
  rightOk = CIRCULAR || 4u * (tx0 + lastLane + 1u) < p.w;
  haloCol = clamp(CIRCULAR ? wrap(edge, p.w) : edge, 0, int(p.w) - 1);
  if (NORM)
    [[unroll]] for (uint j = 0; j < 4; ++j)
      norm[j] = coefficients[n * p.coeffChannels + p.coeffBase + min(q * 4u + j, p.channels - 1u)];

  const uint ty0 = p.rowBase + gl_WorkGroupID.y * BAND, tyEnd = min(ty0 + BAND, p.rowBase + p.rows);
  [[unroll]] for (uint r = 0; r < 6; ++r) loadRow(r, ty0);
  transformAndStore(ty0);
  for (uint ty = ty0 + 1u; ty < tyEnd; ++ty) {
    [[unroll]] for (uint s = 0; s < 6; ++s) {
      raw[0][s] = raw[4][s];
      raw[1][s] = raw[5][s];
    }
    [[unroll]] for (uint r = 2; r < 6; ++r) loadRow(r, ty);
    transformAndStore(ty);
  }
}
