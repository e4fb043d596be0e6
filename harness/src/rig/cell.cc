// One measurement on the namespace rig for mrelay-bench: see rig/cell.h.
//
// Timeline of a cell (t = generator start):
//   rig up -> sink (wait for its ready file) -> forwarder (wait until it joined / installed
//   its VIFs) -> generator -> t = warm-up: start sample (relay SIGUSR1, perf start, /proc CPU
//   and snmp) -> t = warm-up + window: end sample -> generator exits -> sink exits on idle ->
//   forwarder SIGTERM -> rig down. Every wait has a deadline; every exit path tears down.
//
//   nlohmann::json record = run_cell(params, default_environment(bin_dir), 1);
#include "rig/cell.h"

#include <arpa/inet.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <sstream>
#include <thread>

#include "common/process.h"
#include "results/results.h"
#include "rig/launcher.h"
#include "rig/metrics.h"
#include "rig/window_counters.h"

#ifndef MRELAY_NETNS_DIR
#error \
    "MRELAY_NETNS_DIR (the netns/ folder of the source tree) is set by harness/src/rig/CMakeLists.txt"
#endif

namespace mrelay::harness {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

// Addresses of the measurement traffic (inside the rig's namespaces only).
constexpr const char* kInputGroup = "239.1.1.1";
constexpr int kInputPort = 5000;
constexpr const char* kOutputGroup = "239.2.0.1";
constexpr int kOutputPort = 6000;
// Generator TTL: the kernel reference and mrelay decrement it and drop TTL 1; 2 for every
// forwarder keeps the generator identical across them.
constexpr int kGeneratorTtl = 2;
// Linux MAXVIFS: the kernel reference needs one VIF for the ingress plus one per output.
constexpr uint32_t kMaxKernelVifs = 32;
// Deadlines. Rig creation is fast (ip -batch), but fanout:64 on a loaded 2-core box takes a
// few seconds; 60 s only trips on a real hang.
constexpr auto kRigTimeout = std::chrono::seconds(60);
constexpr auto kReadyTimeout = std::chrono::seconds(10);
// The sink exits after this much silence once measured packets arrived (seconds): long enough
// to collect packets still queued in the forwarder, short enough to keep cells quick.
constexpr double kSinkIdleExitS = 0.5;
// The generator keeps sending this long after the window's end sample (seconds), so the end
// sample sees traffic still flowing and every process still alive.
constexpr double kTrafficTailS = 0.25;
// Extra run time the sink and generator are allowed beyond warm-up + window (seconds).
constexpr double kChildSlackS = 5.0;
// Grace after SIGTERM before SIGKILL: mrelay drains in-flight sends for up to 1 s first.
constexpr auto kStopGrace = std::chrono::seconds(3);
// After a forwarder reports ready, a short pause lets its loop reach its first wait (and its
// signal handlers be installed) before any SIGUSR1.
constexpr auto kSettle = milliseconds(150);

std::atomic<unsigned> g_cell_counter{0};

std::string tail(const std::string& text, size_t max_chars) {
  return text.size() <= max_chars ? text : "..." + text.substr(text.size() - max_chars);
}

// Sleeps until `deadline`, returning false early if the user interrupted the run.
bool sleep_until(Clock::time_point deadline) {
  while (Clock::now() < deadline) {
    if (interrupted()) {
      return false;
    }
    std::this_thread::sleep_for(
        std::min<Clock::duration>(deadline - Clock::now(), milliseconds(10)));
  }
  return !interrupted();
}

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

// Voluntary + involuntary switches of every thread: the fallback when perf is unavailable.
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

// /proc/PID/net/snmp shows the UDP counters of PID's network namespace: the same as
// `ip netns exec NS cat /proc/net/snmp`, without spawning anything mid-window.
std::optional<SnmpUdp> namespace_snmp(pid_t pid) {
  auto text = read_text_file("/proc/" + std::to_string(pid) + "/net/snmp");
  if (!text) {
    return std::nullopt;
  }
  auto values = parse_snmp_udp(*text);
  return values ? std::optional(*values) : std::nullopt;
}

// True once the process's namespace has `group` joined (IGMP membership, /proc/PID/net/igmp).
bool group_joined(pid_t pid, const char* group) {
  in_addr address{};
  ::inet_pton(AF_INET, group, &address);
  char hex[16];
  std::snprintf(hex, sizeof(hex), "%08X", address.s_addr);
  auto text = read_text_file("/proc/" + std::to_string(pid) + "/net/igmp");
  return text && text->find(hex) != std::string::npos;
}

// Number of multicast VIFs installed in the process's namespace (/proc/PID/net/ip_mr_vif).
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

struct Sample {
  Clock::time_point when;
  std::map<std::string, uint64_t> ticks;  // role -> utime+stime
  std::optional<CoreTicks> relay_core;
  std::map<std::string, SnmpUdp> snmp;  // role -> counters
  std::optional<uint64_t> proc_switches;
};

// Everything started for one cell; the destructor stops what is still running (by PID) and
// removes the namespaces, so every return path (and an exception) tears down.
class CellResources {
 public:
  CellResources(const BenchEnvironment& env, std::string prefix, std::string dir)
      : env_(env), prefix_(std::move(prefix)), dir_(std::move(dir)) {}
  CellResources(const CellResources&) = delete;
  CellResources& operator=(const CellResources&) = delete;
  ~CellResources() { teardown(); }

