// One measurement on the namespace rig for mrelay-bench: see rig/cell.h.
//
// Timeline of a cell (t = generator start), one Cell step each:
//   rig up -> sink (wait for its ready file) -> forwarder (wait until it joined / installed
//   its VIFs) -> generator -> t = warm-up: start sample (relay SIGUSR1, perf start, /proc CPU
//   and snmp) -> t = warm-up + window: end sample -> generator exits -> sink exits on idle ->
//   forwarder SIGTERM -> observe -> rig down. Every wait has a deadline; every exit path
//   tears down. What differs between forwarders is their launcher's (rig/launcher.h).
//
//   nlohmann::json record = run_cell(params, default_environment(bin_dir), 1);
#include "rig/cell.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <thread>

#include "common/process.h"
#include "results/results.h"
#include "rig/launcher.h"
#include "rig/metrics.h"
#include "rig/proc.h"
#include "rig/window.h"
#include "rig/host_window.h"
#include "rig/inventory.h"
#include "rig/window_counters.h"

namespace mrelay::harness {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

// Deadlines. Rig creation is fast (ip -batch), but fanout:64 on a loaded 2-core box takes a
// few seconds; 60 s only trips on a real hang.
constexpr auto kRigTimeout = std::chrono::seconds(60);
constexpr auto kReadyTimeout = std::chrono::seconds(10);
// The sink exits after this much silence once measured packets arrived (seconds): long enough
// to collect packets still queued in the forwarder, short enough to keep cells quick.
constexpr double kSinkIdleExitS = 0.5;
// mrelay-gen --flows' limit: beyond it, streams share the generator's sockets.
constexpr uint32_t kMaxGeneratorFlows = 64;

// A bursty source is silent between bursts for up to a burst interval: the sink must outwait
// two of them, or it leaves after the first burst and every later one counts as lost.
double sink_idle_exit_s(const CellParams& params) {
  if (!params.gen_bursts || params.rate_pps <= 0) {
    return kSinkIdleExitS;
  }
  const double burst_interval_s = params.generator_batch() / params.rate_pps;
  return std::max(kSinkIdleExitS, 2 * burst_interval_s);
}
// The generator keeps sending this long after the window's end sample (seconds), so the end
// sample sees traffic still flowing and every process still alive.
constexpr double kTrafficTailS = 0.25;
// Grace after SIGTERM before SIGKILL: mrelay drains in-flight sends for up to 1 s first.
constexpr auto kStopGrace = std::chrono::seconds(3);
// After a forwarder reports ready, a short pause lets its loop reach its first wait (and its
// signal handlers be installed) before any SIGUSR1.
constexpr auto kSettle = milliseconds(150);

std::atomic<unsigned> g_cell_counter{0};

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

Clock::duration seconds(double value) {
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(value));
}

// A number as the programs' flags take it: format "%.3f" (seconds) or "%.0f" (a count).
std::string number_text(const char* format, double value) {
  char text[64];
  std::snprintf(text, sizeof(text), format, value);
  return text;
}

json error_record(json record, const std::string& reason) {
  record["status"] = "error";
  record["reason"] = reason;
  return record;
}

Result<void> interrupted_error() {
  return fail("", "interrupted");
}

// One started process and the host it runs on.
struct Started {
  Host* host = nullptr;
  HostProcess process;
  [[nodiscard]] bool running() const { return host != nullptr && host->alive(process); }
};

// Everything started for one cell; the destructor stops what is still running (by PID, on
// its host) and removes the namespaces, so every return path (and an exception) tears down.
// The hosts of an inventory outlive the cell (the run cleans them up); a namespace rig's
// hosts are the cell's own.
class CellResources {
 public:
  CellResources(const RigEnvironment& env, std::string prefix, std::string dir)
      : env_(env), prefix_(std::move(prefix)), dir_(std::move(dir)) {}
  CellResources(const CellResources&) = delete;
  CellResources& operator=(const CellResources&) = delete;
  ~CellResources() { teardown(); }

