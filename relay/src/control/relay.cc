// The relay process; see relay.h.
#include "control/relay.h"

#include <pthread.h>
#include <sched.h>
#include <time.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/clock.h"
#include "common/log.h"
#include "common/safe_file.h"
#include "control/plan_build.h"
#include "control/stats_json.h"
#include "dataplane/egress/egress_selector.h"
#include "dataplane/ingress/ingress.h"

namespace mrelay {
namespace {

void log_line(const std::string& text) {
  log_message(LogLevel::info, text);
}

// With --rt-priority the workers run SCHED_FIFO and may keep every core they share with other
// real-time work busy (a bench's generator and sink, another process's threads); a normal
// priority control thread -- signals, SIGUSR1 stats lines, the control socket, metrics --
// would then not run until the load stops, and a stats line asked for under load would come
// seconds late. One step above the workers it is served at once; it sleeps in poll() nearly
// always, so the workers lose no measurable CPU to it.
void raise_control_thread_priority(uint32_t worker_priority) {
  if (worker_priority == 0) {
    return;
  }
  sched_param param{};
  param.sched_priority = static_cast<int>(std::min<uint32_t>(worker_priority + 1, 99));
  const int err = ::pthread_setschedparam(::pthread_self(), SCHED_FIFO, &param);
  log_message(err == 0 ? LogLevel::info : LogLevel::warn,
              "control thread: SCHED_FIFO " + std::to_string(param.sched_priority) +
                  (err == 0 ? ""
                            : std::string(" failed: ") + std::strerror(err) +
                                  " (stats and control may lag while workers are busy)"));
}

}  // namespace

sigset_t relay_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGUSR1);
  sigaddset(&set, SIGHUP);
  return set;
}

Result<std::unique_ptr<Relay>> Relay::create(const Config& config) {
  std::unique_ptr<Relay> relay(new Relay());
  auto plan = build_plan(config, system_interfaces());
  if (!plan) {
    return tl::unexpected(plan.error());
  }
  relay->plan_ = std::make_shared<RelayPlan>(std::move(*plan));
  RelayPlan& p = *relay->plan_;

  // The kernel probes, before any socket is opened: what the ingress mode needs, and which
  // egress backend can run (dataplane/ingress/ingress.h, dataplane/egress/egress_selector.h).
  auto ingress = check_ingress_mode(config.ingress);
  if (!ingress) {
    return tl::unexpected(ingress.error());
  }
  if (!ingress->empty()) {
    log_line(*ingress);
  }
  const EgressResolution egress = resolve_egress_backend(p.backend);
  for (const std::string& line : egress.log) {
    log_line(line);
  }
  p.backend = egress.backend;
  // Join every input group on its interface once per process, so it shows in `ip maddr` and
  // NICs with multicast filters deliver it. UDP ingress sockets join by themselves too.
  auto joined = join_new_groups(config, relay->memberships_, system_interfaces());
  if (!joined) {
    return tl::unexpected(joined.error());
  }
  commit_memberships(config, relay->memberships_, std::move(*joined));
  if (config.ingress == IngressMode::udp && config.workers > p.ingress.size()) {
    log_line("udp ingress: " + std::to_string(p.ingress.size()) +
             " (group, port) endpoint(s) for " + std::to_string(config.workers) +
             " workers; a multicast datagram reaches every socket on its port, so each endpoint "
             "is read by one worker and the others only idle (use --ingress packet to spread "
             "one group with PACKET_FANOUT)");
  }
  for (uint32_t w = 0; w < config.workers; ++w) {
    const int cpu = config.cpus.empty() ? -1 : config.cpus[w % config.cpus.size()];
    relay->workers_.push_back(std::make_unique<Worker>(w, cpu, *relay->plan_));
    if (auto ok = relay->workers_.back()->open(); !ok) {
      Error error = ok.error();
      error.where = "worker " + std::to_string(w) + ": " + error.where;
      return tl::unexpected(error);
    }
  }
  if (auto control = relay->open_control(); !control) {
    return tl::unexpected(control.error());
  }
  // Following ingress interfaces is a convenience: without it the relay still runs, and a
  // re-created ingress interface needs a restart (as before).
  if (auto links = relay->links_.open(); !links) {
    log_message(LogLevel::warn, links.error().to_string() +
                                    ": ingress interfaces deleted and re-created will not be "
                                    "re-opened (restart the relay then)");
  }
  return relay;
}

