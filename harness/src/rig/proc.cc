// /proc readers for the rig: see rig/proc.h.
#include "rig/proc.h"

#include <arpa/inet.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <sstream>
#include <string>

#include "common/process.h"

namespace mrelay::harness {

bool process_alive(pid_t pid) {
  int raw = 0;
  return ::waitpid(pid, &raw, WNOHANG) == 0;
}

std::optional<uint64_t> process_runtime_ns(pid_t pid) {
  std::error_code error;
  const std::string dir = "/proc/" + std::to_string(pid) + "/task";
  uint64_t total = 0;
  bool any = false;
  for (const auto& entry : std::filesystem::directory_iterator(dir, error)) {
    auto text = read_text_file(entry.path().string() + "/schedstat");
    if (!text) {
      continue;
    }
    try {
      total += std::stoull(*text);
      any = true;
    } catch (...) {
      // A malformed line: leave this thread out.
    }
  }
  return any ? std::optional(total) : std::nullopt;
}

std::optional<uint64_t> proc_context_switches(pid_t pid) {
  std::error_code error;
  const std::string dir = "/proc/" + std::to_string(pid) + "/task";
  uint64_t total = 0;
  bool any = false;
  for (const auto& entry : std::filesystem::directory_iterator(dir, error)) {
    if (auto text = read_text_file(entry.path().string() + "/status")) {
      total += sum_context_switches(*text);
      any = true;
    }
  }
  return any ? std::optional(total) : std::nullopt;
}

uint64_t sum_context_switches(const std::string& status_texts) {
  std::istringstream lines(status_texts);
  std::string line;
  uint64_t total = 0;
  while (std::getline(lines, line)) {
    if (line.find("ctxt_switches:") != std::string::npos) {
      total += std::stoull(line.substr(line.find(':') + 1));
    }
  }
  return total;
}

bool igmp_lists_group(const std::string& igmp, const char* group) {
  in_addr address{};
  ::inet_pton(AF_INET, group, &address);
  char hex[16];
  std::snprintf(hex, sizeof(hex), "%08X", address.s_addr);  // as the kernel prints it
  return igmp.find(hex) != std::string::npos;
}

bool igmp6_lists_group(const std::string& igmp6, const char* group) {
  in6_addr address{};
  if (::inet_pton(AF_INET6, group, &address) != 1) {
    return false;
  }
  char hex[33];
  for (size_t i = 0; i < sizeof address.s6_addr; ++i) {
    std::snprintf(hex + 2 * i, 3, "%02x", address.s6_addr[i]);  // as the kernel prints it
  }
  return igmp6.find(hex) != std::string::npos;
}

size_t vif_count(const std::string& ip_mr_vif) {
  size_t lines = 0;
  for (char c : ip_mr_vif) {
    lines += c == '\n' ? 1 : 0;
  }
  return lines > 0 ? lines - 1 : 0;  // first line is the header
}

}  // namespace mrelay::harness
