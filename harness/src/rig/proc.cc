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

std::optional<uint64_t> process_ticks(pid_t pid) {
  auto text = read_text_file("/proc/" + std::to_string(pid) + "/stat");
  if (!text) {
    return std::nullopt;
  }
  auto ticks = parse_proc_stat_ticks(*text);
  return ticks ? std::optional(*ticks) : std::nullopt;
}

std::optional<uint64_t> process_user_ticks(pid_t pid) {
  auto text = read_text_file("/proc/" + std::to_string(pid) + "/stat");
  if (!text) {
    return std::nullopt;
  }
  auto ticks = parse_proc_stat_user_ticks(*text);
  return ticks ? std::optional(*ticks) : std::nullopt;
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
    auto text = read_text_file(entry.path().string() + "/status");
    if (!text) {
      continue;
    }
    std::istringstream lines(*text);
    std::string line;
    while (std::getline(lines, line)) {
      if (line.find("ctxt_switches:") != std::string::npos) {
        total += std::stoull(line.substr(line.find(':') + 1));
        any = true;
      }
    }
  }
  return any ? std::optional(total) : std::nullopt;
}

std::optional<SnmpUdp> namespace_snmp(pid_t pid) {
  auto text = read_text_file("/proc/" + std::to_string(pid) + "/net/snmp");
  if (!text) {
    return std::nullopt;
  }
  auto values = parse_snmp_udp(*text);
  return values ? std::optional(*values) : std::nullopt;
}

bool group_joined(pid_t pid, const char* group) {
  in_addr address{};
  ::inet_pton(AF_INET, group, &address);
  char hex[16];
  std::snprintf(hex, sizeof(hex), "%08X", address.s_addr);
  auto text = read_text_file("/proc/" + std::to_string(pid) + "/net/igmp");
  return text && text->find(hex) != std::string::npos;
}

size_t installed_vifs(pid_t pid) {
  auto text = read_text_file("/proc/" + std::to_string(pid) + "/net/ip_mr_vif");
  if (!text) {
    return 0;
  }
  size_t lines = 0;
  for (char c : *text) {
    lines += c == '\n' ? 1 : 0;
  }
  return lines > 0 ? lines - 1 : 0;  // first line is the header
}

}  // namespace mrelay::harness
