// Two normal values from two Philox words, exactly as every noise of tessera draws them:
//   u1 = (2*(a >> 9) + 1) * 2^-24  in [2^-24, 1 - 2^-24], exact in fp32, never 0
//   u2 = (b >> 8) * 2^-24          in [0, 1), exact
//   r = sqrt(-2 ln u1), (r cos 2*pi*u2, r sin 2*pi*u2), with `precise` so every device and
// every shader that includes this rounds the same way.
#ifndef TESSERA_BOX_MULLER_GLSL
#define TESSERA_BOX_MULLER_GLSL

#include "precise_math.glsl"

vec2 boxMuller(uint a, uint b) {
  precise float u1 = float(((a >> 9) << 1) | 1u) * 5.9604644775390625e-8;
  precise float u2 = float(b >> 8) * 5.9604644775390625e-8;
  precise float r = sqrt(-2.0 * lnPrecise(u1));
  float s, c;
  sincosTurns(u2, s, c);
  precise vec2 z = vec2(r * c, r * s);
  return z;
}

#endif