  void track(const Started& started) { started_.push_back(started); }
  void rig_created() { rig_up_ = true; }
  NamespaceHost& namespace_host(const std::string& netns) {
    for (auto& host : namespace_hosts_) {
      if (host->name() == netns) {
        return *host;
      }
    }
    return *namespace_hosts_.emplace_back(
        std::make_unique<NamespaceHost>(netns, env_.bin_dir, dir_));
  }

  void teardown() {
    for (auto it = started_.rbegin(); it != started_.rend(); ++it) {
      if (it->running()) {
        (void)it->host->stop(it->process, SIGKILL, milliseconds(2000));
      }
    }
    started_.clear();
    namespace_hosts_.clear();  // their anchors
    if (rig_up_) {
      auto down = run_capture({env_.netns_tool, "down", prefix_}, std::chrono::seconds(60));
      if (!down || !down->status.ok()) {
        std::fprintf(stderr, "mrelay-bench: warning: mrelay-netns down %s failed: %s\n",
                     prefix_.c_str(),
                     down ? text_tail(down->err, 300).c_str() : down.error().to_string().c_str());
      }
      rig_up_ = false;
    }
    if (!env_.keep_files && !dir_.empty()) {
      std::error_code error;
      std::filesystem::remove_all(dir_, error);
    }
  }

 private:
  const RigEnvironment& env_;
  std::string prefix_;
  std::string dir_;
  std::vector<Started> started_;
  std::vector<std::unique_ptr<NamespaceHost>> namespace_hosts_;
  bool rig_up_ = false;
};

// The files of sink i: sink.json, sink1.json, ... (the first keeps the single-sink names).
std::string sink_name(size_t index) {
  return "sink" + (index == 0 ? std::string() : std::to_string(index));
}

// Sums what several sinks counted (fanout across hosts): the tester's sink (the first) keeps
// its latency, which other hosts' clocks cannot time.
json merge_sink_reports(const std::vector<json>& reports) {
  if (reports.size() == 1) {
    return reports.front();
  }
  json merged = reports.front();
  for (const char* key : {"received", "warmup_received", "kernel_drops", "lost", "reordered",
                          "duplicated", "corrupted", "syscalls"}) {
    double total = 0;
    bool any = false;
    for (const json& report : reports) {
      if (report.contains(key) && report[key].is_number()) {
        total += report[key].get<double>();
        any = true;
      }
    }
    merged[key] = any ? json(total) : json(nullptr);
  }
  json streams = json::array();
  for (const json& report : reports) {
    for (const json& stream : report.value("streams", json::array())) {
      streams.push_back(stream);
    }
  }
  merged["streams"] = streams;
  merged["sinks"] = reports.size();
  return merged;
}

// One run of one cell: its steps in the order they run, each a method; what differs between
// forwarders is asked of the launcher, where each role runs is the topology's (namespaces of
// this machine, or the hosts of an inventory). The record collects what every step saw, so a
// failed step's error record still shows how far the cell got.
class Cell {
 public:
  Cell(const CellParams& params, const RigEnvironment& env, int rep)
      : params_(params),
        env_(env),
        launcher_(launcher_for(params.forwarder)),
        run_s_(params.warmup_s + params.window_s + kTrafficTailS) {
    record_["cell_id"] = params.id();
    record_["label"] = params.label();
    record_["rep"] = rep;
    record_["started"] = utc_timestamp();
    record_["params"] = to_json(params);
    record_["placement"] = cell_placement_json(env, params);
    record_["status"] = "ok";
  }

