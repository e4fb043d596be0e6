// Results file and machine fingerprint for mrelay-bench: see results/results.h.
//
//   auto doc = new_results_document(spec, "/path/to/mrelay", placement);
#include "results/results.h"

#include <sys/utsname.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/process.h"

namespace mrelay::harness {
namespace {

using nlohmann::json;

std::string first_line_value(const std::string& text, const std::string& key) {
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind(key, 0) == 0) {
      const size_t colon = line.find(':');
      if (colon == std::string::npos) {
        continue;
      }
      std::string value = line.substr(colon + 1);
      value.erase(0, value.find_first_not_of(" \t"));
      return value;
    }
  }
  return "";
}

std::string trimmed(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) {
    text.pop_back();
  }
  return text;
}

}  // namespace

std::string git_commit(const std::string& repo) {
  auto result = run_capture({"git", "-C", repo, "rev-parse", "HEAD"}, std::chrono::seconds(10));
  if (!result || !result->status.ok()) {
    return "unknown";
  }
  const std::string commit = trimmed(result->out);
  return commit.empty() ? "unknown" : commit;
}

std::string utc_timestamp() {
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  ::gmtime_r(&now, &utc);
  char text[32];
  std::strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &utc);
  return text;
}

nlohmann::json machine_fingerprint() {
  json machine;
  const std::string cpuinfo = read_text_file("/proc/cpuinfo").value_or("");
  machine["cpu_model"] = first_line_value(cpuinfo, "model name");
  machine["cores_online"] = ::sysconf(_SC_NPROCESSORS_ONLN);
  const std::string flags = first_line_value(cpuinfo, "flags");
  struct utsname names {};
  if (::uname(&names) == 0) {
    machine["kernel"] = std::string(names.release);
    machine["kernel_version"] = std::string(names.version);
    machine["arch"] = std::string(names.machine);
    machine["hostname"] = std::string(names.nodename);
  }
  const std::string meminfo = read_text_file("/proc/meminfo").value_or("");
  const std::string mem_total = first_line_value(meminfo, "MemTotal");
  machine["memory_kib"] = mem_total.empty() ? json(nullptr) : json(std::stoull(mem_total));
  // Virtualisation: a VM and a container can stack (e.g. docker inside kvm), so ask
  // systemd-detect-virt for each; without it, the CPU's hypervisor flag.
  auto detect = [](const char* kind) -> std::string {
    auto result = run_capture({"systemd-detect-virt", kind}, std::chrono::seconds(5));
    if (!result || !result->status.exited || result->status.code == 127) {
      return "";
    }
    return trimmed(result->out);  // "none" when not virtualised in that way
  };
  std::string vm = detect("--vm");
  const std::string container = detect("--container");
  if (vm.empty()) {
    vm = flags.find(" hypervisor") != std::string::npos ? "hypervisor (type unknown)" : "none";
  }
  machine["virtualization"] =
      "vm: " + vm + ", container: " + (container.empty() ? "unknown" : container);
  machine["vm"] = vm;
  machine["container"] = container.empty() ? json(nullptr) : json(container);
  machine["dmi_product"] = trimmed(read_text_file("/sys/class/dmi/id/product_name").value_or(""));
  machine["dmi_vendor"] = trimmed(read_text_file("/sys/class/dmi/id/sys_vendor").value_or(""));
  // A PMU means cycles/instructions can be counted (many VMs have none).
  machine["pmu_present"] = std::filesystem::exists("/sys/bus/event_source/devices/cpu");
  return machine;
}

nlohmann::json new_results_document(const nlohmann::json& spec, const std::string& repo,
                                    const nlohmann::json& placement) {
  return json{{"format", "mrelay-bench-results/1"},
              {"created", utc_timestamp()},
              {"git_commit", git_commit(repo)},
              {"machine", machine_fingerprint()},
              {"placement", placement},
              {"spec", spec},
              {"samples", json::array()}};
}

Result<void> write_json_file(const std::string& path, const nlohmann::json& value) {
  std::error_code error;
  const std::filesystem::path target(path);
  if (target.has_parent_path()) {
    std::filesystem::create_directories(target.parent_path(), error);
    if (error) {
      return fail("mkdir(" + target.parent_path().string() + ")", error.message());
    }
  }
  const std::string temporary = path + ".tmp";
  {
    std::ofstream out(temporary);
    if (!out) {
      return fail_errno("open(" + temporary + ")");
    }
    out << value.dump(1) << "\n";
    if (!out) {
      return fail_errno("write(" + temporary + ")");
    }
  }
  std::filesystem::rename(temporary, target, error);
  if (error) {
    return fail("rename(" + temporary + ")", error.message());
  }
  return {};
}

}  // namespace mrelay::harness
