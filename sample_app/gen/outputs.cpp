#include "outputs.hpp"

#include <cctype>
#include <map>
#include <stdexcept>

namespace tessera::gen {
namespace fs = std::filesystem;

namespace {

bool endsWithPng(const std::string& s) {
  if (s.size() < 4) return false;
  std::string tail = s.substr(s.size() - 4);
  for (char& c : tail) c = char(std::tolower(static_cast<unsigned char>(c)));
  return tail == ".png";
}

// Class names come from the model file; keep only what is safe in a file name anywhere.
std::string fileSafe(const std::string& name) {
  std::string s;
  for (char c : name) s += (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_') ? c : '_';
  return s.empty() ? "unnamed" : s;
}

std::string expand(const std::string& pattern, const Texture& t, std::size_t index) {
  std::string out;
  for (std::size_t i = 0; i < pattern.size();) {
    if (pattern[i] != '{') {
      out += pattern[i++];
      continue;
    }
    const std::size_t close = pattern.find('}', i);
    if (close == std::string::npos) throw std::runtime_error("--out " + pattern + ": a '{' without its '}'");
    const std::string key = pattern.substr(i + 1, close - i - 1);
    if (key == "class")
      out += t.classIndex < 0 ? "unconditional" : fileSafe(t.className);
    else if (key == "class_index")
      out += std::to_string(t.classIndex);
    else if (key == "seed")
      out += std::to_string(t.seed);
    else if (key == "index")
      out += std::to_string(index);
    else
      throw std::runtime_error("--out " + pattern + ": unknown placeholder {" + key +
                               "} (known: {class} {class_index} {seed} {index})");
    i = close + 1;
  }
  return out;
}

}  // namespace

std::vector<Texture> planTextures(const std::vector<std::pair<int32_t, std::string>>& classes, uint32_t count,
                                  uint64_t seed) {
  std::vector<Texture> textures;
  for (const auto& [index, name] : classes)
    for (uint32_t k = 0; k < count; ++k) textures.push_back({index, name, seed + k});
  return textures;
}

std::vector<fs::path> outputPaths(const std::string& out, const std::vector<Texture>& textures) {
  const bool pattern = out.find('{') != std::string::npos || endsWithPng(out);
  const std::string full =
      pattern ? out : (fs::path(out.empty() ? "." : out) / "{class}_{seed}.png").string();
  std::vector<fs::path> paths;
  std::map<fs::path, std::size_t> seen;
  for (std::size_t i = 0; i < textures.size(); ++i) {
    fs::path p = fs::path(expand(full, textures[i], i)).lexically_normal();
    if (auto [it, fresh] = seen.emplace(p, i); !fresh)
      throw std::runtime_error("--out " + out + " gives textures " + std::to_string(it->second) + " and " +
                               std::to_string(i) + " the same file " + p.string() +
                               "; use {class}, {seed} or {index} in the pattern");
    paths.push_back(std::move(p));
  }
  return paths;
}

}  // namespace tessera::gen