  json run() {
    if (auto reason = launcher_.unsupported_reason(params_)) {
      return with_status("unsupported", *reason);
    }
    if (auto reason = unavailable_reason(params_, env_.capabilities)) {
      return with_status("skipped", *reason);
    }
    // An inventory's links are the hosts' own: their addresses and MTU are not the rig's to set.
    if (env_.inventory != nullptr && (params_.family == Family::ipv6 || params_.mtu != 0)) {
      return with_status("unsupported",
                         "family ipv6 and mtu cells run on mrelay-netns topologies, not on an "
                         "inventory (its links keep their own addresses and MTU)");
    }
    if (env_.inventory != nullptr && params_.workers > 1) {
      return with_status("unsupported",
                         "workers > 1 run on mrelay-netns topologies, not on an inventory (the "
                         "workers' cores are placed by this machine's core count)");
    }
    for (auto step : {&Cell::prepare, &Cell::rig_up, &Cell::start_anchors, &Cell::start_sinks,
                      &Cell::start_forwarder, &Cell::start_generator, &Cell::measure_window,
                      &Cell::stop, &Cell::observe}) {
      if (auto done = (this->*step)(); !done) {
        return error_record(record_, done.error().to_string());
      }
    }
    log("delivered " + std::to_string(record_.value("delivered_pps", 0.0)) + " pps, loss " +
        std::to_string(record_.value("loss_pct", 0.0)) + " %");
    return record_;
  }

 private:
  json with_status(const char* status, const std::string& reason) {
    record_["status"] = status;
    record_["reason"] = reason;
    return record_;
  }

  void log(const std::string& text) const {
    if (env_.verbose) {
      std::fprintf(stderr, "[%s] %s\n", prefix_.c_str(), text.c_str());
    }
  }

  std::string path(const std::string& name) const { return dir_ + "/" + name; }
  // A file on `host` for this cell (its work directory is shared by the run's cells).
  std::string host_path(const Host& host, const std::string& name) const {
    return host.work_dir() + "/" + prefix_ + "-" + name;
  }
  int load_cpu() const { return topology_.load_cpu.value_or(env_.load_cpu); }

  // A name for the cell's namespaces and directory, unique on this machine: mrl-b<pid>-<n>.
  Result<void> prepare() {
    if (interrupted()) {
      return interrupted_error();
    }
    prefix_ = "mrl-b" + std::to_string(::getpid()) + "-" + std::to_string(g_cell_counter++);
    dir_ = env_.work_dir + "/" + prefix_;
    std::error_code mkdir_error;
    std::filesystem::create_directories(dir_, mkdir_error);
    if (mkdir_error) {
      return fail("", "mkdir " + dir_ + ": " + mkdir_error.message());
    }
    resources_.emplace(env_, prefix_, dir_);
    record_["prefix"] = prefix_;
    return {};
  }

  // 1. The rig: the inventory's hosts, or `mrelay-netns up` with one output per copy the
  // sinks receive; then where the sinks listen, and the forwarder's environment on its host.
  Result<void> rig_up() {
    const uint32_t outputs = launcher_.outputs(params_);
    const std::string topology = outputs == 1 ? "hop" : "fanout:" + std::to_string(params_.fanout);
    record_["params"]["topology"] = topology;
    auto up = env_.inventory != nullptr ? inventory_up(outputs) : namespaces_up(topology);
    if (!up) {
      return up;
    }
    auto sink = launcher_.sink_plan(params_, topology_);
    if (!sink) {
      return tl::unexpected(sink.error());
    }
    sink_ = *sink;
    forwarder_env_ = env_;
    forwarder_env_.bin_dir = topology_.relay->bin_dir();
    forwarder_env_.relay_cpu = topology_.relay_cpu.value_or(env_.relay_cpu);
    files_ = ForwarderFiles{path("forwarder.out"), path("forwarder.err"),
                            host_path(*topology_.relay, "relay-final.json"),
                            host_path(*topology_.relay, "kfwd.ready"),
                            host_path(*topology_.relay, "relay-config.json")};
    return {};
  }

  Result<void> inventory_up(uint32_t outputs) {
    InventoryRig& rig = *env_.inventory;
    if (auto configured = rig.configure(params_.egress_qdisc, params_.tester == Tester::fast);
        !configured) {
      return configured;
    }
    auto topology = rig.topology_for(outputs);
    if (!topology) {
      return tl::unexpected(topology.error());
    }
    topology_ = *topology;
    record_["rig"] = json{{"topology", record_["params"]["topology"]}, {"inventory", true}};
    if (params_.sends_gso_runs()) {
      // The rig leaves the DUT's NICs as they are: their own offload decides who segments.
      record_["rig"]["settings"] = json{
          {"egress_segmentation", "the DUT's output interfaces' own (not changed by the rig)"}};
    }
    return {};
  }

