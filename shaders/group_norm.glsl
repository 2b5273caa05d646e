// Body of the GroupNorm kernels (group_norm.comp: scalar; group_norm_vec4.comp: 4 pixels per
// load). The includer defines GN_VEC (float or vec4), GN_STORE (the matching storage type) and
// GN_WIDTH (pixels per GN_VEC).
//
// One workgroup owns one (n, group): its channels are one contiguous run of memory, so the
// statistics never leave shared memory and the op needs no scratch buffer and one dispatch.
// Statistics in one pass, Welford's update per lane, merged pairwise (Chan, Golub & LeVeque; see
// main): accurate when |mean| >> std, where a plain E[h^2] - E[h]^2 cancels. The run is read twice
// (statistics, output), once when only the coefficients are written.
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

// Statistics of a set of values: count, mean and sum of squared deviations from the mean, merged
// pairwise (Chan, Golub & LeVeque) so that no step subtracts two large sums.
struct Stats {
  float n, mean, m2;
};

Stats merge(Stats a, Stats b) {
  const float n = a.n + b.n;
  if (b.n == 0.0) return a;
  const float delta = b.mean - a.mean, fb = b.n / n;
  return Stats(n, a.mean + delta * fb, a.m2 + b.m2 + delta * delta * a.n * fb);
}

// The workgroup size is a power of two (the op picks it), so a halving tree merges it.
shared vec3 partial[gl_WorkGroupSize.x];

Stats workgroupMerge(Stats s) {
  const uint t = gl_LocalInvocationID.x;
  partial[t] = vec3(s.n, s.mean, s.m2);
  barrier();
  for (uint h = gl_WorkGroupSize.x / 2u; h > 0u; h >>= 1u) {
    if (t < h) {
      const vec3 a = partial[t], b = partial[t + h];
      const Stats m = merge(Stats(a.x, a.y, a.z), Stats(b.x, b.y, b.z));
      partial[t] = vec3(m.n, m.mean, m.m2);
    }
    barrier();
  }
  const vec3 r = partial[0];
  barrier();  // `partial` is written again for the next group
  return Stats(r.x, r.y, r.z);
}

float component(vec4 v, uint i) { return v[i]; }
float component(float v, uint i) { return v; }

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
      // One pass: each lane keeps Welford's running mean and squared deviations per component
      // over its share of the group (no cancellation, whatever the mean; a reciprocal per load,
      // which costs little next to the load), then the components, and then the lanes, are
      // merged pairwise. Channel-outer loops keep per-channel values uniform and avoid a division
      // per pixel.
      GN_VEC wMean = GN_VEC(0.0), wM2 = GN_VEC(0.0);
      float seen = 0.0;  // loads so far: the count of every component
      for (uint cl = 0u; cl < cpg; ++cl) {
        bool second;
        const uint base = planeStart(n, c0 + cl, vecs, second);
        const float add = PRE_ADD ? LD(preAdd[n * C + c0 + cl]) : 0.0;
        for (uint j = t; j < vecs; j += L) {
          const GN_VEC h = load(second, base + j) + add;
          seen += 1.0;
          const GN_VEC d = h - wMean;
          wMean += d * (1.0 / seen);
          wM2 += d * (h - wMean);
        }
      }
      Stats st = Stats(0.0, 0.0, 0.0);
      for (uint i = 0u; i < GN_WIDTH; ++i) st = merge(st, Stats(seen, component(wMean, i), component(wM2, i)));
      st = workgroupMerge(st);
      const float mean = st.mean;
      const float variance = max(st.m2 / count, 0.0);  // biased, like PyTorch
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