  void track(pid_t pid) { pids_.push_back(pid); }
  void rig_created() { rig_up_ = true; }
  const std::string& prefix() const { return prefix_; }
  const std::string& dir() const { return dir_; }

  void teardown() {
    for (auto it = pids_.rbegin(); it != pids_.rend(); ++it) {
      if (process_alive(*it)) {
        (void)stop_process(*it, SIGKILL, milliseconds(2000));
      }
    }
    pids_.clear();
    if (rig_up_) {
      auto down = run_capture({env_.netns_tool, "down", prefix_}, std::chrono::seconds(60));
      if (!down || !down->status.ok()) {
        std::fprintf(stderr, "mrelay-bench: warning: mrelay-netns down %s failed: %s\n",
                     prefix_.c_str(),
                     down ? tail(down->err, 300).c_str() : down.error().to_string().c_str());
      }
      rig_up_ = false;
    }
    if (!env_.keep_files && !dir_.empty()) {
      std::error_code error;
      std::filesystem::remove_all(dir_, error);
    }
  }

 private:
  const BenchEnvironment& env_;
  std::string prefix_;
  std::string dir_;
  std::vector<pid_t> pids_;
  bool rig_up_ = false;
};

// `chrt -f PRIORITY` in front of a command, or nothing for priority 0. chrt execs the program,
// so the spawned pid is the program's own.
std::vector<std::string> realtime_prefix(int priority) {
  if (priority <= 0) {
    return {};
  }
  return {"chrt", "-f", std::to_string(priority)};
}

json error_record(json record, const std::string& reason) {
  record["status"] = "error";
  record["reason"] = reason;
  return record;
}

std::string file_text(const std::string& path) {
  return read_text_file(path).value_or("");
}

// The relay namespace's side of the rig that a forwarder is started on.
struct RigInterfaces {
  std::string relay_ns;
  std::string ingress;
  std::vector<std::string> egress;
};

// Files a forwarder writes (paths in the cell's directory).
struct ForwarderFiles {
  std::string out;
  std::string err;
  std::string relay_final;  // mrelay --stats-json
  std::string ready;        // mrelay-kfwd --ready-file
};

std::vector<std::string> mrelay_command(const CellParams& params, const BenchEnvironment& env,
                                        const RigInterfaces& rig, const ForwarderFiles& files) {
  std::vector<std::string> args = {
      env.bin_dir + "/mrelay", "--in",
      rig.ingress + ":" + kInputGroup + ":" + std::to_string(kInputPort)};
  for (uint32_t i = 0; i < params.fanout; ++i) {
    args.insert(args.end(),
                {"--out", rig.egress[i] + ":" + kOutputGroup + ":" + std::to_string(kOutputPort)});
  }
  args.insert(
      args.end(),
      {"--ingress", params.ingress, "--egress", params.egress, "--queue-depth",
       std::to_string(params.queue_depth), "--batch", std::to_string(params.batch), "--sndbuf",
       std::to_string(params.sndbuf), "--rcvbuf", std::to_string(params.relay_rcvbuf), "--cpus",
       std::to_string(env.relay_cpu), "--rt-priority", std::to_string(env.forwarder_rt_priority),
       "--stats-json", files.relay_final});
  return args;
}

// mrelay-kfwd by multicast routing (kernel) or nftables (kernel-nft). nftables rewrites the
// group like mrelay does; multicast routing cannot, so its outputs carry the input group.
std::vector<std::string> kfwd_command(const CellParams& params, const BenchEnvironment& env,
                                      const RigInterfaces& rig, const ForwarderFiles& files,
                                      double run_s) {
  const bool nft = params.forwarder == Forwarder::kernel_nft;
  std::vector<std::string> args = {env.bin_dir + "/mrelay-kfwd", "--method", nft ? "nft" : "ipmr",
                                   "--in", rig.ingress};
  for (uint32_t i = 0; i < params.fanout; ++i) {
    args.insert(args.end(), {"--out", rig.egress[i]});
  }
  char number[32];
  std::snprintf(number, sizeof(number), "%.3f", run_s + 3 * kChildSlackS);
  args.insert(args.end(), {"--group", kInputGroup, "--duration", number, "--ready-file",
                           files.ready, "--json"});
  if (nft) {
    args.insert(args.end(),
                {"--port", std::to_string(kInputPort), "--rewrite",
                 std::string(kOutputGroup) + ":" + std::to_string(kOutputPort), "--nft", env.nft});
  }
  return args;
}

// socat needs the egress address for IP_MULTICAST_IF.
Result<std::vector<std::string>> socat_command(const CellParams& params,
                                               const BenchEnvironment& env,
                                               const RigInterfaces& rig) {
  auto address =
      run_capture({"ip", "-n", rig.relay_ns, "-4", "-o", "addr", "show", "dev", rig.egress[0]},
                  std::chrono::seconds(10));
  std::string egress_address;
  if (address && address->status.ok()) {
    std::istringstream words(address->out);
    std::string word;
    while (words >> word) {
      if (word == "inet" && (words >> word)) {
        egress_address = word.substr(0, word.find('/'));
        break;
      }
    }
  }
  if (egress_address.empty()) {
    return fail("socat", "no IPv4 address on " + rig.egress[0]);
  }
  std::vector<std::string> args = {"taskset", "-c", std::to_string(env.relay_cpu)};
  // The same real-time placement as mrelay --rt-priority (see BenchEnvironment).
  for (std::string& word : realtime_prefix(env.forwarder_rt_priority)) {
    args.push_back(std::move(word));
  }
  args.insert(
      args.end(),
      {env.socat, "-u",
       "UDP4-RECV:" + std::to_string(kInputPort) + ",reuseaddr,ip-add-membership=" + kInputGroup +
           ":" + rig.ingress + ",rcvbuf=" + std::to_string(params.relay_rcvbuf),
       "UDP4-SENDTO:" + std::string(kOutputGroup) + ":" + std::to_string(kOutputPort) +
           ",ip-multicast-if=" + egress_address + ",ip-multicast-loop=0"});
  return args;
}

// The forwarder's command line; empty for `direct` (no forwarder).
Result<std::vector<std::string>> forwarder_command(const CellParams& params,
                                                   const BenchEnvironment& env,
                                                   const RigInterfaces& rig,
                                                   const ForwarderFiles& files, double run_s) {
  switch (params.forwarder) {
    case Forwarder::mrelay:
      return mrelay_command(params, env, rig, files);
    case Forwarder::kernel:
    case Forwarder::kernel_nft:
      return kfwd_command(params, env, rig, files, run_s);
    case Forwarder::socat:
      return socat_command(params, env, rig);
    case Forwarder::direct:
      break;
  }
  return std::vector<std::string>{};
}

// Waits until the forwarder is ready: multicast routing has its VIFs, nftables wrote its
// ready file, a userspace forwarder joined the input group.
Result<void> wait_forwarder_ready(const CellParams& params, pid_t pid,
                                  const ForwarderFiles& files) {
  const auto deadline = Clock::now() + kReadyTimeout;
  for (;;) {
    if (!process_alive(pid)) {
      return fail(to_string(params.forwarder),
                  "exited during start-up: " + tail(file_text(files.err), 600));
    }
    bool ready = false;
    switch (params.forwarder) {
      case Forwarder::kernel:
        ready = installed_vifs(pid) >= params.fanout + 1;
        break;
      case Forwarder::kernel_nft:
        ready = std::filesystem::exists(files.ready);
        break;
      default:
        ready = group_joined(pid, kInputGroup);
        break;
    }
    if (ready) {
      return {};
    }
    if (Clock::now() > deadline || interrupted()) {
      return fail(to_string(params.forwarder), "not ready within " +
                                                   std::to_string(kReadyTimeout.count()) +
                                                   " s: " + tail(file_text(files.err), 600));
    }
    std::this_thread::sleep_for(milliseconds(5));
  }
}

double steady_ns(Clock::time_point when) {
  return static_cast<double>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(when.time_since_epoch()).count());
}

