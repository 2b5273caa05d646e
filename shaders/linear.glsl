// Body of the linear kernels (linear.comp: any K; linear_vec4.comp: K a multiple of 4, four
// features per load). The includer defines LIN_VEC (float or vec4), LIN_STORE (the matching
// storage type) and LIN_WIDTH (features per LIN_VEC).
//
// out[n,m] = act(sum_k act_in(x[n,k]) * w[m,k] + bias[m]), weights in PyTorch's [M,K] layout.
// One invocation per output feature m, for ROWS batch rows at a time: each weight load serves
// ROWS rows, and every invocation reads the same x[n,k]. On lavapipe, where each load whose
// address differs per lane costs a loop over the lanes, this beat one invocation per (n, m)
// by 2-5x (docs/KERNELS.md). No shared memory and no barriers: K, M <= 1024 and N <= 16 are too
// small to pay for a reduction across invocations.
layout(local_size_x_id = 0) in;
layout(constant_id = 1) const bool HAS_BIAS = false;
layout(constant_id = 2) const bool SILU_INPUT = false;   // diffusers' time_emb_proj(silu(temb))
layout(constant_id = 3) const bool SILU_OUTPUT = false;  // TimestepEmbedding's linear_1 -> silu
const uint ROWS = 4u;

layout(std430, binding = 0) readonly buffer In { LIN_STORE x[]; };
layout(std430, binding = 1) readonly buffer Weight { LIN_STORE w[]; };
layout(std430, binding = 2) readonly buffer Bias { STORE_T bias[]; };
layout(std430, binding = 3) writeonly buffer Out { STORE_T o[]; };

layout(push_constant) uniform Push {
  uint batch;        // N
  uint inFeatures;   // K, a multiple of LIN_WIDTH
  uint outFeatures;  // M
} p;

void main() {
  const uint N = p.batch;
  const uint vecs = p.inFeatures / LIN_WIDTH;  // LIN_VEC loads per row
  const uint M = p.outFeatures;
  const uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
  for (uint m = gl_GlobalInvocationID.x; m < M; m += stride) {
    for (uint n0 = 0u; n0 < N; n0 += ROWS) {
      const uint rows = min(ROWS, N - n0);
      LIN_VEC acc[ROWS];
      [[unroll]] for (uint j = 0u; j < ROWS; ++j) acc[j] = LIN_VEC(0.0);
      for (uint k = 0u; k < vecs; ++k) {
        const LIN_VEC wk = LIN_VEC(w[m * vecs + k]);
        [[unroll]] for (uint j = 0u; j < ROWS; ++j) {
          if (j < rows) {
            LIN_VEC a = LIN_VEC(x[(n0 + j) * vecs + k]);
            if (SILU_INPUT) a = a / (1.0 + exp(-a));
            acc[j] += a * wk;
          }
        }
      }
      [[unroll]] for (uint j = 0u; j < ROWS; ++j) {
        if (j < rows) {
          float y = dot(acc[j], LIN_VEC(1.0));
          if (HAS_BIAS) y += LD(bias[m]);
          if (SILU_OUTPUT) y = y / (1.0 + exp(-y));
          o[(n0 + j) * M + m] = ST(y);
        }
      }
    }
  }
}