Relay::~Relay() {
  stop_workers();
}

void Relay::stop_workers() {
  stop_.store(true, std::memory_order_relaxed);
  for (auto& worker : workers_) {
    worker->join();
  }
}

int Relay::run() {
  const sigset_t signals = relay_signals();
  // Blocked before any worker starts, so workers inherit the mask and only this thread,
  // through its signalfd (relay_control.cc), ever takes these signals. main() has blocked
  // them already (start-up); this keeps run() correct for any other caller.
  if (::pthread_sigmask(SIG_BLOCK, &signals, nullptr) != 0) {
    log_line("pthread_sigmask failed");
    return 1;
  }
  start_ns_ = monotonic_ns();
  timespec wall{};
  ::clock_gettime(CLOCK_REALTIME, &wall);
  start_time_s_ = static_cast<double>(wall.tv_sec) + static_cast<double>(wall.tv_nsec) / 1e9;
  for (auto& worker : workers_) {
    worker->start(stop_);
  }
  bool failed = false;
  for (auto& worker : workers_) {
    auto ready = worker->wait_ready();
    if (!ready) {
      log_line("worker " + std::to_string(worker->index()) + ": " + ready.error().to_string());
      failed = true;
    } else {
      log_line("worker " + std::to_string(worker->index()) + " cpu " +
               (worker->cpu() >= 0 ? std::to_string(worker->cpu()) : std::string("any")) + ": " +
               *ready);
    }
  }
  if (failed) {
    stop_workers();
    return 1;
  }
  // A copy: live rule changes replace plan_ (and free the old plan) while serve() runs.
  const Config config = plan_->config;
  raise_control_thread_priority(config.rt_priority);
  log_line("running: pid " + std::to_string(::getpid()) + ", ingress " +
           std::string(to_string(config.ingress)) + ", egress " +
           std::string(to_string(workers_.front()->backend())) + ", " +
           std::to_string(config.rules.size()) + " rules, " +
           std::to_string(plan_->outputs.size()) + " outputs, " + std::to_string(workers_.size()) +
           " workers; pool per worker " + plan_->pool.describe() +
           (plan_->pool_mtu != 0 ? ", sized for MTU " + std::to_string(plan_->pool_mtu) + " of " +
                                       plan_->pool_mtu_interface
                                 : ", buffer_size configured"));

  notifier_.ready("forwarding: " + std::to_string(config.rules.size()) + " rules, " +
                  std::to_string(workers_.size()) + " workers");

  const uint64_t interval_ns = static_cast<uint64_t>(config.stats_interval_ms) * 1000000u;
  serve(signals, interval_ns);
  notifier_.stopping();
  stop_workers();

  if (config.stats_json_path.empty()) {
    emit_stats("final", stdout);
    return 0;
  }
  // A temporary file renamed over the path (safe_file.h): never through a planted symlink,
  // never half-written.
  const RelayStats stats = collect("final");
  const std::string line = format_stats_json(stats.header, stats.workers, &stats.process) + "\n";
  if (auto written = replace_file(config.stats_json_path, line, 0644,
                                  "--stats-json " + config.stats_json_path);
      !written) {
    log_message(LogLevel::error, written.error().to_string() + "; final stats on stdout instead");
    std::fputs(line.c_str(), stdout);
    std::fflush(stdout);
    return 1;
  }
  return 0;
}

void Relay::emit_stats(std::string_view event, std::FILE* out) {
  const RelayStats stats = collect(event);
  const std::string line = format_stats_json(stats.header, stats.workers, &stats.process) + "\n";
  std::fputs(line.c_str(), out);
  std::fflush(out);
}

}  // namespace mrelay
