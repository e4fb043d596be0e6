// The data-plane worker loop; see worker.h.
#include "dataplane/worker.h"

#include <arpa/inet.h>
#include <linux/sock_diag.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "control/stats_json.h"
#include "dataplane/ingress/ingress_socket.h"
#include "mrelay/packet.h"

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
    case ParseVerdict::other_host:
      ++counters.rejected_other_host;
      break;
    case ParseVerdict::martian_source:
      ++counters.rejected_martian_source;
      break;
    case ParseVerdict::bad_udp_checksum:
      ++counters.malformed_udp_checksum;
      break;
    case ParseVerdict::bad_gso:
      ++counters.malformed_gso;
      break;
  }
}

// A frame the relay could not read whole (longer than its ring slot or receive buffer) can
// still be refused on its headers, the checks the parser makes before it looks at any length;
// anything else about it is unknown, and it counts as rx_truncated.
bool refused_on_headers(ParseVerdict verdict) noexcept {
  switch (verdict) {
    case ParseVerdict::other_host:
    case ParseVerdict::not_ipv4:
    case ParseVerdict::not_udp:
    case ParseVerdict::bad_ip_header:
    case ParseVerdict::bad_checksum:
    case ParseVerdict::fragment:
      return true;
    default:
      return false;
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
      plan.output_ttl.push_back(
          {.threshold = rule.outputs[o].ttl_threshold, .fixed = rule.outputs[o].ttl.value_or(0)});
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
  link_sources_.assign(packet_mode_ ? kRecvBatch : 0, sockaddr_ll{});
  if (packet_mode_) {
    // Frames longer than a ring slot are read whole from the socket queue into this one buffer
    // (read_ring_copy); allocated once, 64 KiB.
    copy_buffer_.reset(new uint8_t[kCopyBufferSize]);
  }
  for (uint32_t i = 0; i < kRecvBatch; ++i) {
    iovecs_[i].iov_len = BufferPool::kBufferSize;
    msghdr& header = messages_[i].msg_hdr;
    header.msg_iov = &iovecs_[i];
    header.msg_iovlen = 1;
    header.msg_control = &control_[static_cast<size_t>(i) * kControlSize];
    if (packet_mode_) {
      header.msg_name = &link_sources_[i];  // sll_pkttype; PACKET_AUXDATA in the control
    } else {
      header.msg_name = &sources_[i];
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
  const FrameMeta meta = ring_frame_meta(frame);
  const uint8_t* data = reinterpret_cast<const uint8_t*>(frame) + frame->tp_mac;
  size_t len = frame->tp_snaplen;
  if (frame->tp_len > frame->tp_snaplen) {
    // Longer than a slot (a GSO super-frame, a jumbo frame), or cut to its headers by the
    // socket filter (not UDP). The kernel queued a whole copy of the former beside the slot.
    ++counters_.syscalls;
    const size_t whole =
        read_ring_copy(socket.fd.get(), frame, copy_buffer_.get(), kCopyBufferSize);
    if (whole == 0) {
      count_partial_frame(meta, data, len);
      return;
    }
    data = copy_buffer_.get() + kVnetHeaderSize;
    len = whole;
  }
  UdpView view;
  const int32_t rule = accept_frame(socket, meta, data, len, view);
  if (rule >= 0) {
    // The ring frame goes back to the kernel at once; each datagram lives on in a pool buffer
    // until its last copy is sent (one copy per datagram, not per output).
    copy_and_send(rule, view);
  }
}

void Worker::count_partial_frame(const FrameMeta& meta, const uint8_t* data, size_t len) noexcept {
  UdpView view;
  const ParseVerdict verdict = parse_frame(data, len, meta, view);
  if (refused_on_headers(verdict)) {
    count_verdict(verdict, counters_);
  } else {
    ++counters_.rx_truncated;
  }
}

int32_t Worker::accept_frame(const IngressSocket& socket, const FrameMeta& meta,
                             const uint8_t* frame, size_t len, UdpView& view) noexcept {
  const ParseVerdict verdict = parse_frame(frame, len, meta, view);
  if (verdict != ParseVerdict::ok) {
    count_verdict(verdict, counters_);
    return -1;
  }
  counters_.rx_bytes += view.payload_len;
  const uint32_t datagrams = datagram_count(view);
  if (view.segment_size != 0) {
    ++counters_.gso_frames;
    counters_.gso_segments += datagrams;
  }
  const int32_t rule =
      plan_->table.find(socket.ifindex, view.dst_addr, view.dst_port, view.src_addr, view.vlan_id);
  if (rule < 0) {
    ++counters_.unmatched_no_rule;
    return -1;
  }
  rule_counters_[rule].matched_packets += datagrams;
  rule_counters_[rule].matched_bytes += view.payload_len;
  if (ttl_expired(view.ttl, datagrams)) {
    return -1;
  }
  return rule;
}

void Worker::copy_and_send(int32_t rule, const UdpView& view) noexcept {
  const uint32_t datagrams = datagram_count(view);
  const uint32_t step = datagrams == 1 ? view.payload_len : view.segment_size;
  for (uint32_t i = 0; i < datagrams; ++i) {
    const uint32_t offset = i * step;
    const uint32_t len = std::min(step, view.payload_len - offset);
    if (len > BufferPool::kBufferSize) {
      ++counters_.rx_oversize;  // a jumbo datagram: read whole, but no buffer holds it
      continue;
    }
    PacketBuffer* buffer = pool_->acquire();
    if (buffer == nullptr) {
      ++counters_.drop_buffer_exhausted;  // the one counter for this datagram (no copy made)
      continue;
    }
    std::memcpy(buffer->data, view.payload + offset, len);
    (void)send_to_outputs(rule, buffer, buffer->data, len, view.ttl);
    pool_->release(buffer);
  }
}

bool Worker::ttl_expired(uint8_t ttl, uint32_t datagrams) noexcept {
  // A router never sends a packet with TTL 0: one received with TTL 1 ends here (TTL 0 cannot
  // arrive from a conforming sender). With the decrement in send_to_outputs, this is what ends
  // a forwarding loop through other hosts, which no check of one host's rules can see. A GSO
  // frame's datagrams share its IP header: each counts.
  if (ttl > 1) {
    return false;
  }
  counters_.drop_ttl_expired += datagrams;
  return true;
}

bool Worker::send_to_outputs(int32_t rule, PacketBuffer* buffer, const uint8_t* payload,
                             uint32_t len, uint8_t ttl) {
  const uint32_t first = plan_->rule_first_output[static_cast<size_t>(rule)];
  const uint32_t count = plan_->rule_output_count[static_cast<size_t>(rule)];
  bool handed = false;
  for (uint32_t o = first; o < first + count; ++o) {
    const OutputTtl& output_ttl = plan_->output_ttl[o];
    if (ttl <= output_ttl.threshold) {
      ++counters_.drop_ttl_threshold;
      continue;
    }
    const uint8_t copy_ttl = output_ttl.fixed != 0 ? output_ttl.fixed : ttl - 1;
    const bool accepted = egress_->send(o, buffer, payload, len, copy_ttl);
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
    header.msg_namelen = packet_mode_ ? sizeof(sockaddr_ll) : sizeof(sockaddr_in);
    header.msg_controllen = kControlSize;
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
  msghdr& header = messages_[slot].msg_hdr;
  const auto* bytes = static_cast<const uint8_t*>(iovecs_[slot].iov_base);
  if (len < kVnetHeaderSize) {
    ++counters_.malformed_truncated;  // never from the kernel: every frame has its header
    return;
  }
  const tpacket_auxdata* auxdata = nullptr;
  for (cmsghdr* cmsg = CMSG_FIRSTHDR(&header); cmsg != nullptr; cmsg = CMSG_NXTHDR(&header, cmsg)) {
    if (cmsg->cmsg_level == SOL_PACKET && cmsg->cmsg_type == PACKET_AUXDATA) {
      auxdata = reinterpret_cast<const tpacket_auxdata*>(CMSG_DATA(cmsg));
    }
  }
  const FrameMeta meta = received_frame_meta(link_sources_[slot], auxdata, bytes);
  const uint8_t* frame = bytes + kVnetHeaderSize;
  const size_t frame_len = len - kVnetHeaderSize;
  if ((header.msg_flags & MSG_TRUNC) != 0) {
    // Longer than a buffer (a GSO super-frame over 2 KiB, a jumbo frame): the rest is lost.
    // The ring (the default) reads such frames whole.
    count_partial_frame(meta, frame, frame_len);
    return;
  }
  UdpView view;
  const int32_t rule = accept_frame(socket, meta, frame, frame_len, view);
  if (rule < 0) {
    return;
  }
  if (view.segment_size != 0) {
    copy_and_send(rule, view);  // one buffer per datagram; the slot keeps its own
  } else {
    forward(rule, slot, view.payload, view.payload_len, view.ttl);
  }
}

void Worker::handle_datagram(IngressSocket& socket, uint32_t slot, uint32_t len) {
  ++counters_.rx_packets;
  msghdr& header = messages_[slot].msg_hdr;
  // The received TTL (IP_RECVTTL). Without one (cannot happen: the option is set at open) the
  // packet counts as expired rather than being forwarded with a TTL nobody knows.
  uint8_t ttl = 0;
  for (cmsghdr* cmsg = CMSG_FIRSTHDR(&header); cmsg != nullptr; cmsg = CMSG_NXTHDR(&header, cmsg)) {
    if (cmsg->cmsg_level == SOL_SOCKET && cmsg->cmsg_type == SO_RXQ_OVFL) {
      uint32_t overflow = 0;
      std::memcpy(&overflow, CMSG_DATA(cmsg), sizeof overflow);
      note_socket_drops(socket, overflow);
    } else if (cmsg->cmsg_level == IPPROTO_IP && cmsg->cmsg_type == IP_TTL) {
      int value = 0;
      std::memcpy(&value, CMSG_DATA(cmsg), sizeof value);
      ttl = static_cast<uint8_t>(value);
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
  if (ttl_expired(ttl)) {
    return;
  }
  forward(rule, slot, static_cast<const uint8_t*>(iovecs_[slot].iov_base), len, ttl);
}

void Worker::forward(int32_t rule, uint32_t slot, const uint8_t* payload, uint32_t len,
                     uint8_t ttl) {
  PacketBuffer* buffer = slot_buffers_[slot];
  if (buffer == nullptr) {
    // Read into scratch because the pool was empty: the packet cannot be relayed. One counter
    // for it: exhausted_packets is about copies lost at egress.
    ++counters_.drop_buffer_exhausted;
    return;
  }
  if (send_to_outputs(rule, buffer, payload, len, ttl)) {
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
