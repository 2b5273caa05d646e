// tessera-bench-conv: GFLOP/s of each conv2d variant on the U-Net's convolution shapes, on the
// device tessera would pick. Each measurement records `repeat` dispatches of one layer into a
// command buffer, submits it once to warm up (lavapipe compiles at first dispatch), then times
// `runs` submissions and reports the median time per dispatch: from GPU timestamps when the queue
// has them, else the wall time of submit + wait.
//
//   tessera-bench-conv [--shape NAME]... [--variant NAME]... [--dtype f32|f16] [--runs N] [--repeat N]
//   tessera-bench-conv --list     shapes, one per line: name c1 c2 cout h w kernel stride
//   tessera-bench-conv --serve    reads "shape variant dtype runs" lines, answers one RESULT line each:
//                                 shape variant dtype median-ms GFLOP/s first-ms min-ms
//                                 (tools/bench/conv_bench.py interleaves this with PyTorch)
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <deque>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "device.hpp"
#include "dispatch_timer.hpp"
#include "error.hpp"
#include "ops/conv2d.hpp"
#include "vk/buffer.hpp"

using namespace tessera;
using ops::Conv2dVariant;

namespace {

struct BenchShape {
  const char* name;
  uint32_t c1, c2, cout, h, w, kernel, stride;
};

// The network's convolutions at batch 1, circular padding (tileable textures).
const BenchShape kShapes[] = {
    {"c64_64x64", 64, 0, 64, 64, 64, 3, 1},
    {"c128_32x32", 128, 0, 128, 32, 32, 3, 1},
    {"c32_128x128", 32, 0, 32, 128, 128, 3, 1},
    {"cat128+64_64x64", 128, 64, 64, 64, 64, 3, 1},
    {"k1_cat128+64_64x64", 128, 64, 64, 64, 64, 1, 1},
    {"s2_64_64x64", 64, 0, 64, 64, 64, 3, 2},
};

const Conv2dVariant kVariants[] = {Conv2dVariant::Direct, Conv2dVariant::Subgroup, Conv2dVariant::Winograd,
                                   Conv2dVariant::Pointwise, Conv2dVariant::Tiled};

// A device-local buffer filled on the device: the benchmark needs no host access to its data.
class DeviceBuffer {
 public:
  DeviceBuffer(const vk::Gpu& gpu, VkDeviceSize bytes)
      : gpu_(gpu), size_(std::max<VkDeviceSize>(bytes, 256)) {
    const vk::Functions& fn = gpu.fn;
    VkBufferCreateInfo bi{VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO};
    bi.size = size_;
    bi.usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT;
    TESSERA_VK_CHECK(fn.vkCreateBuffer(gpu.device, &bi, nullptr, &buffer_));
    VkMemoryRequirements req;
    fn.vkGetBufferMemoryRequirements(gpu.device, buffer_, &req);
    const int type = gpu.findMemoryType(req.memoryTypeBits, 0, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT);
    if (type < 0) fail(ErrorCode::DeviceFeatureMissing, "no memory type for a storage buffer");
    VkMemoryAllocateInfo ai{VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO};
    ai.allocationSize = req.size;
    ai.memoryTypeIndex = uint32_t(type);
    TESSERA_VK_CHECK(fn.vkAllocateMemory(gpu.device, &ai, nullptr, &memory_));
    TESSERA_VK_CHECK(fn.vkBindBufferMemory(gpu.device, buffer_, memory_, 0));
  }
  ~DeviceBuffer() {
    gpu_.fn.vkDestroyBuffer(gpu_.device, buffer_, nullptr);
    gpu_.fn.vkFreeMemory(gpu_.device, memory_, nullptr);
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  VkBuffer buffer() const { return buffer_; }
  VkDeviceSize size() const { return size_; }

 private:
  const vk::Gpu& gpu_;
  VkBuffer buffer_ = VK_NULL_HANDLE;
  VkDeviceMemory memory_ = VK_NULL_HANDLE;
  VkDeviceSize size_;
};

struct Result {
  double medianMs = 0;
  double gflops = 0;
  double firstMs = 0;  // the warm-up submission, which includes lavapipe's compile
  double minMs = 0;
  double cpuMs = 0;  // CPU time of the whole process per dispatch: steadier than wall time on a busy machine
  std::vector<double> stageMs;  // per dispatch of one layer call (median over runs), timestamps only
  std::vector<double> stageMinMs;
};

class Bench {
 public:
  Bench() : device_(runtime::Device::createStandalone()), kernels_(gpu()), submit_(gpu()), timer_(gpu(), 64) {}
  const vk::Gpu& gpu() const { return device_->gpu(); }
  const char* timer() const { return timer_.available() ? "gpu-timestamps" : "wall-clock"; }

