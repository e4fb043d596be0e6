// The data-plane worker: set-up, the loop, plan switches and shutdown; see worker.h.
#include "dataplane/worker.h"

#include <pthread.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cstdlib>

#include "common/clock.h"
#include "dataplane/egress/egress_selector.h"
#include "dataplane/worker_update.h"

namespace mrelay {

Worker::Worker(uint32_t index, int cpu, const RelayPlan& plan)
    : index_(index),
      cpu_(cpu),
      plan_(&plan),
      packet_mode_(takes_frames(plan.config.ingress)),
      ready_future_(ready_.get_future()) {}

Worker::~Worker() {
  join();
}

Result<void> Worker::open() {
  const Config& config = plan_->config;
  pool_ = std::make_unique<BufferPool>(plan_->pool.buffers, plan_->pool.buffer_size);
  for (size_t e = 0; e < plan_->ingress.size(); ++e) {
    // UDP: the kernel delivers a multicast datagram to EVERY socket bound to its group and
    // port (SO_REUSEPORT balancing is for unicast only), so each endpoint gets exactly one
    // worker, round-robin, or every worker would relay a copy. Packet mode spreads one
    // interface over all workers with PACKET_FANOUT instead.
    if (!packet_mode_ && plan_->ingress[e].worker != index_) {
      continue;
    }
    auto ingress = make_ingress(plan_->ingress[e], ingress_settings(*plan_), &notes_);
    if (!ingress) {
      return tl::unexpected(ingress.error());
    }
    if (packet_mode_ && e == 0) {
      notes_ += (*ingress)->describe() + "; ";
    }
    ingress_.push_back(std::move(*ingress));
  }
  for (size_t o = 0; o < plan_->outputs.size(); ++o) {
    auto fd = open_output_socket(plan_->outputs[o], plan_->output_ifindex[o],
                                 {.sndbuf = config.egress.sndbuf, .non_blocking = true},
                                 plan_->output_where[o]);
    if (!fd) {
      return tl::unexpected(fd.error());
    }
    output_fds_.push_back(fd->get());
    output_sockets_.push_back(std::move(*fd));
  }
  rebinder_.init(plan_->outputs, plan_->output_ifindex, output_fds_);
  slots_ = std::make_unique<ReceiveSlots>(packet_mode_, pool_->buffer_size());  // reserved once
  wake_fd_ = UniqueFd(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!wake_fd_) {
    return fail_errno("worker " + std::to_string(index_) + ": eventfd");
  }
  forwarder_.use_plan(*plan_, index_);
  rebuild_pollfds();
  return {};
}

Result<void> Worker::setup_egress() {
  const EgressConfig& knobs = plan_->config.egress;
  const EgressOptions options{
      .backend = plan_->backend,
      .queue_depth = knobs.queue_depth,
      .batch = knobs.batch,
      .output_counters = {plan_->output_counters[index_].data(), plan_->outputs.size()}};
  auto egress = make_egress_with_fallback(options, output_fds_, *pool_, counters_, &notes_);
  if (!egress) {
    return tl::unexpected(egress.error());
  }
  egress_ = std::move(*egress);
  backend_ = egress_->backend();
  forwarder_.use_egress(*pool_, *egress_);
  return {};
}

Result<void> Worker::setup_thread() {
  if (cpu_ >= 0) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu_, &set);
    const int err = ::pthread_setaffinity_np(::pthread_self(), sizeof set, &set);
    if (err != 0) {
      return fail(
          "--cpus",
          "worker " + std::to_string(index_) + ": cannot pin to cpu " + std::to_string(cpu_), err);
    }
  }
  if (const uint32_t priority = plan_->config.rt_priority; priority > 0) {
    sched_param param{};
    param.sched_priority = static_cast<int>(priority);
    const int err = ::pthread_setschedparam(::pthread_self(), SCHED_FIFO, &param);
    if (err != 0) {
      return fail("--rt-priority",
                  "worker " + std::to_string(index_) + ": SCHED_FIFO " + std::to_string(priority) +
                      " refused (needs CAP_SYS_NICE)",
                  err);
    }
  }
  return setup_egress();
}

void Worker::start(const std::atomic<bool>& stop) {
  thread_ = std::thread([this, &stop] {
    if (auto ok = setup_thread(); !ok) {
      ready_.set_value(tl::unexpected(ok.error()));
      return;
    }
    ready_.set_value(notes_ + egress_->describe());
    loop(stop);
    shutdown();
  });
}

Result<std::string> Worker::wait_ready() {
  return ready_future_.get();
}