  Result<void> namespaces_up(const std::string& topology) {
    std::vector<std::string> up = {env_.netns_tool,
                                   "up",
                                   topology,
                                   "--prefix",
                                   prefix_,
                                   "--owner-pid",
                                   std::to_string(::getpid()),
                                   "--json"};
    if (!params_.egress_qdisc.empty()) {
      up.insert(up.end(), {"--egress-qdisc", params_.egress_qdisc});
    }
    if (auto mask = ingress_rps_mask(params_, env_)) {
      up.insert(up.end(), {"--rps-cpus", *mask});
    }
    for (const std::string& flag : tester_netns_args(params_)) {
      up.push_back(flag);
    }
    for (const std::string& flag : link_netns_args(params_)) {
      up.push_back(flag);
    }
    log("rig up " + topology);
    auto rig = run_capture(up, kRigTimeout);
    if (!rig) {
      return fail("mrelay-netns up", rig.error().to_string());
    }
    resources_->rig_created();  // even a failed `up` may have left something for `down`
    if (!rig->status.ok()) {
      return fail("mrelay-netns up " + topology,
                  rig->status.describe() + ": " + text_tail(rig->err, 400));
    }
    return read_topology(rig->out, topology);
  }

  // The first source, relay and sink of `mrelay-netns up --json` (netns/topologies.md), each
  // namespace a host of this machine.
  Result<void> read_topology(const std::string& text, const std::string& topology) {
    json topo = json::parse(text, nullptr, false);
    if (!topo.is_object() || !topo.contains("relays") || topo["relays"].empty() ||
        topo["sources"].empty() || topo["sinks"].empty()) {
      return fail("mrelay-netns up", "unexpected JSON: " + text_tail(text, 300));
    }
    record_["rig"] = json{{"topology", topology}, {"settings", topo.value("settings", json())}};
    const json& source = topo["sources"][0];
    const json& relay = topo["relays"][0];
    const json& sink = topo["sinks"][0];
    topology_ = RigTopology{};
    topology_.source = &resources_->namespace_host(source["ns"].get<std::string>());
    topology_.source_interface = source["interface"].get<std::string>();
    topology_.relay = &resources_->namespace_host(relay["ns"].get<std::string>());
    topology_.relay_ingress = relay["ingress"][0].get<std::string>();
    topology_.relay_egress = relay["egress"].get<std::vector<std::string>>();
    topology_.sinks = {SinkSite{&resources_->namespace_host(sink["ns"].get<std::string>()),
                                sink["interfaces"].get<std::vector<std::string>>(),
                                {}}};
    return {};
  }

  // Anchors: one idle process per namespace host whose /proc/PID/net we read, so the window's
  // edges can be sampled whatever the generator, sink or forwarder are doing (or have done).
  // A host over SSH is its own namespace: it needs none.
  Result<void> start_anchors() {
    const double lifetime = params_.warmup_s + params_.window_s + 10 * kChildSlackS;
    for (Host* host : {topology_.source, topology_.relay, sink_.sites.front().host}) {
      if (auto* ns = dynamic_cast<NamespaceHost*>(host)) {
        if (auto anchor = ns->start_anchor(lifetime); !anchor) {
          return anchor;
        }
      }
    }
    return {};
  }

  // 2. The sinks, one per site, where the launcher says; then their ready files.
  Result<void> start_sinks() {
    for (size_t i = 0; i < sink_.sites.size(); ++i) {
      if (auto started = start_sink(i); !started) {
        return started;
      }
    }
    for (size_t i = 0; i < sinks_.size(); ++i) {
      if (auto ready = wait_sink_ready(i); !ready) {
        return ready;
      }
    }
    return {};
  }

