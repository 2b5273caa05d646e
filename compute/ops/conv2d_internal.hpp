#pragma once
// Shared by the conv2d variant files: the derived sizes of one call and the channel chunking that
// the packed weight layouts use. Not part of the op's interface.
#include <cstdint>

#include "ops/conv2d.hpp"

namespace tessera::ops::conv2d_detail {

constexpr const char* kOp = "conv2d";

// Channels are packed in chunks of 4 (one vec4), each input padded on its own, so a chunk never
// mixes the two inputs of a concat: chunks [0, qa) come from the first input, [qa, qa+qb) from
// the second.
struct Chunks {
  uint32_t c1 = 0, c2 = 0;  // channels of each input
  uint32_t qa = 0, qb = 0;  // chunks of each input
  uint32_t count() const { return qa + qb; }
  // Channel index in [0, c1+c2) of lane j of chunk q, or -1 for padding.
  int64_t channel(uint32_t q, uint32_t j) const {
    if (q < qa) return q * 4 + j < c1 ? int64_t(q * 4 + j) : -1;
    const uint32_t c = (q - qa) * 4 + j;
    return c < c2 ? int64_t(c1 + c) : -1;
  }
};

inline Chunks chunksOf(const Conv2dParams& p) {
  Chunks c;
  c.c2 = p.in2Channels;
  c.c1 = p.inChannels - p.in2Channels;
  c.qa = (c.c1 + 3) / 4;
  c.qb = (c.c2 + 3) / 4;
  return c;
}

// Lanes of a subgroup of s that the GEMM-style kernels (Winograd GEMM, pointwise) put across a
// layer's `units` of output channels (quads, or quads per lane): all s when there are that many,
// else the power of two that covers them, the other lanes taking more tiles or pixels instead of
// zero padding (a 16-channel layer: 4 lanes, 2 groups).
inline uint32_t quadLanes(uint32_t units, uint32_t s) {
  uint32_t ql = 1;
  while (ql < units && ql < s) ql *= 2;
  return ql;
}

constexpr uint64_t alignUp(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

}  // namespace tessera::ops::conv2d_detail
