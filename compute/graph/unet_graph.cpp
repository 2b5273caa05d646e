#include "unet_graph.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>

#include "half.hpp"
#include "memory_planner.hpp"
#include "ops/attention.hpp"
#include "ops/avg_pool.hpp"
#include "ops/eltwise.hpp"
#include "ops/group_norm.hpp"
#include "ops/linear.hpp"
#include "ops/timestep_embedding.hpp"
#include "ops/upsample.hpp"

namespace tessera::graph {

using model::AttentionLayout;
using model::BlockLayout;
using model::ResamplerLayout;
using model::ResnetLayout;

namespace {

uint64_t alignUp(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

Shape4 vec(uint32_t n, uint32_t c) { return {n, c, 1, 1}; }

// An up block's resnet reads cat(hidden, skip) where the two lie: its first GroupNorm takes both
// parts and its 1x1 shortcut reads the skip as a second input. Only a resnet that also resamples
// its input, or adds it unchanged (no shortcut), needs the concatenated tensor itself.
bool readsSkipInPlace(const ResnetLayout& r) {
  return r.concatChannels > 0 && r.hasShortcut && r.resample == ResnetLayout::Resample::None;
}

}  // namespace

// The symbolic pass: activation tensors are ids with a shape and a lifetime; each op is a step
// that records its dispatches once the plan has given every id an offset.
struct UnetGraph::Builder {
  struct Node {
    Shape4 shape;
    DType dtype;
    uint64_t bytes = 0;                      // 0: computed from shape
    int staging = -1;                        // >= 0: fixed offset in the staging region
    TensorLifetime life{0, UINT32_MAX, 0};
  };
  UnetGraph& g;
  uint32_t n, h, w;
  DType dt;
  ops::Padding pad;
  std::vector<Node> nodes;
  std::vector<std::function<void(Program&)>> steps;
  std::vector<Tensor> resolved;

  int tensor(Shape4 s) {
    nodes.push_back({s, dt});
    return int(nodes.size()) - 1;
  }
  int scratch(uint64_t bytes) {
    Node nd{{1, 1, 1, uint32_t((bytes + 3) / 4)}, DType::F32, bytes};
    nodes.push_back(nd);
    return int(nodes.size()) - 1;
  }
  int stagingTensor(Shape4 s, DType d, uint64_t offset) {
    Node nd{s, d};
    nd.staging = int(offset);
    nodes.push_back(nd);
    return int(nodes.size()) - 1;
  }
  void step(std::initializer_list<int> ids, std::function<void(Program&)> fn) {
    const uint32_t i = uint32_t(steps.size());
    for (int id : ids) {
      if (id < 0) continue;
      TensorLifetime& l = nodes[id].life;
      l.firstUse = std::min(l.firstUse, i);
      l.lastUse = std::max(l.lastUse, i);
    }
    steps.push_back(std::move(fn));
  }
  const Tensor& T(int id) const { return resolved.at(id); }
  const Tensor* P(int id) const { return id < 0 ? nullptr : &resolved.at(id); }
  Shape4 S(int id) const { return nodes[id].shape; }
  Tensor W(const std::string& name) const {
    const auto it = g.weights_.find(name);
    if (it == g.weights_.end()) fail(ErrorCode::InvalidArgument, "UnetGraph: no packed weight " + name);
    const PackedWeight& p = it->second;
    if (p.shape.count() == 0) fail(ErrorCode::InvalidArgument, "UnetGraph: empty weight " + name + " " + p.shape.str());
    return g.arena_->tensor(ArenaRegion::Weights, g.options_.weightsOffset + p.offset, p.shape, dt);
  }

