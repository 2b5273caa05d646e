// tessera-bench-unet: time per evaluation of the whole U-Net (UnetGraph::run: inputs written,
// Program recorded and submitted, wait, output read back) at one size and storage precision.
// Each (size, dtype) graph is built once, on first use, and warmed up (lavapipe compiles each
// pipeline at its first dispatch); then `runs` run()s are timed by the wall clock and the median
// is reported.
//
//   tessera-bench-unet MODEL.tsr --serve     reads request lines on stdin, answers one line each
//                                            (tools/bench/unet_bench.py interleaves it with PyTorch):
//     time SIZE f32|f16 RUNS        -> RESULT time SIZE DTYPE median-ms min-ms
//     check SIZE f32|f16 IO.safetensors
//                                   -> RESULT check SIZE DTYPE rel-l2 dispatches weights-bytes
//                                      planned-activation-bytes naive-activation-bytes peak-live-bytes
//        IO holds `sample`, `timestep`, `class_labels` and PyTorch's `expected` output.
//   tessera-bench-unet MODEL.tsr SIZE [--fp16] [--runs N] [--stage K] [--profile]
//        one measurement, printed for people; --stage K: the network of the cascade's stage K
//        (1 = the first super-resolution stage) instead of the base; --profile: GPU timestamps
//        around every dispatch, medians over the runs, summed per kernel (where the time goes);
//        with --all every dispatch in order, else the slowest.
#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "device.hpp"
#include "dispatch_timer.hpp"
#include "error.hpp"
#include "file_io.hpp"
#include "graph/unet_graph.hpp"
#include "model_package.hpp"
#include "safetensors.hpp"
#include "vk/kernel.hpp"

using namespace tessera;

namespace {

struct Timing {
  double medianMs = 0, minMs = 0;
};

class Bench {
 public:
  explicit Bench(const std::string& modelPath, uint32_t stage = 0)
      : whole_(model::ModelPackage::readFile(modelPath)),
        package_(stageOf(whole_, stage)),
        device_(runtime::Device::createStandalone()),
        kernels_(device_->gpu()) {}

  const std::string& deviceName() const { return device_->gpu().facts.name; }

  // Fixed inputs per size: the time of one evaluation does not depend on the values.
  Timing time(uint32_t size, DType dtype, int runs) {
    Entry& e = entry(size, dtype);
    std::vector<double> ms;
    for (int i = 0; i < runs; ++i) {
      const auto t0 = std::chrono::steady_clock::now();
      const std::vector<float> out = e.graph->run(e.inputs());
      const auto t1 = std::chrono::steady_clock::now();
      if (out.empty()) fail(ErrorCode::Vulkan, "the network returned no output");
      ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    }
    std::sort(ms.begin(), ms.end());
    const std::size_t n = ms.size();
    return {n % 2 ? ms[n / 2] : (ms[n / 2 - 1] + ms[n / 2]) / 2, ms.front()};
  }

  // Relative L2 distance of tessera's output from PyTorch's on the inputs in `ioPath`.
  double check(uint32_t size, DType dtype, const std::string& ioPath) {
    Entry& e = entry(size, dtype);
    const std::vector<std::byte> bytes = model::readFileBytes(ioPath, uint64_t(1) << 30);
    const model::SafetensorsFile io = model::SafetensorsFile::parse(model::asBytes(bytes));
    const auto need = [&](const char* name) -> const model::SafeTensor& {
      const model::SafeTensor* t = io.find(name);
      if (!t) fail(ErrorCode::InvalidArgument, ioPath + " has no tensor `" + name + "`");
      return *t;
    };
    const std::vector<float> sample = model::toFloat32(need("sample"));
    const std::vector<float> timestep = model::toFloat32(need("timestep"));
    const std::vector<float> expected = model::toFloat32(need("expected"));
    std::vector<int64_t> labels;
    if (io.find("class_labels")) labels = model::toInt64(need("class_labels"));
    const std::vector<float> got = e.graph->run({sample, timestep, labels});
    if (got.size() != expected.size())
      fail(ErrorCode::InvalidArgument, "the output has " + std::to_string(got.size()) + " values, PyTorch's " +
                                           std::to_string(expected.size()));
    double num = 0, den = 0;
    for (std::size_t i = 0; i < got.size(); ++i) {
      if (!std::isfinite(got[i])) return INFINITY;
      num += (double(got[i]) - expected[i]) * (double(got[i]) - expected[i]);
      den += double(expected[i]) * expected[i];
    }
    return std::sqrt(num / den);
  }

  const graph::GraphMemory& memory(uint32_t size, DType dtype) { return entry(size, dtype).graph->memory(); }

