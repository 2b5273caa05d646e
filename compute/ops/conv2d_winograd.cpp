// Winograd F(4,3) for 3x3 stride-1 convolutions (Lavin & Gray, points 0, +-1, +-2, inf): each 4x4
// output tile costs 36 multiplications per input channel instead of 144. Three dispatches:
//   input transform   x -> V[36][chunk][tile][4]        (scratch)
//   GEMM              U x V -> M[36][quad][tile][4]     (scratch), U = G g G^T packed at load time
//   output transform  M -> out, with bias, residual and output scale fused
// Packed weights: U[36][chunk][4 in-channels of the chunk][out-channel quad][4], then the bias as
// [out-channel quad][4]. Quads are padded to the GEMM's lanes across quads, tiles to its tile
// block; the padding is zero in U and never stored to the output.
#include <algorithm>
#include <array>
#include <string>

#include "ops/conv2d_internal.hpp"
#include "ops/conv2d_variants.hpp"
#include "ops/op_common.hpp"

namespace tessera::ops::conv2d_winograd {

using namespace conv2d_detail;

namespace {

constexpr uint32_t kPositions = 36;
// GEMM blocking: output-channel quads per lane, and tiles per lane (each lane of a subgroup of s
// accumulates max(32, s) tiles); see docs/KERNELS.md for the measurements.
constexpr uint32_t quadsPerLane() { return 1; }
uint32_t tilesPerLane(uint32_t s) { return std::max<uint32_t>(32, s); }

uint32_t quadLanes(const Conv2dParams& p, uint32_t s) {
  return conv2d_detail::quadLanes(divUp(divUp(p.outChannels, 4), quadsPerLane()), s);
}

// The tile geometry for one input shape.
struct WinogradTiles {
  uint32_t tilesX = 0, tilesY = 0;
  uint32_t count = 0;   // n * tilesY * tilesX
  uint32_t padded = 0;  // count rounded up to the GEMM's tile block
};

WinogradTiles tilesFor(Shape4 in, uint32_t tileBlock) {
  WinogradTiles t;
  t.tilesX = divUp(in.w, 4);
  t.tilesY = divUp(in.h, 4);
  t.count = in.n * t.tilesX * t.tilesY;
  t.padded = divUp(t.count, tileBlock) * tileBlock;
  return t;
}

// G g G^T for one 3x3 kernel, in double.
std::array<double, kPositions> transformKernel(const float* g) {
  static constexpr double G[6][3] = {{1.0 / 4, 0, 0},
                                     {-1.0 / 6, -1.0 / 6, -1.0 / 6},
                                     {-1.0 / 6, 1.0 / 6, -1.0 / 6},
                                     {1.0 / 24, 1.0 / 12, 1.0 / 6},
                                     {1.0 / 24, -1.0 / 12, 1.0 / 6},
                                     {0, 0, 1}};
  double gg[6][3] = {};  // G g
  for (int i = 0; i < 6; ++i)
    for (int j = 0; j < 3; ++j)
      for (int k = 0; k < 3; ++k) gg[i][j] += G[i][k] * g[k * 3 + j];
  std::array<double, kPositions> u{};
  for (int i = 0; i < 6; ++i)
    for (int j = 0; j < 6; ++j)
      for (int k = 0; k < 3; ++k) u[i * 6 + j] += gg[i][k] * G[j][k];
  return u;
}

struct Layout {
  uint32_t chunks;
  uint32_t quads;      // padded to a multiple of quadLanes * quadsPerLane
  uint32_t quadLanes;  // the GEMM's lanes across quads
  uint32_t tileBlock;  // the GEMM's tiles per workgroup: tiles per lane x tile groups
  std::size_t weightVec4s() const { return std::size_t(kPositions) * chunks * 4 * quads; }
};

Layout layoutOf(const Conv2dParams& p, uint32_t s) {
  const uint32_t ql = quadLanes(p, s), block = ql * quadsPerLane();
  return {chunksOf(p).count(), divUp(divUp(p.outChannels, 4), block) * block, ql, tilesPerLane(s) * (s / ql)};
}

}  // namespace

std::size_t packedCount(const Conv2dParams& p, uint32_t s) {
  const Layout l = layoutOf(p, s);
  return (l.weightVec4s() + (p.bias ? l.quads : 0)) * 4;
}

std::vector<float> pack(const Conv2dParams& p, uint32_t s, std::span<const float> oihw,
                        std::span<const float> bias) {
  const Layout l = layoutOf(p, s);
  const Chunks ch = chunksOf(p);
  std::vector<float> out(packedCount(p, s), 0.0f);
  for (uint32_t co = 0; co < p.outChannels; ++co)
    for (uint32_t q = 0; q < l.chunks; ++q)
      for (uint32_t j = 0; j < 4; ++j) {
        const int64_t ci = ch.channel(q, j);
        if (ci < 0) continue;
        const auto u = transformKernel(&oihw[(std::size_t(co) * p.inChannels + ci) * 9]);
        for (uint32_t pos = 0; pos < kPositions; ++pos)
          out[(((std::size_t(pos) * l.chunks + q) * 4 + j) * l.quads + co / 4) * 4 + co % 4] = float(u[pos]);
      }
  if (p.bias)
    for (uint32_t co = 0; co < p.outChannels; ++co) out[l.weightVec4s() * 4 + co] = bias[co];
  return out;
}

namespace {

// Splitting. V and M are one binding each, so each must fit the device's storage-buffer range.
// When the whole batch's tiles do not, the tiles are cut into blocks that run one after another
// through the same scratch: whole images when one image fits, else bands of tile rows of one
// image. Every block runs the same three dispatches on its own tiles; the input transform reads
// and the output transform writes the full tensors (each within the range), addressing them from
// the block's first image and tile row, so padding (zero or circular) still sees the whole image.
struct Blocking {
  uint32_t images;  // images per block (the last block may hold fewer)
  uint32_t rows;    // tile rows of each image per block; < tilesY only when images == 1
  uint32_t padded;  // tiles of the largest block, rounded up to the GEMM's tile block
};

Blocking blockingFor(const Layout& l, Shape4 in, uint64_t range) {
  const WinogradTiles t = tilesFor(in, l.tileBlock);
  const uint64_t perTile = uint64_t(kPositions) * std::max(l.chunks, l.quads) * 16;
  if (uint64_t(t.padded) * perTile <= range) return {in.n, t.tilesY, t.padded};
  // The most tiles a binding holds, a whole number of GEMM tile blocks, so a block of at most
  // this many tiles still fits after its padding.
  const uint64_t cap = range / perTile / l.tileBlock * l.tileBlock;
  const uint64_t perImage = uint64_t(t.tilesX) * t.tilesY;
  Blocking b;
  if (perImage <= cap) {
    b.images = uint32_t(cap / perImage);
    b.rows = t.tilesY;
  } else {
    b.images = 1;
    b.rows = uint32_t(cap / t.tilesX);
    if (b.rows == 0)
      fail(ErrorCode::Unsupported, std::string(kOp) + ": one row of " + std::to_string(t.tilesX) +
                                       " Winograd tiles needs " + std::to_string(perTile * t.tilesX) +
                                       " bytes, above the device's storage-buffer range of " +
                                       std::to_string(range));
  }
  const uint32_t tiles = b.images * b.rows * t.tilesX;
  b.padded = divUp(tiles, l.tileBlock) * l.tileBlock;
  return b;
}

struct ScratchLayout {
  uint64_t vBytes, mOffset, mBytes;  // of the largest block
};

ScratchLayout scratchLayout(const Layout& l, uint32_t padded, uint64_t alignment) {
  ScratchLayout sl;
  sl.vBytes = uint64_t(kPositions) * l.chunks * padded * 16;
  sl.mOffset = alignUp(sl.vBytes, alignment);
  sl.mBytes = uint64_t(kPositions) * l.quads * padded * 16;
  return sl;
}

}  // namespace

namespace {

// One block of tiles: images [imageBase, imageBase+images), tile rows [rowBase, rowBase+rows) of
// each, and the scratch its V and M occupy.
struct Block {
  uint32_t imageBase = 0, rowBase = 0, images = 0, rows = 0;
  uint32_t tiles = 0, padded = 0;
  BufferRef v, m;
};

void recordBlock(const Conv2d& conv, Program& prog, vk::KernelCache& kernels, const Conv2dIO& io,
                 const Layout& l, const Chunks& ch, const WinogradTiles& t, const Block& b) {
  const Conv2dParams& p = conv.params();
  const uint32_t s = kernels.gpu().facts.subgroupSize;
  const bool fp16 = conv.dtype() == DType::F16;
  const Shape4 in = io.in.shape;
  const BufferRef& v = b.v;
  const BufferRef& m = b.m;

  const bool rows4 = in.w % 4 == 0;
  const uint32_t circular = conv.paddingFor(io) == Padding::Circular;
  const double transformFlops = 0;  // GFLOP/s figures count the direct convolution's work (below)
  // The folded GroupNorm's coefficients (bound to V, never read, when there are none).
  const uint32_t norm = io.inputNorm != nullptr, normSilu = norm && io.inputNormSilu;
  const BufferRef coeffs = norm ? io.inputNorm->ref : v;
  auto inputTransform = [&](const Tensor& x, uint32_t channels, uint32_t inChunks, uint32_t chunkBase,
                            uint32_t coeffBase) {
    if (rows4) {
      // Rows of 4 columns as vec4, shared with neighbouring lanes (conv2d_winograd_input4.comp).
      struct Push {
        uint32_t channels, inChunks, chunkBase, chunks, h, w, tilesX, rows, tilesPadded, imageBase, rowBase;
        uint32_t coeffBase, coeffChannels;
      };
      constexpr uint32_t kBand = 4;
      const uint32_t spec[] = {s, circular, kBand, norm, normSilu};
      const vk::Kernel& k = kernels.get("conv2d_winograd_input4", fp16, spec);
      prog.add(k, {x.ref, x.ref, v, coeffs},
               Push{channels, inChunks, chunkBase, l.chunks, in.h, in.w, t.tilesX, b.rows, b.padded, b.imageBase,
                    b.rowBase, coeffBase, p.inChannels},
               divUp(t.tilesX, s), divUp(b.rows, kBand), b.images * inChunks, transformFlops);
      return;
    }
    struct Push {
      uint32_t channels, chunkBase, chunks, h, w, tilesX, rows, tiles, tilesPadded, imageBase, rowBase;
      uint32_t coeffBase, coeffChannels;
    };
    const uint32_t spec[] = {s, circular, norm, normSilu};
    const vk::Kernel& k = kernels.get("conv2d_winograd_input", fp16, spec);
    prog.add(k, {x.ref, v, coeffs},
             Push{channels, chunkBase, l.chunks, in.h, in.w, t.tilesX, b.rows, b.tiles, b.padded, b.imageBase,
                  b.rowBase, coeffBase, p.inChannels},
             b.padded / s, inChunks, 1, transformFlops);
  };
  inputTransform(io.in, ch.c1, ch.qa, 0, 0);
  if (io.in2) inputTransform(*io.in2, ch.c2, ch.qb, ch.qa, ch.c1);

  struct GemmPush {
    uint32_t chunks, quads, tilesPadded;
  };
  const uint32_t gemmSpec[] = {s, l.tileBlock, quadsPerLane(), l.quadLanes};
  const vk::Kernel& gemm = kernels.get("conv2d_winograd_gemm", fp16, gemmSpec);
  // The block's share of the convolution's work, by its tiles.
  const double flops = conv.flops(in) * b.tiles / t.count;
  prog.add(gemm, {io.weights.ref, v, m}, GemmPush{l.chunks, l.quads, b.padded}, b.padded / l.tileBlock,
           l.quads / (l.quadLanes * quadsPerLane()), kPositions, flops);

  struct OutputPush {
    uint32_t cout, quads, h, w, tilesX, rows, tiles, tilesPadded, biasAt, hasBias, hasResidual;
    float outputScale;
    uint32_t imageBase, rowBase;
  };
  const uint32_t outSpec[] = {s, rows4};
  const vk::Kernel& output = kernels.get("conv2d_winograd_output", fp16, outSpec);
  const BufferRef res = io.residual ? io.residual->ref : io.out.ref;
  prog.add(output, {m, io.weights.ref, res, res, io.out.ref, io.out.ref},
           OutputPush{p.outChannels, l.quads, in.h, in.w, t.tilesX, b.rows, b.tiles, b.padded,
                      uint32_t(l.weightVec4s()), p.bias, io.residual != nullptr, io.outputScale, b.imageBase,
                      b.rowBase},
           b.padded / s, divUp(p.outChannels, 4), 1, transformFlops);
}

}  // namespace

std::size_t scratchBytes(const Conv2dParams& p, uint32_t s, Shape4 in, uint64_t alignment, uint64_t range) {
  const Layout l = layoutOf(p, s);
  const ScratchLayout sl = scratchLayout(l, blockingFor(l, in, range).padded, alignment);
  return sl.mOffset + sl.mBytes;
}

void record(const Conv2d& conv, Program& prog, vk::KernelCache& kernels, const Conv2dIO& io,
            uint64_t alignment, uint64_t range) {
  const Conv2dParams& p = conv.params();
  const uint32_t s = kernels.gpu().facts.subgroupSize;
  const Shape4 in = io.in.shape;
  const Layout l = layoutOf(p, s);
  const Chunks ch = chunksOf(p);
  const WinogradTiles t = tilesFor(in, l.tileBlock);
  const Blocking blocking = blockingFor(l, in, range);
  const uint64_t mOffset = scratchLayout(l, blocking.padded, alignment).mOffset;
  const BufferRef& scr = io.scratch->ref;
  for (uint32_t image = 0; image < in.n; image += blocking.images)
    for (uint32_t row = 0; row < t.tilesY; row += blocking.rows) {
      Block b;
      b.imageBase = image;
      b.rowBase = row;
      b.images = std::min(blocking.images, in.n - image);
      b.rows = std::min(blocking.rows, t.tilesY - row);
      b.tiles = b.images * b.rows * t.tilesX;
      b.padded = divUp(b.tiles, l.tileBlock) * l.tileBlock;
      const ScratchLayout sl = scratchLayout(l, b.padded, alignment);
      b.v = {scr.buffer, scr.offset, sl.vBytes};
      b.m = {scr.buffer, scr.offset + mOffset, sl.mBytes};
      recordBlock(conv, prog, kernels, io, l, ch, t, b);
    }
}

}  // namespace tessera::ops::conv2d_winograd