  Result<void> start_sink(size_t index) {
    const SinkSite& site = sink_.sites[index];
    const std::string name = sink_name(index);
    std::vector<std::string> args = realtime_prefix(sink_rt_priority(env_));
    args.push_back(site.host->bin_dir() + "/mrelay-sink");
    for (const std::string& interface : site.interfaces) {
      args.insert(args.end(), {"--interface", interface});
    }
    args.insert(args.end(),
                {"--group", sink_.group, "--duration", number_text("%.3f", run_s_ + kChildSlackS),
                 "--idle-exit", number_text("%.3f", sink_idle_exit_s(params_)), "--rcvbuf",
                 std::to_string(params_.sink_rcvbuf), "--cpu",
                 std::to_string(site.cpu.value_or(load_cpu())), "--ready-file",
                 host_path(*site.host, name + ".ready"), "--json"});
    for (const std::string& flag : tester_sink_args(params_)) {
      args.push_back(flag);
    }
    auto process =
        site.host->start(args, prefix_ + "-" + name, path(name + ".json"), path(name + ".err"));
    if (!process) {
      return fail("start mrelay-sink on " + site.host->describe(), process.error().to_string());
    }
    sinks_.push_back(Started{site.host, *process});
    resources_->track(sinks_.back());
    log(name + " pid " + std::to_string(process->host_pid) + " on " + site.host->describe());
    return {};
  }

  Result<void> wait_sink_ready(size_t index) {
    const Started& sink = sinks_[index];
    const std::string name = sink_name(index);
    const std::string ready_file = host_path(*sink.host, name + ".ready");
    const auto deadline = Clock::now() + kReadyTimeout;
    while (!sink.host->exists(ready_file)) {
      if (!sink.running() || Clock::now() > deadline || interrupted()) {
        return fail("mrelay-sink did not become ready on " + sink.host->describe(),
                    file_tail(path(name + ".err"), 400));
      }
      std::this_thread::sleep_for(milliseconds(5));
    }
    return {};
  }

  // 3. The forwarder (none for direct), until it can forward; then its perf counters.
  Result<void> start_forwarder() {
    auto command =
        launcher_.command(LaunchContext{params_, forwarder_env_, topology_, files_, run_s_});
    if (!command) {
      return tl::unexpected(command.error());
    }
    if (!command->empty()) {
      auto process =
          topology_.relay->start(*command, prefix_ + "-forwarder", files_.out, files_.err);
      if (!process) {
        return fail("start " + command->front() + " on " + topology_.relay->describe(),
                    process.error().to_string());
      }
      forwarder_ = Started{topology_.relay, *process};
      resources_->track(forwarder_);
      log(to_string(params_.forwarder) + " pid " + std::to_string(process->host_pid) + " on " +
          topology_.relay->describe());
      if (auto ready = wait_forwarder_ready(); !ready) {
        return ready;
      }
      auto placed = launcher_.after_ready(
          LaunchContext{params_, forwarder_env_, topology_, files_, run_s_}, *forwarder_.host);
      if (!placed) {
        return tl::unexpected(placed.error());
      }
      if (!placed->is_null()) {
        record_["ingress_napi"] = *placed;
      }
      std::this_thread::sleep_for(kSettle);
    }
    record_["forwarder_command"] = *command;
    attach_counters();
    return {};
  }

  Result<void> wait_forwarder_ready() const {
    const auto deadline = Clock::now() + kReadyTimeout;
    for (;;) {
      if (!forwarder_.running()) {
        return fail(to_string(params_.forwarder),
                    "exited during start-up: " + file_tail(files_.err, 600));
      }
      if (launcher_.ready(params_, *forwarder_.host, forwarder_.process, files_)) {
        return {};
      }
      if (Clock::now() > deadline || interrupted()) {
        return fail(to_string(params_.forwarder), "not ready within " +
                                                      std::to_string(kReadyTimeout.count()) +
                                                      " s: " + file_tail(files_.err, 600));
      }
      std::this_thread::sleep_for(milliseconds(5));
    }
  }

  // Perf counters on a forwarder that forwards in its own process (not the kernel's).
  bool counts_forwarder_process() const {
    return forwarder_.host != nullptr && launcher_.forwards_in_process();
  }

  // On this machine the rig attaches the counters itself; on a remote host mrelay-perfstat
  // counts there over the window (started at the window's first edge).
  void attach_counters() {
    if (!counts_forwarder_process() || !forwarder_.host->is_local()) {
      return;
    }
    auto attached = WindowCounters::attach(forwarder_.process.host_pid);
    if (attached) {
      counters_.emplace(std::move(*attached));
    } else {
      counter_note_ = "unavailable: " + attached.error().to_string();
    }
  }

