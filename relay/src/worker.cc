// The data-plane worker loop; see worker.h.
#include "worker.h"

#include <arpa/inet.h>
#include <linux/sock_diag.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "ingress.h"
#include "mrelay/packet.h"
#include "stats_json.h"

namespace mrelay {
namespace {

void count_verdict(ParseVerdict verdict, WorkerCounters& counters) noexcept {
  switch (verdict) {
    case ParseVerdict::ok:
      break;
    case ParseVerdict::truncated:
      ++counters.malformed_truncated;
      break;
    case ParseVerdict::not_ipv4:
      ++counters.unmatched_not_ipv4;
      break;
    case ParseVerdict::bad_ip_header:
      ++counters.malformed_bad_ip_header;
      break;
    case ParseVerdict::bad_length:
      ++counters.malformed_bad_length;
      break;
    case ParseVerdict::bad_checksum:
      ++counters.malformed_bad_checksum;
      break;
    case ParseVerdict::fragment:
      ++counters.malformed_fragment;
      break;
    case ParseVerdict::not_udp:
      ++counters.unmatched_not_udp;
      break;
  }
}

}  // namespace

Result<RelayPlan> build_plan(const Config& config, const InterfaceLookup& lookup) {
  RelayPlan plan;
  plan.config = config;
  plan.backend = config.egress.backend;
  plan.table = RuleTable(config.rules, lookup);
  for (size_t r = 0; r < config.rules.size(); ++r) {
    const Rule& rule = config.rules[r];
    const std::string rule_where = "rules[" + std::to_string(r) + "]";
    const unsigned ifindex = lookup(rule.input_interface);
    if (ifindex == 0) {
      return fail(rule_where + ".input.interface",
                  "no such interface '" + rule.input_interface + "'");
    }
    bool known = false;
    for (const IngressEndpoint& endpoint : plan.ingress) {
      const bool same_interface = endpoint.ifindex == ifindex;
      known = known || (config.ingress == IngressMode::packet
                            ? same_interface
                            : same_interface && endpoint.group.s_addr == rule.group.s_addr &&
                                  endpoint.port == rule.port);
    }
    if (!known) {
      const auto e = static_cast<uint32_t>(plan.ingress.size());
      plan.ingress.push_back({rule.input_interface, ifindex, rule.group, rule.port,
                              e % config.workers, static_cast<int>(e)});
    }
    plan.rule_first_output.push_back(static_cast<uint32_t>(plan.outputs.size()));
    plan.rule_output_count.push_back(static_cast<uint32_t>(rule.outputs.size()));
    for (size_t o = 0; o < rule.outputs.size(); ++o) {
      const std::string where = rule_where + ".outputs[" + std::to_string(o) + "]";
      const unsigned out_index = lookup(rule.outputs[o].interface);
      if (out_index == 0) {
        return fail(where + ".interface", "no such interface '" + rule.outputs[o].interface + "'");
      }
      plan.outputs.push_back(rule.outputs[o]);
      plan.output_ifindex.push_back(out_index);
      plan.output_where.push_back(where);
    }
  }
  plan.rule_counters.assign(config.workers, std::vector<RuleCounters>(config.rules.size()));
  plan.output_counters.assign(config.workers, std::vector<OutputCounters>(plan.outputs.size()));
  plan.rule_previous.assign(config.rules.size(), -1);
  plan.output_previous.assign(plan.outputs.size(), -1);
  if (config.ingress == IngressMode::packet && config.workers > 1) {
    // Fanout group ids are per network namespace: derive from the pid to avoid another
    // relay's group; each interface gets its own id (a group is bound to one device).
    plan.fanout_id = static_cast<int>(::getpid() & 0x7fff);
  }
  return plan;
}

Result<Worker::IngressSocket> Worker::open_ingress(const RelayPlan& plan, size_t e,
                                                   std::string* notes) {
  const IngressEndpoint& endpoint = plan.ingress[e];
  const bool packet_mode = plan.config.ingress == IngressMode::packet;
  IngressSocketOptions options{.rcvbuf = plan.config.rcvbuf, .fanout_id = -1};
  if (plan.fanout_id >= 0) {
    options.fanout_id = (plan.fanout_id + endpoint.fanout_offset) & 0xffff;
  }
  const char* rx_choice = std::getenv(kPacketRxEnv);
  const bool use_ring = rx_choice == nullptr || std::string_view(rx_choice) != "recvmmsg";
  PacketRing ring;
  auto fd = packet_mode ? open_packet_socket(endpoint.interface, endpoint.ifindex, options, notes,
                                             use_ring ? &ring : nullptr)
                        : open_udp_ingress_socket(endpoint.interface, endpoint.ifindex,
                                                  endpoint.group, endpoint.port, options);
  if (!fd) {
    return tl::unexpected(fd.error());
  }
  IngressSocket socket;
  socket.fd = std::move(*fd);
  socket.ifindex = endpoint.ifindex;
  socket.group = endpoint.group.s_addr;
  socket.port = endpoint.port;
  socket.ring = std::move(ring);
  return socket;
}

Worker::Worker(uint32_t index, int cpu, const RelayPlan& plan)
    : index_(index),
      cpu_(cpu),
      plan_(&plan),
      packet_mode_(plan.config.ingress == IngressMode::packet),
      ready_future_(ready_.get_future()) {}

Worker::~Worker() {
  join();
}

Result<void> Worker::open() {
  const Config& config = plan_->config;
  pool_ = std::make_unique<BufferPool>(config.pool_buffers);
  for (size_t e = 0; e < plan_->ingress.size(); ++e) {
    // UDP: the kernel delivers a multicast datagram to EVERY socket bound to its group and
    // port (SO_REUSEPORT balancing is for unicast only), so each endpoint gets exactly one
    // worker, round-robin, or every worker would relay a copy. Packet mode spreads one
    // interface over all workers with PACKET_FANOUT instead.
    if (!packet_mode_ && plan_->ingress[e].worker != index_) {
      continue;
    }
    auto socket = open_ingress(*plan_, e, &notes_);
    if (!socket) {
      return tl::unexpected(socket.error());
    }
    if (packet_mode_ && e == 0) {
      notes_ += socket->ring.mapped()
                    ? "rx TPACKET_V2 ring " + std::to_string(socket->ring.frames()) + " frames; "
                    : std::string("rx recvmmsg; ");
    }
    ingress_.push_back(std::move(*socket));
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
  // Receive slots, reserved once.
  slot_buffers_.assign(kRecvBatch, nullptr);
  scratch_.reset(new uint8_t[static_cast<size_t>(kRecvBatch) * BufferPool::kBufferSize]);
  messages_.assign(kRecvBatch, mmsghdr{});
  iovecs_.assign(kRecvBatch, iovec{});
  sources_.assign(kRecvBatch, sockaddr_in{});
  control_.assign(static_cast<size_t>(kRecvBatch) * kControlSize, 0);
  for (uint32_t i = 0; i < kRecvBatch; ++i) {
    iovecs_[i].iov_len = BufferPool::kBufferSize;
    msghdr& header = messages_[i].msg_hdr;
    header.msg_iov = &iovecs_[i];
    header.msg_iovlen = 1;
    if (!packet_mode_) {
      header.msg_name = &sources_[i];
      header.msg_control = &control_[static_cast<size_t>(i) * kControlSize];
    }
  }
  wake_fd_ = UniqueFd(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!wake_fd_) {
    return fail_errno("worker " + std::to_string(index_) + ": eventfd");
  }
  point_counters();
  rebuild_pollfds();
  return {};
}

Result<void> Worker::setup_egress() {
  const EgressConfig& knobs = plan_->config.egress;
  EgressOptions options{.backend = plan_->backend,
                        .queue_depth = knobs.queue_depth,
                        .batch = knobs.batch,
                        .output_counters = {output_counters_, plan_->outputs.size()}};
  auto egress = make_egress(options, output_fds_, *pool_, counters_);
  if (!egress &&
      (options.backend == EgressBackend::uring || options.backend == EgressBackend::packet)) {
    notes_ += std::string(to_string(options.backend)) + " egress failed (" +
              egress.error().to_string() + "): falling back to sendmmsg; ";
    options.backend = EgressBackend::sendmmsg;
    egress = make_egress(options, output_fds_, *pool_, counters_);
  }
  if (!egress) {
    return tl::unexpected(egress.error());
  }
  egress_ = std::move(*egress);
  backend_ = egress_->backend();
  return {};
}

void Worker::start(const std::atomic<bool>& stop) {
  thread_ = std::thread([this, &stop] {
    if (cpu_ >= 0) {
      cpu_set_t set;
      CPU_ZERO(&set);
      CPU_SET(cpu_, &set);
      const int err = ::pthread_setaffinity_np(::pthread_self(), sizeof set, &set);
      if (err != 0) {
        ready_.set_value(
            fail("--cpus",
                 "worker " + std::to_string(index_) + ": cannot pin to cpu " + std::to_string(cpu_),
                 err));
        return;
      }
    }
    if (const uint32_t priority = plan_->config.rt_priority; priority > 0) {
      sched_param param{};
      param.sched_priority = static_cast<int>(priority);
      const int err = ::pthread_setschedparam(::pthread_self(), SCHED_FIFO, &param);
      if (err != 0) {
        ready_.set_value(fail("--rt-priority",
                              "worker " + std::to_string(index_) + ": SCHED_FIFO " +
                                  std::to_string(priority) + " refused (needs CAP_SYS_NICE)",
                              err));
        return;
      }
    }
    if (auto ok = setup_egress(); !ok) {
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
    // Live rule change: switch plans between turns, never inside one (plan_update.cc).
    if (WorkerUpdate* update = pending_update_.load(std::memory_order_acquire)) {
      apply_update(*update);
    }
    // A socket that returned a full batch may hold more: read again at once. Otherwise every
    // socket was drained, and re-reading would only cost a recvmmsg() returning EAGAIN.
    bool maybe_more = false;
    for (IngressSocket& socket : ingress_) {
      maybe_more = receive(socket) == kRecvBatch || maybe_more;
    }
    egress_->flush();
    egress_->reap();

    const uint64_t requested = refresh_requested_.load(std::memory_order_acquire);
    const uint64_t now = monotonic_ns();
    if (rebinder_.on_turn(now, counters_) > 0 && backend_ == EgressBackend::packet) {
      // A re-created interface has a new index and MAC, which the packet egress's frame
      // templates carry: rebuild them (rare: once per re-binding, not per packet).
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

uint32_t Worker::receive_ring(IngressSocket& socket) {
  uint32_t count = 0;
  while (count < kRecvBatch) {
    tpacket2_hdr* frame = socket.ring.next();
    if (frame == nullptr) {
      break;
    }
    handle_ring_frame(socket, frame);
    socket.ring.release(frame);
    ++count;
  }
  return count;
}

void Worker::handle_ring_frame(const IngressSocket& socket, const tpacket2_hdr* frame) {
  ++counters_.rx_packets;
  if (frame->tp_len > frame->tp_snaplen) {
    ++counters_.malformed_truncated;  // larger than a ring frame (jumbo frame)
    return;
  }
  UdpView view;
  const auto* data = reinterpret_cast<const uint8_t*>(frame) + frame->tp_mac;
  const ParseVerdict verdict = parse_frame(data, frame->tp_snaplen, view);
  if (verdict != ParseVerdict::ok) {
    count_verdict(verdict, counters_);
    return;
  }
  counters_.rx_bytes += view.payload_len;
  const int32_t rule =
      plan_->table.find(socket.ifindex, view.dst_addr, view.dst_port, view.src_addr);
  if (rule < 0) {
    ++counters_.unmatched_no_rule;
    return;
  }
  ++rule_counters_[rule].matched_packets;
  rule_counters_[rule].matched_bytes += view.payload_len;
  PacketBuffer* buffer = pool_->acquire();
  if (buffer == nullptr) {
    ++counters_.drop_buffer_exhausted;  // the one counter for this packet (no copy was made)
    return;
  }
  // The ring frame goes back to the kernel at once; the payload lives on in the pool buffer
  // until its last copy is sent (one copy per packet, not per output).
  std::memcpy(buffer->data, view.payload, view.payload_len);
  (void)send_to_outputs(rule, buffer, buffer->data, view.payload_len);
  pool_->release(buffer);
}

bool Worker::send_to_outputs(int32_t rule, PacketBuffer* buffer, const uint8_t* payload,
                             uint32_t len) {
  const uint32_t first = plan_->rule_first_output[static_cast<size_t>(rule)];
  const uint32_t count = plan_->rule_output_count[static_cast<size_t>(rule)];
  bool handed = false;
  for (uint32_t o = first; o < first + count; ++o) {
    const bool accepted = egress_->send(o, buffer, payload, len);
    ++(accepted ? output_counters_[o].queued_packets : output_counters_[o].dropped_packets);
    handed = accepted || handed;
  }
  if (handed) {
    ++counters_.fwd_packets;
  }
  return handed;
}

uint32_t Worker::receive(IngressSocket& socket) {
  if (socket.ring.mapped()) {
    return receive_ring(socket);
  }
  for (uint32_t i = 0; i < kRecvBatch; ++i) {
    if (slot_buffers_[i] == nullptr) {
      slot_buffers_[i] = pool_->acquire();
    }
    iovecs_[i].iov_base = slot_buffers_[i] != nullptr
                              ? slot_buffers_[i]->data
                              : scratch_.get() + static_cast<size_t>(i) * BufferPool::kBufferSize;
    msghdr& header = messages_[i].msg_hdr;
    header.msg_flags = 0;
    if (!packet_mode_) {
      header.msg_namelen = sizeof(sockaddr_in);
      header.msg_controllen = kControlSize;
    }
  }
  ++counters_.syscalls;
  const int count =
      ::recvmmsg(socket.fd.get(), messages_.data(), kRecvBatch, MSG_DONTWAIT, nullptr);
  if (count <= 0) {
    return 0;  // EAGAIN (nothing waiting) or EINTR: both just end this socket's turn
  }
  for (int i = 0; i < count; ++i) {
    const auto slot = static_cast<uint32_t>(i);
    if (packet_mode_) {
      handle_frame(socket, slot, messages_[slot].msg_len);
    } else {
      handle_datagram(socket, slot, messages_[slot].msg_len);
    }
  }
  return static_cast<uint32_t>(count);
}

void Worker::handle_frame(const IngressSocket& socket, uint32_t slot, uint32_t len) {
  ++counters_.rx_packets;
  if ((messages_[slot].msg_hdr.msg_flags & MSG_TRUNC) != 0) {
    ++counters_.malformed_truncated;  // larger than a buffer (jumbo frame)
    return;
  }
  UdpView view;
  const auto* frame = static_cast<const uint8_t*>(iovecs_[slot].iov_base);
  const ParseVerdict verdict = parse_frame(frame, len, view);
  if (verdict != ParseVerdict::ok) {
    count_verdict(verdict, counters_);
    return;
  }
  counters_.rx_bytes += view.payload_len;
  const int32_t rule =
      plan_->table.find(socket.ifindex, view.dst_addr, view.dst_port, view.src_addr);
  if (rule < 0) {
    ++counters_.unmatched_no_rule;
    return;
  }
  ++rule_counters_[rule].matched_packets;
  rule_counters_[rule].matched_bytes += view.payload_len;
  forward(rule, slot, view.payload, view.payload_len);
}

void Worker::handle_datagram(IngressSocket& socket, uint32_t slot, uint32_t len) {
  ++counters_.rx_packets;
  msghdr& header = messages_[slot].msg_hdr;
  for (cmsghdr* cmsg = CMSG_FIRSTHDR(&header); cmsg != nullptr; cmsg = CMSG_NXTHDR(&header, cmsg)) {
    if (cmsg->cmsg_level == SOL_SOCKET && cmsg->cmsg_type == SO_RXQ_OVFL) {
      uint32_t overflow = 0;
      std::memcpy(&overflow, CMSG_DATA(cmsg), sizeof overflow);
      note_socket_drops(socket, overflow);
    }
  }
  if ((header.msg_flags & MSG_TRUNC) != 0) {
    ++counters_.malformed_truncated;
    return;
  }
  counters_.rx_bytes += len;
  const int32_t rule =
      plan_->table.find(socket.ifindex, socket.group, socket.port, sources_[slot].sin_addr.s_addr);
  if (rule < 0) {
    ++counters_.unmatched_no_rule;
    return;
  }
  ++rule_counters_[rule].matched_packets;
  rule_counters_[rule].matched_bytes += len;
  forward(rule, slot, static_cast<const uint8_t*>(iovecs_[slot].iov_base), len);
}

void Worker::forward(int32_t rule, uint32_t slot, const uint8_t* payload, uint32_t len) {
  PacketBuffer* buffer = slot_buffers_[slot];
  if (buffer == nullptr) {
    // Read into scratch because the pool was empty: the packet cannot be relayed. One counter
    // for it: exhausted_packets is about copies lost at egress.
    ++counters_.drop_buffer_exhausted;
    return;
  }
  if (send_to_outputs(rule, buffer, payload, len)) {
    // The copies hold their own references; the slot takes a fresh buffer next turn.
    pool_->release(buffer);
    slot_buffers_[slot] = nullptr;
  } else {
    buffer->exhausted = false;  // every copy failed and released: the slot reuses the buffer
  }
}

void Worker::note_socket_drops(IngressSocket& socket, uint32_t cumulative) noexcept {
  // The kernel reports the socket's cumulative drop count (sk_drops); add what is new
  // (mod 2^32). A datagram queued before a SO_MEMINFO read carries an older value: ignore it.
  const auto fresh = static_cast<uint32_t>(cumulative - socket.last_overflow);
  if (static_cast<int32_t>(fresh) > 0) {
    counters_.kernel_drops += fresh;
    socket.last_overflow = cumulative;
  }
}

void Worker::refresh_kernel_drops() noexcept {
  if (!packet_mode_) {
    // SO_RXQ_OVFL arrives with the NEXT datagram read: drops after the last one (a burst
    // overflowed the buffer, then silence) would never be counted. SO_MEMINFO reads the same
    // cumulative sk_drops now.
    for (IngressSocket& socket : ingress_) {
      uint32_t meminfo[SK_MEMINFO_VARS] = {};
      socklen_t size = sizeof meminfo;
      ++counters_.syscalls;
      if (::getsockopt(socket.fd.get(), SOL_SOCKET, SO_MEMINFO, meminfo, &size) == 0) {
        note_socket_drops(socket, meminfo[SK_MEMINFO_DROPS]);
      }
    }
    return;
  }
  for (const IngressSocket& socket : ingress_) {
    ++counters_.syscalls;
    counters_.kernel_drops += read_packet_drops(socket.fd.get());
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
  for (PacketBuffer*& buffer : slot_buffers_) {
    if (buffer != nullptr) {
      pool_->release(buffer);
      buffer = nullptr;
    }
  }
}

}  // namespace mrelay
