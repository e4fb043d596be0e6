// The byte-level framing of the control plane's two protocols, as pure functions (no sockets)
// so they are unit-tested and fuzzed on their own (fuzz/framing_fuzz.cc):
//
//   std::string in = "{\"cmd\":\"ping\"}\r\n\n{\"cmd\":";     // what a client sent so far
//   auto framed = mrelay::take_request_lines(in, kMaxRequestBytes,
//                                            [&](std::string_view line) { answer(line); });
//   // answered {"cmd":"ping"}; in == "{\"cmd\":" (kept for the next read)
//   // framed == Framing::too_large: answer "request too large" and close
//
//   switch (mrelay::parse_http_head(buffer, 8192)) { case HttpVerdict::metrics: ... }
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace mrelay {

enum class Framing : uint8_t {
  ok,         // every complete line was handed over; a partial line stays in the buffer
  too_large,  // a line (complete, or still growing) is longer than the limit: close
};

/// Hands every complete line of `buffer` to `on_line` (without its "\n" or "\r\n"; blank lines
/// are skipped, an interactive user pressing enter is not a request) and erases it. Lines
/// before an oversized one are still handed over; nothing after it is. On too_large the
/// buffer is cleared.
[[nodiscard]] Framing take_request_lines(std::string& buffer, size_t max_line,
                                         const std::function<void(std::string_view)>& on_line);

enum class HttpVerdict : uint8_t {
  incomplete,  // no "\r\n\r\n" yet, and within the size limit: wait for more
  too_large,   // the head is (or grows) beyond the limit: 431
  bad_method,  // not GET: 405
  not_found,   // GET of another path: 404
  metrics,     // GET /metrics (with or without a query): 200 and the metrics
};

/// Classifies an HTTP/1.x request head in `buffer` (what arrived so far) of at most
/// `max_head` bytes. Only the request line is interpreted; headers are ignored.
[[nodiscard]] HttpVerdict parse_http_head(std::string_view buffer, size_t max_head);

}  // namespace mrelay