  // 4. The generator: warm-up, window and tail at the cell's rate, on the source host.
  Result<void> start_generator() {
    std::vector<std::string> args = realtime_prefix(env_.load_rt_priority);
    args.insert(args.end(), {topology_.source->bin_dir() + "/mrelay-gen",
                             "--interface",
                             topology_.source_interface,
                             "--group",
                             input_endpoint(params_),
                             "--streams",
                             std::to_string(params_.streams),
                             "--size",
                             std::to_string(params_.size),
                             "--rate",
                             number_text("%.0f", params_.rate_pps),
                             "--batch",
                             std::to_string(params_.generator_batch()),
                             "--duration",
                             number_text("%.3f", run_s_),
                             "--warmup",
                             number_text("%.3f", params_.warmup_s),
                             "--ttl",
                             std::to_string(kGeneratorTtl),
                             "--cpu",
                             std::to_string(load_cpu()),
                             "--json"});
    if (params_.gen_bursts) {
      args.push_back("--bursts");
    }
    if (params_.streams > 1) {  // flows a hash can spread over the relay's workers (spec.h)
      args.insert(args.end(),
                  {"--flows", std::to_string(std::min(params_.streams, kMaxGeneratorFlows))});
    }
    if (env_.inventory != nullptr &&
        env_.inventory->allows_real_interface(topology_.source->name(),
                                              topology_.source_interface)) {
      args.push_back("--send-on-real-interface");
    }
    for (const std::string& flag : tester_generator_args(params_, env_)) {
      args.push_back(flag);
    }
    record_["generator_command"] = args;
    gen_start_ = Clock::now();
    auto process = topology_.source->start(args, prefix_ + "-gen", path("gen.json"),
                                           path("gen.err"));
    if (!process) {
      return fail("start mrelay-gen on " + topology_.source->describe(),
                  process.error().to_string());
    }
    gen_ = Started{topology_.source, *process};
    resources_->track(gen_);
    log("gen pid " + std::to_string(process->host_pid));
    targets_ = sample_targets();
    return {};
  }

  HostSampleTargets sample_targets() const {
    HostSampleTargets targets;
    targets.cpu = {{"gen", {gen_.host, gen_.process}},
                   {"sink", {sinks_.front().host, sinks_.front().process}}};
    targets.snmp = {{"src", topology_.source}, {"relay", topology_.relay}};
    if (sink_.sites.front().host != topology_.relay) {  // direct's sink lives on the relay's
      targets.snmp["sink"] = sink_.sites.front().host;
    }
    targets.relay_core = topology_.relay;
    targets.relay_cpu = forwarder_env_.relay_cpu;
    if (counts_forwarder_process()) {
      targets.cpu["relay"] = {forwarder_.host, forwarder_.process};
      targets.switches = HostSampleTargets::Process{forwarder_.host, forwarder_.process};
    }
    return targets;
  }

  WindowSample sample_edge() const {
    if (forwarder_.host != nullptr) {
      launcher_.at_window_edge(*forwarder_.host, forwarder_.process);
    }
    return sample_hosts(targets_);
  }

  void start_counters() {
    if (counters_) {
      counters_->start();
    } else if (counts_forwarder_process() && !forwarder_.host->is_local()) {
      auto started = RemotePerfstat::start(*forwarder_.host, forwarder_.process, params_.window_s,
                                           prefix_ + "-perfstat", path("perfstat.json"),
                                           path("perfstat.err"));
      if (started) {
        remote_perf_.emplace(std::move(*started));
      } else {
        counter_note_ = "unavailable: " + started.error().to_string();
      }
    }
  }

  void read_counters() {
    if (counters_) {
      perf_reading_ = counters_->read();
    } else if (remote_perf_) {
      auto reading = remote_perf_->finish();
      if (reading) {
        perf_reading_ = *reading;
      } else {
        counter_note_ = "unavailable: " + reading.error().to_string();
      }
    }
  }

