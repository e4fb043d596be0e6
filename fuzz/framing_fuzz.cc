// libFuzzer target for the control plane's byte-level framing (control_framing.h): what any
// local client, authorised or not, can send before a request is even parsed. The first byte
// picks the protocol:
//
//   even  control lines: the rest is fed to take_request_lines() in chunks whose sizes come
//         from the input itself (as recv() would cut it) and, separately, in one piece. Lines
//         handed over never contain '\n', never exceed the limit, and are the same lines in the
//         same order either way (unless a line was too large); after `ok` the buffer holds no
//         '\n' and at most the limit; after `too_large` it is empty.
//   odd   an HTTP request head: parse_http_head() on every prefix (a head arriving byte by
//         byte); a verdict other than `incomplete` is final for every longer prefix with the
//         same head, `metrics` only for a request line starting "GET /metrics", `incomplete`
//         only without "\r\n\r\n" and within the limit.
//
//   ci/fuzz.sh                                   # builds and runs every target
//   build-fuzz/bin/mrelay_framing_fuzz -dict=fuzz/framing.dict /tmp/c fuzz/corpus/framing
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "control/control_framing.h"

namespace {

// Small limits, so the fuzzer reaches the too-large paths with short inputs.
constexpr size_t kMaxLine = 64;
constexpr size_t kMaxHead = 256;

[[noreturn]] void invariant_broken(const char* what, size_t size) {
  std::fprintf(stderr, "framing_fuzz: invariant broken: %s (input %zu bytes)\n", what, size);
  std::abort();
}

std::vector<std::string> feed(std::string_view input, std::string_view cuts, bool& too_large) {
  std::vector<std::string> lines;
  std::string buffer;
  too_large = false;
  size_t at = 0;
  size_t cut = 0;
  while (at < input.size() && !too_large) {
    // Chunk sizes 1..16 from the cut bytes (whole input when there are none).
    const size_t chunk =
        cuts.empty() ? input.size() : 1 + (static_cast<uint8_t>(cuts[cut++ % cuts.size()]) % 16);
    buffer.append(input.substr(at, chunk));
    at += chunk;
    const mrelay::Framing framing =
        mrelay::take_request_lines(buffer, kMaxLine, [&](std::string_view line) {
          if (line.find('\n') != std::string_view::npos || line.size() > kMaxLine || line.empty()) {
            invariant_broken("a handed-over line is empty, too long or holds a newline",
                             input.size());
          }
          lines.emplace_back(line);
        });
    too_large = framing == mrelay::Framing::too_large;
    if (too_large && !buffer.empty()) {
      invariant_broken("too_large left bytes in the buffer", input.size());
    }
    if (!too_large && (buffer.find('\n') != std::string::npos || buffer.size() > kMaxLine)) {
      invariant_broken("ok left a newline or too many bytes in the buffer", input.size());
    }
  }
  return lines;
}

void fuzz_lines(std::string_view data) {
  // The first quarter cuts the rest into chunks.
  const std::string_view cuts = data.substr(0, data.size() / 4);
  const std::string_view input = data.substr(data.size() / 4);
  bool chunked_too_large = false;
  bool whole_too_large = false;
  const std::vector<std::string> chunked = feed(input, cuts, chunked_too_large);
  const std::vector<std::string> whole = feed(input, {}, whole_too_large);
  if (!chunked_too_large && !whole_too_large && chunked != whole) {
    invariant_broken("chunked and whole feeding handed over different lines", data.size());
  }
}

void fuzz_http(std::string_view input) {
  mrelay::HttpVerdict final_verdict = mrelay::HttpVerdict::incomplete;
  for (size_t length = 0; length <= input.size(); ++length) {
    const std::string_view prefix = input.substr(0, length);
    const mrelay::HttpVerdict verdict = mrelay::parse_http_head(prefix, kMaxHead);
    if (verdict == mrelay::HttpVerdict::incomplete &&
        (prefix.find("\r\n\r\n") != std::string_view::npos || prefix.size() > kMaxHead)) {
      invariant_broken("incomplete with a complete or oversized head", input.size());
    }
    if (verdict == mrelay::HttpVerdict::metrics && !prefix.starts_with("GET /metrics")) {
      invariant_broken("metrics for another request line", input.size());
    }
    if (final_verdict != mrelay::HttpVerdict::incomplete && verdict != final_verdict) {
      invariant_broken("a verdict changed as more bytes arrived", input.size());
    }
    final_verdict = verdict;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) {
    return 0;
  }
  const std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  if ((data[0] & 1) == 0) {
    fuzz_lines(input);
  } else {
    fuzz_http(input.substr(0, 2 * kMaxHead));  // every prefix: keep the work per input small
  }
  return 0;
}
