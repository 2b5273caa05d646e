#pragma once
// What every conv2d test program shares: a case description, an independent CPU reference in
// double precision (the plain seven-loop convolution with the padding rules written out), and a
// runner that uploads fresh random inputs, poisons the output and scratch, and compares.
#include <cmath>
#include <string>
#include <vector>

#include "gpu_test.hpp"
#include "op_harness.hpp"
#include "ops/conv2d.hpp"

namespace tessera::test::conv {

using ops::Conv2d;
using ops::Conv2dIO;
using ops::Conv2dParams;
using ops::Conv2dVariant;
using ops::Padding;
using ops::PadPlacement;

struct Case {
  Shape4 in;         // the first input: n, c1, h, w
  uint32_t in2 = 0;  // channels of a second input read in place of a concat (0: none)
  uint32_t cout = 8;
  uint32_t kernel = 3;
  uint32_t stride = 1;
  Padding padding = Padding::Zeros;
  bool bias = true;
  bool residual = false;
  float outputScale = 1.0f;
  // Build the layer with the other padding and ask for `padding` per dispatch (Conv2dIO::padding).
  bool overridePadding = false;
  PadPlacement placement = PadPlacement::Both;
  // A GroupNorm folded into the loads (Conv2dIO::inputNorm): random per-(image, channel)
  // coefficients, then SiLU when normSilu.
  bool norm = false;
  bool normSilu = false;