// The first relay stats line whose time_ns (CLOCK_MONOTONIC, as steady_clock) is not before
// `asked`, or nullptr. A millisecond of slack covers the two clocks being read a moment apart.
const json* first_stats_line_after(const std::vector<json>& lines, Clock::time_point asked) {
  const double asked_ns = steady_ns(asked) - 1e6;
  for (const json& line : lines) {
    if (line.contains("time_ns") && line["time_ns"].is_number() &&
        line["time_ns"].get<double>() >= asked_ns) {
      return &line;
    }
  }
  return nullptr;
}

json stats_line_lag_ms(const json& line, Clock::time_point asked) {
  if (!line.contains("time_ns") || !line["time_ns"].is_number()) {
    return nullptr;
  }
  return (line["time_ns"].get<double>() - steady_ns(asked)) / 1e6;
}

// RPS is usable unless the probe said otherwise (no probe: assume it, as before probes).
bool rps_available(const BenchEnvironment& env) {
  const Capability* rps = env.capabilities.find(capability::kRps);
  return rps == nullptr || rps->present;
}

std::string forwarder_cpu_mask(const BenchEnvironment& env) {
  char mask[16];
  std::snprintf(mask, sizeof(mask), "%x", 1u << env.relay_cpu);
  return mask;
}

// The RPS mask for the relay ingress of this cell, or nothing. Kernel references always get
// it (their forwarding is the ingress softirq); mrelay, socat and direct get it with
// ingress_rps_all, so every forwarder -- and direct's sink -- has the same two cores.
std::optional<std::string> ingress_rps_mask(const CellParams& params, const BenchEnvironment& env) {
  if (!rps_available(env)) {
    return std::nullopt;
  }
  if (is_kernel_reference(params.forwarder) || env.ingress_rps_all) {
    return forwarder_cpu_mask(env);
  }
  return std::nullopt;
}

}  // namespace

