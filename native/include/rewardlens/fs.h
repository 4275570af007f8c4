// rewardlens: the two file-system operations Node has no call for, used by the downloaders and the
// atomic folder swap. POSIX only (Linux for exchange_paths); no Node headers.
#pragma once
#include <string>

#include "rewardlens/status.h"

namespace rl {

// Takes an exclusive advisory lock on `path` (created with mode 0644 when missing), without
// waiting: flock(LOCK_EX | LOCK_NB), the lock huggingface_hub's filelock takes on its `.locks/`
// files, so a Python process and rewardlens exclude each other. On success *fd holds the open
// descriptor that owns the lock; when another process holds it, *fd is -1 and the status is ok.
// The kernel drops the lock when the process dies, so a killed downloader never leaves it held.
Status try_lock_file(const std::string& path, int* fd);

// Releases a lock taken by try_lock_file and closes its descriptor.
Status unlock_file(int fd);

// Swaps two existing paths (files or folders) in one atomic step: renameat2(RENAME_EXCHANGE).
// *supported is false (status ok, nothing done) where the kernel or file system lacks it.
Status exchange_paths(const std::string& a, const std::string& b, bool* supported);

}  // namespace rl