  // 5. The window: after the warm-up, sample; after the window, sample again.
  Result<void> measure_window() {
    if (!sleep_until(gen_start_ + seconds(params_.warmup_s))) {
      return interrupted_error();
    }
    start_counters();
    window_start_ = sample_edge();
    if (!sleep_until(window_start_.when + seconds(params_.window_s))) {
      return interrupted_error();
    }
    if (counters_) {
      read_counters();
    }
    window_end_ = sample_edge();
    if (!counters_) {
      read_counters();  // mrelay-perfstat ends on its own at the window's length
    }
    forwarder_survived_ = forwarder_.host == nullptr || forwarder_.running();
    return {};
  }

  // 6. Stop in order: generator (ends by itself), sinks (idle exit), forwarder (SIGTERM).
  Result<void> stop() {
    const auto child_budget = milliseconds(static_cast<int64_t>((run_s_ + kChildSlackS) * 1000));
    gen_status_ = wait_or_stop(gen_, child_budget);
    json sinks = json::array();
    for (const Started& sink : sinks_) {
      sink_statuses_.push_back(wait_or_stop(sink, child_budget));
      sinks.push_back(sink_statuses_.back().describe());
    }
    if (forwarder_.host != nullptr) {
      forwarder_status_ = forwarder_.host->stop(forwarder_.process, SIGTERM, kStopGrace);
      fetch_forwarder_files();
    }
    record_["exit"] =
        json{{"generator", gen_status_.describe()},
             {"sink", sink_statuses_.front().describe()},
             {"forwarder", forwarder_.host != nullptr ? forwarder_status_.describe() : "none"}};
    if (sinks.size() > 1) {
      record_["exit"]["sinks"] = sinks;
    }
    if (interrupted()) {
      return interrupted_error();
    }
    return {};
  }

  ExitStatus wait_or_stop(const Started& started, milliseconds budget) {
    ExitStatus status = started.host->wait(started.process, budget, true);
    if (status.timed_out) {
      status = started.host->stop(started.process, SIGTERM, milliseconds(2000));
    }
    return status;
  }

  // What the forwarder wrote on a remote host comes here, where its report is read.
  void fetch_forwarder_files() {
    if (forwarder_.host->is_local()) {
      return;
    }
    const std::string local = path("relay-final.json");
    if (auto text = forwarder_.host->read_file(files_.relay_final)) {
      std::FILE* out = std::fopen(local.c_str(), "w");
      if (out != nullptr) {
        std::fwrite(text->data(), 1, text->size(), out);
        std::fclose(out);
      }
    }
    files_.relay_final = local;
  }

  // The sinks' JSON, merged when outputs were received on several hosts.
  Result<json> read_sinks() const {
    std::vector<json> reports;
    for (size_t i = 0; i < sinks_.size(); ++i) {
      const std::string name = sink_name(i);
      json report = json::parse(read_text_file(path(name + ".json")).value_or(""), nullptr, false);
      if (!report.is_object()) {
        return fail("mrelay-sink on " + sinks_[i].host->describe() + " gave no JSON (" +
                        sink_statuses_[i].describe() + ")",
                    file_tail(path(name + ".err"), 400));
      }
      reports.push_back(std::move(report));
    }
    return merge_sink_reports(reports);
  }