  // Throws tessera::Error when the variant cannot run the shape.
  Result measure(const BenchShape& s, Conv2dVariant variant, DType dtype, int runs, int repeat) {
    const ops::Conv2dParams params{.inChannels = s.c1 + s.c2,
                                   .in2Channels = s.c2,
                                   .outChannels = s.cout,
                                   .kernel = s.kernel,
                                   .stride = s.stride,
                                   .padding = ops::Padding::Circular,
                                   .bias = true};
    const ops::Conv2d conv(gpu().facts, params, dtype, variant);
    const Shape4 in{1, s.c1, s.h, s.w}, out = conv.outputShape(in);
    const std::size_t es = dtypeSize(dtype);
    auto tensor = [&](Shape4 shape, std::unique_ptr<DeviceBuffer>& buf) {
      buf = std::make_unique<DeviceBuffer>(gpu(), (shape.count() * dtypeSize(dtype) + 3) / 4 * 4);
      return Tensor{{buf->buffer(), 0, buf->size()}, dtype, shape};
    };
    std::unique_ptr<DeviceBuffer> bIn, bIn2, bW, bOut, bScratch;
    ops::Conv2dIO io;
    io.in = tensor(in, bIn);
    Tensor in2, scratch;
    if (s.c2) {
      in2 = tensor({1, s.c2, s.h, s.w}, bIn2);
      io.in2 = &in2;
    }
    io.weights = tensor({1, 1, 1, uint32_t(conv.packedWeightCount())}, bW);
    io.out = tensor(out, bOut);
    if (const std::size_t bytes = conv.scratchBytes(in)) {
      scratch = tensor({1, 1, 1, uint32_t((bytes + es - 1) / es)}, bScratch);
      io.scratch = &scratch;
    }
    Program prog(gpu());
    for (int r = 0; r < repeat; ++r) conv.record(prog, kernels_, io);
    prog.finalize();

    const vk::Functions& fn = gpu().fn;
    // 0x3C003C00: 1.0 in each fp16 half, 0.0078 as fp32; finite and normal either way.
    submit_.run([&](VkCommandBuffer cmd) {
      for (DeviceBuffer* b : {bIn.get(), bIn2.get(), bW.get(), bOut.get(), bScratch.get()})
        if (b) fn.vkCmdFillBuffer(cmd, b->buffer(), 0, VK_WHOLE_SIZE, 0x3C003C00u);
    });
    // With timestamps, one between every dispatch: the time of each stage of a multi-dispatch
    // variant comes with the total.
    const std::size_t n = prog.size();
    const bool stamps = timer_.available() && n <= timer_.capacity();
    std::vector<std::vector<double>> stage(n / repeat);
    auto once = [&]() {
      if (!stamps) {
        const auto t0 = std::chrono::steady_clock::now();
        submit_.run([&](VkCommandBuffer cmd) { prog.record(cmd); });
        return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      }
      const std::vector<double> ms = timer_.run(submit_, prog);
      double total = 0;
      for (std::size_t i = 0; i < n; ++i) {
        stage[i % stage.size()].push_back(ms[i]);
        total += ms[i];
      }
      return total;
    };
    Result r;
    r.firstMs = once();
    for (auto& st : stage) st.clear();
    auto cpuNow = [] {
      rusage u{};
      getrusage(RUSAGE_SELF, &u);
      return (u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1e3 + (u.ru_utime.tv_usec + u.ru_stime.tv_usec) * 1e-3;
    };
    std::vector<double> t;
    const double cpu0 = cpuNow();
    for (int i = 0; i < runs; ++i) t.push_back(once() / repeat);
    r.cpuMs = (cpuNow() - cpu0) / (runs * repeat);
    std::sort(t.begin(), t.end());
    r.medianMs = t[t.size() / 2];
    r.minMs = t.front();
    for (auto& st : stage) {
      std::sort(st.begin(), st.end());
      if (!st.empty()) r.stageMs.push_back(st[st.size() / 2]);
      if (!st.empty()) r.stageMinMs.push_back(st.front());
    }
    r.gflops = conv.flops(in) / (r.medianMs * 1e-3) * 1e-9;
    return r;
  }

 private:
  std::unique_ptr<runtime::Device> device_;
  vk::KernelCache kernels_;
  vk::Submitter submit_;
  bench::DispatchTimer timer_;
};

const BenchShape* findShape(const std::string& name) {
  for (const BenchShape& s : kShapes)
    if (name == s.name) return &s;
  return nullptr;
}

std::optional<Conv2dVariant> findVariant(const std::string& name) {
  for (Conv2dVariant v : kVariants)
    if (name == ops::variantName(v)) return v;
  if (name == "auto") return Conv2dVariant::Auto;
  return std::nullopt;
}

void printResult(const BenchShape& s, const std::string& variant, const std::string& dtype,
                 const std::optional<Result>& r, const std::string& why) {
  if (r)
    std::printf("RESULT\t%s\t%s\t%s\t%.4f\t%.2f\t%.1f\t%.4f\n", s.name, variant.c_str(), dtype.c_str(),
                r->medianMs, r->gflops, r->firstMs, r->minMs);
  else
    std::printf("RESULT\t%s\t%s\t%s\tn/a\tn/a\tn/a\tn/a\t%s\n", s.name, variant.c_str(), dtype.c_str(),
                why.c_str());
  std::fflush(stdout);
}

std::optional<Result> tryMeasure(Bench& bench, const BenchShape& s, Conv2dVariant v, DType t, int runs,
                                 int repeat, std::string& why) {
  try {
    return bench.measure(s, v, t, runs, repeat);
  } catch (const Error& e) {
    why = e.what();
    return std::nullopt;
  }
}

int serve(Bench& bench, int repeat) {
  std::string line;
  while (std::getline(std::cin, line)) {
    char shape[64], variant[32], dtype[8];
    int runs = 0;
    if (std::sscanf(line.c_str(), "%63s %31s %7s %d", shape, variant, dtype, &runs) != 4) {
      std::printf("ERROR\tcannot parse '%s'\n", line.c_str());
      std::fflush(stdout);
      continue;
    }
    const BenchShape* s = findShape(shape);
    const auto v = findVariant(variant);
    if (!s || !v) {
      std::printf("ERROR\tunknown shape or variant in '%s'\n", line.c_str());
      std::fflush(stdout);
      continue;
    }
    std::string why;
    const auto r =
        tryMeasure(bench, *s, *v, std::strcmp(dtype, "f16") ? DType::F32 : DType::F16, runs, repeat, why);
    printResult(*s, variant, dtype, r, why);
  }
  return 0;
}

int usage() {
  std::fprintf(stderr,
               "usage: tessera-bench-conv [--shape NAME | --custom c1,c2,cout,h,w,k,s]... [--variant NAME]..."
               " [--dtype f32|f16] [--runs N]"
               " [--repeat N] | --list | --serve\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<const BenchShape*> shapes;
  std::vector<Conv2dVariant> variants;
  std::string dtype = "f32";
  int runs = 7, repeat = 3;
  bool serveMode = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (a == "--list") {
      for (const BenchShape& s : kShapes)
        std::printf("%s %u %u %u %u %u %u %u\n", s.name, s.c1, s.c2, s.cout, s.h, s.w, s.kernel, s.stride);
      return 0;
    } else if (a == "--serve") {
      serveMode = true;
    } else if (a == "--shape") {
      const BenchShape* s = findShape(next());
      if (!s) return usage();
      shapes.push_back(s);
    } else if (a == "--custom") {
      // c1,c2,cout,h,w,kernel,stride: a shape outside the network's list (a deque keeps the
      // pointers in `shapes` valid)
      static std::deque<BenchShape> custom;
      BenchShape b{"custom", 0, 0, 0, 0, 0, 0, 0};
      if (std::sscanf(next().c_str(), "%u,%u,%u,%u,%u,%u,%u", &b.c1, &b.c2, &b.cout, &b.h, &b.w, &b.kernel,
                      &b.stride) != 7)
        return usage();
      custom.push_back(b);
      shapes.push_back(&custom.back());
    } else if (a == "--variant") {
      const auto v = findVariant(next());
      if (!v) return usage();
      variants.push_back(*v);
    } else if (a == "--dtype") {
      dtype = next();
      if (dtype != "f32" && dtype != "f16") return usage();
    } else if (a == "--runs") {
      runs = std::max(1, std::atoi(next().c_str()));
    } else if (a == "--repeat") {
      repeat = std::max(1, std::atoi(next().c_str()));
    } else {
      return usage();
    }
  }
  try {
    Bench bench;
    std::fprintf(stderr, "device: %s, subgroup size %u, timer: %s\n", bench.gpu().facts.name.c_str(),
                 bench.gpu().facts.subgroupSize, bench.timer());
    if (serveMode) return serve(bench, repeat);
    if (shapes.empty())
      for (const BenchShape& s : kShapes) shapes.push_back(&s);
    if (variants.empty()) variants.assign(std::begin(kVariants), std::end(kVariants));
    const DType t = dtype == "f16" ? DType::F16 : DType::F32;
    std::printf("%-20s %-9s %-5s %10s %9s %10s\n", "shape", "variant", "dtype", "median ms", "GFLOP/s",
                "first ms");
    for (const BenchShape* s : shapes)
      for (Conv2dVariant v : variants) {
        std::string why;
        const auto r = tryMeasure(bench, *s, v, t, runs, repeat, why);
        if (r) {
          std::printf("%-20s %-9s %-5s %10.3f %9.1f %10.1f", s->name, ops::variantName(v), dtype.c_str(),
                      r->medianMs, r->gflops, r->firstMs);
          std::printf("  min %.3f cpu %.3f", r->minMs, r->cpuMs);
          if (r->stageMs.size() > 1) {
            std::printf("   stages ms (median/min):");
            for (std::size_t i = 0; i < r->stageMs.size(); ++i)
              std::printf(" %.3f/%.3f", r->stageMs[i], r->stageMinMs[i]);
          }
          std::printf("\n");
        } else
          std::printf("%-20s %-9s %-5s %10s %9s %10s  (%s)\n", s->name, ops::variantName(v), dtype.c_str(),
                      "-", "-", "-", why.c_str());
        std::fflush(stdout);
      }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tessera-bench-conv: %s\n", e.what());
    return 1;
  }
  return 0;
}
