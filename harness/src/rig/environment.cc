// Where and how the rig runs, and the placement block of every record: see rig/environment.h.
#include "rig/environment.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#ifndef MRELAY_NETNS_DIR
#error \
    "MRELAY_NETNS_DIR (the netns/ folder of the source tree) is set by harness/src/rig/CMakeLists.txt"
#endif

namespace mrelay::harness {
namespace {

using nlohmann::json;

// A UDP GSO run is one IP datagram: 65535 bytes with IPv4's header (total length field), the
// same plus IPv6's fixed header (payload length field); each segment must fit one frame of
// the cell's MTU.
constexpr uint32_t kMaxIpDatagram = 65535;
// Datagrams per generator send with the fast tester: mrelay-gen's maximum (UDP_MAX_SEGMENTS
// of older kernels). With the default generator batch of 32 a run is the whole batch.
constexpr uint32_t kFastTesterGsoSegments = 64;

// RPS is usable unless the probe said otherwise (no probe: assume it, as before probes).
bool rps_available(const RigEnvironment& env) {
  const Capability* rps = env.capabilities.find(capability::kRps);
  return rps == nullptr || rps->present;
}

// "2" for core 1, "3" for cores 0 and 1 (the hex mask of /sys/.../rps_cpus).
std::string cpu_mask(const std::vector<int>& cpus) {
  uint64_t bits = 0;
  for (int cpu : cpus) {
    bits |= uint64_t{1} << cpu;
  }
  char mask[24];
  std::snprintf(mask, sizeof(mask), "%llx", static_cast<unsigned long long>(bits));
  return mask;
}

std::string forwarder_cpu_mask(const RigEnvironment& env) {
  return cpu_mask({env.relay_cpu});
}

// The cores of a cell's forwarder: the relay's workers' (mrelay), else the forwarder core.
std::vector<int> cell_forwarder_cpus(const CellParams& params, const RigEnvironment& env) {
  if (params.forwarder == Forwarder::mrelay) {
    return relay_worker_cpus(env, params.workers);
  }
  return {env.relay_cpu};
}

// Which workers run on the load core, said in words ("worker 1 shares the load core (0) ...").
std::string shared_core_note(const std::vector<int>& cpus, int load_cpu) {
  std::string workers;
  for (size_t i = 0; i < cpus.size(); ++i) {
    if (cpus[i] == load_cpu) {
      workers += workers.empty() ? "" : ", ";
      workers += std::to_string(i);
    }
  }
  if (workers.empty()) {
    return "";
  }
  return "worker " + workers + " shares the load core (" + std::to_string(load_cpu) +
         ") with the generator and sink: fewer cores than workers + 1";
}

}  // namespace

RigEnvironment default_environment(const std::string& bin_dir) {
  RigEnvironment env;
  env.bin_dir = bin_dir;
  const char* netns_dir = std::getenv("MRELAY_NETNS_DIR");
  std::string dir = netns_dir != nullptr ? netns_dir : MRELAY_NETNS_DIR;
  // Installed (the .deb, cmake --install) the source tree is gone: the scripts are in the
  // share directory next to the programs' bin directory.
  const std::string installed = bin_dir + "/../share/mrelay/netns";
  if (netns_dir == nullptr && !std::filesystem::exists(dir + "/mrelay-netns") &&
      std::filesystem::exists(installed + "/mrelay-netns")) {
    dir = installed;
  }
  env.netns_tool = dir + "/mrelay-netns";
  env.repo_dir = std::filesystem::path(env.netns_tool).parent_path().parent_path().string();
  env.work_dir = "/tmp/mrelay-bench-" + std::to_string(::getpid());
  const long cores = ::sysconf(_SC_NPROCESSORS_ONLN);
  env.relay_cpu = cores > 1 ? 1 : 0;
  env.load_cpu = 0;
  env.cores_online = cores > 0 ? static_cast<int>(cores) : 1;
  return env;
}

std::vector<int> relay_worker_cpus(const RigEnvironment& env, uint32_t workers) {
  std::vector<int> cores{env.relay_cpu};
  for (int step = 1; step < env.cores_online; ++step) {
    const int core = (env.relay_cpu + step) % env.cores_online;
    if (core != env.load_cpu) {
      cores.push_back(core);
    }
  }
  if (std::find(cores.begin(), cores.end(), env.load_cpu) == cores.end()) {
    cores.push_back(env.load_cpu);  // only once every forwarder core has a worker
  }
  std::vector<int> cpus;
  for (uint32_t i = 0; i < workers; ++i) {
    cpus.push_back(cores[i % cores.size()]);
  }
  return cpus;
}

nlohmann::json cell_placement_json(const RigEnvironment& env, const CellParams& params) {
  json placement = placement_json(env);
  if (auto mask = ingress_rps_mask(params, env)) {
    placement["kernel_rps_cpus_mask"] = *mask;
  }
  if (params.forwarder != Forwarder::mrelay) {
    return placement;
  }
  const std::vector<int> cpus = relay_worker_cpus(env, params.workers);
  placement["relay_workers"] = params.workers;
  placement["relay_cpus"] = cpus;
  if (const std::string note = shared_core_note(cpus, env.load_cpu); !note.empty()) {
    placement["relay_workers_note"] = note;
  }
  return placement;
}

nlohmann::json placement_json(const RigEnvironment& env) {
  const bool rps = rps_available(env);
  return json{{"cores_online", env.cores_online},
              {"forwarder_cpu", env.relay_cpu},
              {"generator_cpu", env.load_cpu},
              {"sink_cpu", env.load_cpu},
              {"kernel_rps_cpus_mask", rps ? json(forwarder_cpu_mask(env)) : json(nullptr)},
              {"forwarder_rt_priority", env.forwarder_rt_priority},
              {"generator_rt_priority", env.load_rt_priority},
              {"ingress_rps", !rps                  ? "unavailable (kernel without RPS)"
                              : env.ingress_rps_all ? "all forwarders and direct"
                                                    : "kernel references only"},
              {"sink_rt_priority", sink_rt_priority(env)},
              {"how",
               "mrelay --cpus --rt-priority; socat via taskset and chrt -f; kernel references via "
               "RPS on the relay ingress (softirq); direct's sink receive work via RPS on the "
               "same ingress; mrelay-gen/mrelay-sink --cpu"}};
}

std::optional<std::string> ingress_rps_mask(const CellParams& params, const RigEnvironment& env) {
  if (!rps_available(env)) {
    return std::nullopt;
  }
  if (is_kernel_reference(params.forwarder) || env.ingress_rps_all) {
    return cpu_mask(cell_forwarder_cpus(params, env));
  }
  return std::nullopt;
}

std::vector<std::string> tester_generator_args(const CellParams& params,
                                               const RigEnvironment& env) {
  const Capability* gso = env.capabilities.find(capability::kUdpGso);
  const uint32_t headers = ip_udp_header_bytes(params.family);
  if (params.tester != Tester::fast || params.size + headers > params.link_mtu() ||
      (gso != nullptr && !gso->present)) {
    return {};
  }
  // IPv6's payload length leaves out its fixed header: only the UDP header counts against it.
  const uint32_t room = params.family == Family::ipv6 ? kMaxIpDatagram - 8 : kMaxIpDatagram - headers;
  const uint32_t fits = room / params.size;
  return {"--gso", std::to_string(std::min(kFastTesterGsoSegments, fits))};
}

std::vector<std::string> tester_netns_args(const CellParams& params) {
  if (params.tester != Tester::fast) {
    return {};
  }
  return {"--source-tx-udp-segmentation", "off"};
}

std::vector<std::string> link_netns_args(const CellParams& params) {
  std::vector<std::string> args;
  if (params.family == Family::ipv6) {
    args.insert(args.end(), {"--family", "ipv6"});
  }
  if (params.mtu != 0) {
    args.insert(args.end(), {"--mtu", std::to_string(params.mtu)});
  }
  if (params.segmentation == Segmentation::software) {
    args.insert(args.end(), {"--relay-tx-udp-segmentation", "off"});
  }
  return args;
}

std::vector<std::string> tester_sink_args(const CellParams& params) {
  if (params.tester != Tester::fast) {
    return {};
  }
  return {"--count-only"};
}

std::vector<std::string> realtime_prefix(int priority) {
  if (priority <= 0) {
    return {};
  }
  return {"chrt", "-f", std::to_string(priority)};
}

int sink_rt_priority(const RigEnvironment& env) {
  return env.load_rt_priority > 0 ? env.load_rt_priority + 1 : 0;
}

}  // namespace mrelay::harness
