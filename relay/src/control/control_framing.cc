// Control-plane framing; see control_framing.h.
#include "control/control_framing.h"

#include <algorithm>

namespace mrelay {

Framing take_request_lines(std::string& buffer, size_t max_line,
                           const std::function<void(std::string_view)>& on_line) {
  size_t start = 0;
  for (;;) {
    const size_t newline = buffer.find('\n', start);
    if (newline == std::string::npos) {
      break;
    }
    std::string_view line(buffer.data() + start, newline - start);
    if (!line.empty() && line.back() == '\r') {
      line.remove_suffix(1);
    }
    if (line.size() > max_line) {
      buffer.clear();
      return Framing::too_large;
    }
    start = newline + 1;
    if (!line.empty()) {
      on_line(line);
    }
  }
  buffer.erase(0, std::min(start, buffer.size()));
  if (buffer.size() > max_line) {
    // The line still growing is already too long, whatever comes next.
    buffer.clear();
    return Framing::too_large;
  }
  return Framing::ok;
}

HttpVerdict parse_http_head(std::string_view buffer, size_t max_head) {
  const size_t head_end = buffer.find("\r\n\r\n");
  if (head_end == std::string_view::npos) {
    return buffer.size() > max_head ? HttpVerdict::too_large : HttpVerdict::incomplete;
  }
  if (head_end + 4 > max_head) {
    return HttpVerdict::too_large;
  }
  // "\r\n\r\n" was found, so the request line ends at or before it.
  const std::string_view request_line = buffer.substr(0, buffer.find("\r\n"));
  if (!request_line.starts_with("GET ")) {
    return HttpVerdict::bad_method;
  }
  if (request_line.starts_with("GET /metrics ") || request_line.starts_with("GET /metrics?")) {
    return HttpVerdict::metrics;
  }
  return HttpVerdict::not_found;
}

}  // namespace mrelay
