// Egress backend "packet": multicast copies leave through ONE AF_PACKET socket that the relay
// feeds with whole Ethernet frames it built itself, skipping the kernel's UDP/IP send path
// (socket lookup, route, IP output, netfilter, neighbour). Each copy is two iovecs: a 42-byte
// Ethernet/IPv4/UDP header stamped from the output's prebuilt template (IPv4 checksum updated
// incrementally, UDP checksum 0 as IPv4 allows) and the shared payload buffer. Because the
// destination interface travels in each message's sockaddr_ll, copies for every output go in
// the same sendmmsg(): one syscall per batch whatever the fanout. PACKET_QDISC_BYPASS hands
// frames straight to the driver. Unicast outputs keep the UDP-socket path (sendmmsg backend):
// they need ARP and routing, which is the kernel's job.
//
// Everything about an output is read back from its connected UDP socket (open_output_socket):
// the interface it is bound to, its MAC, the source address and port the kernel chose and the
// destination, so the frames are the ones the socket would have sent. The TTL is each copy's
// own, written into its header.
//
//   auto egress = mrelay::make_packet_egress({.backend = EgressBackend::packet, .batch = 64},
//                                            fds, pool, counters);
#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "dataplane/egress/egress.h"
#include "dataplane/egress/packet_frame.h"

