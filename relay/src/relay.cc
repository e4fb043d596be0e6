// The relay process; see relay.h.
#include "relay.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

#include "ingress.h"
#include "kernel_probe.h"
#include "stats_json.h"

namespace mrelay {
namespace {

// How long a stats emission waits for workers to fold fresh kernel drop counts in, in ms.
// Idle workers wake every Worker::kIdlePollMs (50 ms), so 200 ms covers a busy scheduler.
constexpr int kRefreshWaitMs = 200;

void log_line(const std::string& text) {
  std::fprintf(stderr, "mrelay: %s\n", text.c_str());
}

sigset_t relay_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGUSR1);
  sigaddset(&set, SIGHUP);
  return set;
}

}  // namespace

Result<std::unique_ptr<Relay>> Relay::create(const Config& config) {
  std::unique_ptr<Relay> relay(new Relay());
  auto plan = build_plan(config, system_interfaces());
  if (!plan) {
    return tl::unexpected(plan.error());
  }
  relay->plan_ = std::move(*plan);
  RelayPlan& p = relay->plan_;

  if (config.ingress == IngressMode::packet) {
    const PacketProbe packet = probe_packet_socket();
    if (!packet.available) {
      return fail("--ingress packet: socket(AF_PACKET)",
                  packet.socket_errno == EPERM
                      ? "permission denied: packet ingress needs CAP_NET_RAW (run as root, or "
                        "use --ingress udp)"
                      : "unavailable",
                  packet.socket_errno);
    }
    log_line(packet.describe());
  }
  if (p.backend == EgressBackend::uring) {
    const UringProbe uring = probe_io_uring();
    log_line(uring.describe());
    if (!uring.available || !uring.op_send) {
      log_line(std::string("io_uring egress unavailable") +
               (uring.available ? " (no IORING_OP_SEND)" : "") + ": falling back to sendmmsg");
      p.backend = EgressBackend::sendmmsg;
    }
  }
  // Join every input group on its interface once per process, so it shows in `ip maddr` and
  // NICs with multicast filters deliver it. UDP ingress sockets join by themselves too.
  if (config.ingress == IngressMode::packet) {
    for (size_t r = 0; r < config.rules.size(); ++r) {
      const Rule& rule = config.rules[r];
      bool joined = false;
      for (size_t q = 0; q < r; ++q) {
        joined = joined || (config.rules[q].input_interface == rule.input_interface &&
                            config.rules[q].group.s_addr == rule.group.s_addr);
      }
      if (joined) {
        continue;
      }
      auto fd = open_membership_socket(rule.input_interface,
                                       system_interfaces()(rule.input_interface), rule.group);
      if (!fd) {
        return tl::unexpected(fd.error());
      }
      relay->memberships_.push_back(std::move(*fd));
    }
  }
  if (config.ingress == IngressMode::udp && config.workers > p.ingress.size()) {
    log_line("udp ingress: " + std::to_string(p.ingress.size()) +
             " (group, port) endpoint(s) for " + std::to_string(config.workers) +
             " workers; a multicast datagram reaches every socket on its port, so each endpoint "
             "is read by one worker and the others only idle (use --ingress packet to spread "
             "one group with PACKET_FANOUT)");
  }
  for (uint32_t w = 0; w < config.workers; ++w) {
    const int cpu = config.cpus.empty() ? -1 : config.cpus[w % config.cpus.size()];
    relay->workers_.push_back(std::make_unique<Worker>(w, cpu, relay->plan_));
    if (auto ok = relay->workers_.back()->open(); !ok) {
      Error error = ok.error();
      error.where = "worker " + std::to_string(w) + ": " + error.where;
      return tl::unexpected(error);
    }
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
  // in sigtimedwait(), ever takes these signals.
  if (::pthread_sigmask(SIG_BLOCK, &signals, nullptr) != 0) {
    log_line("pthread_sigmask failed");
    return 1;
  }
  start_ns_ = monotonic_ns();
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
  const Config& config = plan_.config;
  log_line("running: pid " + std::to_string(::getpid()) + ", ingress " +
           std::string(to_string(config.ingress)) + ", egress " +
           std::string(to_string(workers_.front()->backend())) + ", " +
           std::to_string(config.rules.size()) + " rules, " + std::to_string(plan_.outputs.size()) +
           " outputs, " + std::to_string(workers_.size()) + " workers, " +
           std::to_string(config.pool_buffers) + " buffers/worker");

  const uint64_t interval_ns = static_cast<uint64_t>(config.stats_interval_ms) * 1000000u;
  uint64_t next_stats_ns = interval_ns > 0 ? start_ns_ + interval_ns : 0;
  for (;;) {
    // Wake at the next stats emission, or every second to notice nothing in particular.
    uint64_t wait_ns = 1000000000u;
    const uint64_t now = monotonic_ns();
    if (interval_ns > 0) {
      wait_ns = next_stats_ns > now ? next_stats_ns - now : 0;
    }
    timespec timeout{static_cast<time_t>(wait_ns / 1000000000u),
                     static_cast<long>(wait_ns % 1000000000u)};
    siginfo_t info{};
    const int sig = ::sigtimedwait(&signals, &info, &timeout);
    if (sig == SIGINT || sig == SIGTERM) {
      log_line(std::string("received ") + (sig == SIGINT ? "SIGINT" : "SIGTERM") + ": draining");
      break;
    }
    if (sig == SIGUSR1) {
      emit_stats("stats", stdout);
    } else if (sig == SIGHUP) {
      log_line("SIGHUP: configuration reload is not implemented yet; ignored");
    }
    if (interval_ns > 0 && monotonic_ns() >= next_stats_ns) {
      emit_stats("stats", stdout);
      // Skip missed ticks instead of bursting lines after a stall.
      while (next_stats_ns <= monotonic_ns()) {
        next_stats_ns += interval_ns;
      }
    }
  }
  stop_workers();

  int code = 0;
  std::FILE* out = stdout;
  if (!config.stats_json_path.empty()) {
    out = std::fopen(config.stats_json_path.c_str(), "w");
    if (out == nullptr) {
      log_line("--stats-json " + config.stats_json_path + ": " + std::strerror(errno) +
               "; final stats on stdout instead");
      out = stdout;
      code = 1;
    }
  }
  emit_stats("final", out);
  if (out != stdout && std::fclose(out) != 0) {
    log_line("--stats-json " + config.stats_json_path + ": write failed");
    code = 1;
  }
  return code;
}

void Relay::emit_stats(std::string_view event, std::FILE* out) {
  if (!stop_.load(std::memory_order_relaxed)) {
    // Ask each worker to fold in fresh kernel drop counts, and wait a little for it.
    std::vector<uint64_t> requests;
    requests.reserve(workers_.size());
    for (auto& worker : workers_) {
      requests.push_back(worker->request_refresh());
    }
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::milliseconds(kRefreshWaitMs);
    for (size_t i = 0; i < workers_.size(); ++i) {
      while (!workers_[i]->refreshed(requests[i]) && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::microseconds(200));
      }
    }
  }
  std::vector<WorkerStats> stats;
  stats.reserve(workers_.size());
  for (auto& worker : workers_) {
    stats.push_back({worker->index(), worker->cpu(), snapshot_counters(worker->counters())});
  }
  const uint64_t now = monotonic_ns();
  StatsHeader header;
  header.event = event;
  header.time_ns = now;
  header.uptime_s = static_cast<double>(now - start_ns_) / 1e9;
  header.ingress = plan_.config.ingress;
  header.egress = workers_.empty() ? plan_.backend : workers_.front()->backend();
  header.queue_depth = plan_.config.egress.queue_depth;
  header.batch = plan_.config.egress.batch;
  header.sndbuf = plan_.config.egress.sndbuf;
  const std::string line = format_stats_json(header, stats) + "\n";
  std::fputs(line.c_str(), out);
  std::fflush(out);
}

}  // namespace mrelay
