#include "file_io.hpp"

#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>

#if defined(__unix__) || defined(__APPLE__)
#include <fcntl.h>
#include <unistd.h>
#define TESSERA_POSIX_IO 1
#endif

namespace tessera::model {
namespace {

[[noreturn]] void ioError(const std::filesystem::path& path, const std::string& what) {
  throw Error(ErrorCode::Io, path.string() + ": " + what);
}

std::string errnoText() { return std::strerror(errno); }

}  // namespace

std::vector<std::byte> readFileBytes(const std::filesystem::path& path, uint64_t maxBytes) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) ioError(path, "is not a readable regular file");
  std::ifstream in(path, std::ios::binary);
  if (!in) ioError(path, "cannot be opened for reading");
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  if (size < 0) ioError(path, "cannot be read (not a regular file?)");
  if (uint64_t(size) > maxBytes)
    ioError(path,
            "has " + std::to_string(size) + " bytes, more than the limit of " + std::to_string(maxBytes));
  in.seekg(0, std::ios::beg);
  std::vector<std::byte> bytes(static_cast<std::size_t>(size));
  if (size > 0 && !in.read(reinterpret_cast<char*>(bytes.data()), size))
    ioError(path, "could not be read whole");
  return bytes;
}

void writeFileAtomically(const std::filesystem::path& path, Bytes bytes) {
  static std::atomic<unsigned> counter{0};
  std::filesystem::path tmp = path;
  tmp += ".tmp-" + std::to_string(counter++)
#ifdef TESSERA_POSIX_IO
         + "-" + std::to_string(::getpid())
#endif
      ;
#ifdef TESSERA_POSIX_IO
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) ioError(tmp, "cannot be created (" + errnoText() + ")");
  const auto failWith = [&](const std::string& what) {
    const std::string reason = what + " (" + errnoText() + ")";
    ::close(fd);
    ::unlink(tmp.c_str());
    ioError(path, reason);
  };
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) failWith("writing the temporary file failed");
    done += std::size_t(n);
  }
  // Flushed before the rename: otherwise a crash could leave the new name on empty blocks.
  if (::fsync(fd) != 0) failWith("flushing the temporary file failed");
  if (::close(fd) != 0) {
    ::unlink(tmp.c_str());
    ioError(path, "closing the temporary file failed (" + errnoText() + ")");
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string reason = errnoText();
    ::unlink(tmp.c_str());
    ioError(path, "renaming the temporary file over it failed (" + reason + ")");
  }
  const std::filesystem::path dir = path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {  // makes the rename itself durable; best effort
    ::fsync(dfd);
    ::close(dfd);
  }
#else
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) ioError(tmp, "cannot be created");
    out.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
    out.flush();
    if (!out) {
      out.close();
      std::filesystem::remove(tmp);
      ioError(path, "writing the temporary file failed");
    }
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::filesystem::remove(tmp);
    ioError(path, "renaming the temporary file over it failed (" + ec.message() + ")");
  }
#endif
}

}  // namespace tessera::model