namespace mrelay {

std::array<uint8_t, 6> multicast_mac(in_addr group) noexcept {
  // RFC 1112 §6.4: 01:00:5e followed by the low 23 bits of the group address.
  const uint32_t host = ntohl(group.s_addr);
  return {0x01,
          0x00,
          0x5e,
          static_cast<uint8_t>((host >> 16) & 0x7f),
          static_cast<uint8_t>((host >> 8) & 0xff),
          static_cast<uint8_t>(host & 0xff)};
}

uint16_t ipv4_header_checksum(const uint8_t* header, size_t len) noexcept {
  uint32_t sum = 0;
  for (size_t i = 0; i + 1 < len; i += 2) {
    sum += static_cast<uint32_t>(header[i] << 8 | header[i + 1]);
  }
  while ((sum >> 16) != 0) {
    sum = (sum & 0xffff) + (sum >> 16);
  }
  return static_cast<uint16_t>(~sum & 0xffff);
}

FrameTemplate build_frame_template(const PacketOutput& output) noexcept {
  FrameTemplate frame;
  uint8_t* bytes = frame.bytes.data();
  const std::array<uint8_t, 6> dst_mac = multicast_mac(output.dst_addr);
  std::memcpy(bytes, dst_mac.data(), 6);
  std::memcpy(bytes + 6, output.src_mac.data(), 6);
  bytes[12] = 0x08;  // ETH_P_IP
  bytes[13] = 0x00;
  uint8_t* ip = bytes + kEthHeaderLen;
  ip[0] = 0x45;  // IPv4, 20-byte header, no options
  ip[1] = 0;     // DSCP/ECN: what an ordinary UDP socket sends
  // ip[2..3] total length and ip[4..5] id are per packet (0 in the template).
  ip[6] = 0x40;  // DF, as Linux sets for UDP with path-MTU discovery on; never fragmented here
  ip[7] = 0;
  // ip[8] TTL: per copy (0 in the template, so the sum below leaves it out).
  ip[9] = IPPROTO_UDP;
  // ip[10..11] checksum: per packet, from partial_sum.
  std::memcpy(ip + 12, &output.src_addr.s_addr, 4);
  std::memcpy(ip + 16, &output.dst_addr.s_addr, 4);
  uint8_t* udp = ip + kIpv4HeaderLen;
  udp[0] = static_cast<uint8_t>(output.src_port >> 8);
  udp[1] = static_cast<uint8_t>(output.src_port);
  udp[2] = static_cast<uint8_t>(output.dst_port >> 8);
  udp[3] = static_cast<uint8_t>(output.dst_port);
  // udp[4..5] length per packet; udp[6..7] checksum 0 = none (RFC 768, IPv4 only).
  // One's-complement sum of the header words that never change; per packet only the length,
  // id and TTL are added (RFC 1624 style incremental update), not 10 words re-summed.
  uint32_t sum = 0;
  for (size_t i = 0; i < kIpv4HeaderLen; i += 2) {
    sum += static_cast<uint32_t>(ip[i] << 8 | ip[i + 1]);
  }
  frame.partial_sum = sum;
  return frame;
}

void stamp_frame_header(const FrameTemplate& frame, uint16_t ip_id, uint32_t payload_len,
                        uint8_t ttl, uint8_t* out) noexcept {
  std::memcpy(out, frame.bytes.data(), kFrameHeaderLen);
  const uint32_t ip_len = kIpv4HeaderLen + kUdpHeaderLen + payload_len;
  const uint32_t udp_len = kUdpHeaderLen + payload_len;
  uint8_t* ip = out + kEthHeaderLen;
  ip[2] = static_cast<uint8_t>(ip_len >> 8);
  ip[3] = static_cast<uint8_t>(ip_len);
  ip[4] = static_cast<uint8_t>(ip_id >> 8);
  ip[5] = static_cast<uint8_t>(ip_id);
  ip[8] = ttl;
  // The TTL is the high byte of the (TTL, protocol) word.
  uint32_t sum = frame.partial_sum + (ip_len & 0xffff) + ip_id + (static_cast<uint32_t>(ttl) << 8);
  sum = (sum & 0xffff) + (sum >> 16);
  sum = (sum & 0xffff) + (sum >> 16);
  const auto checksum = static_cast<uint16_t>(~sum & 0xffff);
  ip[10] = static_cast<uint8_t>(checksum >> 8);
  ip[11] = static_cast<uint8_t>(checksum);
  uint8_t* udp = ip + kIpv4HeaderLen;
  udp[4] = static_cast<uint8_t>(udp_len >> 8);
  udp[5] = static_cast<uint8_t>(udp_len);
}

Result<PacketOutput> describe_output_socket(int fd) {
  PacketOutput output;
  char name[IFNAMSIZ] = {};
  socklen_t name_len = sizeof name;
  if (::getsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, name, &name_len) != 0 || name[0] == '\0') {
    return fail_errno("packet egress: getsockopt(SO_BINDTODEVICE)");
  }
  output.ifindex = ::if_nametoindex(name);
  if (output.ifindex == 0) {
    return fail_errno(std::string("packet egress: if_nametoindex(") + name + ")");
  }
  ifreq request{};
  std::memcpy(request.ifr_name, name, std::min(sizeof request.ifr_name - 1, std::strlen(name)));
  if (::ioctl(fd, SIOCGIFHWADDR, &request) != 0) {
    return fail_errno(std::string("packet egress: ioctl(SIOCGIFHWADDR, ") + name + ")");
  }
  if (request.ifr_hwaddr.sa_family != ARPHRD_ETHER) {
    return fail(std::string("packet egress: ") + name, "not an Ethernet interface");
  }
  std::memcpy(output.src_mac.data(), request.ifr_hwaddr.sa_data, 6);
  sockaddr_in local{};
  socklen_t local_len = sizeof local;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &local_len) != 0) {
    return fail_errno("packet egress: getsockname");
  }
  sockaddr_in peer{};
  socklen_t peer_len = sizeof peer;
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &peer_len) != 0) {
    return fail_errno("packet egress: getpeername (output socket not connected)");
  }
  output.src_addr = local.sin_addr;
  output.src_port = ntohs(local.sin_port);
  output.dst_addr = peer.sin_addr;
  output.dst_port = ntohs(peer.sin_port);
  output.multicast = IN_MULTICAST(ntohl(peer.sin_addr.s_addr));
  return output;
}

