// Philox-4x32-10 (Salmon, Moraes, Dror, Shaw: "Parallel random numbers: as easy as 1, 2, 3",
// SC 2011): a keyed bijection of a 128-bit counter, so any element's random bits are computed
// from (key, counter) alone, in any order, on any device. Checked against Random123's
// known-answer vectors in tests/ops/gaussian_noise_test.cpp.
#ifndef TESSERA_PHILOX_GLSL
#define TESSERA_PHILOX_GLSL

uvec4 philox4x32_10(uvec4 ctr, uvec2 key) {
  for (int round = 0; round < 10; ++round) {
    if (round > 0) key += uvec2(0x9E3779B9u, 0xBB67AE85u);  // Weyl key schedule W0, W1
    uint hi0, lo0, hi1, lo1;
    umulExtended(0xD2511F53u, ctr.x, hi0, lo0);  // M0
    umulExtended(0xCD9E8D57u, ctr.z, hi1, lo1);  // M1
    ctr = uvec4(hi1 ^ ctr.y ^ key.x, lo1, hi0 ^ ctr.w ^ key.y, lo0);
  }
  return ctr;
}

#endif
