// Window samples through hosts: see rig/host_window.h.
#include "rig/host_window.h"

#include <signal.h>

#include <set>

#include "reference/perf_counters.h"

namespace mrelay::harness {
namespace {

std::string stat_path(const HostProcess& process) {
  return "/proc/" + std::to_string(process.host_pid) + "/stat";
}

// The paths each host must be asked for at one edge.
std::map<Host*, std::set<std::string>> paths_by_host(const HostSampleTargets& targets) {
  std::map<Host*, std::set<std::string>> paths;
  for (const auto& [role, target] : targets.cpu) {
    paths[target.host].insert(stat_path(target.process));
  }
  for (const auto& [role, host] : targets.snmp) {
    paths[host].insert("/proc/net/snmp");
    paths[host].insert("/proc/net/snmp6");  // IPv6 cells' datagrams are counted there
  }
  if (targets.relay_core != nullptr) {
    paths[targets.relay_core].insert("/proc/stat");
  }
  return paths;
}

const std::string* text_of(const std::map<Host*, std::map<std::string, std::string>>& files,
                           Host* host, const std::string& path) {
  auto on_host = files.find(host);
  if (on_host == files.end()) {
    return nullptr;
  }
  auto file = on_host->second.find(path);
  return file == on_host->second.end() ? nullptr : &file->second;
}

}  // namespace

WindowSample sample_hosts(const HostSampleTargets& targets) {
  WindowSample sample;
  sample.when = std::chrono::steady_clock::now();
  std::map<Host*, std::map<std::string, std::string>> files;
  for (const auto& [host, paths] : paths_by_host(targets)) {
    if (auto read = host->read_files({paths.begin(), paths.end()})) {
      files[host] = std::move(*read);
    }
  }
  for (const auto& [role, target] : targets.cpu) {
    if (const auto* text = text_of(files, target.host, stat_path(target.process))) {
      if (auto ticks = parse_proc_stat_ticks(*text)) {
        sample.ticks[role] = *ticks;
      }
    }
  }
  if (const auto* text = text_of(files, targets.relay_core, "/proc/stat")) {
    if (auto core = parse_core_ticks(*text, targets.relay_cpu)) {
      sample.relay_core = *core;
    }
  }
  for (const auto& [role, host] : targets.snmp) {
    if (const auto* text = text_of(files, host, "/proc/net/snmp")) {
      if (auto snmp = parse_snmp_udp(*text)) {
        if (const auto* text6 = text_of(files, host, "/proc/net/snmp6")) {
          add_snmp6_udp(*text6, *snmp);
        }
        sample.snmp[role] = *snmp;
      }
    }
  }
  if (targets.switches) {
    sample.proc_switches = targets.switches->host->context_switches(targets.switches->process);
  }
  if (auto relay = targets.cpu.find("relay"); relay != targets.cpu.end()) {
    const auto& [host, process] = relay->second;
    sample.relay_runtime_ns = host->runtime_ns(process);
    if (const auto* text = text_of(files, host, stat_path(process))) {
      if (auto user = parse_proc_stat_user_ticks(*text)) {
        sample.relay_user_ticks = *user;
      }
    }
  }
  return sample;
}

WindowCounters::Reading reading_from_perfstat(const nlohmann::json& perfstat) {
  WindowCounters::Reading reading;
  reading.path = "unsupported: mrelay-perfstat reported no " + std::string(kSyscallsEvent);
  if (!perfstat.contains("events") || !perfstat["events"].is_object()) {
    return reading;
  }
  for (const auto& [name, event] : perfstat["events"].items()) {
    if (!event.value("supported", false)) {
      reading.unsupported[name] = event.value("reason", "unsupported");
      if (name == kSyscallsEvent) {
        reading.path = "unsupported: " + reading.unsupported[name];
      }
      continue;
    }
    const auto value = event.value("value", uint64_t{0});
    reading.values[name] = value;
    if (name == kSyscallsEvent) {
      reading.syscalls = value;
      reading.path = "mrelay-perfstat on the forwarder's host (" + event.value("source", "") + ")";
    } else if (name == kContextSwitchesEvent) {
      reading.context_switches = value;
    }
  }
  return reading;
}

Result<RemotePerfstat> RemotePerfstat::start(Host& host, const HostProcess& forwarder,
                                             double window_s, const std::string& label,
                                             const std::string& out_path,
                                             const std::string& err_path) {
  char duration[32];
  std::snprintf(duration, sizeof(duration), "%.3f", window_s);
  auto process = host.start({host.bin_dir() + "/mrelay-perfstat", "--pid",
                             std::to_string(forwarder.host_pid), "--duration", duration, "--json"},
                            label, out_path, err_path);
  if (!process) {
    return tl::unexpected(process.error());
  }
  return RemotePerfstat(host, *process, out_path, err_path, window_s);
}

Result<WindowCounters::Reading> RemotePerfstat::finish() {
  const auto budget = std::chrono::milliseconds(static_cast<int64_t>(window_s_ * 1000) + 10000);
  ExitStatus status = host_->wait(process_, budget, false);
  if (status.timed_out) {
    status = host_->stop(process_, SIGTERM, std::chrono::milliseconds(2000));
  }
  const auto json = nlohmann::json::parse(read_text_file(out_path_).value_or(""), nullptr, false);
  if (!json.is_object()) {
    return fail("mrelay-perfstat (" + status.describe() + ")", file_tail(err_path_, 300));
  }
  return reading_from_perfstat(json);
}

}  // namespace mrelay::harness
