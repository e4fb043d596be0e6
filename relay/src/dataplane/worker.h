// One data-plane worker: a single-threaded event loop, optionally pinned to a CPU, that owns
// its ingress sockets (udp mode: the endpoints whose `worker` is its index), its output sockets
// (one per output), a fixed buffer pool and an egress backend. Loop turn: read a capped batch
// from each ingress socket (recvmmsg), parse, look up the rule, hand the packet to every output
// of the rule, flush egress, reap completions; once every socket is drained (returned less than
// a full batch), poll() the ingress sockets with a short timeout so stop requests and stats
// refreshes are still serviced. Live rule changes arrive through post_update() and are applied
// between two turns (plan_update.h).
//
//   mrelay::RelayPlan plan = ...;                    // shared, read-only
//   mrelay::Worker worker(0, /*cpu=*/1, plan);
//   if (auto ok = worker.open(); !ok) { ... }        // sockets, in the calling thread
//   std::atomic<bool> stop{false};
//   worker.start(stop);                              // thread: egress set-up, then the loop
//   auto ready = worker.wait_ready();                // egress description or set-up error
//   ... stop = true; worker.join();                  // drains in-flight sends (<= 1 s)
#pragma once

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

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
#include "dataplane/ingress/ingress_socket.h"
#include "dataplane/output_rebind.h"
#include "mrelay/config.h"
#include "mrelay/counters.h"
#include "mrelay/rule_table.h"

namespace mrelay {

/// Where packets come in: one per ingress interface (packet mode) or per distinct
/// (interface, group, port) (udp mode).
struct IngressEndpoint {
  std::string interface;
  unsigned ifindex = 0;
  in_addr group{};    // udp mode only
  uint16_t port = 0;  // udp mode only
  // udp mode: the one worker that reads this endpoint (a multicast datagram reaches every
  // socket on its port). Kept across live rule changes so an endpoint never moves worker.
  uint32_t worker = 0;
  // packet mode with several workers: offset added to RelayPlan::fanout_id for this
  // interface's PACKET_FANOUT group (a group is bound to one device). Kept across changes.
  int fanout_offset = 0;
};

/// Per-rule counters, one array per worker (the worker is the only writer; readers load
/// relaxed). Matched = the rule table found this rule for a packet.
struct RuleCounters {
  uint64_t matched_packets = 0;
  uint64_t matched_bytes = 0;  // UDP payload bytes
};

// OutputCounters (per output: queued, dropped, failed) are declared in egress.h, beside the
// backends that count failures after hand-over.

/// An output's TTL settings in the form the hot path reads (Output::ttl, ttl_threshold).
struct OutputTtl {
  uint8_t threshold = kDefaultTtlThreshold;  // forward only a received TTL above this
  uint8_t fixed = 0;                         // TTL of every copy; 0 = the received TTL - 1
};

/// Everything the workers share, built once from a validated Config (allocation happens here).
struct RelayPlan {
  // 0 for the plan built at start, +1 for each successor (plan_update.h).
  uint64_t generation = 0;
  Config config;
  RuleTable table;
  EgressBackend backend = EgressBackend::uring;  // effective, after fallbacks
  std::vector<IngressEndpoint> ingress;
  std::vector<Output> outputs;              // every rule's outputs, flattened
  std::vector<unsigned> output_ifindex;     // per flattened output
  std::vector<std::string> output_where;    // "rules[0].outputs[2]" for error messages
  std::vector<OutputTtl> output_ttl;        // per flattened output
  std::vector<uint32_t> rule_first_output;  // per rule: index into outputs
  std::vector<uint32_t> rule_output_count;  // per rule
  int fanout_id = -1;  // PACKET_FANOUT group id when workers > 1 in packet mode
  // [worker][rule] and [worker][output]: sized once here, written only by that worker.
  // mutable: the plan's shape is read-only, these counters are the workers' scratch.
  mutable std::vector<std::vector<RuleCounters>> rule_counters;
  mutable std::vector<std::vector<OutputCounters>> output_counters;
  // Live rule changes (plan_update.h): per rule / output, its index in the plan this one
  // replaced (-1 = new), so counters carry over and unchanged outputs keep their sockets.
  std::vector<int32_t> rule_previous;
  std::vector<int32_t> output_previous;
};

struct WorkerUpdate;  // plan_update.h: a new plan plus the sockets it needs, for one worker

/// Builds the plan; errors name the config field. `lookup` resolves interface names.
[[nodiscard]] Result<RelayPlan> build_plan(const Config& config, const InterfaceLookup& lookup);

class Worker {
 public:
  // Datagrams read per recvmmsg call and at most per ingress socket per loop turn: caps the
  // work of one turn so egress is flushed and completions reaped at least every 256 packets.
  static constexpr uint32_t kRecvBatch = 256;
  // poll() timeout when idle, in ms: bounds how late a stop request or a stats refresh is seen.
  static constexpr int kIdlePollMs = 50;
  // Packet mode reads a TPACKET_V2 ring (no syscall per batch; one copy of the UDP payload
  // into a pool buffer per packet, shared by every output). The environment variable
  // MRELAY_PACKET_RX=recvmmsg selects recvmmsg into pool buffers instead, for A/B runs.
  static constexpr const char* kPacketRxEnv = "MRELAY_PACKET_RX";
  // How often PACKET_STATISTICS is read into kernel_drops, in ms (each read is a syscall).
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

