#version 450
// Sinusoidal timestep embedding as diffusers' get_timestep_embedding computes it in fp32:
//   half = dim/2, f_i = exp(-ln(max_period) * i / (half - shift)), a = scale * (t * f_i),
//   out = [sin(a), cos(a)] (or [cos, sin] when flipped), zero in the last column when dim is odd.
// Each step rounds to fp32 in the same order as PyTorch; exp and sin/cos come from
// precise_math.glsl so the result does not depend on the vendor's built-ins.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "precise_math.glsl"
layout(local_size_x_id = 0) in;

// Timesteps stay fp32 in either storage precision: a step like 999.5 does not survive fp16.
layout(std430, binding = 0) readonly buffer Timesteps { float timesteps[]; };
layout(std430, binding = 1) writeonly buffer Out { STORE_T o[]; };  // [N, dim]

layout(push_constant) uniform Push {
  uint count;             // N * dim
  uint dim;
  uint halfDim;
  uint flipSinToCos;      // 0: [sin, cos], 1: [cos, sin]
  float negLogMaxPeriod;  // fp32(-ln(max_period))
  float denominator;      // fp32(half - downscale_freq_shift), never 0
  float scale;
} p;

void main() {
  const uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
  for (uint i = gl_GlobalInvocationID.x; i < p.count; i += stride) {
    const uint n = i / p.dim;
    const uint k = i - n * p.dim;
    float value = 0.0;
    if (k < 2u * p.halfDim) {
      const bool second = k >= p.halfDim;
      const uint f = second ? k - p.halfDim : k;
      precise float exponent = (p.negLogMaxPeriod * float(f)) / p.denominator;
      const float freq = expPrecise(exponent);
      precise float arg = p.scale * (timesteps[n] * freq);
      float s, c;
      sincosPrecise(arg, s, c);
      value = (second == (p.flipSinToCos != 0u)) ? s : c;
    }
    o[i] = ST(value);
  }
}