  Conv2dParams params() const {
    const Padding built = overridePadding ? (padding == Padding::Zeros ? Padding::Circular : Padding::Zeros) : padding;
    return {in.c + in2, in2, cout, kernel, stride, built, bias, placement};
  }
  std::string str() const {
    return "in " + in.str() + (in2 ? " + " + std::to_string(in2) + " ch" : std::string()) + " -> " +
           std::to_string(cout) + " k" + std::to_string(kernel) + " s" + std::to_string(stride) +
           (padding == Padding::Circular ? " circular" : " zeros") +
           (placement == PadPlacement::After ? " after-only" : "") +
           (overridePadding ? " per-dispatch" : "") + (bias ? " bias" : "") + (residual ? " residual" : "") +
           (norm ? (normSilu ? " norm+silu" : " norm") : "") +
           " scale " + std::to_string(outputScale);
  }
};

// Inputs of one case, already rounded to the storage type so the reference sees what the GPU reads.
struct Data {
  std::vector<float> x, x2, w, b, res;
  std::vector<float> coeffs;  // norm: [n][in channels][center, scale, shift, 0]
};

inline Data randomData(const Case& c, DType t, std::mt19937_64& rng) {
  const uint32_t cin = c.in.c + c.in2;
  const float ws = 1.0f / std::sqrt(float(cin * c.kernel * c.kernel));
  Data d;
  d.x = roundTo(t, randomVector(rng, c.in.count()));
  d.x2 = roundTo(t, randomVector(rng, std::size_t(c.in.n) * c.in2 * c.in.h * c.in.w));
  d.w = roundTo(t, randomVector(rng, std::size_t(c.cout) * cin * c.kernel * c.kernel, -ws, ws));
  if (c.bias) d.b = roundTo(t, randomVector(rng, c.cout));
  if (c.norm) {
    d.coeffs.resize(std::size_t(c.in.n) * cin * 4);
    for (std::size_t i = 0; i < d.coeffs.size(); i += 4) {
      const auto v = randomVector(rng, 3);
      d.coeffs[i] = v[0];                   // center
      d.coeffs[i + 1] = 0.3f + 1.7f * std::abs(v[1]);  // scale
      d.coeffs[i + 2] = v[2];               // shift
    }
  }
  return d;
}

// The input value the layer convolves: x itself, or x normalised by its coefficients.
inline double normalised(const Case& c, const Data& d, int64_t n, int64_t ci, double x) {
  if (!c.norm) return x;
  const std::size_t at = (std::size_t(n) * (c.in.c + c.in2) + std::size_t(ci)) * 4;
  const double y = (x - d.coeffs[at]) * d.coeffs[at + 1] + d.coeffs[at + 2];
  return c.normSilu ? y / (1.0 + std::exp(-y)) : y;
}

// Index of input coordinate i (may be outside [0, size)) after padding, or -1 for a zero.
inline int64_t padIndex(int64_t i, int64_t size, Padding pad) {
  if (i >= 0 && i < size) return i;
  if (pad == Padding::Zeros) return -1;
  return ((i % size) + size) % size;
}

// Padding before index 0 along each axis, and in all: k/2 on both sides (PyTorch's padding=k//2),
// or for placement After none before and one after (F.pad(x, (0, 1, 0, 1)), then padding 0).
inline int64_t padBefore(const Case& c) { return c.placement == PadPlacement::After ? 0 : c.kernel / 2; }
inline int64_t padTotal(const Case& c) { return c.placement == PadPlacement::After ? 1 : 2 * (c.kernel / 2); }

inline Shape4 referenceShape(const Case& c) {
  auto out = [&](int64_t s) { return uint32_t((s + padTotal(c) - c.kernel) / c.stride + 1); };
  return {c.in.n, c.cout, out(c.in.h), out(c.in.w)};
}

inline std::vector<double> reference(const Case& c, const Data& d, Shape4 outShape) {
  const int64_t cin = c.in.c + c.in2, h = c.in.h, w = c.in.w, k = c.kernel, pad = padBefore(c);
  std::vector<double> out(outShape.count());
  for (int64_t n = 0; n < c.in.n; ++n)
    for (int64_t co = 0; co < c.cout; ++co)
      for (int64_t oy = 0; oy < outShape.h; ++oy)
        for (int64_t ox = 0; ox < outShape.w; ++ox) {
          double s = c.bias ? d.b[co] : 0.0;
          for (int64_t ci = 0; ci < cin; ++ci)
            for (int64_t ky = 0; ky < k; ++ky)
              for (int64_t kx = 0; kx < k; ++kx) {
                const int64_t iy = padIndex(oy * c.stride + ky - pad, h, c.padding);
                const int64_t ix = padIndex(ox * c.stride + kx - pad, w, c.padding);
                if (iy < 0 || ix < 0) continue;  // zero padding of the (normalised) input
                const double v = ci < c.in.c ? d.x[((n * c.in.c + ci) * h + iy) * w + ix]
                                             : d.x2[((n * c.in2 + ci - c.in.c) * h + iy) * w + ix];
                s += normalised(c, d, n, ci, v) * d.w[((co * cin + ci) * k + ky) * k + kx];
              }
          const std::size_t at = ((n * c.cout + co) * outShape.h + oy) * outShape.w + ox;
          if (c.residual) s += d.res[at];
          out[at] = s * c.outputScale;
        }
  return out;
}

// Runs the layer on the shared test device and returns its output.
inline std::vector<float> run(const Conv2d& conv, const Case& c, const Data& d, DType t) {
  const vk::Gpu& gpu = GpuTest::gpu();
  const Shape4 outShape = conv.outputShape(c.in);
  const Shape4 in2Shape{c.in.n, c.in2, c.in.h, c.in.w};
  const std::size_t scratch = conv.scratchBytes(c.in);
  const std::size_t bytes =
      (c.in.count() + in2Shape.count() + 2 * outShape.count() + conv.packedWeightCount()) * 4 + scratch +
      std::size_t(c.in.n) * (c.in.c + c.in2) * 16 + 9 * 4096;
  TensorPool pool(gpu, bytes);
  Conv2dIO io;
  io.in = pool.make(c.in, t);
  pool.upload(io.in, d.x);
  Tensor in2, res, scr, coeffs;
  if (c.in2) {
    in2 = pool.make(in2Shape, t);
    pool.upload(in2, d.x2);
    io.in2 = &in2;
  }
  io.weights = pool.make({1, 1, 1, uint32_t(conv.packedWeightCount())}, t);
  pool.upload(io.weights, conv.packWeights(d.w, d.b));
  io.out = pool.make(outShape, t);
  pool.poison(io.out);
  if (c.residual) {
    res = pool.make(outShape, t);
    pool.upload(res, d.res);
    io.residual = &res;
  }
  if (scratch) {
    scr = pool.make({1, 1, 1, uint32_t((scratch + 3) / 4)}, DType::F32);
    pool.poison(scr);
    io.scratch = &scr;
  }
  if (c.norm) {
    coeffs = pool.make({c.in.n, c.in.c + c.in2, 1, 4}, DType::F32);
    pool.upload(coeffs, d.coeffs);
    io.inputNorm = &coeffs;
    io.inputNormSilu = c.normSilu;
  }
  io.outputScale = c.outputScale;
  if (c.overridePadding) io.padding = c.padding;
  Program prog(gpu);
  conv.record(prog, GpuTest::kernels(), io);
  runProgram(gpu, prog);
  return pool.download(io.out);
}

// Fresh random inputs, the layer in `variant`, compared with the reference at `tol`.
inline void check(Conv2dVariant variant, DType t, const Case& c, const Tolerance& tol) {
  const uint64_t seed = freshSeed();
  SCOPED_TRACE("seed " + std::to_string(seed) + " " + ops::variantName(variant) + " " + dtypeName(t) + " " +
               c.str());
  std::mt19937_64 rng(seed);
  const Conv2d conv(GpuTest::gpu().facts, c.params(), t, variant);
  ASSERT_EQ(conv.variant(), variant);
  Data d = randomData(c, t, rng);
  const Shape4 outShape = conv.outputShape(c.in);
  ASSERT_EQ(outShape, referenceShape(c));
  if (c.residual) d.res = roundTo(t, randomVector(rng, outShape.count()));
  const std::vector<double> want = reference(c, d, outShape);
  expectClose(run(conv, c, d, t), want, tol, "conv2d");
}

inline void check(Conv2dVariant variant, DType t, const Case& c) { check(variant, t, c, toleranceFor(t)); }

// The matrix every variant runs: kernel x stride x padding x {bias; residual + scale; second input
// + bias + residual}, on odd channel counts, sizes that are no multiple of any tile, batch 1 and 3.
inline std::vector<Case> matrix(bool stride2, bool kernel1) {
  std::vector<Case> cases;
  int i = 0;
  for (uint32_t k : {1u, 3u}) {
    if (k == 1 && !kernel1) continue;
    for (uint32_t s : {1u, 2u}) {
      if (s == 2 && !stride2) continue;
      for (Padding pad : {Padding::Zeros, Padding::Circular}) {
        // The last is 4-aligned in width (the vec4 row paths) with 9 tiles of 4 per row.
        const Shape4 shapes[] = {{1, 13, 13, 5}, {3, 3, 7, 9}, {1, 5, 17, 17}, {2, 7, 6, 36}};
        Case a{shapes[i++ % 4], 0, 13, k, s, pad, true, false, 1.0f};
        Case b{shapes[i++ % 4], 0, 8, k, s, pad, false, true, 0.70710678f};
        Case c{shapes[i++ % 4], 6, 11, k, s, pad, true, true, 0.5f};
        cases.insert(cases.end(), {a, b, c});
      }
    }
  }
  return cases;
}

// Padding after only (diffusers' Downsample2D with padding 0), for the variants that run it:
// stride 2 on even sizes (the last output reads the pad row/column: zero, or row/column 0
// circular) and odd ones (it never does), zeros and circular, built in or asked per dispatch,
// with bias, residual + scale and a second input; one stride-1 case.
inline std::vector<Case> padAfterMatrix() {
  std::vector<Case> cases;
  const Shape4 shapes[] = {{1, 13, 8, 12}, {3, 3, 7, 9}, {1, 5, 16, 16}, {2, 7, 17, 36}};
  int i = 0;
  for (Padding pad : {Padding::Zeros, Padding::Circular})
    for (bool perDispatch : {false, true}) {
      Case a{shapes[i++ % 4], 0, 13, 3, 2, pad, true, false, 1.0f};
      Case b{shapes[i++ % 4], 0, 8, 3, 2, pad, false, true, 0.70710678f};
      Case c{shapes[i++ % 4], 6, 11, 3, 2, pad, true, true, 0.5f};
      Case e{shapes[i++ % 4], 0, 9, 3, 2, pad, true, false, 1.0f};
      for (Case* x : {&a, &b, &c, &e}) {
        x->placement = PadPlacement::After;
        x->overridePadding = perDispatch;
      }
      cases.insert(cases.end(), {a, b, c, e});
      ++i;  // each kind of case meets every shape
    }
  for (Padding pad : {Padding::Zeros, Padding::Circular}) {
    Case s1{{2, 5, 9, 12}, 0, 7, 3, 1, pad, true, true, 0.5f};
    s1.placement = PadPlacement::After;
    cases.push_back(s1);
  }
  return cases;
}

}  // namespace tessera::test::conv