  // ---- ops ----
  // `inNorm` >= 0: the coefficients of a GroupNorm + SiLU the layer applies on its loads.
  int conv(const std::string& name, int in, int in2 = -1, int residual = -1, float scale = 1.0f, int out = -1,
           int inNorm = -1) {
    const ops::Conv2d& c = *g.convs_.at(name);
    Shape4 is = S(in);
    if (in2 >= 0) is.c += S(in2).c;
    if (out < 0) out = tensor(c.outputShape(is));
    const std::size_t sb = c.scratchBytes(is);
    const int scr = sb ? scratch(sb) : -1;
    step({in, in2, residual, out, scr, inNorm}, [=, this, &c](Program& p) {
      ops::Conv2dIO io{T(in), P(in2), W(name + ".weight"), T(out), P(residual), P(scr), scale, pad};
      io.inputNorm = P(inNorm);
      io.inputNormSilu = inNorm >= 0;
      c.record(p, g.kernels_, io);
    });
    return out;
  }
  // GroupNorm + SiLU, then a 3x3 convolution. Where the layer normalises on its loads
  // (Winograd), the GroupNorm only writes its per-channel coefficients and the normalised tensor
  // is never written or read; elsewhere the two ops as they are.
  int normSiluConv(const std::string& normName, const std::string& convName, int in, int in2, uint32_t groups,
                   int preAdd, int scaleShift, int residual = -1, float scale = 1.0f, int out = -1) {
    const bool fold = g.convs_.at(convName)->foldsInputNorm();
    const int h = norm(normName + ".weight", normName + ".bias", in, groups, true, preAdd, scaleShift, in2, fold);
    if (!fold) return conv(convName, h, -1, residual, scale, out);
    return conv(convName, in, in2, residual, scale, out, h);
  }
  // coefficientsOnly: the result is the per-channel coefficients (fp32 [N,C,1,4]) for a
  // convolution that normalises on its loads, not the normalised tensor.
  int norm(const std::string& weight, const std::string& bias, int in, uint32_t groups, bool silu, int preAdd = -1,
           int scaleShift = -1, int in2 = -1, bool coefficientsOnly = false) {
    Shape4 s = S(in);
    if (in2 >= 0) s.c += S(in2).c;
    int out;
    if (coefficientsOnly) {
      nodes.push_back({{s.n, s.c, 1, 4}, DType::F32});
      out = int(nodes.size()) - 1;
    } else {
      out = tensor(s);
    }
    const float eps = float(g.config().normEps);
    const ops::GroupNormParams params{groups, eps, silu && !coefficientsOnly, coefficientsOnly};
    step({in, in2, preAdd, scaleShift, out}, [=, this](Program& p) {
      ops::GroupNormIO io{T(in), W(weight), W(bias), T(out), P(preAdd), P(scaleShift), P(in2)};
      ops::groupNorm(p, g.kernels_, io, params);
    });
    return out;
  }
  int linear(const std::string& name, int in, uint32_t outFeatures, bool siluIn, bool siluOut, bool bias = true) {
    const int out = tensor(vec(n, outFeatures));
    step({in, out}, [=, this](Program& p) {
      const Tensor b = bias ? W(name + ".bias") : Tensor{};
      ops::LinearIO io{T(in), W(name + ".weight"), T(out), bias ? &b : nullptr};
      ops::linear(p, g.kernels_, io, ops::LinearParams{siluIn, siluOut});
    });
    return out;
  }
  int pool(int in) {
    const int out = tensor(ops::avgPool2x2Shape(S(in)));
    step({in, out}, [=, this](Program& p) { ops::avgPool2x2(p, g.kernels_, T(in), T(out)); });
    return out;
  }
  int upsample(int in) {
    const int out = tensor(ops::upsampleNearest2xShape(S(in)));
    step({in, out}, [=, this](Program& p) { ops::upsampleNearest2x(p, g.kernels_, T(in), T(out)); });
    return out;
  }
  // cat(a, b) along channels, one copy per batch item: only where a resnet cannot read the two
  // parts where they lie (see readsSkipInPlace).
  int concat(int a, int b) {
    Shape4 s = S(a);
    s.c += S(b).c;
    const int out = tensor(s);
    step({a, b, out}, [=, this](Program& p) {
      const Tensor& ta = T(a);
      const Tensor& tb = T(b);
      const Tensor& to = T(out);
      const uint64_t es = dtypeSize(dt), plane = uint64_t(s.h) * s.w;
      for (uint32_t i = 0; i < s.n; ++i) {
        auto part = [&](const Tensor& src, uint32_t c0, uint32_t c) {
          Tensor from = src, to1 = to;
          from.shape = to1.shape = {1, c, s.h, s.w};
          from.ref.offset += uint64_t(i) * c * plane * es;
          from.ref.size = from.bytes();
          to1.ref.offset += (uint64_t(i) * s.c + c0) * plane * es;
          to1.ref.size = to1.bytes();
          ops::axpby(p, g.kernels_, from, from, to1, 1.0f, 0.0f);
        };
        part(ta, 0, S(a).c);
        part(tb, S(a).c, S(b).c);
      }
    });
    return out;
  }

  int resnet(const ResnetLayout& r, int x, int skip, int emb) {
    const std::string& pf = r.prefix;
    const uint32_t groups = g.config().normNumGroups;
    const bool scaleShift = g.config().resnetTimeScaleShift == model::TimeScaleShift::ScaleShift;
    int input = x, input2 = -1;
    if (skip >= 0 && readsSkipInPlace(r)) {
      input2 = skip;
    } else if (skip >= 0) {
      input = concat(x, skip);
    }
    int c1;
    if (r.resample == ResnetLayout::Resample::None) {
      c1 = normSiluConv(pf + ".norm1", pf + ".conv1", input, input2, groups, -1, -1);
    } else {
      int h1 = norm(pf + ".norm1.weight", pf + ".norm1.bias", input, groups, true, -1, -1, input2);
      if (r.resample == ResnetLayout::Resample::AvgPool2x) {
        h1 = pool(h1);
        input = pool(input);
      } else {
        h1 = upsample(h1);
        input = upsample(input);
      }
      c1 = conv(pf + ".conv1", h1);
    }
    const int temb = linear(pf + ".time_emb_proj", emb, scaleShift ? 2 * r.outChannels : r.outChannels, true, false);
    const int residual = r.hasShortcut ? conv(pf + ".conv_shortcut", input, input2) : input;
    return normSiluConv(pf + ".norm2", pf + ".conv2", c1, -1, groups, scaleShift ? -1 : temb, scaleShift ? temb : -1,
                        residual, float(1.0 / r.outputScale));
  }

