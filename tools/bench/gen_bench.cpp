// tessera's side of the generation benchmark (tools/bench/gen_bench.py drives it): whole
// textures through the public C API, tsr_generate (begin, record, submit, wait, copy out).
//
//   tessera-bench-gen MODEL.tsr --serve [--fp32|--fp16]   reads request lines on stdin:
//     check SIZE STEPS SEED CLASS PATH -> RESULT check ...; PATH gets SIZE*SIZE RGBA8 pixels
//     time SIZE STEPS RUNS             -> RESULT time SIZE STEPS median-ms min-ms
// The generator is made once per size (max batch 1, the shape prepared), outside the timing.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "tessera/tessera.hpp"

namespace {

struct Bench {
  tsr::Context ctx;
  tsr::Model model;
  tsr_precision precision;
  std::map<uint32_t, std::unique_ptr<tsr::Generator>> gens;

  tsr::Generator& generator(uint32_t size) {
    auto& g = gens[size];
    if (!g) {
      auto d = tsr::generatorDesc();
      d.max_width = d.max_height = size;
      d.precision = precision;
      g = std::make_unique<tsr::Generator>(ctx, model, d);
    }
    return *g;
  }

  std::vector<uint8_t> generate(uint32_t size, uint32_t steps, uint64_t seed, int cls) {
    std::vector<uint8_t> px(size_t(size) * size * 4);
    tsr_request r = tsr::request();
    r.width = r.height = size;
    r.steps = steps;
    r.sampler = TSR_SAMPLER_DPMPP_2M;
    r.guidance = 1.0f;
    r.seed = seed;
    r.class_index = cls;
    r.output.pixels = px.data();
    generator(size).generate({&r, 1});
    return px;
  }
};

int serve(Bench& b) {
  std::printf("READY\t%s\n", b.ctx.info().device_name);
  std::fflush(stdout);
  std::string line;
  while (std::getline(std::cin, line)) {
    std::istringstream in(line);
    std::string cmd;
    in >> cmd;
    try {
      if (cmd == "check") {
        uint32_t size, steps;
        uint64_t seed;
        int cls;
        std::string path;
        in >> size >> steps >> seed >> cls >> path;
        const auto px = b.generate(size, steps, seed, cls);
        std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(px.data()), long(px.size()));
        std::printf("RESULT\tcheck\t%u\t%u\n", size, steps);
      } else if (cmd == "time") {
        uint32_t size, steps, runs;
        in >> size >> steps >> runs;
        b.generate(size, steps, 1, 0);  // warm-up
        std::vector<double> ms;
        for (uint32_t i = 0; i < runs; ++i) {
          const auto t0 = std::chrono::steady_clock::now();
          b.generate(size, steps, 100 + i, int(i % 10));
          ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
        }
        std::sort(ms.begin(), ms.end());
        std::printf("RESULT\ttime\t%u\t%u\t%.3f\t%.3f\n", size, steps, ms[ms.size() / 2], ms[0]);
      } else {
        std::printf("ERROR\tunknown request '%s'\n", line.c_str());
      }
    } catch (const tsr::Error& e) {
      std::printf("ERROR\t%s\n", e.what());
    }
    std::fflush(stdout);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3 || std::string(argv[2]) != "--serve") {
    std::fprintf(stderr, "usage: tessera-bench-gen MODEL.tsr --serve [--fp32|--fp16]\n");
    return 2;
  }
  try {
    tsr_precision p = TSR_PRECISION_AUTO;
    for (int i = 3; i < argc; ++i) {
      if (std::string(argv[i]) == "--fp32") p = TSR_PRECISION_FP32;
      if (std::string(argv[i]) == "--fp16") p = TSR_PRECISION_FP16;
    }
    Bench b{tsr::Context::standalone(), tsr::Model::load(argv[1]), p, {}};
    return serve(b);
  } catch (const tsr::Error& e) {
    std::fprintf(stderr, "tessera-bench-gen: %s\n", e.what());
    return 1;
  }
}