  // Per dispatch of one evaluation: its kernel and the median of its GPU time over `runs`.
  struct DispatchTime {
    std::string kernel;
    std::array<uint32_t, 3> groups;
    double flops, medianMs;
  };
  std::vector<DispatchTime> profile(uint32_t size, DType dtype, int runs) {
    Entry& e = entry(size, dtype);
    const Program& prog = e.graph->program();
    bench::DispatchTimer timer(device_->gpu(), uint32_t(prog.size()));
    vk::Submitter submit(device_->gpu());
    e.graph->writeInputs(e.inputs());
    std::vector<std::vector<double>> ms(prog.size());
    for (int r = 0; r < runs; ++r) {
      const std::vector<double> t = timer.run(submit, prog);
      for (std::size_t i = 0; i < t.size(); ++i) ms[i].push_back(t[i]);
    }
    std::vector<DispatchTime> out;
    for (std::size_t i = 0; i < prog.size(); ++i) {
      std::sort(ms[i].begin(), ms[i].end());
      out.push_back({prog.kernelOf(i).name, prog.groupsOf(i), prog.flopsOf(i), ms[i][ms[i].size() / 2]});
    }
    return out;
  }

 private:
  struct Entry {
    std::unique_ptr<graph::UnetGraph> graph;
    std::vector<float> sample, timestep;
    std::vector<int64_t> labels;
    std::vector<float> classValues;
    graph::UnetInputs inputs() const { return {sample, timestep, labels, classValues}; }
  };

  Entry& entry(uint32_t size, DType dtype) {
    const auto key = std::make_pair(size, dtype);
    auto it = entries_.find(key);
    if (it != entries_.end()) return it->second;
    // The driver measures size by size: dropping other sizes' graphs bounds the memory to two
    // arenas (lavapipe's "device" memory is the host's).
    std::erase_if(entries_, [&](const auto& kv) { return kv.first.first != size; });
    graph::UnetGraphOptions opts;
    opts.batch = 1;
    opts.height = opts.width = size;
    opts.dtype = dtype;
    Entry e;
    e.graph = std::make_unique<graph::UnetGraph>(device_->gpu(), kernels_, package_, opts);
    const Shape4 in = e.graph->inputShape();
    e.sample.resize(std::size_t(in.n) * in.c * in.h * in.w);
    for (std::size_t i = 0; i < e.sample.size(); ++i) e.sample[i] = float(std::sin(0.37 * double(i)));
    e.timestep = {500.0f};
    if (package_.layout().config.numClassEmbeds) e.labels = {1};
    if (package_.layout().config.timestepClassEmbedding()) e.classValues = {0.1f};
    for (int i = 0; i < 2; ++i) e.graph->run(e.inputs());  // compile and fault in the arena
    return entries_.emplace(key, std::move(e)).first->second;
  }

  static const model::ModelPackage& stageOf(const model::ModelPackage& whole, uint32_t stage) {
    if (stage > whole.stages().size())
      fail(ErrorCode::InvalidArgument, "--stage " + std::to_string(stage) + ": the package has " +
                                           std::to_string(whole.stages().size()) + " super-resolution stage(s)");
    return stage ? whole.stages()[stage - 1] : whole;
  }