namespace tessera::test::conv {

// Tiling property of circular padding: convolving an input rolled by r columns (stride 1) gives
// the output rolled by r columns. Compares two GPU runs, so it holds whatever the reference says.
inline void checkRollProperty(Conv2dVariant variant, DType t, Case c, uint32_t r) {
  const uint64_t seed = freshSeed();
  SCOPED_TRACE("seed " + std::to_string(seed) + " " + ops::variantName(variant) + " " + dtypeName(t) + " " +
               c.str());
  std::mt19937_64 rng(seed);
  const Conv2d conv(GpuTest::gpu().facts, c.params(), t, variant);
  const Data d = randomData(c, t, rng);
  Data rolled = d;
  const uint32_t w = c.in.w, rows = c.in.count() / w;
  for (uint32_t row = 0; row < rows; ++row)
    for (uint32_t x = 0; x < w; ++x) rolled.x[row * w + (x + r) % w] = d.x[row * w + x];
  const std::vector<float> a = run(conv, c, d, t), b = run(conv, c, rolled, t);
  const Shape4 o = conv.outputShape(c.in);
  std::vector<double> want(a.size());
  for (uint32_t row = 0; row < o.count() / o.w; ++row)
    for (uint32_t x = 0; x < o.w; ++x) want[row * o.w + (x + r) % o.w] = a[row * o.w + x];
  expectClose(b, want, t, "rolled input vs rolled output");
}

}  // namespace tessera::test::conv
