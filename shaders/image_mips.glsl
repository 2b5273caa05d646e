// The mip filter shared by image_mips_*.comp: each destination texel is the exact area average
// of the source texels its footprint covers (a box filter), separably per axis. A destination
// of size floor(n / 2) (at least 1) over a source of n texels:
//   n even:        taps 2d, 2d+1, weights 1/2, 1/2 (the 2x2 box);
//   n odd, n > 1:  m = (n - 1) / 2 texels each covering n / m source texels, so taps 2d, 2d+1,
//                  2d+2 with weights (m - d) / n, m / n, (d + 1) / n (they sum to 1);
//   n == 1:        the one texel, weight 1 (the other axis still halves).
// No footprint leaves the image, so a tileable level 0 gives tileable mips.
layout(push_constant) uniform Push {
  uint srcWidth, srcHeight;  // the level above
  uint dstWidth, dstHeight;  // this level: max(src >> 1, 1)
  uint count;                // images * dstWidth * dstHeight
} p;

// Returns the number of taps (1..3) from source index `first`, weights in w.
uint boxTaps(uint d, uint n, out uint first, out vec3 w) {
  first = n == 1u ? 0u : 2u * d;
  if (n == 1u) {
    w = vec3(1.0, 0.0, 0.0);
    return 1u;
  }
  if ((n & 1u) == 0u) {
    w = vec3(0.5, 0.5, 0.0);
    return 2u;
  }
  const float m = float((n - 1u) / 2u), fn = float(n), fd = float(d);
  w = vec3((m - fd) / fn, m / fn, (fd + 1.0) / fn);
  return 3u;
}

vec4 loadTexel(uint index);  // the source texel, in linear light (each shader defines it)

// The filtered value of destination texel i (all images, row-major, image after image).
vec4 boxFilter(uint i) {
  const uint plane = p.dstWidth * p.dstHeight;
  const uint image = i / plane, at = i % plane;
  const uint x = at % p.dstWidth, y = at / p.dstWidth;
  uint x0, y0;
  vec3 wx, wy;
  const uint nx = boxTaps(x, p.srcWidth, x0, wx), ny = boxTaps(y, p.srcHeight, y0, wy);
  const uint base = image * p.srcWidth * p.srcHeight;
  vec4 sum = vec4(0.0);
  for (uint j = 0u; j < ny; ++j) {
    vec4 row = vec4(0.0);
    for (uint k = 0u; k < nx; ++k) row += wx[k] * loadTexel(base + (y0 + j) * p.srcWidth + x0 + k);
    sum += wy[j] * row;
  }
  return sum;
}
