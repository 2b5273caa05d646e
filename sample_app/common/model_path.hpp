#pragma once
// Where the sample applications find the default model when --model is not given.
#include <filesystem>
#include <string>
#include <vector>

namespace tessera::app {

// The places searched, in order: $TESSERA_MODEL; beside the executable in a build tree
// (<exe>/../../models, <exe>/../models, <exe>/../../../models) or an install (<exe>/../share/tessera/models); the
// source tree the program was built from.
std::vector<std::filesystem::path> defaultModelCandidates();

// The first candidate that exists; throws std::runtime_error listing every place tried.
std::filesystem::path findDefaultModel();

}  // namespace tessera::app
