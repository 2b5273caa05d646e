// Body of the GroupNorm kernels (group_norm.comp: scalar; group_norm_vec4.comp: 4 pixels per
// load). The includer defines GN_VEC (float or vec4), GN_STORE (the matching storage type) and
// GN_WIDTH (pixels per GN_VEC).
//
// One workgroup owns one (n, group): its channels are one contiguous run of memory, so the
// statistics never leave shared memory and the op needs no scratch buffer and one dispatch.
// Statistics are the corrected two-pass algorithm (Chan, Golub & LeVeque): a first mean m, then
// sums of d = h - m and d*d, giving mean = m + mean(d) and var = mean(d*d) - mean(d)^2. It stays
// accurate when |mean| >> std, where one-pass E[h^2] - E[h]^2 cancels. The run is read three
// times (mean, variance, output); 512 KiB for 256x256x64 in 32 groups (fp32), so the
// re-reads mostly come from cache.
//
// Fusions, each a specialization constant so unused ones cost nothing:
//   PRE_ADD      h = x + t[n,c] before the statistics (diffusers' "default" time conditioning)
//   SCALE_SHIFT  h = h * (1 + s[n,c]) + s[n,C+c] after the affine ("scale_shift" conditioning)
//   SILU         h = h * sigmoid(h) last
//   TWO_INPUTS   channels [firstChannels, C) come from a second tensor: a concat read in place
//   COEFFICIENTS no normalised tensor: per (n, c) the vec4 (center, scale, shift, 0) with which the
//                consumer normalises on its own loads, h = (x - center) * scale + shift (SiLU, if
//                any, is the consumer's): a GroupNorm folded into the convolution after it
layout(local_size_x_id = 0) in;
layout(constant_id = 1) const bool PRE_ADD = false;
layout(constant_id = 2) const bool SCALE_SHIFT = false;
layout(constant_id = 3) const bool SILU = false;
layout(constant_id = 4) const bool TWO_INPUTS = false;
layout(constant_id = 5) const bool COEFFICIENTS = false;

layout(std430, binding = 0) readonly buffer In { GN_STORE x[]; };
layout(std430, binding = 1) readonly buffer Gamma { STORE_T gamma[]; };
layout(std430, binding = 2) readonly buffer Beta { STORE_T beta[]; };
layout(std430, binding = 3) readonly buffer PreAdd { STORE_T preAdd[]; };          // [N,C]
layout(std430, binding = 4) readonly buffer ScaleShift { STORE_T scaleShift[]; };  // [N,2C]
layout(std430, binding = 5) writeonly buffer Out { GN_STORE o[]; };
layout(std430, binding = 6) readonly buffer In2 { GN_STORE x2[]; };  // TWO_INPUTS
layout(std430, binding = 7) writeonly buffer Coefficients { vec4 coefficients[]; };  // [N,C]

layout(push_constant) uniform Push {
  uint batch;
  uint channels;
  uint groups;
  uint groupChannels;  // channels / groups
  uint pixels;         // H*W, a multiple of GN_WIDTH
  float eps;
  uint firstChannels;  // TWO_INPUTS: channels in `x`; the rest are in `x2`
} p;

// The workgroup size is a power of two (the op picks it), so a halving tree reduces it.
shared vec2 partial[gl_WorkGroupSize.x];

vec2 workgroupSum(vec2 v) {
  const uint t = gl_LocalInvocationID.x;
  partial[t] = v;
  barrier();
  for (uint s = gl_WorkGroupSize.x / 2u; s > 0u; s >>= 1u) {
    if (t < s) partial[t] += partial[t + s];
    barrier();
  }
  const vec2 r = partial[0];
  barrier();  // `partial` is written again by the next call
  return r;
}

float horizontalSum(GN_VEC v) { return dot(v, GN_VEC(1.0)); }

