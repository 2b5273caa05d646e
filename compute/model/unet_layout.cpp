#include "unet_layout.hpp"

namespace tessera::model {
namespace {

void checkGroups(const std::string& norm, uint32_t channels, uint32_t groups) {
  if (channels % groups)
    throw Error(ErrorCode::InvalidArgument, "UNet2DModel config: " + std::to_string(groups) +
                                                " groups do not divide the " + std::to_string(channels) +
                                                " channels of " + norm);
}

ResnetLayout resnet(const UnetLayout& l, std::string prefix, uint32_t in, uint32_t out, double scale = 1.0) {
  ResnetLayout r;
  r.prefix = std::move(prefix);
  r.inChannels = in;
  r.outChannels = out;
  r.hasShortcut = in != out;
  r.outputScale = scale;
  checkGroups(r.prefix + ".norm1", in, l.config.normNumGroups);
  checkGroups(r.prefix + ".norm2", out, l.config.normNumGroups);
  return r;
}

AttentionLayout attention(const UnetLayout& l, std::string prefix, uint32_t channels,
                          std::optional<uint32_t> groups, double scale = 1.0) {
  AttentionLayout a;
  a.prefix = std::move(prefix);
  a.channels = channels;
  a.headDim = l.config.attentionHeadDim.value_or(channels);
  // diffusers would build heads = channels // head_dim and a narrower inner width; tessera's
  // attention kernels take whole heads only.
  if (a.headDim > channels || channels % a.headDim)
    throw Error(ErrorCode::Unsupported,
                "UNet2DModel config key \"attention_head_dim\": " + std::to_string(a.headDim) +
                    " does not divide the " + std::to_string(channels) + " channels of " + a.prefix);
  a.heads = channels / a.headDim;
  a.normGroups = groups;
  a.outputScale = scale;
  if (groups) checkGroups(a.prefix + ".group_norm", channels, *groups);
  return a;
}

void addConv(std::vector<TensorSpec>& t, const std::string& p, uint32_t out, uint32_t in, uint32_t k) {
  t.push_back({p + ".weight", {out, in, k, k}});
  t.push_back({p + ".bias", {out}});
}
void addLinear(std::vector<TensorSpec>& t, const std::string& p, uint32_t out, uint32_t in) {
  t.push_back({p + ".weight", {out, in}});
  t.push_back({p + ".bias", {out}});
}
void addNorm(std::vector<TensorSpec>& t, const std::string& p, uint32_t channels) {
  t.push_back({p + ".weight", {channels}});
  t.push_back({p + ".bias", {channels}});
}

void addResnet(std::vector<TensorSpec>& t, const ResnetLayout& r, uint32_t temb, bool scaleShift) {
  addNorm(t, r.prefix + ".norm1", r.inChannels);
  addConv(t, r.prefix + ".conv1", r.outChannels, r.inChannels, 3);
  addLinear(t, r.prefix + ".time_emb_proj", scaleShift ? 2 * r.outChannels : r.outChannels, temb);
  addNorm(t, r.prefix + ".norm2", r.outChannels);
  addConv(t, r.prefix + ".conv2", r.outChannels, r.outChannels, 3);
  if (r.hasShortcut) addConv(t, r.prefix + ".conv_shortcut", r.outChannels, r.inChannels, 1);
}

void addAttention(std::vector<TensorSpec>& t, const AttentionLayout& a) {
  if (a.normGroups) addNorm(t, a.prefix + ".group_norm", a.channels);
  const uint32_t inner = a.heads * a.headDim;
  addLinear(t, a.prefix + ".to_q", inner, a.channels);
  addLinear(t, a.prefix + ".to_k", inner, a.channels);
  addLinear(t, a.prefix + ".to_v", inner, a.channels);
  addLinear(t, a.prefix + ".to_out.0", a.channels, inner);
}

void addBlock(std::vector<TensorSpec>& t, const BlockLayout& b, uint32_t temb, bool scaleShift) {
  for (std::size_t j = 0; j < b.resnets.size(); ++j) {
    addResnet(t, b.resnets[j], temb, scaleShift);
    if (j < b.attentions.size()) addAttention(t, b.attentions[j]);
  }
  const ResamplerLayout& s = b.resampler;
  if (s.kind == ResamplerLayout::Kind::Conv) addConv(t, s.prefix + ".conv", s.channels, s.channels, 3);
  if (s.kind == ResamplerLayout::Kind::Resnet) addResnet(t, s.resnet, temb, scaleShift);
}

}  // namespace

UnetLayout UnetLayout::derive(const UnetConfig& c) {
  UnetLayout l;
  l.config = c;
  const auto& boc = c.blockOutChannels;
  const std::size_t n = boc.size();
  l.timeChannels = boc[0];
  l.timeEmbedDim = c.timeEmbedDim();
  const uint32_t groups = c.normNumGroups;

  uint32_t out = boc[0];
  for (std::size_t i = 0; i < n; ++i) {
    BlockLayout b;
    b.prefix = "down_blocks." + std::to_string(i);
    b.inChannels = out;
    b.outChannels = out = boc[i];
    const DownBlockType type = c.downBlocks[i];
    for (uint32_t j = 0; j < c.layersPerBlock; ++j) {
      const std::string p = b.prefix + ".resnets." + std::to_string(j);
      b.resnets.push_back(resnet(l, p, j == 0 ? b.inChannels : out, out));
      if (type == DownBlockType::AttnDown)
        b.attentions.push_back(attention(l, b.prefix + ".attentions." + std::to_string(j), out, groups));
    }
    if (i + 1 < n) {
      ResamplerLayout& s = b.resampler;
      s.prefix = b.prefix + ".downsamplers.0";
      s.channels = out;
      s.padding = c.downsamplePadding;
      // Only AttnDownBlock2D reads downsample_type; ResnetDownsampleBlock2D always uses a resnet.
      const bool viaResnet = type == DownBlockType::ResnetDownsample ||
                             (type == DownBlockType::AttnDown && c.downsampleType == ResampleType::Resnet);
      s.kind = viaResnet ? ResamplerLayout::Kind::Resnet : ResamplerLayout::Kind::Conv;
      if (viaResnet) {
        s.resnet = resnet(l, s.prefix, out, out);
        s.resnet.resample = ResnetLayout::Resample::AvgPool2x;
      }
    }
    l.down.push_back(std::move(b));
  }

  if (c.hasMidBlock) {
    MidBlockLayout m;
    const uint32_t ch = boc[n - 1];
    const double scale = c.midBlockScaleFactor;
    // diffusers: without attn_norm_num_groups the mid attention has a GroupNorm only with the
    // "default" time shift.
    std::optional<uint32_t> attnGroups = c.attnNormNumGroups;
    if (!attnGroups && c.resnetTimeScaleShift == TimeScaleShift::Default) attnGroups = groups;
    m.resnets.push_back(resnet(l, "mid_block.resnets.0", ch, ch, scale));
    if (c.addAttention) m.attentions.push_back(attention(l, "mid_block.attentions.0", ch, attnGroups, scale));
    m.resnets.push_back(resnet(l, "mid_block.resnets.1", ch, ch, scale));
    l.mid = std::move(m);
  }

  std::vector<uint32_t> rev(boc.rbegin(), boc.rend());
  out = rev[0];
  for (std::size_t i = 0; i < n; ++i) {
    BlockLayout b;
    b.prefix = "up_blocks." + std::to_string(i);
    const uint32_t prev = out;
    b.outChannels = out = rev[i];
    const uint32_t skipIn = rev[std::min(i + 1, n - 1)];
    b.inChannels = prev;
    const UpBlockType type = c.upBlocks[i];
    const uint32_t layers = c.layersPerBlock + 1;
    for (uint32_t j = 0; j < layers; ++j) {
      const uint32_t skip = j == layers - 1 ? skipIn : out;
      const uint32_t hidden = j == 0 ? prev : out;
      ResnetLayout r = resnet(l, b.prefix + ".resnets." + std::to_string(j), hidden + skip, out);
      r.concatChannels = skip;
      b.resnets.push_back(r);
      if (type == UpBlockType::AttnUp)
        b.attentions.push_back(attention(l, b.prefix + ".attentions." + std::to_string(j), out, groups));
    }
    if (i + 1 < n) {
      ResamplerLayout& s = b.resampler;
      s.prefix = b.prefix + ".upsamplers.0";
      s.channels = out;
      const bool viaResnet = type == UpBlockType::ResnetUpsample ||
                             (type == UpBlockType::AttnUp && c.upsampleType == ResampleType::Resnet);
      s.kind = viaResnet ? ResamplerLayout::Kind::Resnet : ResamplerLayout::Kind::Conv;
      if (viaResnet) {
        s.resnet = resnet(l, s.prefix, out, out);
        s.resnet.resample = ResnetLayout::Resample::Nearest2x;
      }
    }
    l.up.push_back(std::move(b));
  }
  checkGroups("conv_norm_out", boc[0], groups);
  return l;
}

std::vector<TensorSpec> UnetLayout::tensors() const {
  const UnetConfig& c = config;
  const bool scaleShift = c.resnetTimeScaleShift == TimeScaleShift::ScaleShift;
  std::vector<TensorSpec> t;
  addConv(t, "conv_in", c.blockOutChannels[0], c.inChannels, 3);
  addLinear(t, "time_embedding.linear_1", timeEmbedDim, timeChannels);
  addLinear(t, "time_embedding.linear_2", timeEmbedDim, timeEmbedDim);
  if (c.numClassEmbeds) t.push_back({"class_embedding.weight", {*c.numClassEmbeds, timeEmbedDim}});
  if (c.timestepClassEmbedding()) {  // diffusers' TimestepEmbedding(timestep_input_dim, time_embed_dim)
    addLinear(t, "class_embedding.linear_1", timeEmbedDim, timeChannels);
    addLinear(t, "class_embedding.linear_2", timeEmbedDim, timeEmbedDim);
  }
  for (const BlockLayout& b : down) addBlock(t, b, timeEmbedDim, scaleShift);
  if (mid) {
    addResnet(t, mid->resnets[0], timeEmbedDim, scaleShift);
    for (const AttentionLayout& a : mid->attentions) addAttention(t, a);
    addResnet(t, mid->resnets[1], timeEmbedDim, scaleShift);
  }
  for (const BlockLayout& b : up) addBlock(t, b, timeEmbedDim, scaleShift);
  addNorm(t, "conv_norm_out", c.blockOutChannels[0]);
  addConv(t, "conv_out", c.outChannels, c.blockOutChannels[0], 3);
  return t;
}

}  // namespace tessera::model
