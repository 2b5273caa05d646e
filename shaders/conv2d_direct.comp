#version 450
// Direct convolution, one invocation per output element, no subgroup operations: the variant that
// runs on any device and is obviously right. Weights are OIHW as PyTorch stores them, then bias.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
layout(local_size_x_id = 0, local_size_y_id = 1) in;
layout(constant_id = 2) const uint KSIZE = 3;
layout(constant_id = 3) const uint STRIDE = 1;
layout(constant_id = 4) const bool CIRCULAR = false;
layout(constant_id = 5) const bool HAS_BIAS = false;
layout(constant_id = 6) const bool HAS_RESIDUAL = false;

layout(std430, binding = 0) readonly buffer In { STORE_T x[]; };
layout(std430, binding = 1) readonly buffer In2 { STORE_T x2[]; };
layout(std430, binding = 2) readonly buffer Weights { STORE_T wts[]; };
layout(std430, binding = 3) readonly buffer Residual { STORE_T res[]; };
layout(std430, binding = 4) writeonly buffer Out { STORE_T o[]; };

layout(push_constant) uniform Push {
  uint c1;  // channels of the first input
  uint c2;  // channels of the second input (0: none)
  uint h, w;
  uint ho, wo;
  uint cout;
  float outputScale;
  // Rows/columns of padding before index 0 (1, or 0 when padding only after, diffusers'
  // downsample_padding 0): a push constant, so the placement adds no pipelines.
  uint padBefore;
} p;

// Input coordinate of tap k for output coordinate o; -1 when it falls in zero padding. Padding
// only after reaches at most index `size`, which wraps to 0.
int tapCoord(uint o, uint k, uint size) {
  int i = int(o * STRIDE + k) - int(p.padBefore);
  if (CIRCULAR) return i < 0 ? i + int(size) : (i >= int(size) ? i - int(size) : i);
  return (i < 0 || i >= int(size)) ? -1 : i;
}

void main() {
  const uint ox = gl_GlobalInvocationID.x, oy = gl_GlobalInvocationID.y;
  if (ox >= p.wo || oy >= p.ho) return;
  const uint co = gl_WorkGroupID.z % p.cout, n = gl_WorkGroupID.z / p.cout;
  const uint cin = p.c1 + p.c2, plane = p.h * p.w;
  float acc = 0.0;
  for (uint ci = 0; ci < cin; ++ci) {
    for (uint ky = 0; ky < KSIZE; ++ky) {
      const int iy = tapCoord(oy, ky, p.h);
      if (iy < 0) continue;
      for (uint kx = 0; kx < KSIZE; ++kx) {
        const int ix = tapCoord(ox, kx, p.w);
        if (ix < 0) continue;
        const uint pix = uint(iy) * p.w + uint(ix);
        const float v = ci < p.c1 ? LD(x[(n * p.c1 + ci) * plane + pix])
                                  : LD(x2[(n * p.c2 + ci - p.c1) * plane + pix]);
        acc += v * LD(wts[((co * cin + ci) * KSIZE + ky) * KSIZE + kx]);
      }
    }
  }
  if (HAS_BIAS) acc += LD(wts[p.cout * cin * KSIZE * KSIZE + co]);
  const uint at = ((n * p.cout + co) * p.ho + oy) * p.wo + ox;
  if (HAS_RESIDUAL) acc += LD(res[at]);
  o[at] = ST(acc * p.outputScale);
}
