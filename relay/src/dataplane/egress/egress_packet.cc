// Egress backend "packet": multicast copies leave through ONE AF_PACKET socket that the relay
// feeds with whole Ethernet frames it built itself, skipping the kernel's UDP/IP send path
// (socket lookup, route, IP output, netfilter, neighbour). Each copy is two iovecs: a 42-byte
// Ethernet/IPv4/UDP header stamped from the output's prebuilt template (IPv4 checksum updated
// incrementally, UDP checksum 0 as IPv4 allows) and the shared payload buffer. Because the
// destination interface travels in each message's sockaddr_ll, copies for every output go in
// the same sendmmsg(): one syscall per batch whatever the fanout. PACKET_QDISC_BYPASS hands
// frames straight to the driver. Copies for unicast outputs go to the `unicast` egress the
// selector built beside this one (egress_selector.h): they need ARP and routing, which is the
// kernel's job.
//
// Everything about an output is read back from its connected UDP socket (open_output_socket):
// the interface it is bound to, its MAC, the source address and port the kernel chose and the
// destination, so the frames are the ones the socket would have sent. The TTL is each copy's
// own, written into its header.
//
// IPv6 outputs (an AF_INET6 output socket) get Ethernet/IPv6/UDP frames: 33:33 + the group's
// low 32 bits as destination MAC, a 62-byte header and the UDP checksum, which IPv6 makes
// mandatory. The payload's share of that checksum is summed once per packet, not per output:
// the copies of one packet arrive one after another with the same payload, which cannot
// change while a queued copy holds a reference to its buffer. Unicast IPv6 outputs go to the
// `unicast` egress as IPv4 ones do.
//
//   auto egress = mrelay::make_egress({.backend = EgressBackend::packet, .batch = 64},
//                                     fds, pool, counters);   // egress_selector.h
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
#include "dataplane/egress/egress_backends.h"
#include "dataplane/egress/packet_frame.h"

namespace mrelay {

namespace {

// Most messages one sendmmsg() takes (the kernel's UIO_MAXIOV). Every copy of a loop turn
// goes in one call (the turn is capped at kRecvBatch packets, ingress.h, so copies wait at
// most one turn), up to this. A per-output `batch` would split a hop's 256-packet turn into 8
// calls for nothing: the frames are built and queued here, not in a socket that needs
// draining. `batch` still applies to unicast outputs (sendmmsg per UDP socket).
constexpr uint32_t kMaxMessages = 1024;
// Bytes reserved per queued copy's header: the 42-byte frame header, padded so each starts on
// its own 64-byte cache line.
constexpr size_t kHeaderSlot = 64;

std::vector<FrameTemplate> frame_templates(const std::vector<PacketOutput>& outputs) {
  std::vector<FrameTemplate> templates;
  for (const PacketOutput& output : outputs) {
    templates.push_back(build_frame_template(output));
  }
  return templates;
}

// Per output: where its frames go (the interface travels in each message's address).
std::vector<sockaddr_ll> frame_addresses(const std::vector<PacketOutput>& outputs) {
  std::vector<sockaddr_ll> addresses;
  for (const PacketOutput& output : outputs) {
    sockaddr_ll address{};
    address.sll_family = AF_PACKET;
    address.sll_protocol = htons(output.ipv6 ? ETH_P_IPV6 : ETH_P_IP);
    address.sll_ifindex = static_cast<int>(output.ifindex);
    addresses.push_back(address);
  }
  return addresses;
}

// The largest payload a frame may carry: the output's MTU less the IP and UDP headers.
// IPv4 outputs: output_payload_limits() (IP_MTU); IPv6 outputs: IPV6_MTU of their socket.
std::vector<uint32_t> frame_payload_limits(std::span<const int> fds,
                                           const std::vector<PacketOutput>& outputs) {
  std::vector<uint32_t> limits = output_payload_limits(fds);
  for (size_t o = 0; o < outputs.size(); ++o) {
    int mtu = 0;
    socklen_t length = sizeof mtu;
    if (outputs[o].ipv6 && ::getsockopt(fds[o], IPPROTO_IPV6, IPV6_MTU, &mtu, &length) == 0 &&
        mtu > static_cast<int>(kIpv6HeaderLen + kUdpHeaderLen)) {
      limits[o] = static_cast<uint32_t>(mtu) - kIpv6HeaderLen - kUdpHeaderLen;
    }
  }
  return limits;
}

uint32_t multicast_count(const std::vector<PacketOutput>& outputs) {
  return static_cast<uint32_t>(std::count_if(outputs.begin(), outputs.end(),
                                             [](const PacketOutput& o) { return o.multicast; }));
}

// Two iovecs per message: its header slot in `headers` (kHeaderSlot bytes each, the frame
// header at the start) and the payload, filled per copy. A vector keeps its storage when
// moved, so the pointers stay valid in the egress.
std::vector<iovec> frame_iovecs(std::vector<uint8_t>& headers) {
  std::vector<iovec> iovecs(static_cast<size_t>(kMaxMessages) * 2, iovec{});
  for (uint32_t i = 0; i < kMaxMessages; ++i) {
    iovecs[2 * i].iov_base = &headers[static_cast<size_t>(i) * kHeaderSlot];
    iovecs[2 * i].iov_len = kFrameHeaderLen;
  }
  return iovecs;
}

std::vector<mmsghdr> frame_messages(std::vector<iovec>& iovecs) {
  std::vector<mmsghdr> messages(kMaxMessages, mmsghdr{});
  for (uint32_t i = 0; i < kMaxMessages; ++i) {
    msghdr& header = messages[i].msg_hdr;
    header.msg_iov = &iovecs[2 * i];
    header.msg_iovlen = 2;
    header.msg_namelen = sizeof(sockaddr_ll);
  }
  return messages;
}

class PacketEgress final : public Egress {
 public:
  PacketEgress(std::span<const int> fds, std::span<OutputCounters> output_counters,
               BufferPool& pool, WorkerCounters& counters, UniqueFd socket, bool qdisc_bypass,
               std::vector<PacketOutput> outputs, std::unique_ptr<Egress> unicast)
      : fds_(fds),
        output_counters_(output_counters),
        pool_(pool),
        counters_(counters),
        socket_(std::move(socket)),
        qdisc_bypass_(qdisc_bypass),
        unicast_(std::move(unicast)),
        outputs_(std::move(outputs)),
        templates_(frame_templates(outputs_)),
        addresses_(frame_addresses(outputs_)),
        ip_ids_(outputs_.size(), 0),
        multicast_count_(multicast_count(outputs_)),
        payload_limits_(frame_payload_limits(fds, outputs_)),
        headers_(static_cast<size_t>(kMaxMessages) * kHeaderSlot, 0),
        iovecs_(frame_iovecs(headers_)),
        messages_(frame_messages(iovecs_)),
        buffers_(kMaxMessages, nullptr),
        slot_outputs_(kMaxMessages, 0) {}

