// The batched matrix product behind attention's fast kernels, for devices where a load whose
// address differs per lane costs one memory access per lane and component (lavapipe:
// docs/KERNELS.md), so every loaded value must feed many multiply-adds:
//   Y_z[r][c] = EPILOGUE(sum_k A_z[r][k] * B_z[k][c]),  r < M, k < K, c < NC, z = gl_WorkGroupID.z
//   - A is row-major, [M][K] per z (stride A_ZSTRIDE, 0 when every z shares it: weights);
//   - lanes 0..7 of a subgroup load rows r0..r0+7 of A four k at a time (one vec4 each), and
//     subgroupBroadcast hands each row to every lane;
//   - each lane owns 4 consecutive columns and loads their 4 k as 4 vec4s;
//   - so one step is 5 vec4 loads and 8 broadcasts for 128 multiply-adds per lane.
// B and Y are each "rows" ([K][NC] / [M][NC], row-major) or "heads" (B_HEAD / Y_HEAD > 0:
// column-major in blocks of that many rows, [rows/HEAD][NC][HEAD] - how q, k, v and the
// attention output hold a head's tokens as rows). K, NC, A_ZSTRIDE, B_ZSTRIDE, Y_ZSTRIDE and
// the HEAD sizes are multiples of 4. Needs subgroups of at least 8 lanes, whole subgroups in a
// workgroup.
//
// The including file declares the bindings a[], b[], y[] (vec4 arrays) and defines LDA4 (A's
// load, widening to vec4), STY4 (Y's store) and EPILOGUE(v, r, c, i): the vec4 to store for
// row r, column c, Y element index i (4 columns of row r, or in the "heads" layout 4 rows).
// It may define A_BASE, B_BASE, Y_BASE: element offsets (multiples of 4, from push constants)
// added to every index of that operand, so one pipeline serves every block of a chunked
// product (a binding's offset would have to meet the device's offset alignment).
#extension GL_EXT_control_flow_attributes : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_ballot : require
layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint M = 4;
layout(constant_id = 2) const uint K = 4;
layout(constant_id = 3) const uint NC = 4;
layout(constant_id = 4) const uint A_ZSTRIDE = 0;
layout(constant_id = 5) const uint B_ZSTRIDE = 0;
layout(constant_id = 6) const uint Y_ZSTRIDE = 0;
layout(constant_id = 7) const uint B_HEAD = 0;
layout(constant_id = 8) const uint Y_HEAD = 0;
const uint TM = 8;  // rows per workgroup: one per lane of 8

#ifndef A_BASE
#define A_BASE 0u
#endif
#ifndef B_BASE
#define B_BASE 0u
#endif
#ifndef Y_BASE
#define Y_BASE 0u
#endif

uint bIndex(uint z, uint k, uint c) {
  return B_BASE + z * B_ZSTRIDE + (B_HEAD == 0u ? k * NC + c : (k / B_HEAD * NC + c) * B_HEAD + k % B_HEAD);
}

uint yIndex(uint z, uint r, uint c) {
  return Y_BASE + z * Y_ZSTRIDE + (Y_HEAD == 0u ? r * NC + c : (r / Y_HEAD * NC + c) * Y_HEAD + r % Y_HEAD);
}

void gemm() {
  const uint z = gl_WorkGroupID.z;
  const uint r0 = gl_WorkGroupID.y * TM;
  const uint c0 = gl_GlobalInvocationID.x * 4u;
  // Lanes past the last column still load (clamped) and take part in the broadcasts.
  const uint cl = min(c0, NC - 4u);
  const uint aRow = A_BASE + z * A_ZSTRIDE + min(r0 + (gl_SubgroupInvocationID & 7u), M - 1u) * K;

  vec4 acc[TM];  // acc[m]: this lane's 4 columns of row r0 + m
  [[unroll]] for (uint m = 0; m < TM; ++m) acc[m] = vec4(0.0);

  // K is a specialization constant: left alone, LLVM unrolls this loop whole and lavapipe
  // spends seconds compiling each shape.
  [[dont_unroll]] for (uint k = 0; k < K; k += 4u) {
    const vec4 av = LDA4(a[(aRow + k) / 4u]);
    vec4 bk[4];  // bk[i]: the 4 columns of row k + i of B
    if (B_HEAD == 0u) {
      [[unroll]] for (uint i = 0; i < 4u; ++i) bk[i] = LD4(b[bIndex(z, k + i, cl) / 4u]);
    } else {
      vec4 col[4];  // col[j]: rows k..k+3 of column cl + j
      [[unroll]] for (uint j = 0; j < 4u; ++j) col[j] = LD4(b[bIndex(z, k, cl + j) / 4u]);
      [[unroll]] for (uint i = 0; i < 4u; ++i) bk[i] = vec4(col[0][i], col[1][i], col[2][i], col[3][i]);
    }
    // subgroupBroadcast takes a constant lane, hence the macro rather than a loop.
#define TS_GEMM_ROW(m)                                                         \
  {                                                                            \
    const vec4 am = subgroupBroadcast(av, m);                                  \
    acc[m] += am.x * bk[0] + am.y * bk[1] + am.z * bk[2] + am.w * bk[3];       \
  }
    TS_GEMM_ROW(0) TS_GEMM_ROW(1) TS_GEMM_ROW(2) TS_GEMM_ROW(3)
    TS_GEMM_ROW(4) TS_GEMM_ROW(5) TS_GEMM_ROW(6) TS_GEMM_ROW(7)
#undef TS_GEMM_ROW
  }

  if (c0 >= NC) return;
  if (Y_HEAD == 0u) {
    [[unroll]] for (uint m = 0; m < TM; ++m) {
      const uint r = r0 + m;
      if (r < M) {
        const uint i = yIndex(z, r, c0);
        y[i / 4u] = STY4(EPILOGUE(acc[m], r, c0, i));
      }
    }
  } else {
    // Four rows of one column are contiguous here (Y_HEAD is a multiple of 4).
    [[unroll]] for (uint g = 0; g < TM; g += 4u) {
      const uint r = r0 + g;
      if (r < M) {
        [[unroll]] for (uint j = 0; j < 4u; ++j) {
          const vec4 v = vec4(acc[g][j], acc[g + 1u][j], acc[g + 2u][j], acc[g + 3u][j]);
          const uint i = yIndex(z, r, c0 + j);
          y[i / 4u] = STY4(EPILOGUE(v, r, c0 + j, i));
        }
      }
    }
  }
}