  int attention(const AttentionLayout& a, int x) {
    const std::string& pf = a.prefix;
    int xn = x;
    if (a.normGroups) xn = norm(pf + ".group_norm.weight", pf + ".group_norm.bias", x, *a.normGroups, false);
    const int out = tensor(S(x));
    const int scr = scratch(ops::attentionScratchBytes(S(x), a.headDim, dt));
    const float scale = float(a.outputScale);
    step({x, xn, out, scr}, [=, this](Program& p) {
      ops::AttentionWeights wt{W(pf + ".to_q.weight"), W(pf + ".to_q.bias"), W(pf + ".to_k.weight"),
                               W(pf + ".to_k.bias"),   W(pf + ".to_v.weight"), W(pf + ".to_v.bias"),
                               W(pf + ".to_out.0.weight"), W(pf + ".to_out.0.bias")};
      ops::attention(p, g.kernels_, T(xn), T(x), wt, T(scr), T(out), a.headDim, scale);
    });
    return out;
  }
};

UnetGraph::UnetGraph(const vk::Gpu& gpu, vk::KernelCache& kernels, const model::ModelPackage& package,
                     const UnetGraphOptions& options)
    : gpu_(gpu), kernels_(kernels), package_(package), options_(options) {
  if (options.dtype == DType::F16 && !gpu.facts.storage16)
    fail(ErrorCode::Unsupported, "UnetGraph: fp16 storage needs storageBuffer16BitAccess, which " +
                                     gpu.facts.name + " does not have enabled");
  const model::PaddingMode mode = options.padding.value_or(package.metadata().tessera.paddingMode);
  padding_ = mode == model::PaddingMode::Circular ? ops::Padding::Circular : ops::Padding::Zeros;
  align_ = Arena::offsetAlignment(gpu);
  checkSize(options.batch, options.height, options.width);
  packWeights();
  build(options.batch, options.height, options.width, padding_, true, true);
}

UnetGraph::~UnetGraph() = default;

void UnetGraph::checkSize(uint32_t batch, uint32_t height, uint32_t width) const {
  const uint32_t levels = uint32_t(config().blockOutChannels.size());
  const uint32_t step = 1u << (levels - 1);
  if (batch == 0 || height == 0 || width == 0)
    fail(ErrorCode::InvalidArgument, "UnetGraph: batch, height and width must be at least 1 (got batch " +
                                         std::to_string(batch) + ", " + std::to_string(height) + "x" +
                                         std::to_string(width) + ")");
  if (height % step || width % step)
    fail(ErrorCode::InvalidArgument,
         "UnetGraph: " + std::to_string(height) + "x" + std::to_string(width) + " is not a multiple of " +
             std::to_string(step) + " (2^(levels-1) for a " + std::to_string(levels) + "-level U-Net)");
}

void UnetGraph::packWeights() {
  const model::UnetLayout& l = package_.layout();
  const model::UnetConfig& c = l.config;
  const DType dt = options_.dtype;
  auto add = [&](const std::string& name, Shape4 shape, std::vector<float> values) {
    weights_[name] = PackedWeight{weightBytes_, shape};
    weightRuns_.emplace_back(weightBytes_, hostWeights_.size());
    hostWeights_.insert(hostWeights_.end(), values.begin(), values.end());
    weightBytes_ = alignUp(weightBytes_ + alignUp(values.size() * dtypeSize(dt), 4), align_);
  };
  auto raw = [&](const std::string& name) { return model::toFloat32(package_.tensor(name)); };
  auto vector = [&](const std::string& name) {
    std::vector<float> v = raw(name);
    const Shape4 shape{1, 1, 1, uint32_t(v.size())};
    add(name, shape, std::move(v));
  };
  auto conv = [&](const std::string& name, uint32_t in, uint32_t in2, uint32_t out, uint32_t k,
                  uint32_t stride, ops::PadPlacement placement = ops::PadPlacement::Both) {
    ops::Conv2dParams p{in, in2, out, k, stride, k == 1 ? ops::Padding::Zeros : padding_, true, placement};
    auto layer = std::make_unique<ops::Conv2d>(gpu_.facts, p, dt);
    std::vector<float> packed = layer->packWeights(raw(name + ".weight"), raw(name + ".bias"));
    const Shape4 shape{1, 1, 1, uint32_t(packed.size())};
    add(name + ".weight", shape, std::move(packed));
    convs_[name] = std::move(layer);
  };
  auto lin = [&](const std::string& name, uint32_t out, uint32_t in) {
    add(name + ".weight", {out, in, 1, 1}, raw(name + ".weight"));
    vector(name + ".bias");
  };
  auto norm = [&](const std::string& name) {
    vector(name + ".weight");
    vector(name + ".bias");
  };
  const bool scaleShift = c.resnetTimeScaleShift == model::TimeScaleShift::ScaleShift;
  auto resnet = [&](const ResnetLayout& r) {
    const std::string& pf = r.prefix;
    norm(pf + ".norm1");
    if (r.hasShortcut)
      conv(pf + ".conv_shortcut", r.inChannels, readsSkipInPlace(r) ? r.concatChannels : 0, r.outChannels, 1, 1);
    // Where conv1 folds norm1 into its loads (Winograd), it reads the up block's cat(hidden, skip)
    // in place as norm1 does; elsewhere it reads norm1's output.
    const ops::Conv2dParams p1{r.inChannels, 0, r.outChannels, 3, 1, padding_, true};
    const bool folds = ops::Conv2d::choose(gpu_.facts, p1, dt) == ops::Conv2dVariant::Winograd;
    conv(pf + ".conv1", r.inChannels, readsSkipInPlace(r) && folds ? r.concatChannels : 0, r.outChannels, 3, 1);
    lin(pf + ".time_emb_proj", scaleShift ? 2 * r.outChannels : r.outChannels, l.timeEmbedDim);
    norm(pf + ".norm2");
    conv(pf + ".conv2", r.outChannels, 0, r.outChannels, 3, 1);
  };
  auto attention = [&](const AttentionLayout& a) {
    if (a.normGroups) norm(a.prefix + ".group_norm");
    const uint32_t inner = a.heads * a.headDim;
    lin(a.prefix + ".to_q", inner, a.channels);
    lin(a.prefix + ".to_k", inner, a.channels);
    lin(a.prefix + ".to_v", inner, a.channels);
    lin(a.prefix + ".to_out.0", a.channels, inner);
  };
  auto block = [&](const BlockLayout& b) {
    for (std::size_t j = 0; j < b.resnets.size(); ++j) {
      resnet(b.resnets[j]);
      if (j < b.attentions.size()) attention(b.attentions[j]);
    }
    const ResamplerLayout& s = b.resampler;
    if (s.kind == ResamplerLayout::Kind::Conv) {
      const bool down = s.prefix.find("downsamplers") != std::string::npos;
      if (down && s.padding > 1)
        fail(ErrorCode::Unsupported, "UnetGraph: " + s.prefix + " has downsample_padding " +
                                         std::to_string(s.padding) + "; only 0 and 1 are supported");
      // downsample_padding 0: diffusers' Downsample2D pads right and bottom by one, then runs the
      // stride-2 conv with padding 0.
      const ops::PadPlacement placement =
          down && s.padding == 0 ? ops::PadPlacement::After : ops::PadPlacement::Both;
      conv(s.prefix + ".conv", s.channels, 0, s.channels, 3, down ? 2 : 1, placement);
    } else if (s.kind == ResamplerLayout::Kind::Resnet) {
      resnet(s.resnet);
    }
  };

  conv("conv_in", c.inChannels, 0, c.blockOutChannels[0], 3, 1);
  lin("time_embedding.linear_1", l.timeEmbedDim, l.timeChannels);
  lin("time_embedding.linear_2", l.timeEmbedDim, l.timeEmbedDim);
  if (c.timestepClassEmbedding()) {
    lin("class_embedding.linear_1", l.timeEmbedDim, l.timeChannels);
    lin("class_embedding.linear_2", l.timeEmbedDim, l.timeEmbedDim);
  }
  if (c.numClassEmbeds) {
    // nn.Embedding as a linear layer on a one-hot row: the table transposed to [dim, classes].
    const std::vector<float> table = raw("class_embedding.weight");
    const uint32_t k = *c.numClassEmbeds, m = l.timeEmbedDim;
    std::vector<float> t(table.size());
    for (uint32_t i = 0; i < k; ++i)
      for (uint32_t j = 0; j < m; ++j) t[std::size_t(j) * k + i] = table[std::size_t(i) * m + j];
    add("class_embedding.weight", {m, k, 1, 1}, std::move(t));
  }
  for (const BlockLayout& b : l.down) block(b);
  if (l.mid) {
    resnet(l.mid->resnets[0]);
    for (const AttentionLayout& a : l.mid->attentions) attention(a);
    resnet(l.mid->resnets[1]);
  }
  for (const BlockLayout& b : l.up) block(b);
  norm("conv_norm_out");
  conv("conv_out", c.blockOutChannels[0], 0, c.outChannels, 3, 1);
  if (c.centerInputSample) {
    // 2x - 1 as axpby(x, ones): the ones cover the largest sample.
    const Shape4 s{options_.batch, c.inChannels, options_.height, options_.width};
    add("#ones", s, std::vector<float>(s.count(), 1.0f));
  }
}

void UnetGraph::writePackedWeights(std::byte* out) const {
  const std::size_t es = dtypeSize(options_.dtype);
  for (std::size_t r = 0; r < weightRuns_.size(); ++r) {
    const auto [offset, first] = weightRuns_[r];
    const std::size_t last = r + 1 < weightRuns_.size() ? weightRuns_[r + 1].second : hostWeights_.size();
    for (std::size_t i = first; i < last; ++i) {
      std::byte* dst = out + offset + (i - first) * es;
      if (options_.dtype == DType::F16) {
        const uint16_t hv = model::floatToHalf(hostWeights_[i]);
        std::memcpy(dst, &hv, 2);
      } else {
        std::memcpy(dst, &hostWeights_[i], 4);
      }
    }
  }
}

void UnetGraph::uploadWeights() {
  if (options_.deferWeightUpload) {
    // Packed straight into their own staging range; the first recording copies them.
    std::byte* staged = static_cast<std::byte*>(arena_->stagingMapped()) + weightStagingOffset_;
    std::memset(staged, 0, weightBytes_);  // the gaps between tensors, so the copy reads defined bytes
    writePackedWeights(staged);
    arena_->flushStaging(weightStagingOffset_, weightBytes_);
    hostWeights_ = {};
    weightRuns_ = {};
    return;
  }
  // Through the staging region in pieces, so staging stays the size of a request's inputs.
  const uint64_t chunk = arena_->capacity(ArenaRegion::Staging);
  std::vector<std::byte> bytes(weightBytes_);
  writePackedWeights(bytes.data());
  for (uint64_t at = 0; at < weightBytes_; at += chunk) {
    const uint64_t size = std::min(chunk, weightBytes_ - at);
    std::memcpy(arena_->stagingMapped(), bytes.data() + at, size);
    arena_->flushStaging(0, size);
    submitter_->run([&](VkCommandBuffer cmd) {
      arena_->recordCopy(cmd, arena_->region(ArenaRegion::Staging, 0, size),
                         arena_->region(ArenaRegion::Weights, options_.weightsOffset + at, size));
    });
  }
  hostWeights_ = {};
  weightRuns_ = {};
  weightsUploaded_ = true;
}

void UnetGraph::recordWeightUpload(VkCommandBuffer cmd) const {
  if (!options_.deferWeightUpload || !arena_)
    fail(ErrorCode::InvalidArgument, "UnetGraph: the weights are uploaded at construction (no deferWeightUpload)");
  if (!weightBytes_) return;
  arena_->recordCopy(cmd, arena_->region(ArenaRegion::Staging, weightStagingOffset_, weightBytes_),
                     arena_->region(ArenaRegion::Weights, options_.weightsOffset, weightBytes_));
}

void UnetGraph::prepare(uint32_t batch, uint32_t height, uint32_t width) {
  checkSize(batch, height, width);
  build(batch, height, width, padding_, false, true);
}

std::unique_ptr<Program> UnetGraph::buildProgram(uint32_t batch, uint32_t height, uint32_t width,
                                                 ops::Padding padding) {
  checkSize(batch, height, width);
  return build(batch, height, width, padding, false, false);
}

uint64_t UnetGraph::ioOffsets(uint32_t batch, uint32_t height, uint32_t width, uint64_t* off) const {
  const model::UnetConfig& c = config();
  const std::size_t es = dtypeSize(options_.dtype);
  const uint64_t sampleB = uint64_t(batch) * c.inChannels * height * width * es;
  const uint64_t timeB = uint64_t(batch) * 4;
  const uint64_t classB = c.numClassEmbeds            ? uint64_t(batch) * *c.numClassEmbeds * es
                          : c.timestepClassEmbedding() ? uint64_t(batch) * 4
                                                       : 0;
  const uint64_t outB = uint64_t(batch) * c.outChannels * height * width * es;
  off[0] = 0;
  off[1] = alignUp(sampleB, align_);
  off[2] = off[1] + alignUp(timeB, align_);
  off[3] = off[2] + alignUp(classB, align_);
  return off[3] + alignUp(outB, align_);
}

UnetIO UnetGraph::io(uint32_t batch, uint32_t height, uint32_t width) const {
  if (!options_.deviceIO) fail(ErrorCode::InvalidArgument, "UnetGraph: io() needs deviceIO");
  checkSize(batch, height, width);
  if (batch > options_.batch || height > options_.height || width > options_.width)
    fail(ErrorCode::OutOfArena, "UnetGraph: batch " + std::to_string(batch) + " at " + std::to_string(height) + "x" +
                                    std::to_string(width) + " exceeds the device IO built for batch " +
                                    std::to_string(options_.batch) + " at " + std::to_string(options_.height) + "x" +
                                    std::to_string(options_.width));
  const model::UnetConfig& c = config();
  uint64_t off[4];
  ioOffsets(options_.batch, options_.height, options_.width, off);
  for (uint64_t& o : off) o += options_.scratchOffset;
  const DType dt = options_.dtype;
  UnetIO r;
  r.sample = arena_->tensor(ArenaRegion::Scratch, off[0], {batch, c.inChannels, height, width}, dt);
  r.timesteps = arena_->tensor(ArenaRegion::Scratch, off[1], vec(batch, 1), DType::F32);
  if (c.numClassEmbeds) r.classes = arena_->tensor(ArenaRegion::Scratch, off[2], vec(batch, *c.numClassEmbeds), dt);
  if (c.timestepClassEmbedding()) r.classValues = arena_->tensor(ArenaRegion::Scratch, off[2], vec(batch, 1), DType::F32);
  r.output = arena_->tensor(ArenaRegion::Scratch, off[3], {batch, c.outChannels, height, width}, dt);
  return r;
}

std::unique_ptr<Program> UnetGraph::build(uint32_t batch, uint32_t height, uint32_t width, ops::Padding padding,
                                          bool createArena, bool adopt) {
  const model::UnetLayout& l = package_.layout();
  const model::UnetConfig& c = l.config;
  const DType dt = options_.dtype;

  // The request's inputs and output, each aligned: in staging for the host, or (device IO) at
  // the start of the scratch region, laid out for the largest request so offsets never move.
  const bool dev = options_.deviceIO;
  uint64_t off[4];
  const uint64_t ioB = dev ? ioOffsets(options_.batch, options_.height, options_.width, off)
                           : ioOffsets(batch, height, width, off);
  const uint64_t sSample = off[0], sTime = off[1], sClass = off[2], sOut = off[3];
  const uint64_t stagingB = dev ? 0 : ioB;

  Builder b{*this, batch, height, width, dt, padding, {}, {}, {}};
  const int sample = b.stagingTensor({batch, c.inChannels, height, width}, dt, sSample);
  const int timesteps = b.stagingTensor(vec(batch, 1), DType::F32, sTime);
  const int classes = c.numClassEmbeds ? b.stagingTensor(vec(batch, *c.numClassEmbeds), dt, sClass) : -1;
  const int classValues = c.timestepClassEmbedding() ? b.stagingTensor(vec(batch, 1), DType::F32, sClass) : -1;
  const int output = b.stagingTensor({batch, c.outChannels, height, width}, dt, sOut);

  int x = sample;
  if (c.centerInputSample) {
    const int centered = b.tensor(b.S(sample));
    b.step({sample, centered}, [&b, sample, centered](Program& p) {
      Tensor ones = b.W("#ones");
      ones.shape = b.S(sample);
      ops::axpby(p, b.g.kernels_, b.T(sample), ones, b.T(centered), 2.0f, -1.0f);
    });
    x = centered;
  }

  // Time embedding: sinusoids -> linear_1 + SiLU -> linear_2 (+ the class embedding).
  const int tproj = b.tensor(vec(batch, l.timeChannels));
  const ops::TimestepEmbeddingParams tp{c.flipSinToCos, float(c.freqShift), 1.0f, 10000.0f};
  b.step({timesteps, tproj}, [&b, timesteps, tproj, tp](Program& p) {
    Tensor t = b.T(timesteps);
    ops::timestepEmbedding(p, b.g.kernels_, t, b.T(tproj), tp);
  });
  const int t1 = b.linear("time_embedding.linear_1", tproj, l.timeEmbedDim, false, true);
  int emb = b.linear("time_embedding.linear_2", t1, l.timeEmbedDim, false, false);
  if (classes >= 0) {
    const int ce = b.linear("class_embedding", classes, l.timeEmbedDim, false, false, false);
    const int sum = b.tensor(vec(batch, l.timeEmbedDim));
    b.step({emb, ce, sum}, [&b, emb, ce, sum](Program& p) { ops::add(p, b.g.kernels_, b.T(emb), b.T(ce), b.T(sum)); });
    emb = sum;
  }
  if (classValues >= 0) {
    // diffusers: class_embedding(time_proj(class_labels)), the same sinusoids as the timestep.
    const int cproj = b.tensor(vec(batch, l.timeChannels));
    b.step({classValues, cproj}, [&b, classValues, cproj, tp](Program& p) {
      Tensor t = b.T(classValues);
      ops::timestepEmbedding(p, b.g.kernels_, t, b.T(cproj), tp);
    });
    const int c1 = b.linear("class_embedding.linear_1", cproj, l.timeEmbedDim, false, true);
    const int c2 = b.linear("class_embedding.linear_2", c1, l.timeEmbedDim, false, false);
    const int sum = b.tensor(vec(batch, l.timeEmbedDim));
    b.step({emb, c2, sum}, [&b, emb, c2, sum](Program& p) { ops::add(p, b.g.kernels_, b.T(emb), b.T(c2), b.T(sum)); });
    emb = sum;
  }

  x = b.conv("conv_in", x);
  std::vector<int> skips{x};
  for (const BlockLayout& blk : l.down) {
    for (std::size_t j = 0; j < blk.resnets.size(); ++j) {
      x = b.resnet(blk.resnets[j], x, -1, emb);
      if (j < blk.attentions.size()) x = b.attention(blk.attentions[j], x);
      skips.push_back(x);
    }
    const ResamplerLayout& s = blk.resampler;
    if (s.kind == ResamplerLayout::Kind::Conv) x = b.conv(s.prefix + ".conv", x);
    if (s.kind == ResamplerLayout::Kind::Resnet) x = b.resnet(s.resnet, x, -1, emb);
    if (s.kind != ResamplerLayout::Kind::None) skips.push_back(x);
  }
  if (l.mid) {
    x = b.resnet(l.mid->resnets[0], x, -1, emb);
    for (const AttentionLayout& a : l.mid->attentions) x = b.attention(a, x);
    x = b.resnet(l.mid->resnets[1], x, -1, emb);
  }
  for (const BlockLayout& blk : l.up) {
    for (std::size_t j = 0; j < blk.resnets.size(); ++j) {
      const int skip = skips.back();
      skips.pop_back();
      x = b.resnet(blk.resnets[j], x, skip, emb);
      if (j < blk.attentions.size()) x = b.attention(blk.attentions[j], x);
    }
    const ResamplerLayout& s = blk.resampler;
    if (s.kind == ResamplerLayout::Kind::Conv) x = b.conv(s.prefix + ".conv", b.upsample(x));
    if (s.kind == ResamplerLayout::Kind::Resnet) x = b.resnet(s.resnet, x, -1, emb);
  }
  b.normSiluConv("conv_norm_out", "conv_out", x, -1, c.normNumGroups, -1, -1, -1, 1.0f, output);

  // Plan the activations (staging tensors take no part: they sit at fixed offsets).
  std::vector<TensorLifetime> lives;
  std::vector<std::size_t> planned;
  for (std::size_t i = 0; i < b.nodes.size(); ++i) {
    Builder::Node& nd = b.nodes[i];
    if (nd.staging >= 0) continue;
    TensorLifetime life = nd.life;
    if (life.firstUse == UINT32_MAX) life.firstUse = life.lastUse = 0;  // never used: takes no room
    life.bytes = alignUp(nd.bytes ? nd.bytes : nd.shape.count() * dtypeSize(nd.dtype), 4);
    lives.push_back(life);
    planned.push_back(i);
  }
  const MemoryPlan plan = planMemory(lives, align_);

  if (createArena) {
    ArenaSizes sizes;
    sizes.weights = std::max<uint64_t>(weightBytes_ + alignUp(options_.extraWeightsBytes, align_), align_);
    sizes.activations = std::max<uint64_t>({plan.total, alignUp(options_.minActivationBytes, align_), align_});
    if (dev) sizes.scratch = alignUp(ioB + options_.extraScratchBytes, align_);
    const uint64_t own = std::max<uint64_t>(stagingB, alignUp(options_.extraStagingBytes, align_));
    if (options_.deferWeightUpload) {
      // The packed weights wait after the caller's staging until the first recording copies them.
      weightStagingOffset_ = alignUp(own, align_);
      sizes.staging = weightStagingOffset_ + alignUp(std::max<uint64_t>(weightBytes_, 4), align_);
    } else {
      // Staging also carries the weights up at load, in pieces of at least 1 MiB.
      sizes.staging = std::max<uint64_t>(own, 1u << 20);
    }
    sizes_ = sizes;
    ioBytes_ = dev ? ioB : 0;
    memory_.weights = weightBytes_;
    memory_.activations = sizes.activations;
    memory_.staging = sizes.staging;
    memory_.plannedActivations = plan.total;
    memory_.naiveActivations = plan.naive;
    memory_.peakLiveActivations = peakLiveBytes(lives);
    if (options_.planOnly) return nullptr;
    if (Arena* shared = options_.sharedArena) {
      const auto room = [&](ArenaRegion r, uint64_t at, uint64_t bytes, const char* what) {
        if (at + bytes > shared->capacity(r))
          fail(ErrorCode::OutOfArena, std::string("UnetGraph: the shared arena has no room for this stage's ") + what +
                                          " (" + std::to_string(bytes) + " bytes at " + std::to_string(at) + " of " +
                                          std::to_string(shared->capacity(r)) + ")");
      };
      room(ArenaRegion::Weights, options_.weightsOffset, weightBytes_, "weights");
      room(ArenaRegion::Scratch, options_.scratchOffset, ioB, "device IO");
      if (options_.deferWeightUpload) {
        room(ArenaRegion::Staging, options_.weightStagingOffset, weightBytes_, "packed weights in staging");
        weightStagingOffset_ = options_.weightStagingOffset;
      }
      arena_ = shared;
    } else if (options_.deviceMemory || options_.stagingMemory) {
      if (!options_.deviceMemory || !options_.stagingMemory)
        fail(ErrorCode::InvalidArgument, "UnetGraph: host memory needs both a device and a staging block");
      ownedArena_ = Arena::createInHostMemory(gpu_, sizes, *options_.deviceMemory, *options_.stagingMemory);
      arena_ = ownedArena_.get();
    } else {
      ownedArena_ = Arena::create(gpu_, sizes);
      arena_ = ownedArena_.get();
    }
    if (!options_.deferWeightUpload) submitter_ = std::make_unique<vk::Submitter>(gpu_);
    uploadWeights();
  }
  const uint64_t capacity = arena_->capacity(ArenaRegion::Activations);
  if (plan.total > capacity)
    fail(ErrorCode::OutOfArena, "UnetGraph: batch " + std::to_string(batch) + " at " + std::to_string(height) +
                                    "x" + std::to_string(width) + " needs " + std::to_string(plan.total) +
                                    " bytes of activations; the arena was built for batch " +
                                    std::to_string(options_.batch) + " at " + std::to_string(options_.height) + "x" +
                                    std::to_string(options_.width) + " and holds " + std::to_string(capacity));
  if (stagingB > arena_->capacity(ArenaRegion::Staging))
    fail(ErrorCode::OutOfArena, "UnetGraph: batch " + std::to_string(batch) + " at " + std::to_string(height) +
                                    "x" + std::to_string(width) + " needs " + std::to_string(stagingB) +
                                    " bytes of staging; the arena holds " +
                                    std::to_string(arena_->capacity(ArenaRegion::Staging)));

  b.resolved.resize(b.nodes.size());
  for (std::size_t k = 0; k < planned.size(); ++k) {
    const Builder::Node& nd = b.nodes[planned[k]];
    Tensor& t = b.resolved[planned[k]];
    t.shape = nd.shape;
    t.dtype = nd.dtype;
    t.ref = arena_->region(ArenaRegion::Activations, plan.offsets[k], std::max<uint64_t>(lives[k].bytes, 4));
  }
  for (std::size_t i = 0; i < b.nodes.size(); ++i)
    if (b.nodes[i].staging >= 0)
      b.resolved[i] = arena_->tensor(dev ? ArenaRegion::Scratch : ArenaRegion::Staging,
                                     uint64_t(b.nodes[i].staging) + (dev ? options_.scratchOffset : 0),
                                     b.nodes[i].shape, b.nodes[i].dtype);

  auto prog = std::make_unique<Program>(gpu_);
  for (auto& s : b.steps) s(*prog);
  prog->finalize();
  if (!adopt) return prog;
  program_ = std::move(prog);

  batch_ = batch;
  height_ = height;
  width_ = width;
  stagingSample_ = sSample;
  stagingTime_ = sTime;
  stagingClass_ = sClass;
  stagingOut_ = sOut;
  stagingBytes_ = stagingB;
  memory_.plannedActivations = plan.total;
  memory_.naiveActivations = plan.naive;
  memory_.peakLiveActivations = peakLiveBytes(lives);
  memory_.dispatches = program_->size();
  memory_.tensors = lives.size();
  return nullptr;
}

void UnetGraph::writeInputs(const UnetInputs& in) {
  if (options_.deviceIO) fail(ErrorCode::InvalidArgument, "UnetGraph: inputs are device tensors (deviceIO)");
  const model::UnetConfig& c = config();
  const Shape4 s = inputShape();
  if (in.sample.size() != s.count())
    fail(ErrorCode::InvalidArgument, "UnetGraph: sample holds " + std::to_string(in.sample.size()) +
                                         " values; the prepared shape " + s.str() + " needs " +
                                         std::to_string(s.count()));
  if (in.timesteps.size() != 1 && in.timesteps.size() != batch_)
    fail(ErrorCode::InvalidArgument, "UnetGraph: " + std::to_string(in.timesteps.size()) +
                                         " timesteps for a batch of " + std::to_string(batch_) + " (give 1 or " +
                                         std::to_string(batch_) + ")");
  if (c.numClassEmbeds) {
    if (in.classLabels.size() != 1 && in.classLabels.size() != batch_)
      fail(ErrorCode::InvalidArgument, "UnetGraph: the model is class-conditional and needs 1 or " +
                                           std::to_string(batch_) + " class labels, got " +
                                           std::to_string(in.classLabels.size()));
    for (int64_t y : in.classLabels)
      if (y < 0 || y >= int64_t(*c.numClassEmbeds))
        fail(ErrorCode::InvalidArgument, "UnetGraph: class label " + std::to_string(y) + " is outside [0, " +
                                             std::to_string(*c.numClassEmbeds) + ")");
  } else if (!in.classLabels.empty()) {
    fail(ErrorCode::InvalidArgument, "UnetGraph: class labels given to a model without a class embedding");
  }
  if (c.timestepClassEmbedding()) {
    if (in.classValues.size() != 1 && in.classValues.size() != batch_)
      fail(ErrorCode::InvalidArgument, "UnetGraph: the model has a timestep class embedding and needs 1 or " +
                                           std::to_string(batch_) + " float class labels, got " +
                                           std::to_string(in.classValues.size()));
  } else if (!in.classValues.empty()) {
    fail(ErrorCode::InvalidArgument, "UnetGraph: float class labels given to a model without a timestep class embedding");
  }
  auto* base = static_cast<std::byte*>(arena_->stagingMapped());
  auto store = [&](uint64_t offset, std::size_t i, float v) {
    if (options_.dtype == DType::F16) {
      const uint16_t hv = model::floatToHalf(v);
      std::memcpy(base + offset + 2 * i, &hv, 2);
    } else {
      std::memcpy(base + offset + 4 * i, &v, 4);
    }
  };
  for (std::size_t i = 0; i < in.sample.size(); ++i) store(stagingSample_, i, in.sample[i]);
  for (uint32_t i = 0; i < batch_; ++i) {
    const float t = in.timesteps[in.timesteps.size() == 1 ? 0 : i];
    std::memcpy(base + stagingTime_ + 4 * i, &t, 4);
  }
  if (c.numClassEmbeds) {
    const uint32_t k = *c.numClassEmbeds;
    for (uint32_t i = 0; i < batch_; ++i) {
      const int64_t y = in.classLabels[in.classLabels.size() == 1 ? 0 : i];
      for (uint32_t j = 0; j < k; ++j) store(stagingClass_, std::size_t(i) * k + j, j == y ? 1.0f : 0.0f);
    }
  }
  if (c.timestepClassEmbedding())
    for (uint32_t i = 0; i < batch_; ++i) {
      const float v = in.classValues[in.classValues.size() == 1 ? 0 : i];
      std::memcpy(base + stagingClass_ + 4 * i, &v, 4);
    }
  arena_->flushStaging(0, stagingBytes_);
}

void UnetGraph::record(VkCommandBuffer cmd) const {
  program_->record(cmd);
  vk::barrierComputeToHost(gpu_, cmd);
}

std::vector<float> UnetGraph::readOutput() const {
  if (options_.deviceIO) fail(ErrorCode::InvalidArgument, "UnetGraph: the output is a device tensor (deviceIO)");
  const Shape4 s = outputShape();
  arena_->invalidateStaging(stagingOut_, alignUp(s.count() * dtypeSize(options_.dtype), align_));
  const auto* base = static_cast<const std::byte*>(arena_->stagingMapped()) + stagingOut_;
  std::vector<float> out(s.count());
  for (std::size_t i = 0; i < out.size(); ++i) {
    if (options_.dtype == DType::F16) {
      uint16_t hv;
      std::memcpy(&hv, base + 2 * i, 2);
      out[i] = model::halfToFloat(hv);
    } else {
      std::memcpy(&out[i], base + 4 * i, 4);
    }
  }
  return out;
}

std::vector<float> UnetGraph::run(const UnetInputs& inputs) {
  writeInputs(inputs);
  submitter_->run([this](VkCommandBuffer cmd) { record(cmd); });
  return readOutput();
}

}  // namespace tessera::graph
