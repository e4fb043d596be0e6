// The relay's control plane, run by the main thread: the poll() loop over the signalfd and the
// control/metrics sockets, live rule changes (plan_update.h), SIGHUP reload, the state file,
// and the stats snapshot shared by the stats line, `mrelayctl stats` and /metrics.
//
//   relay->set_config_source([&] { return reload_from_argv(); }, file_rules);
//   relay->run();   // serve(): SIGHUP -> reload(); control requests -> handle_request(*this)
#include <fcntl.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/clock.h"
#include "common/identity.h"
#include "common/log.h"
#include "common/safe_file.h"
#include "control/relay.h"
#include "control/state_file.h"
#include "control/stats_json.h"

namespace mrelay {
namespace {

// How long a stats snapshot waits for workers to fold fresh kernel drop counts in, in ms.
// Idle workers wake every Worker::kIdlePollMs (50 ms), so 200 ms covers a busy scheduler.
constexpr int kRefreshWaitMs = 200;
// How long a rule change waits for every worker to switch plans, in ms. A worker switches at
// its next loop turn (woken at once by its eventfd) after draining in-flight sends, which is
// bounded by Worker::kDrainMs (1 s); 5 s leaves room for a loaded 2-core machine.
constexpr int kSwitchWaitMs = 5000;
// The main loop wakes at least this often (ms) to expire idle control clients.
constexpr int kMaxPollMs = 1000;
// Retrying a busy metrics port: the first retry after this long (ms), doubling to the maximum.
// 1 s catches a port freed by a restarting exporter at once; 30 s keeps a port squatted for
// good from costing more than a bind and a log line every half minute.
constexpr uint64_t kMetricsRetryFirstMs = 1000;
constexpr uint64_t kMetricsRetryMaxMs = 30'000;
// After a failed re-open of a re-created ingress interface (a worker still switching, an
// output interface missing at that instant), the next attempt comes this much later (ms)
// unless a link event comes first: once a second bounds the work and the log lines.
constexpr uint64_t kIngressRetryMs = 1000;

// The knobs a reload cannot change on a running relay (they shape workers and sockets).
std::vector<std::string> fixed_knob_changes(const Config& running, const Config& next) {
  std::vector<std::string> changed;
  auto check = [&changed](bool differs, const char* name) {
    if (differs) {
      changed.emplace_back(name);
    }
  };
  check(running.ingress != next.ingress, "ingress");
  check(running.egress.backend != next.egress.backend, "egress.backend");
  check(running.egress.queue_depth != next.egress.queue_depth, "egress.queue_depth");
  check(running.egress.batch != next.egress.batch, "egress.batch");
  check(running.egress.sndbuf != next.egress.sndbuf, "egress.sndbuf");
  check(running.rcvbuf != next.rcvbuf, "rcvbuf");
  check(running.workers != next.workers, "workers");
  check(running.cpus != next.cpus, "cpus");
  check(running.pool_buffers != next.pool_buffers, "pool_buffers");
  check(running.buffer_size != next.buffer_size, "buffer_size");
  check(running.stats_interval_ms != next.stats_interval_ms, "stats_interval_ms");
  check(running.stats_json_path != next.stats_json_path, "stats_json");
  check(running.control_socket != next.control_socket, "control_socket");
  check(running.state_file != next.state_file, "state_file");
  check(running.metrics_listen != next.metrics_listen, "metrics_listen");
  check(running.control_group != next.control_group, "control_group");
  check(running.control_read_group != next.control_read_group, "control_read_group");
  return changed;
}

}  // namespace

void Relay::set_config_source(ConfigSource source, std::vector<Rule> base_rules) {
  config_source_ = std::move(source);
  base_rules_ = std::move(base_rules);
}

InterfaceLookup Relay::interfaces() const {
  return system_interfaces();
}

Result<void> Relay::open_control() {
  const Config& config = plan_->config;
  control_.set_counters(&process_);
  if (!config.control_socket.empty()) {
    ControlServer::PeerPolicy policy;
    if (!config.control_group.empty()) {
      auto gid = resolve_group(config.control_group, "--control-group");
      if (!gid) {
        return tl::unexpected(gid.error());
      }
      policy.control_group = *gid;
    }
    if (!config.control_read_group.empty()) {
      auto gid = resolve_group(config.control_read_group, "--control-read-group");
      if (!gid) {
        return tl::unexpected(gid.error());
      }
      policy.read_group = *gid;
    }
    control_.set_peer_policy(policy);
    // A read-only group needs to reach the socket whatever its file group is: 0666, and the
    // peer check at accept decides (control_server.h).
    const mode_t mode = policy.read_group ? 0666 : 0660;
    if (auto ok = control_.open_unix(config.control_socket, mode); !ok) {
      return ok;
    }
    if (policy.control_group && ::chown(config.control_socket.c_str(), static_cast<uid_t>(-1),
                                        *policy.control_group) != 0) {
      return fail_errno("--control-group: chown " + config.control_socket);
    }
    char mode_text[8];
    std::snprintf(mode_text, sizeof mode_text, "%04o", static_cast<unsigned>(mode));
    log_message(LogLevel::info,
                "control socket " + config.control_socket + " (mode " + mode_text +
                    "; full access: root, the relay's uid" +
                    (policy.control_group ? ", group " + config.control_group : std::string()) +
                    (policy.read_group ? "; read-only: group " + config.control_read_group
                                       : std::string()) +
                    ")");
  }
  if (!config.metrics_listen.empty()) {
    if (auto ok = control_.open_http(config.metrics_listen); !ok) {
      if (ok.error().sys_errno != EADDRINUSE) {
        return ok;  // not a loopback address, no such address...: a configuration error
      }
      // Busy (another exporter, or the previous relay's socket lingering): start anyway and
      // retry in the loop; the data plane does not need the metrics port.
      schedule_metrics_retry(ok.error(), monotonic_ns());
    } else {
      log_metrics_url();
    }
  }
  return {};
}

void Relay::log_metrics_url() {
  // The bound port, not the configured one: ":0" lets the kernel choose (tests do).
  const std::string& listen = plan_->config.metrics_listen;
  log_message(LogLevel::info, "metrics on http://" + listen.substr(0, listen.rfind(':')) + ":" +
                                  std::to_string(control_.http_port()) + "/metrics");
}

void Relay::schedule_metrics_retry(const Error& error, uint64_t now) {
  metrics_backoff_ms_ = metrics_backoff_ms_ == 0
                            ? kMetricsRetryFirstMs
                            : std::min(metrics_backoff_ms_ * 2, kMetricsRetryMaxMs);
  metrics_retry_ns_ = now + metrics_backoff_ms_ * 1000000u;
  ++process_.metrics_bind_retries;
  log_message(LogLevel::warn, error.to_string() + ": metrics port not bound (busy); retrying in " +
                                  std::to_string(metrics_backoff_ms_) + " ms");
}

void Relay::retry_metrics(uint64_t now) {
  if (metrics_retry_ns_ == 0 || now < metrics_retry_ns_) {
    return;
  }
  if (auto ok = control_.open_http(plan_->config.metrics_listen); !ok) {
    schedule_metrics_retry(ok.error(), now);
    return;
  }
  metrics_retry_ns_ = 0;
  metrics_backoff_ms_ = 0;
  log_metrics_url();
}

void Relay::note_refused_request(std::string_view cmd) {
  ++process_.control_request_refused;
  refusal_log_.log(monotonic_ns(), LogLevel::warn,
                   "control: refused '" + std::string(cmd) +
                       "' on a read-only connection (--control-read-group)");
}

void Relay::serve(const sigset_t& signals, uint64_t interval_ns) {
  UniqueFd signal_fd(::signalfd(-1, &signals, SFD_NONBLOCK | SFD_CLOEXEC));
  if (!signal_fd) {
    log_message(LogLevel::error,
                std::string("signalfd failed: ") + std::strerror(errno) + "; stopping");
    return;
  }
  const auto on_request = [this](std::string_view line, ControlRole role) {
    return handle_request(line, *this, role);
  };
  const auto on_metrics = [this] { return metrics_text(); };
  uint64_t next_stats_ns = interval_ns > 0 ? start_ns_ + interval_ns : 0;
  std::vector<pollfd> fds;
  for (;;) {
    fds.clear();
    fds.push_back(pollfd{signal_fd.get(), POLLIN, 0});
    fds.push_back(pollfd{links_.fd(), POLLIN, 0});  // -1 when not open: poll() skips it
    control_.append_pollfds(fds);
    int timeout_ms = kMaxPollMs;
    const uint64_t now = monotonic_ns();
    if (interval_ns > 0) {
      const uint64_t wait_ns = next_stats_ns > now ? next_stats_ns - now : 0;
      timeout_ms = static_cast<int>(std::min<uint64_t>(wait_ns / 1000000u + 1, kMaxPollMs));
    }
    for (const uint64_t retry_ns : {metrics_retry_ns_, ingress_retry_ns_}) {
      if (retry_ns != 0) {
        const uint64_t wait_ns = retry_ns > now ? retry_ns - now : 0;
        timeout_ms = std::min(timeout_ms, static_cast<int>(wait_ns / 1000000u + 1));
      }
    }
    const int ready = ::poll(fds.data(), fds.size(), timeout_ms);
    if (ready < 0 && errno != EINTR) {
      log_message(LogLevel::error, std::string("poll failed: ") + std::strerror(errno));
      return;
    }
    if (ready > 0 && (fds[0].revents & POLLIN) != 0) {
      signalfd_siginfo info{};
      while (::read(signal_fd.get(), &info, sizeof info) == sizeof info) {
        const auto sig = static_cast<int>(info.ssi_signo);
        if (sig == SIGINT || sig == SIGTERM) {
          log_message(LogLevel::info, std::string("received ") +
                                          (sig == SIGINT ? "SIGINT" : "SIGTERM") + ": draining");
          return;
        }
        if (sig == SIGUSR1) {
          emit_stats("stats", stdout);
        } else if (sig == SIGHUP) {
          reload();
        }
      }
    }
    control_.service(fds, on_request, on_metrics);
    retry_metrics(monotonic_ns());
    const bool links_changed = ready > 0 && (fds[1].revents & POLLIN) != 0 && links_.drain();
    if (links_changed || (ingress_retry_ns_ != 0 && monotonic_ns() >= ingress_retry_ns_)) {
      follow_ingress_interfaces(monotonic_ns());
    }
    if (interval_ns > 0 && monotonic_ns() >= next_stats_ns) {
      emit_stats("stats", stdout);
      // Skip missed ticks instead of bursting lines after a stall.
      while (next_stats_ns <= monotonic_ns()) {
        next_stats_ns += interval_ns;
      }
    }
  }
}

Result<void> Relay::apply_rules(const Config& candidate, const std::string& origin) {
  const RuleDiff diff = diff_rules(plan_->config.rules, candidate.rules);
  if (diff.empty()) {
    log_message(LogLevel::info, origin + ": rules unchanged");
    return {};
  }
  // The running knobs stay (fixed_knob_changes); only the rules change.
  Config next_config = plan_->config;
  next_config.rules = candidate.rules;
  if (auto valid = validate_config(next_config, system_interfaces()); !valid) {
    return valid;
  }
  if (auto switched = switch_plan(next_config, origin, diff.describe()); !switched) {
    return switched;
  }
  save_state();
  return {};
}

Result<void> Relay::workers_in_step() {
  for (auto& worker : workers_) {
    const uint64_t runs = worker->applied_generation();
    if (runs != plan_->generation || worker->update_pending()) {
      // A worker that missed a switch deadline still runs an older plan: an update built on
      // the current one would not fit it (plan_update.h). Refuse; nothing changes.
      return fail("relay", "worker " + std::to_string(worker->index()) +
                               " has not switched to the previous change yet (it runs plan " +
                               std::to_string(runs) + ", the relay " +
                               std::to_string(plan_->generation) +
                               "); nothing changed, try again later");
    }
  }
  // Every worker caught up: what was kept for a late worker can go.
  unacknowledged_plans_.clear();
  unacknowledged_updates_.clear();
  return {};
}

Result<void> Relay::switch_plan(const Config& next_config, const std::string& origin,
                                const std::string& what) {
  if (auto ok = workers_in_step(); !ok) {
    return ok;
  }
  const InterfaceLookup lookup = system_interfaces();
  auto next = build_next_plan(*plan_, next_config, lookup);
  if (!next) {
    return tl::unexpected(next.error());
  }
  const uint64_t generation = (*next)->generation;
  std::vector<std::unique_ptr<WorkerUpdate>> updates;
  for (auto& worker : workers_) {
    auto update = prepare_worker_update(*plan_, *next, worker->index());
    if (!update) {
      return tl::unexpected(update.error());  // sockets opened so far close here
    }
    updates.push_back(std::move(*update));
  }
  // Joined once the sockets that read the groups exist (a packet socket receives from its
  // bind on): a sender that waits for the membership (ip maddr) finds the relay listening.
  auto joined = join_new_groups(next_config, memberships_, lookup);
  if (!joined) {
    return tl::unexpected(joined.error());
  }
  // Past this point nothing can fail: publish, then wait for every worker to switch. Every
  // worker's mailbox is empty (workers_in_step), so every post succeeds.
  const uint64_t posted_ns = monotonic_ns();
  for (size_t w = 0; w < workers_.size(); ++w) {
    (void)workers_[w]->post_update(updates[w].get());
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kSwitchWaitMs);
  bool all_switched = false;
  bool rejected = false;
  while (!all_switched && !rejected && std::chrono::steady_clock::now() < deadline) {
    all_switched = true;
    for (auto& worker : workers_) {
      all_switched = all_switched && worker->applied_generation() >= generation;
      rejected = rejected || worker->rejected_generation() == generation;
    }
    if (!all_switched && !rejected) {
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  }
  // Post to acknowledgement: bounds how long a worker paused forwarding for the switch.
  const uint64_t switch_us = (monotonic_ns() - posted_ns) / 1000u;
  commit_memberships(next_config, memberships_, std::move(*joined));
  std::shared_ptr<RelayPlan> previous = std::exchange(plan_, std::move(*next));
  if (!all_switched) {
    // A worker still reads the old plan and has not taken its update: keep both alive. The
    // next change waits until it caught up (workers_in_step).
    unacknowledged_plans_.push_back(std::move(previous));
    for (auto& update : updates) {
      unacknowledged_updates_.push_back(std::move(update));
    }
    log_message(
        LogLevel::error,
        origin + (rejected ? ": a worker rejected the update (built on a plan it does "
                             "not run); restart the relay"
                           : ": a worker did not switch within " + std::to_string(kSwitchWaitMs) +
                                 " ms; it will when it can"));
  }
  // `previous` and `updates` go here: the old plan, retired sockets and group memberships.
  log_message(LogLevel::info, origin + ": applied (" + what + "), " +
                                  std::to_string(plan_->config.rules.size()) + " rules, " +
                                  std::to_string(plan_->outputs.size()) +
                                  " outputs, workers "
                                  "switched in " +
                                  std::to_string(switch_us) + " us");
  return {};
}

void Relay::follow_ingress_interfaces(uint64_t now) {
  ingress_retry_ns_ = 0;
  const InterfaceLookup lookup = system_interfaces();
  std::set<std::string> recreated;
  std::string what;
  for (const IngressEndpoint& endpoint : plan_->ingress) {
    const std::string& name = endpoint.interface;
    if (recreated.count(name) != 0) {
      continue;
    }
    const unsigned index = lookup(name);
    if (index == 0) {
      if (missing_ingress_.insert(name).second) {
        log_message(LogLevel::warn, "ingress interface " + name +
                                        " is gone: its rules receive nothing until it is back "
                                        "(re-opened then, no restart needed)");
      }
      continue;
    }
    missing_ingress_.erase(name);
    if (index != endpoint.ifindex) {
      recreated.insert(name);
      what += (what.empty() ? "" : ", ") + name + " (ifindex " + std::to_string(endpoint.ifindex) +
              " -> " + std::to_string(index) + ")";
    }
  }
  if (recreated.empty()) {
    return;
  }
  // The group memberships were joined on the old interface and went with it: drop them, so
  // the switch joins them again on the new one (packet ingress; udp sockets join themselves).
  for (auto it = memberships_.begin(); it != memberships_.end();) {
    it = recreated.count(std::get<0>(it->first)) != 0 ? memberships_.erase(it) : std::next(it);
  }
  // The same rules against the new indexes: the endpoints of the re-created interfaces are
  // new (fresh sockets), everything else keeps its sockets (plan_update.h).
  if (auto switched =
          switch_plan(plan_->config, "ingress interface re-created", "re-opened ingress " + what);
      !switched) {
    ++process_.ingress_reopen_failures;
    ingress_retry_ns_ = now + kIngressRetryMs * 1000000u;
    log_message(LogLevel::error, "ingress " + what + " re-created, re-opening failed: " +
                                     switched.error().to_string() + "; retrying in " +
                                     std::to_string(kIngressRetryMs) + " ms");
    return;
  }
  process_.ingress_reopens += recreated.size();
}

// The service manager hears RELOADING=1 before and READY=1 after (service_notify.h), so
// `systemctl reload mrelay` returns once the relay has decided, whichever way.
void Relay::reload() {
  notifier_.reloading(monotonic_ns());
  const bool applied = reload_config();
  notifier_.ready(applied ? "forwarding: reloaded" : "forwarding: reload rejected, rules unchanged");
}

bool Relay::reload_config() {
  if (!config_source_) {
    log_message(LogLevel::warn,
                "SIGHUP: started without --config, there is no file to reload; ignored");
    return false;
  }
  auto next = config_source_();
  if (!next) {
    log_message(LogLevel::warn, "SIGHUP: reload rejected, running configuration unchanged: " +
                                    next.error().to_string());
    return false;
  }
  if (auto valid = validate_config(*next, system_interfaces()); !valid) {
    log_message(LogLevel::warn, "SIGHUP: reload rejected, running configuration unchanged: " +
                                    valid.error().to_string());
    return false;
  }
  for (const std::string& knob : fixed_knob_changes(plan_->config, *next)) {
    log_message(LogLevel::warn, "SIGHUP: '" + knob +
                                    "' changed in the file; it needs a restart, the running "
                                    "value stays");
  }
  std::vector<Rule> file_rules = next->rules;
  if (auto applied = apply_rules(*next, "SIGHUP reload"); !applied) {
    log_message(LogLevel::warn, "SIGHUP: reload rejected, running configuration unchanged: " +
                                    applied.error().to_string());
    return false;
  }
  base_rules_ = std::move(file_rules);
  save_state();
  return true;
}

void Relay::save_state() {
  const std::string& path = plan_->config.state_file;
  if (path.empty()) {
    return;
  }
  // {"base": the config file's rules this state was made on top of, "rules": the running ones},
  // through a temporary file and rename (safe_file.h): a crash leaves the old or the new file,
  // and nothing planted at the path or beside it is followed.
  if (auto saved = replace_file(path, state_text(base_rules_, plan_->config.rules), 0640,
                                "--state-file " + path);
      !saved) {
    ++process_.state_save_failures;
    log_message(LogLevel::error, saved.error().to_string() + "; rules not persisted");
    return;
  }
  log_message(LogLevel::debug, "--state-file " + path + ": saved " +
                                   std::to_string(plan_->config.rules.size()) + " rules");
}

RelayStats Relay::collect(std::string_view event, bool wait_for_workers) {
  if (!wait_for_workers) {
    // Ask for fresh kernel drop counts for the next reader, and use the counters as they are:
    // the workers fold them in every Worker::kKernelDropsPeriodMs anyway.
    for (auto& worker : workers_) {
      (void)worker->request_refresh();
    }
  } else if (!stop_.load(std::memory_order_relaxed)) {
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
  RelayStats stats;
  stats.workers.reserve(workers_.size());
  for (auto& worker : workers_) {
    stats.workers.push_back(
        {worker->index(), worker->cpu(), snapshot_counters(worker->counters())});
  }
  const uint64_t now = monotonic_ns();
  StatsHeader& header = stats.header;
  header.event = event;
  header.time_ns = now;
  header.uptime_s = static_cast<double>(now - start_ns_) / 1e9;
  stats.start_time_s = start_time_s_;
  header.ingress = plan_->config.ingress;
  header.egress = workers_.empty() ? plan_->backend : workers_.front()->backend();
  header.queue_depth = plan_->config.egress.queue_depth;
  header.batch = plan_->config.egress.batch;
  header.sndbuf = plan_->config.egress.sndbuf;
  stats.rules = collect_rule_stats(*plan_);
  stats.process = process_;
  return stats;
}

RelayStats Relay::stats() {
  return collect("stats");
}

std::string Relay::metrics_text() {
  // Never waits for the workers: a scrape must not stall the control loop (and with it every
  // other client, signal and rule change) for up to kRefreshWaitMs.
  return format_prometheus(collect("stats", /*wait_for_workers=*/false));
}

}  // namespace mrelay