BenchEnvironment default_environment(const std::string& bin_dir) {
  BenchEnvironment env;
  env.bin_dir = bin_dir;
  const char* netns_dir = std::getenv("MRELAY_NETNS_DIR");
  env.netns_tool =
      std::string(netns_dir != nullptr ? netns_dir : MRELAY_NETNS_DIR) + "/mrelay-netns";
  env.repo_dir = std::filesystem::path(env.netns_tool).parent_path().parent_path().string();
  env.work_dir = "/tmp/mrelay-bench-" + std::to_string(::getpid());
  const long cores = ::sysconf(_SC_NPROCESSORS_ONLN);
  env.relay_cpu = cores > 1 ? 1 : 0;
  env.load_cpu = 0;
  return env;
}

nlohmann::json placement_json(const BenchEnvironment& env) {
  const bool rps = rps_available(env);
  return json{{"cores_online", ::sysconf(_SC_NPROCESSORS_ONLN)},
              {"forwarder_cpu", env.relay_cpu},
              {"generator_cpu", env.load_cpu},
              {"sink_cpu", env.load_cpu},
              {"kernel_rps_cpus_mask", rps ? json(forwarder_cpu_mask(env)) : json(nullptr)},
              {"forwarder_rt_priority", env.forwarder_rt_priority},
              {"generator_rt_priority", env.load_rt_priority},
              {"ingress_rps", !rps                  ? "unavailable (kernel without RPS)"
                              : env.ingress_rps_all ? "all forwarders and direct"
                                                    : "kernel references only"},
              {"sink_rt_priority", env.load_rt_priority > 0 ? env.load_rt_priority + 1 : 0},
              {"how",
               "mrelay --cpus --rt-priority; socat via taskset and chrt -f; kernel references via "
               "RPS on the relay ingress (softirq); direct's sink receive work via RPS on the "
               "same ingress; mrelay-gen/mrelay-sink --cpu"}};
}

Result<std::string> run_netns_gc(const BenchEnvironment& env) {
  auto result = run_capture({env.netns_tool, "gc"}, std::chrono::seconds(120));
  if (!result) {
    return tl::unexpected(result.error());
  }
  if (!result->status.ok()) {
    return fail("mrelay-netns gc", result->status.describe() + ": " + tail(result->err, 500));
  }
  return result->out + result->err;
}