namespace {

// Most messages one sendmmsg() takes (the kernel's UIO_MAXIOV).
constexpr uint32_t kMaxMessages = 1024;

class PacketEgress final : public Egress {
 public:
  PacketEgress(std::span<const int> fds, std::span<OutputCounters> output_counters,
               BufferPool& pool, WorkerCounters& counters, UniqueFd socket,
               std::vector<PacketOutput> outputs, std::unique_ptr<Egress> unicast)
      : fds_(fds),
        output_counters_(output_counters),
        pool_(pool),
        counters_(counters),
        socket_(std::move(socket)),
        unicast_(std::move(unicast)),
        outputs_(std::move(outputs)) {
    uint32_t multicast_outputs = 0;
    for (const PacketOutput& output : outputs_) {
      templates_.push_back(build_frame_template(output));
      sockaddr_ll address{};
      address.sll_family = AF_PACKET;
      address.sll_protocol = htons(ETH_P_IP);
      address.sll_ifindex = static_cast<int>(output.ifindex);
      addresses_.push_back(address);
      multicast_outputs += output.multicast ? 1 : 0;
    }
    ip_ids_.assign(outputs_.size(), 0);
    // Every copy of a loop turn goes in one call (the turn is capped at Worker::kRecvBatch
    // packets, so copies wait at most one turn), up to what one sendmmsg accepts. A per-output
    // `batch` would split a hop's 256-packet turn into 8 calls for nothing: the frames are
    // built and queued here, not in a socket that needs draining. `batch` still applies to
    // unicast outputs (sendmmsg per UDP socket).
    capacity_ = kMaxMessages;
    messages_.assign(capacity_, mmsghdr{});
    iovecs_.assign(static_cast<size_t>(capacity_) * 2, iovec{});
    headers_.assign(static_cast<size_t>(capacity_) * kHeaderSlot, 0);
    buffers_.assign(capacity_, nullptr);
    slot_outputs_.assign(capacity_, 0);
    for (uint32_t i = 0; i < capacity_; ++i) {
      iovecs_[2 * i].iov_base = &headers_[static_cast<size_t>(i) * kHeaderSlot];
      iovecs_[2 * i].iov_len = kFrameHeaderLen;
      msghdr& header = messages_[i].msg_hdr;
      header.msg_iov = &iovecs_[2 * i];
      header.msg_iovlen = 2;
      header.msg_namelen = sizeof(sockaddr_ll);
    }
    multicast_count_ = multicast_outputs;
  }

  ~PacketEgress() override { flush(); }

  bool send(uint32_t output, PacketBuffer* buffer, const uint8_t* data, uint32_t len,
            uint8_t ttl) noexcept override {
    if (!outputs_[output].multicast) {
      return unicast_->send(output, buffer, data, len, ttl);
    }
    const uint32_t slot = queued_;
    stamp_frame_header(templates_[output], ip_ids_[output]++, len, ttl,
                       &headers_[static_cast<size_t>(slot) * kHeaderSlot]);
    iovecs_[2 * slot + 1].iov_base = const_cast<uint8_t*>(data);
    iovecs_[2 * slot + 1].iov_len = len;
    messages_[slot].msg_hdr.msg_name = &addresses_[output];
    buffers_[slot] = buffer;
    slot_outputs_[slot] = output;
    pool_.retain(buffer);
    if (++queued_ == capacity_) {
      flush_frames();
    }
    return true;
  }

  void flush() noexcept override {
    if (queued_ > 0) {
      flush_frames();
    }
    if (unicast_) {
      unicast_->flush();
    }
  }

  EgressBackend backend() const noexcept override { return EgressBackend::packet; }

  std::string describe() const override {
    return "egress packet: one AF_PACKET socket, PACKET_QDISC_BYPASS" +
           std::string(qdisc_bypass_ ? "" : " unavailable") + ", up to " +
           std::to_string(capacity_) + " frames per sendmmsg, " + std::to_string(multicast_count_) +
           " multicast outputs, " + std::to_string(outputs_.size() - multicast_count_) +
           " unicast outputs via UDP sockets (sendmmsg)";
  }

  void set_qdisc_bypass(bool on) noexcept { qdisc_bypass_ = on; }

 private:
  // Bytes reserved per queued copy's header: the 42-byte frame header, padded so each starts
  // on its own 64-byte cache line.
  static constexpr size_t kHeaderSlot = 64;

