#include "model_path.hpp"

#include <cstdlib>
#include <stdexcept>
#include <system_error>

namespace tessera::app {
namespace fs = std::filesystem;

namespace {

// The directory of the running program. /proc/self/exe is Linux's; elsewhere the search falls
// back on the environment variable and the source tree.
fs::path executableDir() {
  std::error_code ec;
  const fs::path self = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::path() : self.parent_path();
}

}  // namespace

std::vector<fs::path> defaultModelCandidates() {
  std::vector<fs::path> candidates;
  if (const char* env = std::getenv("TESSERA_MODEL"); env && *env) candidates.emplace_back(env);
  if (const fs::path exe = executableDir(); !exe.empty()) {
    for (const char* rel : {"../../models", "../models", "../../../models", "../share/tessera/models"})
      candidates.push_back((exe / rel / "default.tsr").lexically_normal());
  }
#ifdef TESSERA_SOURCE_MODELS_DIR
  candidates.push_back(fs::path(TESSERA_SOURCE_MODELS_DIR) / "default.tsr");
#endif
  return candidates;
}

fs::path findDefaultModel() {
  const std::vector<fs::path> candidates = defaultModelCandidates();
  std::string tried;
  for (const fs::path& p : candidates) {
    std::error_code ec;
    if (fs::is_regular_file(p, ec)) return p;
    tried += "\n  " + p.string();
  }
  throw std::runtime_error("no model found; give --model PATH or set TESSERA_MODEL. Tried:" + tried);
}

}  // namespace tessera::app
