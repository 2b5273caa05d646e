#pragma once
// What tessera-gen makes and where it writes it.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace tessera::gen {

struct Texture {
  int32_t classIndex = -1;
  std::string className;
  uint64_t seed = 0;
};

// The textures to make: for each class, `count` seeds from `seed` on (class-major, so a contact
// sheet shows one class per row).
std::vector<Texture> planTextures(const std::vector<std::pair<int32_t, std::string>>& classes, uint32_t count,
                                  uint64_t seed);

// One file per texture from --out: a directory (then {class}_{seed}.png in it) or a pattern
// (it contains '{' or ends in .png). Throws std::runtime_error on an unknown placeholder or
// when two textures would get the same file.
std::vector<std::filesystem::path> outputPaths(const std::string& out, const std::vector<Texture>& textures);

}  // namespace tessera::gen
