// Symlink-proof, crash-safe file writes; see safe_file.h.
#include "common/safe_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include "common/unique_fd.h"

namespace mrelay {
namespace {

std::string directory_of(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) {
    return ".";
  }
  return slash == 0 ? "/" : path.substr(0, slash);
}

Result<void> write_all(int fd, std::string_view text, const std::string& where) {
  size_t written = 0;
  while (written < text.size()) {
    const ssize_t n = ::write(fd, text.data() + written, text.size() - written);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      return fail(where, "write failed", n < 0 ? errno : EIO);
    }
    written += static_cast<size_t>(n);
  }
  return {};
}

}  // namespace

Result<void> replace_file(const std::string& path, std::string_view text, mode_t mode,
                          const std::string& where) {
  struct stat existing {};
  if (::lstat(path.c_str(), &existing) == 0 && !S_ISREG(existing.st_mode)) {
    return fail(where, S_ISLNK(existing.st_mode)
                           ? "is a symbolic link; not followed and not replaced"
                           : "exists and is not a regular file; not replaced");
  }
  std::string temporary = path + ".XXXXXX";
  std::vector<char> name(temporary.begin(), temporary.end());
  name.push_back('\0');
  UniqueFd fd(::mkostemp(name.data(), O_CLOEXEC));
  if (!fd) {
    return fail(where, "cannot create a temporary file beside it", errno);
  }
  temporary.assign(name.data());
  Result<void> ok = write_all(fd.get(), text, where);
  if (ok && ::fchmod(fd.get(), mode) != 0) {
    ok = fail(where, "fchmod of the temporary file failed", errno);
  }
  if (ok && ::fsync(fd.get()) != 0) {
    ok = fail(where, "fsync failed", errno);
  }
  fd.reset();
  if (ok && ::rename(temporary.c_str(), path.c_str()) != 0) {
    ok = fail(where, "rename over it failed", errno);
  }
  if (!ok) {
    ::unlink(temporary.c_str());
    return ok;
  }
  UniqueFd directory(::open(directory_of(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!directory || ::fsync(directory.get()) != 0) {
    return fail(where, "written, but fsync of its directory failed", errno);
  }
  return {};
}

Result<std::string> read_regular_file(const std::string& path, std::string_view what,
                                      size_t max_bytes) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  if (!fd) {
    const int err = errno;
    return fail(path,
                err == ELOOP
                    ? "cannot open " + std::string(what) + ": is a symbolic link (not followed)"
                    : "cannot open " + std::string(what),
                err == ELOOP ? 0 : err);
  }
  struct stat info {};
  if (::fstat(fd.get(), &info) != 0 || !S_ISREG(info.st_mode)) {
    return fail(path, std::string(what) + " is not a regular file");
  }
  std::string text;
  char chunk[65536];
  for (;;) {
    const ssize_t got = ::read(fd.get(), chunk, sizeof chunk);
    if (got < 0 && errno == EINTR) {
      continue;
    }
    if (got < 0) {
      return fail(path, "cannot read " + std::string(what), errno);
    }
    if (got == 0) {
      return text;
    }
    text.append(chunk, static_cast<size_t>(got));
    if (text.size() > max_bytes) {
      return fail(path, std::string(what) + " larger than " + std::to_string(max_bytes) + " bytes");
    }
  }
}

}  // namespace mrelay
