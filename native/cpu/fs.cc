// File locks (flock) and the atomic exchange of two paths (renameat2). See rewardlens/fs.h.
#include "rewardlens/fs.h"

#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>
#if defined(__linux__)
#include <sys/syscall.h>
#endif

namespace rl {

namespace {
std::string ErrnoMessage(const char* what, const std::string& path, int err) {
  return std::string(what) + " " + path + ": " + std::strerror(err);
}
}  // namespace

Status try_lock_file(const std::string& path, int* fd) {
  *fd = -1;
  int f = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (f < 0) return Status::Invalid(ErrnoMessage("cannot open lock file", path, errno));
  while (::flock(f, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    if (err == EINTR) continue;
    ::close(f);
    if (err == EWOULDBLOCK) return Status::Ok();  // held by another process (or descriptor)
    return Status::Invalid(ErrnoMessage("cannot lock", path, err));
  }
  *fd = f;
  return Status::Ok();
}

Status unlock_file(int fd) {
  if (fd < 0) return Status::Invalid("unlock_file: not a lock descriptor");
  ::flock(fd, LOCK_UN);
  if (::close(fd) != 0) return Status::Internal(std::string("close: ") + std::strerror(errno));
  return Status::Ok();
}

Status exchange_paths(const std::string& a, const std::string& b, bool* supported) {
  *supported = false;
#if defined(__linux__) && defined(SYS_renameat2)
  constexpr unsigned kRenameExchange = 1u << 1;  // RENAME_EXCHANGE (linux/fs.h)
  if (::syscall(SYS_renameat2, AT_FDCWD, a.c_str(), AT_FDCWD, b.c_str(), kRenameExchange) == 0) {
    *supported = true;
    return Status::Ok();
  }
  const int err = errno;
  if (err == ENOSYS || err == EINVAL || err == ENOTSUP) return Status::Ok();  // not here: caller falls back
  *supported = true;
  return Status::Invalid(ErrnoMessage("cannot exchange", a, err) + " (with " + b + ")");
#else
  (void)a;
  (void)b;
  return Status::Ok();
#endif
}

}  // namespace rl