namespace {

json run_cell_unguarded(const CellParams& params, const BenchEnvironment& env, int rep) {
  json record;
  record["cell_id"] = params.id();
  record["label"] = params.label();
  record["rep"] = rep;
  record["started"] = utc_timestamp();
  record["params"] = to_json(params);
  record["placement"] = placement_json(env);
  record["status"] = "ok";
  const uint32_t outputs = params.forwarder == Forwarder::direct ? 1 : params.fanout;

  // Forwarders that cannot do this cell say so instead of failing.
  if (params.forwarder == Forwarder::kernel && params.fanout + 1 > kMaxKernelVifs) {
    record["status"] = "unsupported";
    record["reason"] = "kernel forwarding is limited to 32 VIFs (1 ingress + 31 outputs)";
    return record;
  }
  if (params.forwarder == Forwarder::socat && params.fanout > 1) {
    record["status"] = "unsupported";
    record["reason"] = "socat reference is hop only (one output)";
    return record;
  }
  if (auto why = unavailable_reason(params, env.capabilities)) {
    record["status"] = "skipped";
    record["reason"] = *why;
    return record;
  }
  if (interrupted()) {
    return error_record(record, "interrupted");
  }

  char prefix[64];
  std::snprintf(prefix, sizeof(prefix), "mrl-b%d-%u", static_cast<int>(::getpid()),
                g_cell_counter.fetch_add(1));
  const std::string dir = env.work_dir + "/" + prefix;
  std::error_code mkdir_error;
  std::filesystem::create_directories(dir, mkdir_error);
  if (mkdir_error) {
    return error_record(record, "mkdir " + dir + ": " + mkdir_error.message());
  }
  CellResources resources(env, prefix, dir);
  record["prefix"] = prefix;
  auto log = [&](const std::string& text) {
    if (env.verbose) {
      std::fprintf(stderr, "[%s] %s\n", prefix, text.c_str());
    }
  };

  char number[64];

  // 1. The rig.
  // `direct` only uses the relay ingress link, whatever the fanout it is matched against.
  const std::string topology = params.fanout == 1 || params.forwarder == Forwarder::direct
                                   ? "hop"
                                   : "fanout:" + std::to_string(params.fanout);
  record["params"]["topology"] = topology;
  std::vector<std::string> up = {
      env.netns_tool, "up", topology, "--prefix", prefix, "--owner-pid", std::to_string(::getpid()),
      "--json"};
  if (!params.egress_qdisc.empty()) {
    up.insert(up.end(), {"--egress-qdisc", params.egress_qdisc});
  }
  if (auto mask = ingress_rps_mask(params, env)) {
    up.insert(up.end(), {"--rps-cpus", *mask});
  }
  log("rig up " + topology);
  auto rig = run_capture(up, kRigTimeout);
  if (!rig) {
    return error_record(record, "mrelay-netns up: " + rig.error().to_string());
  }
  resources.rig_created();  // even a failed `up` may have left something for `down`
  if (!rig->status.ok()) {
    return error_record(record, "mrelay-netns up " + topology + ": " + rig->status.describe() +
                                    ": " + tail(rig->err, 400));
  }
  json topo = json::parse(rig->out, nullptr, false);
  if (!topo.is_object() || !topo.contains("relays") || topo["relays"].empty() ||
      topo["sources"].empty() || topo["sinks"].empty()) {
    return error_record(record, "mrelay-netns up: unexpected JSON: " + tail(rig->out, 300));
  }
  record["rig"] = json{{"topology", topology}, {"settings", topo.value("settings", json())}};
  const std::string src_ns = topo["sources"][0]["ns"];
  const std::string src_if = topo["sources"][0]["interface"];
  const std::string relay_ns = topo["relays"][0]["ns"];
  const std::string ingress_if = topo["relays"][0]["ingress"][0];
  const std::vector<std::string> egress_ifs = topo["relays"][0]["egress"];
  const std::string sink_ns = topo["sinks"][0]["ns"];
  const std::vector<std::string> sink_ifs = topo["sinks"][0]["interfaces"];
  if (params.forwarder != Forwarder::direct &&
      (egress_ifs.size() < params.fanout || sink_ifs.size() < params.fanout)) {
    return error_record(record, "topology has fewer egress/sink interfaces than the fanout");
  }

  // Anchors: one idle process per namespace whose /proc/PID/net/snmp we read, so the window's
  // edges can be sampled whatever the generator, sink or forwarder are doing (or have done).
  std::map<std::string, pid_t> snmp_pids;
  for (const auto& [role, ns] : std::map<std::string, std::string>{
           {"src", src_ns}, {"relay", relay_ns}, {"sink", sink_ns}}) {
    std::snprintf(number, sizeof(number), "%.0f",
                  params.warmup_s + params.window_s + 10 * kChildSlackS);
    auto anchor = spawn(SpawnOptions{{"sleep", number}, ns, "", ""});
    if (!anchor) {
      return error_record(record, "spawn anchor in " + ns + ": " + anchor.error().to_string());
    }
    resources.track(*anchor);
    snmp_pids[role] = *anchor;
  }

  // 2. The sink: where and which group depends on the forwarder.
  std::vector<std::string> sink_args =
      realtime_prefix(env.load_rt_priority > 0 ? env.load_rt_priority + 1 : 0);
  sink_args.push_back(env.bin_dir + "/mrelay-sink");
  const double run_s = params.warmup_s + params.window_s + kTrafficTailS;
  std::string sink_where = sink_ns;
  std::string sink_group = std::string(kOutputGroup) + ":" + std::to_string(kOutputPort);
  if (params.forwarder == Forwarder::direct) {
    // Same single veth hop as the relay's ingress: the ceiling without a forwarder.
    sink_where = relay_ns;
    sink_group = std::string(kInputGroup) + ":" + std::to_string(kInputPort);
    sink_args.insert(sink_args.end(), {"--interface", ingress_if});
  } else {
    if (params.forwarder == Forwarder::kernel) {
      // Multicast routing cannot rewrite the group: outputs carry the input group.
      sink_group = std::string(kInputGroup) + ":" + std::to_string(kInputPort);
    }
    for (uint32_t i = 0; i < params.fanout; ++i) {
      sink_args.insert(sink_args.end(), {"--interface", sink_ifs[i]});
    }
  }
  const std::string ready_file = dir + "/sink.ready";
  std::snprintf(number, sizeof(number), "%.3f", run_s + kChildSlackS);
  sink_args.insert(sink_args.end(),
                   {"--group", sink_group, "--duration", number, "--idle-exit",
                    std::to_string(kSinkIdleExitS), "--rcvbuf", std::to_string(params.sink_rcvbuf),
                    "--cpu", std::to_string(env.load_cpu), "--ready-file", ready_file, "--json"});
  SpawnOptions sink_options{sink_args, sink_where, dir + "/sink.json", dir + "/sink.err"};
  auto sink_pid = spawn(sink_options);
  if (!sink_pid) {
    return error_record(record, "spawn mrelay-sink: " + sink_pid.error().to_string());
  }
  resources.track(*sink_pid);
  log("sink pid " + std::to_string(*sink_pid));
  {
    const auto deadline = Clock::now() + kReadyTimeout;
    while (!std::filesystem::exists(ready_file)) {
      if (!process_alive(*sink_pid) || Clock::now() > deadline || interrupted()) {
        return error_record(
            record, "mrelay-sink did not become ready: " + tail(file_text(dir + "/sink.err"), 400));
      }
      std::this_thread::sleep_for(milliseconds(5));
    }
  }

  // 3. The forwarder.
  pid_t forwarder_pid = -1;
  const std::string relay_stdout = dir + "/forwarder.out";
  const std::string relay_stderr = dir + "/forwarder.err";
  const ForwarderFiles files{relay_stdout, relay_stderr, dir + "/relay-final.json",
                             dir + "/kfwd.ready"};
  auto command =
      forwarder_command(params, env, RigInterfaces{relay_ns, ingress_if, egress_ifs}, files, run_s);
  if (!command) {
    return error_record(record, command.error().to_string());
  }
  const std::vector<std::string>& forwarder_args = *command;
  const std::string relay_final = files.relay_final;
  if (!forwarder_args.empty()) {
    SpawnOptions options{forwarder_args, relay_ns, relay_stdout, relay_stderr};
    auto pid = spawn(options);
    if (!pid) {
      return error_record(record, "spawn " + forwarder_args[0] + ": " + pid.error().to_string());
    }
    forwarder_pid = *pid;
    resources.track(forwarder_pid);
    log("forwarder " + to_string(params.forwarder) + " pid " + std::to_string(forwarder_pid));
    if (auto ready = wait_forwarder_ready(params, forwarder_pid, files); !ready) {
      return error_record(record, ready.error().to_string());
    }
    std::this_thread::sleep_for(kSettle);
  }
  record["forwarder_command"] = forwarder_args;

  // Perf counters on the forwarder (userspace forwarders only).
  std::optional<WindowCounters> counters;
  std::string counter_note;
  if (forwarder_pid > 0 && !is_kernel_reference(params.forwarder)) {
    auto attached = WindowCounters::attach(forwarder_pid);
    if (attached) {
      counters.emplace(std::move(*attached));
    } else {
      counter_note = "unavailable: " + attached.error().to_string();
    }
  }

  // 4. The generator.
  std::vector<std::string> gen_args = realtime_prefix(env.load_rt_priority);
  gen_args.insert(gen_args.end(), {env.bin_dir + "/mrelay-gen", "--interface", src_if, "--group",
                                   std::string(kInputGroup) + ":" + std::to_string(kInputPort)});
  std::snprintf(number, sizeof(number), "%.3f", run_s);
  const std::string duration_text = number;
  std::snprintf(number, sizeof(number), "%.3f", params.warmup_s);
  const std::string warmup_text = number;
  std::snprintf(number, sizeof(number), "%.0f", params.rate_pps);
  gen_args.insert(
      gen_args.end(),
      {"--streams", std::to_string(params.streams), "--size", std::to_string(params.size), "--rate",
       number, "--batch", std::to_string(params.generator_batch()), "--duration", duration_text,
       "--warmup", warmup_text, "--ttl", std::to_string(kGeneratorTtl), "--cpu",
       std::to_string(env.load_cpu), "--json"});
  if (params.gen_bursts) {
    gen_args.push_back("--bursts");
  }
  record["generator_command"] = gen_args;
  SpawnOptions gen_options{gen_args, src_ns, dir + "/gen.json", dir + "/gen.err"};
  const auto gen_start = Clock::now();
  auto gen_pid = spawn(gen_options);
  if (!gen_pid) {
    return error_record(record, "spawn mrelay-gen: " + gen_pid.error().to_string());
  }
  resources.track(*gen_pid);
  log("gen pid " + std::to_string(*gen_pid));

  if (params.forwarder == Forwarder::direct) {
    snmp_pids.erase("sink");  // unused: direct's sink lives in the relay namespace
  }
  std::map<std::string, pid_t> cpu_pids = {{"gen", *gen_pid}, {"sink", *sink_pid}};
  if (forwarder_pid > 0 && !is_kernel_reference(params.forwarder)) {
    cpu_pids["relay"] = forwarder_pid;
  }
  auto take_sample = [&]() {
    Sample sample;
    if (params.forwarder == Forwarder::mrelay) {
      ::kill(forwarder_pid, SIGUSR1);  // the relay prints a stats line at once
    }
    sample.when = Clock::now();
    for (const auto& [role, pid] : cpu_pids) {
      if (auto ticks = process_ticks(pid)) {
        sample.ticks[role] = *ticks;
      }
    }
    {
      auto stat = read_text_file("/proc/stat");
      if (stat) {
        if (auto core = parse_core_ticks(*stat, env.relay_cpu)) {
          sample.relay_core = *core;
        }
      }
    }
    for (const auto& [role, pid] : snmp_pids) {
      if (auto snmp = namespace_snmp(pid)) {
        sample.snmp[role] = *snmp;
      }
    }
    if (forwarder_pid > 0 && !is_kernel_reference(params.forwarder)) {
      sample.proc_switches = proc_context_switches(forwarder_pid);
    }
    return sample;
  };

  // 5. The window.
  if (!sleep_until(gen_start + std::chrono::duration_cast<Clock::duration>(
                                   std::chrono::duration<double>(params.warmup_s)))) {
    return error_record(record, "interrupted");
  }
  if (counters) {
    counters->start();
  }
  const Sample start = take_sample();
  if (!sleep_until(start.when + std::chrono::duration_cast<Clock::duration>(
                                    std::chrono::duration<double>(params.window_s)))) {
    return error_record(record, "interrupted");
  }
  std::optional<WindowCounters::Reading> perf_reading;
  if (counters) {
    perf_reading = counters->read();
  }
  const Sample end = take_sample();
  const double sample_window_s = std::chrono::duration<double>(end.when - start.when).count();
  const bool forwarder_survived = forwarder_pid <= 0 || process_alive(forwarder_pid);

  // 6. Stop in order: generator (ends by itself), sink (idle exit), forwarder (SIGTERM).
  const auto child_budget = milliseconds(static_cast<int64_t>((run_s + kChildSlackS) * 1000));
  ExitStatus gen_status = wait_for_exit(*gen_pid, child_budget, true);
  if (gen_status.timed_out) {
    gen_status = stop_process(*gen_pid, SIGTERM, milliseconds(2000));
  }
  ExitStatus sink_status = wait_for_exit(*sink_pid, child_budget, true);
  if (sink_status.timed_out) {
    sink_status = stop_process(*sink_pid, SIGTERM, milliseconds(2000));
  }
  ExitStatus forwarder_status;
  if (forwarder_pid > 0) {
    forwarder_status = stop_process(forwarder_pid, SIGTERM, kStopGrace);
  }
  record["exit"] = json{{"generator", gen_status.describe()},
                        {"sink", sink_status.describe()},
                        {"forwarder", forwarder_pid > 0 ? forwarder_status.describe() : "none"}};
  if (interrupted()) {
    return error_record(record, "interrupted");
  }

  // 7. Parse what the children reported.
  const std::string gen_text = file_text(dir + "/gen.json");
  const std::string sink_text = file_text(dir + "/sink.json");
  WindowObservation obs;
  obs.gen = json::parse(gen_text, nullptr, false);
  obs.sink = json::parse(sink_text, nullptr, false);
  if (!obs.gen.is_object()) {
    return error_record(record, "mrelay-gen gave no JSON (" + gen_status.describe() +
                                    "): " + tail(file_text(dir + "/gen.err"), 400));
  }
  if (!obs.sink.is_object()) {
    return error_record(record, "mrelay-sink gave no JSON (" + sink_status.describe() +
                                    "): " + tail(file_text(dir + "/sink.err"), 400));
  }
  if (!forwarder_survived) {
    return error_record(record, to_string(params.forwarder) + " died during the window (" +
                                    forwarder_status.describe() +
                                    "): " + tail(file_text(relay_stderr), 600));
  }
  obs.sample_window_s = sample_window_s;
  const double tick = static_cast<double>(::sysconf(_SC_CLK_TCK));
  for (const auto& [role, ticks] : end.ticks) {
    auto before = start.ticks.find(role);
    if (before != start.ticks.end()) {
      obs.cpu_seconds[role] = static_cast<double>(ticks - before->second) / tick;
    }
  }
  if (start.relay_core && end.relay_core) {
    obs.kernel_core_busy_s =
        static_cast<double>(end.relay_core->busy - start.relay_core->busy) / tick;
    obs.kernel_core_kernel_s =
        static_cast<double>(end.relay_core->kernel - start.relay_core->kernel) / tick;
  }
  for (const auto& [role, values] : end.snmp) {
    auto before = start.snmp.find(role);
    if (before == start.snmp.end()) {
      continue;
    }
    SnmpUdp delta;
    for (const auto& [name, value] : values) {
      auto b = before->second.find(name);
      delta[name] = value - (b == before->second.end() ? 0 : b->second);
    }
    obs.snmp_delta[role] = delta;
  }
  if (perf_reading) {
    obs.forwarder_syscalls = perf_reading->syscalls;
    obs.context_switches = perf_reading->context_switches;
    obs.counter_path = perf_reading->path;
    obs.context_switch_source = perf_reading->context_switches ? "perf" : "";
    json events = json::object();
    for (const auto& [name, value] : perf_reading->values) {
      events[name] = value;
    }
    for (const auto& [name, reason] : perf_reading->unsupported) {
      events[name] = "unsupported: " + reason;
    }
    record["perf_events"] = events;
  } else {
    obs.counter_path = counter_note.empty() ? "" : counter_note;
  }
  if (!obs.context_switches && start.proc_switches && end.proc_switches) {
    obs.context_switches = *end.proc_switches - *start.proc_switches;
    obs.context_switch_source = "/proc/PID/task/*/status";
  }
  if (params.forwarder == Forwarder::mrelay) {
    const auto lines = parse_stats_lines(file_text(relay_stdout));
    std::vector<json> stats;
    for (const auto& line : lines) {
      if (line["event"] == "stats") {
        stats.push_back(line);
      }
    }
    if (stats.size() >= 2) {
      // The lines that answered the two SIGUSR1s: the first taken at or after each request
      // (the relay's control thread may answer late under load; an interval line or a late
      // answer must not be taken for the other edge).
      const json* start_line = first_stats_line_after(stats, start.when);
      const json* end_line = first_stats_line_after(stats, end.when);
      if (start_line == nullptr || end_line == nullptr || start_line == end_line) {
        start_line = &stats[stats.size() - 2];  // no time_ns: the last two, as requested
        end_line = &stats.back();
      }
      obs.relay_start = *start_line;
      obs.relay_end = *end_line;
      // How late the relay answered each SIGUSR1 (ms): its counters cover its own window,
      // which compute_metrics() turns into rates over that window.
      record["relay_stats_lag_ms"] = json{{"start", stats_line_lag_ms(*start_line, start.when)},
                                          {"end", stats_line_lag_ms(*end_line, end.when)}};
    } else {
      record["relay_stats_warning"] =
          "expected 2 SIGUSR1 stats lines on stdout, got " + std::to_string(stats.size());
    }
    json final_stats = json::parse(file_text(relay_final), nullptr, false);
    if (final_stats.is_object()) {
      record["relay_final"] = final_stats.value("total", json());
      record["relay_backend"] = json{{"ingress", final_stats.value("ingress", json())},
                                     {"egress", final_stats.value("egress", json())},
                                     {"queue_depth", final_stats.value("queue_depth", json())},
                                     {"batch", final_stats.value("batch", json())},
                                     {"sndbuf", final_stats.value("sndbuf", json())}};
    }
  } else if (is_kernel_reference(params.forwarder)) {
    record["kernel_report"] = json::parse(file_text(relay_stdout), nullptr, false);
  }

  json metrics = compute_metrics(params, obs);
  for (auto& item : metrics.items()) {
    record[item.key()] = item.value();
  }
  record["outputs"] = outputs;
  record["generator"] = json{{"achieved_pps", obs.gen.value("achieved_pps", json())},
                             {"errors_by_errno", obs.gen.value("errors_by_errno", json())},
                             {"warmup_sent", obs.gen.value("warmup_sent", json())},
                             {"syscalls", obs.gen.value("syscalls", json())}};
  record["sink"] = json{{"warmup_received", obs.sink.value("warmup_received", json())},
                        {"streams", obs.sink.value("streams", json())},
                        {"syscalls", obs.sink.value("syscalls", json())}};
  log("delivered " + std::to_string(record.value("delivered_pps", 0.0)) + " pps, loss " +
      std::to_string(record.value("loss_pct", 0.0)) + " %");
  return record;
}

}  // namespace

