// The relay process: builds the plan from a validated Config, opens every socket, starts one
// worker per --workers (pinned per --cpus), and services signals and stats from the calling
// thread until SIGTERM/SIGINT.
//
//   auto relay = mrelay::Relay::create(config);     // sockets open, errors name the field
//   if (!relay) { fprintf(stderr, "%s\n", relay.error().to_string().c_str()); return 1; }
//   return (*relay)->run();                         // 0 after a clean drain + final stats
//
// Signals: SIGUSR1 prints one "stats" line at once; SIGHUP re-reads the config file and applies
// its rules as a diff (relay_control.cc); SIGTERM/SIGINT stop reading, drain in-flight sends
// (<= 1 s), write the "final" line (stdout, or --stats-json FILE), return 0. With
// --control-socket the same thread also serves mrelayctl (control_server.h).
// Stats lines go to stdout, one JSON object per line; human log lines go to stderr.
#pragma once

#include <signal.h>

#include <atomic>
#include <cstdio>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/log.h"
#include "common/service_notify.h"
#include "common/unique_fd.h"
#include "control/control_protocol.h"
#include "control/control_server.h"
#include "control/link_monitor.h"
#include "control/plan_update.h"
#include "control/state_file.h"
#include "dataplane/worker.h"
#include "mrelay/config.h"
#include "mrelay/error.h"

namespace mrelay {

/// Re-reads the configuration for SIGHUP (the --config file with the command line's flags on
/// top); empty when the relay was started without a file.
using ConfigSource = std::function<Result<Config>()>;

class Relay : public ControlTarget {
 public:
  /// Probes kernel features (the egress selector falls back from an unavailable backend with a
  /// message), opens the membership, ingress and output sockets. Does not start threads.
  [[nodiscard]] static Result<std::unique_ptr<Relay>> create(const Config& config);
  ~Relay();

  /// Blocks SIGINT/SIGTERM/SIGUSR1/SIGHUP, starts the workers and serves signals and the
  /// stats interval until SIGTERM/SIGINT. Returns the process exit code.
  [[nodiscard]] int run();

  /// Where SIGHUP reloads from (relay_control.cc); without one, SIGHUP logs that there is no
  /// file to reload. `base_rules` are the file's rules as loaded (the state file records them
  /// to notice when the file was edited between runs).
  void set_config_source(ConfigSource source, std::vector<Rule> base_rules);

  // ControlTarget (relay_control.cc): the control socket and SIGHUP act through these.
  [[nodiscard]] const Config& running_config() const override { return plan_->config; }
  [[nodiscard]] InterfaceLookup interfaces() const override;
  [[nodiscard]] Result<void> apply_rules(const Config& candidate,
                                         const std::string& origin) override;
  [[nodiscard]] RelayStats stats() override;
  void note_refused_request(std::string_view cmd) override;
  /// The Prometheus text GET /metrics answers, from the counters as they are (never waits for
  /// the workers).
  [[nodiscard]] std::string metrics_text();

 private:
  Relay() = default;
  void emit_stats(std::string_view event, std::FILE* out);
  void stop_workers();
  // relay_control.cc: the main thread's loop (signals, control clients, periodic stats)
  // until SIGTERM/SIGINT; SIGHUP; the state file; the stats snapshot.
  [[nodiscard]] Result<void> open_control();
  void serve(const sigset_t& signals, uint64_t interval_ns);
  // Fails (naming the lagging worker) unless every worker runs plan_ and has no update
  // pending; then frees what was kept for a worker that was late.
  [[nodiscard]] Result<void> workers_in_step();
  // Builds the successor of plan_ for `next_config` (validated), hands each worker its update
  // and waits for the switch; `what` describes the change for the log.
  [[nodiscard]] Result<void> switch_plan(const Config& next_config, const std::string& origin,
                                         const std::string& what);
  void reload();
  // The reload itself: true when the file's rules now run.
  [[nodiscard]] bool reload_config();
  void save_state();
  // The stats snapshot; `wait_for_workers`: first let each worker fold in fresh kernel drop
  // counts (up to kRefreshWaitMs), for the stats line and mrelayctl stats.
  [[nodiscard]] RelayStats collect(std::string_view event, bool wait_for_workers = true);
  // Ingress interfaces deleted and re-created (link_monitor.h): compares each ingress
  // interface's index with the plan's and re-opens those that changed (a plan switch with the
  // same rules); a failure is retried after kIngressRetryMs.
  void follow_ingress_interfaces(uint64_t now);
  // The metrics port: bound at start, or retried from the loop while it is busy.
  void log_metrics_url();
  void schedule_metrics_retry(const Error& error, uint64_t now);
  void retry_metrics(uint64_t now);

  std::shared_ptr<RelayPlan> plan_;
  MembershipMap memberships_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::atomic<bool> stop_{false};
  uint64_t start_ns_ = 0;
  double start_time_s_ = 0;  // the same moment, CLOCK_REALTIME (mrelay_start_time_seconds)
  // READY/RELOADING/STOPPING to systemd when it asked for them ($NOTIFY_SOCKET).
  ServiceNotifier notifier_ = ServiceNotifier::from_environment();
  ControlServer control_;
  ProcessCounters process_;  // the main thread's counters (counters.h), also the server's
  // Refused read-only requests: logged as often as the control server logs refused peers.
  RateLimitedLog refusal_log_{ControlServer::kRefusalLogPeriodMs * 1000000u};
  uint64_t metrics_retry_ns_ = 0;  // next bind attempt of a busy metrics port, 0 = none
  uint64_t metrics_backoff_ms_ = 0;
  LinkMonitor links_;
  std::set<std::string> missing_ingress_;  // ingress interfaces gone (logged once each)
  uint64_t ingress_retry_ns_ = 0;          // next re-open attempt after a failure, 0 = none
  ConfigSource config_source_;
  std::vector<Rule> base_rules_;
  // Plans and updates a worker did not acknowledge in time: kept alive until shutdown, since
  // that worker may still read them.
  std::vector<std::shared_ptr<RelayPlan>> unacknowledged_plans_;
  std::vector<std::unique_ptr<WorkerUpdate>> unacknowledged_updates_;
};

/// The signals the relay handles (SIGINT, SIGTERM, SIGUSR1, SIGHUP). main() blocks them first
/// thing, so one that arrives during start-up waits for the loop instead of killing the
/// process with its default action; run() reads them from a signalfd.
[[nodiscard]] sigset_t relay_signals();

}  // namespace mrelay
