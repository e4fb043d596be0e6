// One data-plane worker: a single-threaded event loop, optionally pinned to a CPU, that owns
// its ingress readers (udp mode: the endpoints whose `worker` is its index), its output
// sockets (one per output), a fixed buffer pool and an egress backend. Loop turn: each
// ingress reader reads a capped batch and hands every packet to the Forwarder, which sends
// the copies to the egress; then flush egress, reap completions; once every socket is drained
// (returned less than a full batch), poll() the ingress sockets with a short timeout so stop
// requests and stats refreshes are still serviced. Live rule changes arrive through
// post_update() and are applied between two turns (worker_update.h).
//
// Where a packet goes: ingress/ (read, per batch) -> forwarder.h (rule, TTL, per packet) ->
// egress/ (copies). This file holds the loop and everything around it: set-up, the thread,
// plan switches, egress rebuilds, kernel drop counts, shutdown.
//
//   mrelay::RelayPlan plan = ...;                    // shared, read-only (plan.h)
//   mrelay::Worker worker(0, /*cpu=*/1, plan);
//   if (auto ok = worker.open(); !ok) { ... }        // sockets, in the calling thread
//   std::atomic<bool> stop{false};
//   worker.start(stop);                              // thread: egress set-up, then the loop
//   auto ready = worker.wait_ready();                // egress description or set-up error
//   ... stop = true; worker.join();                  // drains in-flight sends (<= 1 s)
#pragma once

#include <poll.h>

#include <atomic>
#include <cstdint>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/unique_fd.h"
#include "dataplane/buffer_pool.h"
#include "dataplane/egress/egress.h"
#include "dataplane/forwarder.h"
#include "dataplane/ingress/ingress.h"
#include "dataplane/ingress/receive_slots.h"
#include "dataplane/output_rebind.h"
#include "dataplane/plan.h"
#include "mrelay/config.h"
#include "mrelay/counters.h"

namespace mrelay {

struct WorkerUpdate;  // worker_update.h: a new plan plus the sockets it needs, for one worker

class Worker {
 public:
  // poll() timeout when idle, in ms: bounds how late a stop request or a stats refresh is seen.
  static constexpr int kIdlePollMs = 50;
  // How often the kernel's drop counts are read into kernel_drops, in ms (each read is a
  // syscall per ingress socket).
  static constexpr uint64_t kKernelDropsPeriodMs = 100;
  // Longest wait for in-flight sends at shutdown, in ms.
  static constexpr int kDrainMs = 1000;

  Worker(uint32_t index, int cpu, const RelayPlan& plan);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  /// Opens this worker's ingress and output sockets and allocates its pool. Calling thread.
  [[nodiscard]] Result<void> open();
  /// Starts the loop thread; it builds the egress (io_uring rings belong to their thread).
  void start(const std::atomic<bool>& stop);
  /// Blocks until the thread is set up: the egress description, or the error that ended it.
  [[nodiscard]] Result<std::string> wait_ready();
  void join();

  /// Asks the loop to refresh kernel_drops now; returns the request number to wait for.
  uint64_t request_refresh() noexcept;
  [[nodiscard]] bool refreshed(uint64_t request) const noexcept {
    return refresh_done_.load(std::memory_order_acquire) >= request;
  }

  [[nodiscard]] const WorkerCounters& counters() const noexcept { return counters_; }
  [[nodiscard]] uint32_t index() const noexcept { return index_; }
  [[nodiscard]] int cpu() const noexcept { return cpu_; }
  /// The backend in use (after any fallback); valid once wait_ready() or run() has set up.
  [[nodiscard]] EgressBackend backend() const noexcept { return backend_; }
  /// Pool buffers currently free (tests: every buffer returns after shutdown).
  [[nodiscard]] uint32_t free_buffers() const noexcept { return pool_ ? pool_->available() : 0; }

  /// Runs the loop in the calling thread until `stop` (tests use this with their own thread).
  /// Builds the egress first; returns its error if that fails.
  [[nodiscard]] Result<void> run(const std::atomic<bool>& stop);

  /// Live rule changes (worker_update.h). Hands `update` to the loop, which switches to its
  /// plan at the next loop-turn boundary and then reports update->generation as applied, or,
  /// when the update was built on another plan than the one it runs, reports it as rejected
  /// and changes nothing. The caller keeps `update` alive until one of the two reaches it. One
  /// update at a time: returns false (and posts nothing) while another is pending.
  [[nodiscard]] bool post_update(WorkerUpdate* update) noexcept;
  [[nodiscard]] uint64_t applied_generation() const noexcept {
    return applied_generation_.load(std::memory_order_acquire);
  }
  [[nodiscard]] uint64_t rejected_generation() const noexcept {
    return rejected_generation_.load(std::memory_order_acquire);
  }
  /// True while a posted update has been neither applied nor rejected.
  [[nodiscard]] bool update_pending() const noexcept {
    return pending_update_.load(std::memory_order_acquire) != nullptr;
  }
  /// The plan the loop reads now (the last update applied, or the one given at construction).
  /// Only the thread that posts updates may call this.
  [[nodiscard]] const RelayPlan& plan() const noexcept { return *plan_; }

 private:
  [[nodiscard]] Result<void> setup_thread();
  Result<void> setup_egress();
  // Replaces the egress by a new one of the same backend over output_fds_ (after an output
  // re-binding); call after a drain. build_egress() makes the new one. Allocate: never per
  // packet.
  void rebuild_egress() noexcept;
  void build_egress() noexcept;
  void loop(const std::atomic<bool>& stop);
  void refresh_kernel_drops() noexcept;
  void clear_ingress_errors() noexcept;
  void shutdown() noexcept;
  // Drains egress, swaps sockets and counters, rebuilds egress.
  void apply_update(WorkerUpdate& update) noexcept;
  void rebuild_pollfds();
  void drain_wake() noexcept;

  const uint32_t index_;
  const int cpu_;
  const RelayPlan* plan_;
  const bool packet_mode_;
  WorkerCounters counters_{};
  std::unique_ptr<BufferPool> pool_;
  Forwarder forwarder_{counters_};
  std::unique_ptr<ReceiveSlots> slots_;
  std::vector<std::unique_ptr<Ingress>> ingress_;
  std::vector<UniqueFd> output_sockets_;
  std::vector<int> output_fds_;
  OutputRebinder rebinder_;  // outputs whose interface was re-created (output_rebind.h)
  std::unique_ptr<Egress> egress_;
  EgressBackend backend_ = kDefaultEgressBackend;  // until the egress is built: what it says
  std::vector<pollfd> pollfds_;
  std::string notes_;  // set-up remarks for the startup log (fallbacks)

  // Live updates: the mailbox (one pending update at most), the generation applied last, and
  // an eventfd in pollfds_ so an idle loop wakes at once instead of after kIdlePollMs.
  std::atomic<WorkerUpdate*> pending_update_{nullptr};
  std::atomic<uint64_t> applied_generation_{0};
  std::atomic<uint64_t> rejected_generation_{0};
  UniqueFd wake_fd_;

  std::atomic<uint64_t> refresh_requested_{0};
  std::atomic<uint64_t> refresh_done_{0};
  uint64_t next_drops_read_ns_ = 0;

  std::thread thread_;
  std::promise<Result<std::string>> ready_;
  std::future<Result<std::string>> ready_future_;
};

}  // namespace mrelay
