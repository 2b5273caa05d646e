// tessera-gen: generates textures with a tessera model and writes PNG files (see --help).
#include <cstdio>
#include <exception>
#include <variant>

#include "options.hpp"
#include "run.hpp"

int main(int argc, char** argv) {
  auto parsed = tessera::gen::parseOptions(argc, argv);
  if (const int* status = std::get_if<int>(&parsed)) return *status;
  try {
    return tessera::gen::run(std::get<tessera::gen::Options>(parsed));
  } catch (const std::exception& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "tessera-gen: %s\n", e.what());
    return 1;
  }
}