  void flush_frames() noexcept {
    uint32_t done = 0;
    // Bounded: every iteration consumes at least one message.
    while (done < queued_) {
      ++counters_.syscalls;
      ++counters_.batches;
      const int sent = ::sendmmsg(socket_.get(), &messages_[done], queued_ - done, MSG_DONTWAIT);
      if (sent > 0) {
        for (uint32_t i = done; i < done + static_cast<uint32_t>(sent); ++i) {
          ++counters_.tx_packets;
          counters_.tx_bytes += iovecs_[2 * i + 1].iov_len;
          pool_.release(buffers_[i]);
        }
        done += static_cast<uint32_t>(sent);
        continue;
      }
      // The first message of the rest failed (e.g. ENOBUFS from a full device queue, ENETDOWN
      // from an interface that went away): drop that copy only; the others may be for
      // interfaces that are fine.
      const int err = sent < 0 ? errno : EAGAIN;
      count_failed_copy(err, slot_outputs_[done], buffers_[done], counters_, output_counters_);
      pool_.release(buffers_[done]);
      ++done;
    }
    queued_ = 0;
  }

  std::span<const int> fds_;
  std::span<OutputCounters> output_counters_;  // per output: copies that failed after hand-over
  BufferPool& pool_;
  WorkerCounters& counters_;
  UniqueFd socket_;
  std::unique_ptr<Egress> unicast_;  // sendmmsg over the UDP sockets, for unicast outputs
  std::vector<PacketOutput> outputs_;
  std::vector<FrameTemplate> templates_;
  std::vector<sockaddr_ll> addresses_;  // per output: where its frames go
  std::vector<uint16_t> ip_ids_;        // per output: next IPv4 identification
  uint32_t capacity_ = 0;
  uint32_t queued_ = 0;
  uint32_t multicast_count_ = 0;
  bool qdisc_bypass_ = false;
  std::vector<mmsghdr> messages_;
  std::vector<iovec> iovecs_;  // 2 per message: header, payload
  std::vector<uint8_t> headers_;
  std::vector<PacketBuffer*> buffers_;
  std::vector<uint32_t> slot_outputs_;  // per queued copy: its output
};

}  // namespace

Result<std::unique_ptr<Egress>> make_packet_egress(const EgressOptions& options,
                                                   std::span<const int> fds, BufferPool& pool,
                                                   WorkerCounters& counters) {
  std::vector<PacketOutput> outputs;
  bool any_unicast = false;
  for (size_t o = 0; o < fds.size(); ++o) {
    auto output = describe_output_socket(fds[o]);
    if (!output) {
      return tl::unexpected(output.error());
    }
    any_unicast = any_unicast || !output->multicast;
    outputs.push_back(*output);
  }
  // Protocol 0: the socket receives nothing, it only sends.
  UniqueFd socket(::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!socket) {
    return fail_errno(errno == EPERM ? "--egress packet: socket(AF_PACKET) needs CAP_NET_RAW"
                                     : "--egress packet: socket(AF_PACKET)");
  }
  // The same send buffer as the output sockets were given (--sndbuf): the kernel reports the
  // doubled value, so halve it back before setting.
  if (const int reported = fds.empty() ? -1 : socket_sndbuf(fds[0]); reported > 0) {
    const int bytes = reported / 2;
    if (::setsockopt(socket.get(), SOL_SOCKET, SO_SNDBUFFORCE, &bytes, sizeof bytes) != 0) {
      (void)::setsockopt(socket.get(), SOL_SOCKET, SO_SNDBUF, &bytes, sizeof bytes);
    }
  }
  // Straight to the driver's transmit: no qdisc (veth has none anyway; on a NIC it skips the
  // root qdisc's lock and queue, so a shaper on the interface does not apply to these copies).
  const int one = 1;
  const bool bypass =
      ::setsockopt(socket.get(), SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof one) == 0;
  std::unique_ptr<Egress> unicast;
  if (any_unicast) {
    unicast = make_sendmmsg_egress(options, fds, pool, counters);
  }
  auto egress =
      std::make_unique<PacketEgress>(fds, options.output_counters, pool, counters,
                                     std::move(socket), std::move(outputs), std::move(unicast));
  egress->set_qdisc_bypass(bypass);
  return std::unique_ptr<Egress>(std::move(egress));
}

}  // namespace mrelay
