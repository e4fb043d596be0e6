// Files the daemon writes while it may be privileged (the state file, --stats-json), written so
// that nothing planted at their paths can redirect the write: never through a symlink, never
// half-written.
//
//   if (auto ok = mrelay::replace_file("/var/lib/mrelay/state.json", text, 0640,
//                                      "--state-file /var/lib/mrelay/state.json"); !ok) { ... }
//   auto text = mrelay::read_regular_file(path, "state file", 16u << 20);  // O_NOFOLLOW
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <string>
#include <string_view>

#include "mrelay/error.h"

namespace mrelay {

/// Replaces `path` with `text`: a new temporary file beside it (mkostemp: O_EXCL, so it never
/// opens an existing file or follows a link), written, given `mode`, fsync'd, renamed over
/// `path` (rename replaces a directory entry and follows nothing), then the directory is
/// fsync'd so the rename itself survives a crash. A crash leaves the old file or the new one.
/// An existing `path` that is not a regular file (a symbolic link, a FIFO, a device, a
/// directory) is refused and left alone. Errors name `where` and the failing step.
[[nodiscard]] Result<void> replace_file(const std::string& path, std::string_view text, mode_t mode,
                                        const std::string& where);

/// Reads a regular file of at most `max_bytes` without following a symbolic link at `path`
/// (O_NOFOLLOW: a link there is an error, ELOOP). Errors name the path and say what it is.
[[nodiscard]] Result<std::string> read_regular_file(const std::string& path, std::string_view what,
                                                    size_t max_bytes);

}  // namespace mrelay