nlohmann::json run_cell(const CellParams& params, const BenchEnvironment& env, int rep) {
  // Unexpected JSON from a child (a wrong type) throws inside nlohmann::json; the cell's
  // resources are released by unwinding, and the sweep goes on with an error record.
  try {
    return run_cell_unguarded(params, env, rep);
  } catch (const std::exception& error) {
    return json{{"cell_id", params.id()},
                {"label", params.label()},
                {"rep", rep},
                {"params", to_json(params)},
                {"placement", placement_json(env)},
                {"status", "error"},
                {"reason", std::string("unexpected: ") + error.what()}};
  }
}

nlohmann::json run_ndr_cell(const CellParams& params, const NdrOptions& options,
                            const BenchEnvironment& env, int rep) {
  CellParams trial_params = params;
  trial_params.ndr = false;
  NdrOptions search = options;
  json saturation;
  if (search.max_rate <= 0) {
    trial_params.rate_pps = 0;
    saturation = run_cell(trial_params, env, rep);
    if (saturation.value("status", "") != "ok") {
      saturation["cell_id"] = params.id();
      saturation["label"] = params.label();
      saturation["params"] = to_json(params);
      return saturation;
    }
    search.max_rate = saturation.value("offered_pps", 0.0);
  }
  json last_record;
  std::map<double, json> records;
  auto trial = [&](double rate) -> Result<NdrTrialOutcome> {
    trial_params.rate_pps = std::floor(rate);
    json record = run_cell(trial_params, env, rep);
    if (record.value("status", "") != "ok") {
      return fail("ndr trial at " + std::to_string(static_cast<uint64_t>(rate)) + " pps",
                  record.value("reason", "failed"));
    }
    records[rate] = record;
    return NdrTrialOutcome{record.value("loss_pct", 100.0), record.value("offered_pps", 0.0)};
  };
  auto result = find_ndr(search, trial);
  json record;
  if (!result) {
    record = json{{"status", "error"}, {"reason", result.error().to_string()}};
  } else if (result->found && records.count(result->ndr_pps) != 0) {
    record = records[result->ndr_pps];
  } else if (!records.empty()) {
    record = records.begin()->second;
  }
  record["cell_id"] = params.id();
  record["label"] = params.label();
  record["rep"] = rep;
  record["params"] = to_json(params);
  json trials = json::array();
  if (result) {
    for (const auto& t : result->trials) {
      trials.push_back(json{{"rate", t.rate},
                            {"loss_pct", t.loss_pct},
                            {"offered_pps", t.offered_pps},
                            {"pass", t.pass},
                            {"phase", t.phase}});
    }
    record["ndr_pps"] = result->found ? json(result->ndr_pps) : json(nullptr);
    // What the generator actually offered in the confirming trial (RFC 2544 reports offered).
    record["ndr_offered_pps"] = result->found && !result->trials.empty()
                                    ? json(result->trials.back().offered_pps)
                                    : json(nullptr);
    if (!result->found && record.value("status", "ok") == "ok") {
      record["status"] = "ok";
    }
  }
  record["ndr"] =
      json{{"found", result && result->found},
           {"note", result ? result->note : result.error().to_string()},
           {"loss_threshold_pct", search.loss_threshold_pct},
           {"resolution", search.resolution},
           {"min_rate", search.min_rate},
           {"max_rate", search.max_rate},
           {"saturation_offered_pps",
            saturation.is_object() ? saturation.value("offered_pps", json()) : json(nullptr)},
           {"trials", trials}};
  return record;
}

}  // namespace mrelay::harness