  /// Live rule changes (plan_update.h). Hands `update` to the loop, which switches to its plan
  /// at the next loop-turn boundary and then reports update->generation as applied, or, when
  /// the update was built on another plan than the one it runs, reports it as rejected and
  /// changes nothing. The caller keeps `update` alive until one of the two reaches it. One
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

  struct IngressSocket {
    UniqueFd fd;
    unsigned ifindex = 0;
    uint32_t group = 0;          // udp mode: network order
    uint16_t port = 0;           // udp mode
    uint32_t last_overflow = 0;  // udp mode: last SO_RXQ_OVFL value seen
    PacketRing ring;             // packet mode: unmapped = recvmmsg instead
  };
  /// Opens the ingress socket for plan.ingress[e] (the caller decides which worker reads it).
  [[nodiscard]] static Result<IngressSocket> open_ingress(const RelayPlan& plan, size_t e,
                                                          std::string* notes);

 private:
  Result<void> setup_egress();
  // Replaces the egress by a new one of the same backend over output_fds_ (after an output
  // re-binding); call after a drain. build_egress() makes the new one. Allocate: never per
  // packet.
  void rebuild_egress() noexcept;
  void build_egress() noexcept;
  void loop(const std::atomic<bool>& stop);
  uint32_t receive(IngressSocket& socket);
  void handle_frame(const IngressSocket& socket, uint32_t slot, uint32_t len);
  void handle_datagram(IngressSocket& socket, uint32_t slot, uint32_t len);
  void forward(int32_t rule, uint32_t slot, const uint8_t* payload, uint32_t len, uint8_t ttl);
  uint32_t receive_ring(IngressSocket& socket);
  void handle_ring_frame(const IngressSocket& socket, const tpacket2_hdr* frame);
  // Parses one frame with what the kernel said about it, counts a refusal, looks up the rule
  // (by interface, VLAN, group, port, source) and counts the match; -1 when not forwarded.
  int32_t accept_frame(const IngressSocket& socket, const FrameMeta& meta, const uint8_t* frame,
                       size_t len, UdpView& view) noexcept;
  // Counts a frame only part of which could be read: by its headers when they refuse it,
  // else as rx_truncated.
  void count_partial_frame(const FrameMeta& meta, const uint8_t* data, size_t len) noexcept;
  // Copies each datagram of `view` (one, or a GSO super-frame's segments) into its own pool
  // buffer and hands it to the rule's outputs.
  void copy_and_send(int32_t rule, const UdpView& view) noexcept;
  bool send_to_outputs(int32_t rule, PacketBuffer* buffer, const uint8_t* payload, uint32_t len,
                       uint8_t ttl);
  // Counts (once per datagram) and returns true when a packet received with `ttl` may not be
  // forwarded at all.
  bool ttl_expired(uint8_t ttl, uint32_t datagrams = 1) noexcept;
  void refresh_kernel_drops() noexcept;
  void note_socket_drops(IngressSocket& socket, uint32_t cumulative) noexcept;
  void clear_ingress_errors() noexcept;
  void shutdown() noexcept;
  // plan_update.cc: drains egress, swaps sockets and counters, rebuilds egress.
  void apply_update(WorkerUpdate& update) noexcept;
  void point_counters() noexcept;
  void rebuild_pollfds();
  void drain_wake() noexcept;

  const uint32_t index_;
  const int cpu_;
  const RelayPlan* plan_;
  RuleCounters* rule_counters_ = nullptr;      // plan_->rule_counters[index_]
  OutputCounters* output_counters_ = nullptr;  // plan_->output_counters[index_]
  const bool packet_mode_;
  WorkerCounters counters_{};
  std::unique_ptr<BufferPool> pool_;
  std::vector<IngressSocket> ingress_;
  std::vector<UniqueFd> output_sockets_;
  std::vector<int> output_fds_;
  OutputRebinder rebinder_;  // outputs whose interface was re-created (output_rebind.h)
  std::unique_ptr<Egress> egress_;
  EgressBackend backend_ = EgressBackend::uring;
  std::vector<pollfd> pollfds_;
  std::string notes_;  // set-up remarks for the startup log (fallbacks)

  // Receive slots: slot i reads into slot_buffers_[i] (from the pool) or, when the pool is
  // empty, into scratch_ so the datagram is still read, parsed and counted as a drop.
  std::vector<PacketBuffer*> slot_buffers_;
  std::unique_ptr<uint8_t[]> scratch_;
  std::vector<mmsghdr> messages_;
  std::vector<iovec> iovecs_;
  std::vector<sockaddr_in> sources_;       // udp mode
  std::vector<sockaddr_ll> link_sources_;  // packet mode (recvmmsg): each frame's packet type
  // Room per slot for the control messages: SO_RXQ_OVFL and IP_TTL (udp mode, 24 bytes each),
  // PACKET_AUXDATA (packet mode).
  static constexpr size_t kControlSize = 64;
  std::vector<uint8_t> control_;
  // Packet mode: a frame longer than its ring slot, read whole (virtio_net_hdr included).
  static constexpr size_t kCopyBufferSize = kVnetHeaderSize + kMaxIngressFrame;
  std::unique_ptr<uint8_t[]> copy_buffer_;

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
