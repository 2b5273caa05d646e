#pragma once
// tessera-gen's command line.
#include <tessera/tessera.h>

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

namespace tessera::gen {

struct Options {
  std::string model;                 // empty: search (model_path.hpp)
  std::vector<std::string> classes;  // names or indices; empty: every class of the model
  bool listClasses = false;
  uint64_t seed = 0;
  uint32_t steps = 0;  // 0: the model's default
  tsr_sampler sampler = TSR_SAMPLER_DEFAULT;
  uint32_t width = 0, height = 0;  // 0: the init image's size, else the model's native size
  uint32_t count = 1;              // textures per class
  uint32_t batch = 0;              // requests per job; 0: min(total, 8)
  float guidance = -1.0f;          // < 0: the model's default
  tsr_tiling tiling = TSR_TILING_DEFAULT;
  std::string init, mask;
  float strength = -1.0f;  // < 0: 0.6, or 1 with a mask
  std::string out = "textures/";
  std::string sheet;
  uint32_t sheetTiles = 2;
  std::string device;
  bool fp32 = false, validation = false, quiet = false;
};

// The options, or the exit status to return at once (after --help, --version or a usage error,
// which have been printed).
std::variant<Options, int> parseOptions(int argc, char** argv);

const char* samplerName(tsr_sampler sampler);

}  // namespace tessera::gen
