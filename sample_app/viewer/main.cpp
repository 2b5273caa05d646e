// tessera-viewer: generated textures on a tiled, turning plane, each new one generated in slices
// recorded into the viewer's own frames. See options.cpp (or --help) for the command line.
#include <CLI/CLI.hpp>
#include <cstdio>

#include "options.hpp"
#include "tessera/tessera.hpp"
#include "viewer_app.hpp"

int main(int argc, char** argv) {
  tessera::viewer::Options options;
  CLI::App app{"tessera-viewer", "tessera-viewer"};
  tessera::viewer::addOptions(app, options);
  CLI11_PARSE(app, argc, argv);
  try {
    tessera::viewer::ViewerApp viewer(options);
    return viewer.run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tessera-viewer: %s\n", e.what());
    return 1;
  }
}