  // 7. What the children reported and the window's samples, into the record's metrics.
  Result<void> observe() {
    WindowObservation obs;
    obs.gen = json::parse(read_text_file(path("gen.json")).value_or(""), nullptr, false);
    if (!obs.gen.is_object()) {
      return fail("mrelay-gen gave no JSON (" + gen_status_.describe() + ")",
                  file_tail(path("gen.err"), 400));
    }
    auto sink = read_sinks();
    if (!sink) {
      return tl::unexpected(sink.error());
    }
    obs.sink = *sink;
    if (!forwarder_survived_) {
      return fail(to_string(params_.forwarder) + " died during the window (" +
                      forwarder_status_.describe() + ")",
                  file_tail(files_.err, 600));
    }
    obs.sample_window_s =
        std::chrono::duration<double>(window_end_.when - window_start_.when).count();
    read_perf(obs);
    add_window_deltas(window_start_, window_end_, obs);
    launcher_.read_report(ForwarderReport{files_, window_start_.when, window_end_.when}, obs,
                          record_);
    const json metrics = compute_metrics(params_, obs);
    for (const auto& item : metrics.items()) {
      record_[item.key()] = item.value();
    }
    record_["outputs"] = launcher_.outputs(params_);
    record_["generator"] = json{{"achieved_pps", obs.gen.value("achieved_pps", json())},
                                {"errors_by_errno", obs.gen.value("errors_by_errno", json())},
                                {"warmup_sent", obs.gen.value("warmup_sent", json())},
                                {"syscalls", obs.gen.value("syscalls", json())},
                                {"send_pps", obs.gen.value("send_pps", json())}};
    record_["sink"] = json{{"warmup_received", obs.sink.value("warmup_received", json())},
                           {"streams", obs.sink.value("streams", json())},
                           {"syscalls", obs.sink.value("syscalls", json())}};
    if (sinks_.size() > 1) {
      record_["sink"]["hosts"] = sinks_.size();
    }
    return {};
  }

  // The forwarder's perf counts over the window, and every event's reading in the record.
  void read_perf(WindowObservation& obs) {
    if (!perf_reading_) {
      obs.counter_path = counter_note_;
      return;
    }
    obs.forwarder_syscalls = perf_reading_->syscalls;
    obs.context_switches = perf_reading_->context_switches;
    obs.counter_path = perf_reading_->path;
    obs.context_switch_source = perf_reading_->context_switches ? "perf" : "";
    json events = json::object();
    for (const auto& [name, value] : perf_reading_->values) {
      events[name] = value;
    }
    for (const auto& [name, reason] : perf_reading_->unsupported) {
      events[name] = "unsupported: " + reason;
    }
    record_["perf_events"] = events;
  }

  const CellParams& params_;
  const RigEnvironment& env_;
  const Launcher& launcher_;
  const double run_s_;  // how long the generator sends: warm-up + window + tail
  json record_;
  std::string prefix_;
  std::string dir_;
  std::optional<CellResources> resources_;
  RigEnvironment forwarder_env_;  // env_ with the forwarder host's programs and core
  ForwarderFiles files_;
  RigTopology topology_;
  SinkPlan sink_;
  std::vector<Started> sinks_;
  Started forwarder_;
  Started gen_;
  std::optional<WindowCounters> counters_;
  std::optional<RemotePerfstat> remote_perf_;
  std::string counter_note_;  // why there are no perf counters
  Clock::time_point gen_start_;
  HostSampleTargets targets_;
  WindowSample window_start_;
  WindowSample window_end_;
  std::optional<WindowCounters::Reading> perf_reading_;
  bool forwarder_survived_ = true;
  ExitStatus gen_status_;
  std::vector<ExitStatus> sink_statuses_;
  ExitStatus forwarder_status_;
};

}  // namespace

nlohmann::json run_cell(const CellParams& params, const RigEnvironment& env, int rep) {
  // Unexpected JSON from a child (a wrong type) throws inside nlohmann::json; the cell's
  // resources are released by unwinding, and the sweep goes on with an error record.
  try {
    return Cell(params, env, rep).run();
  } catch (const std::exception& error) {
    return json{{"cell_id", params.id()},
                {"label", params.label()},
                {"rep", rep},
                {"params", to_json(params)},
                {"placement", cell_placement_json(env, params)},
                {"status", "error"},
                {"reason", std::string("unexpected: ") + error.what()}};
  }
}

Result<std::string> run_netns_gc(const RigEnvironment& env) {
  auto result = run_capture({env.netns_tool, "gc"}, std::chrono::seconds(120));
  if (!result) {
    return tl::unexpected(result.error());
  }
  if (!result->status.ok()) {
    return fail("mrelay-netns gc", result->status.describe() + ": " + text_tail(result->err, 500));
  }
  return result->out + result->err;
}

nlohmann::json run_ndr_cell(const CellParams& params, const NdrOptions& options,
                            const RigEnvironment& env, int rep) {
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
