#pragma once
#include "options.hpp"

namespace tessera::gen {

// Does what the options ask; returns the exit status. Failures throw (tsr::Error,
// app::ImageError, std::runtime_error) with a message for the user.
int run(const Options& options);

}  // namespace tessera::gen