// Where channel c of image n starts, in `x` or (second) in `x2`; uniform per channel, so the
// choice is one branch per load that the single-input kernel folds away.
uint planeStart(uint n, uint c, uint vecs, out bool second) {
  second = TWO_INPUTS && c >= p.firstChannels;
  if (!TWO_INPUTS) return (n * p.channels + c) * vecs;
  return second ? (n * (p.channels - p.firstChannels) + c - p.firstChannels) * vecs
                : (n * p.firstChannels + c) * vecs;
}

GN_VEC load(bool second, uint i) { return second ? GN_VEC(x2[i]) : GN_VEC(x[i]); }

void main() {
  const uint t = gl_LocalInvocationID.x;
  const uint L = gl_WorkGroupSize.x;
  const uint C = p.channels;
  const uint cpg = p.groupChannels;
  const uint vecs = p.pixels / GN_WIDTH;  // GN_VEC loads per channel plane
  const float count = float(cpg) * float(p.pixels);

  for (uint n = gl_WorkGroupID.y; n < p.batch; n += gl_NumWorkGroups.y) {
    for (uint g = gl_WorkGroupID.x; g < p.groups; g += gl_NumWorkGroups.x) {
      const uint c0 = g * cpg;
      // Channel-outer loops keep per-channel values uniform and avoid a division per pixel.
      GN_VEC acc = GN_VEC(0.0);
      for (uint cl = 0u; cl < cpg; ++cl) {
        bool second;
        const uint base = planeStart(n, c0 + cl, vecs, second);
        for (uint j = t; j < vecs; j += L) acc += load(second, base + j);
      }
      float mean = workgroupSum(vec2(horizontalSum(acc), 0.0)).x / count;
      // mean(x + t_c) = mean(x) + mean_c(t_c): every channel has the same pixel count.
      if (PRE_ADD) {
        float tsum = 0.0;
        for (uint cl = 0u; cl < cpg; ++cl) tsum += LD(preAdd[n * C + c0 + cl]);
        mean += tsum / float(cpg);
      }

      acc = GN_VEC(0.0);
      GN_VEC acc2 = GN_VEC(0.0);
      for (uint cl = 0u; cl < cpg; ++cl) {
        const float center = mean - (PRE_ADD ? LD(preAdd[n * C + c0 + cl]) : 0.0);
        bool second;
        const uint base = planeStart(n, c0 + cl, vecs, second);
        for (uint j = t; j < vecs; j += L) {
          const GN_VEC d = load(second, base + j) - center;
          acc += d;
          acc2 += d * d;
        }
      }
      const vec2 sums = workgroupSum(vec2(horizontalSum(acc), horizontalSum(acc2))) / count;
      mean += sums.x;
      const float variance = max(sums.y - sums.x * sums.x, 0.0);  // biased, like PyTorch
      const float rstd = inversesqrt(variance + p.eps);

      for (uint cl = 0u; cl < cpg; ++cl) {
        const uint c = c0 + cl;
        const float center = mean - (PRE_ADD ? LD(preAdd[n * C + c]) : 0.0);
        float a = rstd * LD(gamma[c]);
        float b = LD(beta[c]);
        if (SCALE_SHIFT) {
          const float scale = 1.0 + LD(scaleShift[n * 2u * C + c]);
          a *= scale;
          b = b * scale + LD(scaleShift[n * 2u * C + C + c]);
        }
        if (COEFFICIENTS) {
          // One lane per channel writes; the others only keep the branch uniform.
          if (t == 0u) coefficients[n * C + c] = vec4(center, a, b, 0.0);
          continue;
        }
        bool second;
        const uint from = planeStart(n, c, vecs, second);
        const uint base = (n * C + c) * vecs;
        for (uint j = t; j < vecs; j += L) {
          // (x - center) first: folding center into b would cancel badly when |mean| >> std.
          GN_VEC h = (load(second, from + j) - center) * a + b;
          if (SILU) h = h / (1.0 + exp(-h));
          o[base + j] = GN_STORE(h);
        }
      }
    }
  }
}