  ~PacketEgress() override { flush(); }

  bool send(uint32_t output, PacketBuffer* buffer, const uint8_t* data, uint32_t len,
            uint8_t ttl) noexcept override {
    if (!outputs_[output].multicast) {
      return unicast_->send(output, buffer, data, len, ttl);
    }
    if (len > payload_limits_[output]) {
      // A frame is built whole, never fragmented here: it would exceed the device's MTU and
      // the kernel would refuse it (EMSGSIZE). Counted once, by its own reason.
      ++counters_.drop_too_big;
      return false;
    }
    const uint32_t slot = queued_;
    const FrameTemplate& frame = templates_[output];
    uint8_t* header = &headers_[static_cast<size_t>(slot) * kHeaderSlot];
    if (frame.ipv6) {
      stamp_frame_header6(frame, len, ttl, payload_sum(data, len), header);
    } else {
      stamp_frame_header(frame, ip_ids_[output]++, len, ttl, header);
    }
    iovecs_[2 * slot].iov_len = frame.header_len;
    iovecs_[2 * slot + 1].iov_base = const_cast<uint8_t*>(data);
    iovecs_[2 * slot + 1].iov_len = len;
    messages_[slot].msg_hdr.msg_name = &addresses_[output];
    buffers_[slot] = buffer;
    slot_outputs_[slot] = output;
    pool_.retain(buffer);
    if (++queued_ == kMaxMessages) {
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
           std::to_string(kMaxMessages) + " frames per sendmmsg, " +
           std::to_string(multicast_count_) + " multicast outputs, " +
           std::to_string(outputs_.size() - multicast_count_) +
           " unicast outputs via UDP sockets (sendmmsg)";
  }

 private:
  // ones_sum() of a payload, remembered for the next copy of the same packet. Valid while a
  // queued copy holds its buffer (no one can refill it); flush_frames() releases them all and
  // forgets it.
  uint16_t payload_sum(const uint8_t* data, uint32_t len) noexcept {
    if (data != summed_data_ || len != summed_len_) {
      summed_data_ = data;
      summed_len_ = len;
      summed_ = ones_sum(data, len);
    }
    return summed_;
  }

  void flush_frames() noexcept {
    summed_data_ = nullptr;
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
  const bool qdisc_bypass_;
  std::unique_ptr<Egress> unicast_;  // the selector's sendmmsg egress, for unicast outputs
  // Per output (declared before what is computed from them).
  std::vector<PacketOutput> outputs_;
  std::vector<FrameTemplate> templates_;
  std::vector<sockaddr_ll> addresses_;  // where its frames go
  std::vector<uint16_t> ip_ids_;        // next IPv4 identification
  const uint32_t multicast_count_;
  std::vector<uint32_t> payload_limits_;  // per output: larger copies are dropped
  // Per queued copy, kMaxMessages of each (declared in the order they point at each other).
  std::vector<uint8_t> headers_;  // kHeaderSlot bytes each
  std::vector<iovec> iovecs_;     // 2 per message: header, payload
  std::vector<mmsghdr> messages_;
  std::vector<PacketBuffer*> buffers_;
  std::vector<uint32_t> slot_outputs_;  // its output
  uint32_t queued_ = 0;
  const uint8_t* summed_data_ = nullptr;  // payload_sum()'s last payload, its length and sum
  uint32_t summed_len_ = 0;
  uint16_t summed_ = 0;
};

}  // namespace

Result<std::unique_ptr<Egress>> make_packet_egress(const EgressOptions& options,
                                                   std::span<const int> fds, BufferPool& pool,
                                                   WorkerCounters& counters,
                                                   std::unique_ptr<Egress> unicast) {
  std::vector<PacketOutput> outputs;
  for (size_t o = 0; o < fds.size(); ++o) {
    auto output = describe_output_socket(fds[o]);
    if (!output) {
      return tl::unexpected(output.error());
    }
    if (!output->multicast && unicast == nullptr) {
      return fail("--egress packet", "a unicast output needs the selector's unicast egress");
    }
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
  return std::unique_ptr<Egress>(std::make_unique<PacketEgress>(
      fds, options.output_counters, pool, counters, std::move(socket), bypass, std::move(outputs),
      std::move(unicast)));
}

}  // namespace mrelay