void Worker::join() {
  if (thread_.joinable()) {
    thread_.join();
  }
}

Result<void> Worker::run(const std::atomic<bool>& stop) {
  if (auto ok = setup_egress(); !ok) {
    return ok;
  }
  loop(stop);
  shutdown();
  return {};
}

uint64_t Worker::request_refresh() noexcept {
  return refresh_requested_.fetch_add(1, std::memory_order_acq_rel) + 1;
}

void Worker::loop(const std::atomic<bool>& stop) {
  next_drops_read_ns_ = monotonic_ns() + kKernelDropsPeriodMs * 1000000u;
  while (!stop.load(std::memory_order_relaxed)) {
    // Live rule change: switch plans between turns, never inside one.
    if (WorkerUpdate* update = pending_update_.load(std::memory_order_acquire)) {
      apply_update(*update);
    }
    // A socket that returned a full batch may hold more: read again at once. Otherwise every
    // socket was drained, and re-reading would only cost a read that finds nothing.
    bool maybe_more = false;
    for (std::unique_ptr<Ingress>& ingress : ingress_) {
      maybe_more = ingress->receive(forwarder_, *slots_) == kRecvBatch || maybe_more;
    }
    egress_->flush();
    egress_->reap();

    const uint64_t requested = refresh_requested_.load(std::memory_order_acquire);
    const uint64_t now = monotonic_ns();
    if (rebinder_.on_turn(now, counters_) > 0 &&
        (backend_ == EgressBackend::packet || egress_->caches_output_interfaces())) {
      // A re-created interface has a new index and MAC, which the packet egress's frame
      // templates carry, and the gso egress's shared socket names by index: rebuild them
      // (rare: once per re-binding, not per packet).
      egress_->drain(kDrainMs);
      egress_->reap();
      rebuild_egress();
    }
    if (now >= next_drops_read_ns_ || requested > refresh_done_.load(std::memory_order_relaxed)) {
      refresh_kernel_drops();
      next_drops_read_ns_ = now + kKernelDropsPeriodMs * 1000000u;
      refresh_done_.store(requested, std::memory_order_release);
    }

    if (!maybe_more) {
      // Drained: sleep in poll() until more arrives instead of spinning. 1 ms while copies are
      // in flight so their completions (and buffers) come back promptly.
      ++counters_.syscalls;
      const int ret =
          ::poll(pollfds_.data(), pollfds_.size(), egress_->in_flight() > 0 ? 1 : kIdlePollMs);
      if (ret > 0) {
        clear_ingress_errors();
        if (pollfds_.back().revents != 0) {
          drain_wake();  // a post_update() wake-up (the eventfd is always the last entry)
        }
      }
      // Otherwise -EINTR or timeout: the next turn simply tries again.
    }
  }
}

void Worker::clear_ingress_errors() noexcept {
  // A packet socket whose interface goes down gets sk_err = ENETDOWN: poll() then reports
  // POLLERR at once, every turn, until the error is read. The recvmmsg path reads it (and
  // gets -1), the TPACKET ring never calls recv, so the loop would spin. SO_ERROR reads and
  // clears it; the socket keeps its binding and receives again once the link is up.
  for (pollfd& entry : pollfds_) {
    if ((entry.revents & POLLERR) == 0) {
      continue;
    }
    int err = 0;
    socklen_t size = sizeof err;
    ++counters_.syscalls;
    if (::getsockopt(entry.fd, SOL_SOCKET, SO_ERROR, &err, &size) == 0 && err != 0) {
      ++counters_.ingress_errors;
    }
  }
}

void Worker::refresh_kernel_drops() noexcept {
  for (std::unique_ptr<Ingress>& ingress : ingress_) {
    ingress->read_kernel_drops(counters_);
  }
}

void Worker::shutdown() noexcept {
  egress_->drain(kDrainMs);
  // Torn down here, not in the destructor: copies still in flight after the drain are
  // cancelled and counted (drop_cancelled) before anyone reads the final counters.
  egress_.reset();
  refresh_kernel_drops();
  refresh_done_.store(refresh_requested_.load(std::memory_order_acquire),
                      std::memory_order_release);
  slots_->release(*pool_);
}

// ---- live rule changes (worker_update.h) ---------------------------------------------------

bool Worker::post_update(WorkerUpdate* update) noexcept {
  // One update at a time: a pending one is never replaced (the worker would lose the plan the
  // next one was built on).
  WorkerUpdate* expected = nullptr;
  if (!pending_update_.compare_exchange_strong(expected, update, std::memory_order_release,
                                               std::memory_order_relaxed)) {
    return false;
  }
  const uint64_t one = 1;
  if (wake_fd_) {
    // Wakes a loop idling in poll(); a full counter (EAGAIN) means it is already awake.
    (void)!::write(wake_fd_.get(), &one, sizeof one);
  }
  return true;
}

