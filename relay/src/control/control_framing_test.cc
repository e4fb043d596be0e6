// The control plane's framing, table-driven: request lines (partial, blank, CRLF, oversized)
// and HTTP request heads.
#include "control/control_framing.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace mrelay {
namespace {

struct LineCase {
  const char* label;
  std::string buffer;
  size_t max_line;
  std::vector<std::string> lines;  // handed over, in order
  std::string rest;                // left in the buffer
  Framing framing;
};

TEST(ControlFraming, RequestLines) {
  const std::vector<LineCase> cases = {
      {"one line", "{\"cmd\":\"ping\"}\n", 100, {"{\"cmd\":\"ping\"}"}, "", Framing::ok},
      {"partial kept", "abc", 100, {}, "abc", Framing::ok},
      {"line then partial", "a\nbc", 100, {"a"}, "bc", Framing::ok},
      {"crlf and blanks", "a\r\n\n\r\nb\n", 100, {"a", "b"}, "", Framing::ok},
      {"exactly the limit",
       std::string(10, 'x') + "\n",
       10,
       {std::string(10, 'x')},
       "",
       Framing::ok},
      {"a line over the limit",
       "a\n" + std::string(11, 'x') + "\nb\n",
       10,
       {"a"},
       "",
       Framing::too_large},
      {"a partial line over the limit",
       "a\n" + std::string(11, 'x'),
       10,
       {"a"},
       "",
       Framing::too_large},
      {"a partial line at the limit",
       std::string(10, 'x'),
       10,
       {},
       std::string(10, 'x'),
       Framing::ok},
  };
  for (const LineCase& c : cases) {
    std::string buffer = c.buffer;
    std::vector<std::string> lines;
    const Framing framing = take_request_lines(
        buffer, c.max_line, [&](std::string_view line) { lines.emplace_back(line); });
    EXPECT_EQ(lines, c.lines) << c.label;
    EXPECT_EQ(buffer, c.rest) << c.label;
    EXPECT_EQ(framing, c.framing) << c.label;
  }
}

TEST(ControlFraming, HttpHeads) {
  struct Case {
    const char* label;
    std::string buffer;
    HttpVerdict verdict;
  };
  const std::vector<Case> cases = {
      {"metrics", "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", HttpVerdict::metrics},
      {"metrics with a query", "GET /metrics?x=1 HTTP/1.0\r\n\r\n", HttpVerdict::metrics},
      {"incomplete", "GET /metrics HTTP/1.1\r\nHost:", HttpVerdict::incomplete},
      {"other path", "GET /metricsx HTTP/1.1\r\n\r\n", HttpVerdict::not_found},
      {"root", "GET / HTTP/1.1\r\n\r\n", HttpVerdict::not_found},
      {"post", "POST /metrics HTTP/1.1\r\n\r\n", HttpVerdict::bad_method},
      {"lower case", "get /metrics HTTP/1.1\r\n\r\n", HttpVerdict::bad_method},
      {"empty request line", "\r\n\r\n", HttpVerdict::bad_method},
      {"too large, incomplete", std::string(101, 'a'), HttpVerdict::too_large},
      {"too large, complete", "GET /metrics HTTP/1.1\r\n" + std::string(100, 'a') + "\r\n\r\n",
       HttpVerdict::too_large},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(parse_http_head(c.buffer, 100), c.verdict) << c.label;
  }
}

}  // namespace
}  // namespace mrelay
