#pragma once
// Runs one of the project's command-line tools as a user would, for the CLI tests.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#if defined(__unix__)
#include <sys/wait.h>
#endif

namespace tessera::test {

struct CliResult {
  int status = -1;  // the exit status
  std::string out, err;
};

// The build puts test programs in <build>/tests and a tool in <build>/tools/<dir>/<exe>;
// the environment variable `envVar` overrides. Empty when neither can be found.
inline std::filesystem::path builtTool(const char* envVar, const char* dir, const char* exe) {
  if (const char* p = std::getenv(envVar)) return p;
  std::error_code ec;
  const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return {};
  return self.parent_path().parent_path() / "tools" / dir / exe;
}

inline std::string quoted(const std::filesystem::path& p) { return "\"" + p.string() + "\""; }

// Runs `tool args` through the shell, its output captured in files under `scratch`.
inline CliResult runTool(const std::filesystem::path& tool, const std::string& args,
                         const std::filesystem::path& scratch) {
  const std::filesystem::path out = scratch / "stdout", err = scratch / "stderr";
  const std::string cmd = quoted(tool) + " " + args + " > " + quoted(out) + " 2> " + quoted(err);
  CliResult r;
  r.status = std::system(cmd.c_str());
#if defined(__unix__)
  if (r.status != -1 && WIFEXITED(r.status)) r.status = WEXITSTATUS(r.status);
#endif
  const auto slurp = [](const std::filesystem::path& p) {
    std::ifstream in(p);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  };
  r.out = slurp(out);
  r.err = slurp(err);
  return r;
}

}  // namespace tessera::test