void Worker::rebuild_pollfds() {
  pollfds_.clear();
  for (const std::unique_ptr<Ingress>& ingress : ingress_) {
    pollfds_.push_back(pollfd{ingress->fd(), POLLIN, 0});
  }
  if (wake_fd_) {
    pollfds_.push_back(pollfd{wake_fd_.get(), POLLIN, 0});  // last, see drain_wake()
  }
}

void Worker::drain_wake() noexcept {
  uint64_t value = 0;
  if (wake_fd_) {
    (void)!::read(wake_fd_.get(), &value, sizeof value);
  }
}

void Worker::apply_update(WorkerUpdate& update) noexcept {
  drain_wake();
  if (update.base_generation != applied_generation_.load(std::memory_order_relaxed)) {
    // Built on a plan this worker never adopted: its socket indices refer to other lists.
    // Refuse it whole; the control thread sees rejected_generation() and keeps it alive.
    pending_update_.store(nullptr, std::memory_order_relaxed);
    rejected_generation_.store(update.generation, std::memory_order_release);
    return;
  }
  // Every in-flight copy completes first (io_uring completions included), so nothing the
  // kernel still holds references a socket that is about to be retired. The egress goes now,
  // while the old plan's counters are current: a copy it cancels is charged there, and
  // carries over below with the rest.
  egress_->drain(kDrainMs);
  egress_->reap();
  egress_.reset();

  for (int32_t source : update.ingress_source) {
    update.next_ingress.push_back(
        std::move(source >= 0 ? ingress_[static_cast<size_t>(source)]
                              : update.opened_ingress[static_cast<size_t>(-1 - source)]));
  }
  ingress_.swap(update.next_ingress);  // the update now holds the old list (retired entries)
  for (int32_t source : update.output_source) {
    UniqueFd& fd = source >= 0 ? output_sockets_[static_cast<size_t>(source)]
                               : update.opened_outputs[static_cast<size_t>(-1 - source)];
    update.next_output_fds.push_back(fd.get());
    update.next_outputs.push_back(std::move(fd));
  }
  output_sockets_.swap(update.next_outputs);
  output_fds_.swap(update.next_output_fds);

  // Counters of rules and outputs that persist continue from their values in the old plan.
  const RelayPlan& next = *update.plan;
  for (size_t r = 0; r < next.rule_previous.size(); ++r) {
    if (next.rule_previous[r] >= 0) {
      next.rule_counters[index_][r] = plan_->rule_counters[index_][next.rule_previous[r]];
    }
  }
  for (size_t o = 0; o < next.output_previous.size(); ++o) {
    if (next.output_previous[o] >= 0) {
      next.output_counters[index_][o] = plan_->output_counters[index_][next.output_previous[o]];
    }
  }
  plan_ = &next;
  forwarder_.use_plan(next, index_);
  rebuild_pollfds();
  // Interface-fault recovery follows the new output list (output_rebind.h).
  rebinder_.init(next.outputs, next.output_ifindex, output_fds_);

  // The old egress was built over the old fd list: build one over the new, same backend.
  build_egress();

  pending_update_.store(nullptr, std::memory_order_relaxed);
  applied_generation_.store(update.generation, std::memory_order_release);
}

void Worker::rebuild_egress() noexcept {
  // Called after a drain. The old egress is destroyed here, on the thread that owns its ring
  // and the pool (what it still had in flight is cancelled and counted); the new one reads
  // the output sockets again (the packet egress takes each output's index and MAC from them).
  egress_.reset();
  build_egress();
}

void Worker::build_egress() noexcept {
  const EgressConfig& knobs = plan_->config.egress;
  const EgressOptions options{
      .backend = backend_,
      .queue_depth = knobs.queue_depth,
      .batch = knobs.batch,
      .output_counters = {plan_->output_counters[index_].data(), plan_->outputs.size()}};
  // As at start-up: a backend that cannot be built falls back (egress_selector.h).
  auto egress = make_egress_with_fallback(options, output_fds_, *pool_, counters_, nullptr);
  if (!egress) {
    std::abort();  // "can't happen" after start: the fallback, sendmmsg, only allocates
  }
  egress_ = std::move(*egress);
  backend_ = egress_->backend();
  forwarder_.use_egress(*pool_, *egress_);
}

}  // namespace mrelay
