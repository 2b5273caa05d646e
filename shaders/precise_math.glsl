// fp32 exp, ln and sin/cos built only from +, -, *, / and bit operations, with every intermediate
// held `precise` so no compiler fuses or reorders it. Why not the built-ins: Vulkan promises sin/cos
// only to 2^-11 absolute (and nothing outside [-pi, pi]), exp to 3+2|x| ulp and log to 2^-21
// absolute near 1, which would make embeddings and noise differ by vendor far beyond fp32
// rounding. The same fp32 operations run on the CPU against double: sin/cos <= 1.5 ulp for
// |x| <= 8192, exp <= 1.4 ulp, ln <= 2.6 ulp (docs/KERNELS.md).
#ifndef TESSERA_PRECISE_MATH_GLSL
#define TESSERA_PRECISE_MATH_GLSL

const float kLn2Hi = 0.693359375;       // ln 2 split so that k*kLn2Hi is exact for |k| < 2^15
const float kLn2Lo = -2.12194440e-4;
const float kPio2Hi = 1.5703125;        // pi/2 in three parts (Cody-Waite); k*kPio2Hi exact for |k| < 2^16
const float kPio2Mid = 4.837512969970703125e-4;
const float kPio2Lo = 7.54978995489188216e-8;

// sin and cos of x in [-pi/4, pi/4] by minimax polynomials.
void sincosQuarter(float x, out float s, out float c) {
  precise float z = x * x;
  precise float ps = (-1.9515295891e-4 * z + 8.3321608736e-3) * z - 1.6666654611e-1;
  precise float sinx = x + x * z * ps;
  precise float pc = (2.443315711809948e-5 * z - 1.388731625493765e-3) * z + 4.166664568298827e-2;
  precise float cosx = 1.0 - 0.5 * z + z * z * pc;
  s = sinx;
  c = cosx;
}

// Rotates (sin r, cos r) by quadrant q: the sin and cos of r + q*pi/2.
void rotateQuadrant(int q, float sr, float cr, out float s, out float c) {
  q &= 3;
  s = q == 0 ? sr : q == 1 ? cr : q == 2 ? -sr : -cr;
  c = q == 0 ? cr : q == 1 ? -sr : q == 2 ? -cr : sr;
}

// sin and cos of any x; accurate to ~1.5 ulp while |x| <= 8192, degrading slowly beyond.
void sincosPrecise(float x, out float s, out float c) {
  precise float k = roundEven(x * 0.636619772367581343);
  precise float r = ((x - k * kPio2Hi) - k * kPio2Mid) - k * kPio2Lo;
  float sr, cr;
  sincosQuarter(r, sr, cr);
  rotateQuadrant(int(k), sr, cr, s, c);
}

// sin and cos of 2*pi*u for u in [0, 1) given as a multiple of 2^-24: the reduction to a quarter
// turn is exact, so only the polynomial rounds.
void sincosTurns(float u, out float s, out float c) {
  precise float a = 4.0 * u;
  precise float q = roundEven(a);
  precise float r = (a - q) * 1.57079632679489662;
  float sr, cr;
  sincosQuarter(r, sr, cr);
  rotateQuadrant(int(q), sr, cr, s, c);
}

// e^x, clamped to the normal fp32 range.
float expPrecise(float x) {
  precise float xc = clamp(x, -87.0, 88.0);
  precise float k = roundEven(xc * 1.44269504088896341);
  precise float r = (xc - k * kLn2Hi) - k * kLn2Lo;
  precise float p = ((((1.9875691500e-4 * r + 1.3981999507e-3) * r + 8.3334519073e-3) * r + 4.1665795894e-2) * r +
                     1.6666665459e-1) * r + 5.0000001201e-1;
  precise float e = r * r * p + r + 1.0;
  return ldexp(e, int(k));
}

// Natural log of a positive, normal x: x = m*2^e with m in (sqrt(1/2), sqrt(2)], then
// ln(m) = 2*atanh(f/(2+f)) with f = m-1 exact, so values near 1 keep their relative precision.
float lnPrecise(float x) {
  uint bits = floatBitsToUint(x);
  int e = int(bits >> 23) - 127;
  precise float m = uintBitsToFloat((bits & 0x007fffffu) | 0x3f800000u);
  if (m > 1.41421356) {
    m = m * 0.5;
    e += 1;
  }
  precise float f = m - 1.0;
  precise float s = f / (2.0 + f);
  precise float z = s * s;
  precise float p = z * ((((z * (1.0 / 11.0) + 1.0 / 9.0) * z + 1.0 / 7.0) * z + 1.0 / 5.0) * z + 1.0 / 3.0);
  precise float ln1p = 2.0 * s + 2.0 * s * p;
  precise float fe = float(e);
  return fe * kLn2Hi + (fe * kLn2Lo + ln1p);
}

#endif