  model::ModelPackage whole_;
  const model::ModelPackage& package_;
  std::unique_ptr<runtime::Device> device_;
  vk::KernelCache kernels_;
  std::map<std::pair<uint32_t, DType>, Entry> entries_;
};

DType parseDType(const std::string& s) {
  if (s == "f32") return DType::F32;
  if (s == "f16") return DType::F16;
  fail(ErrorCode::InvalidArgument, "dtype must be f32 or f16, not \"" + s + "\"");
}

uint32_t parseSize(const std::string& s) {
  const long v = std::stol(s);
  if (v <= 0 || v > 4096) fail(ErrorCode::InvalidArgument, "size " + s + " is out of range");
  return uint32_t(v);
}

int serve(Bench& bench) {
  std::printf("READY\t%s\n", bench.deviceName().c_str());
  std::fflush(stdout);
  std::string line;
  while (std::getline(std::cin, line)) {
    std::istringstream in(line);
    std::string op, size, dtype, arg;
    in >> op >> size >> dtype >> arg;
    try {
      if (op == "time") {
        const Timing t = bench.time(parseSize(size), parseDType(dtype), std::max(1, std::stoi(arg)));
        std::printf("RESULT\ttime\t%s\t%s\t%.3f\t%.3f\n", size.c_str(), dtype.c_str(), t.medianMs, t.minMs);
      } else if (op == "check") {
        const uint32_t s = parseSize(size);
        const DType dt = parseDType(dtype);
        const double err = bench.check(s, dt, arg);
        const graph::GraphMemory& m = bench.memory(s, dt);
        std::printf("RESULT\tcheck\t%s\t%s\t%.3e\t%zu\t%llu\t%llu\t%llu\t%llu\n", size.c_str(), dtype.c_str(), err,
                    m.dispatches, (unsigned long long)m.weights, (unsigned long long)m.plannedActivations,
                    (unsigned long long)m.naiveActivations, (unsigned long long)m.peakLiveActivations);
      } else {
        std::printf("ERROR\tunknown request '%s'\n", line.c_str());
      }
    } catch (const std::exception& e) {
      std::printf("ERROR\t%s\n", e.what());
    }
    std::fflush(stdout);
  }
  return 0;
}

void printProfile(const std::vector<Bench::DispatchTime>& d, bool all) {
  struct Sum {
    std::size_t count = 0;
    double ms = 0, flops = 0;
  };
  std::map<std::string, Sum> per;
  double total = 0;
  for (const auto& x : d) {
    Sum& s = per[x.kernel];
    ++s.count;
    s.ms += x.medianMs;
    s.flops += x.flops;
    total += x.medianMs;
  }
  std::vector<std::pair<std::string, Sum>> rows(per.begin(), per.end());
  std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.second.ms > b.second.ms; });
  std::printf("| kernel | dispatches | ms | share | GFLOP/s (stated operations) |\n|---|---|---|---|---|\n");
  for (const auto& [name, s] : rows) {
    std::printf("| %s | %zu | %.2f | %.1f %% | ", name.c_str(), s.count, s.ms, 100 * s.ms / total);
    if (s.flops > 0)
      std::printf("%.1f |\n", s.flops / (s.ms * 1e-3) * 1e-9);
    else
      std::printf("- |\n");
  }
  std::printf("| all | %zu | %.2f | 100 %% | |\n", d.size(), total);
  std::vector<std::size_t> order(d.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return d[a].medianMs > d[b].medianMs; });
  std::printf("\n%s dispatches (index: kernel, workgroups, ms, GFLOP/s):\n", all ? "all" : "slowest");
  if (all) std::sort(order.begin(), order.end());
  for (std::size_t k = 0; k < (all ? order.size() : std::min<std::size_t>(12, order.size())); ++k) {
    const auto& x = d[order[k]];
    std::printf("  %zu: %s, %ux%ux%u, %.2f ms", order[k], x.kernel.c_str(), x.groups[0], x.groups[1], x.groups[2],
                x.medianMs);
    if (x.flops > 0) std::printf(", %.1f", x.flops / (x.medianMs * 1e-3) * 1e-9);
    std::printf("\n");
  }
}

}  // namespace

int main(int argc, char** argv) {
  const char* usage =
      "usage: tessera-bench-unet MODEL.tsr --serve\n"
      "       tessera-bench-unet MODEL.tsr SIZE [--fp16] [--runs N] [--stage K] [--profile [--all]]\n";
  if (argc < 3) {
    std::fputs(usage, stderr);
    return 2;
  }
  try {
    if (std::string(argv[2]) == "--serve") {
      Bench bench(argv[1]);
      return serve(bench);
    }
    const uint32_t size = parseSize(argv[2]);
    DType dtype = DType::F32;
    int runs = 5;
    uint32_t stage = 0;
    bool profile = false, all = false;
    for (int i = 3; i < argc; ++i) {
      const std::string a = argv[i];
      if (a == "--fp16") {
        dtype = DType::F16;
      } else if (a == "--runs" && i + 1 < argc) {
        runs = std::max(1, std::atoi(argv[++i]));
      } else if (a == "--stage" && i + 1 < argc) {
        stage = uint32_t(std::max(0, std::atoi(argv[++i])));
      } else if (a == "--profile") {
        profile = true;
      } else if (a == "--all") {
        all = true;
      } else {
        std::fputs(usage, stderr);
        return 2;
      }
    }
    Bench bench(argv[1], stage);
    if (profile) {
      std::printf("%s, %ux%u, %s storage, %s: median GPU time per dispatch over %d runs\n\n",
                  bench.deviceName().c_str(), size, size, dtypeName(dtype),
                  stage ? ("stage " + std::to_string(stage)).c_str() : "base", runs);
      printProfile(bench.profile(size, dtype, runs), all);
      return 0;
    }
    const Timing t = bench.time(size, dtype, runs);
    const graph::GraphMemory& m = bench.memory(size, dtype);
    std::printf("%s, %ux%u, %s storage: median %.2f ms (min %.2f) over %d runs; %zu dispatches; weights %llu B, "
                "activations planned %llu B (naive %llu B)\n",
                bench.deviceName().c_str(), size, size, dtypeName(dtype), t.medianMs, t.minMs, runs, m.dispatches,
                (unsigned long long)m.weights, (unsigned long long)m.plannedActivations,
                (unsigned long long)m.naiveActivations);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tessera-bench-unet: %s\n", e.what());
    return 1;
  }
}
