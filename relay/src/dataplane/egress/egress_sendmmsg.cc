// Egress backends "sendmmsg" and "gso": copies are gathered per output, up to `batch`, and
// sent with one sendmmsg() per output when the batch is full and at the end of each loop turn.
//
// "gso" sends each run of equal-sized copies to one output as a single message with UDP
// segmentation offload (UDP_SEGMENT, Linux >= 4.18): the iovec points at every copy's own
// buffer (no gathering copy here), the kernel builds one skb for the whole run and walks the
// IP output path, the route and the device once per run instead of once per datagram; the
// datagrams are cut at the device (or in hardware with USO), or on veth and loopback at the
// receiving socket. The receivers see the same datagrams as with "sendmmsg". A run shares one
// IPv4 header template, so it also ends where the copies' TTL changes.
//
// A message whose TTL differs from the socket's own carries an IP_TTL control message.
//
// With GsoBatch::all (the default, egress.h) the copies of every multicast output of a family
// leave through one unconnected socket shared by those outputs: a flush is one sendmmsg() for
// all of them (one per family), not one per output, so at fanout 16 the relay makes about one
// egress call per batch of input packets instead of sixteen. Each message names its group
// (msg_name), its interface (IP_PKTINFO / IPV6_PKTINFO: ip_cmsg_send() and
// ip6_datagram_send_ctl() set the call's output interface, which the UDP send path prefers
// over the multicast interface option for a multicast destination) and its TTL or hop limit.
// The outputs' own sockets stay open: unicast outputs send through them as before (a unicast
// peer's ICMP errors land on its own socket), and so do the outputs of a family with fewer
// than two that can share. A shared socket's send buffer is the sum of its outputs'.
// Its errors: EAGAIN (the shared buffer is full) fails the rest of the flush; an error of one
// output's path (ENOBUFS from its qdisc, a downed interface) fails the rest of that output's
// copies and the call goes on with the next output; anything else fails the one message.
//
//   auto egress = mrelay::make_egress({.backend = EgressBackend::gso, .batch = 64}, fds, pool,
//                                     counters);   // egress_selector.h
#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <climits>
#include <cstring>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "dataplane/egress/egress.h"
#include "dataplane/egress/egress_backends.h"
#include "dataplane/egress/egress_selector.h"

namespace mrelay {
namespace {

// The kernel's UDP_MAX_SEGMENTS (64 up to Linux 6.10, 128 since): the lower bound works on all.
constexpr uint32_t kMaxSegmentsPerRun = 64;
// A UDP datagram (the GSO super-datagram included) carries at most 65535 - 20 - 8 bytes.
constexpr uint32_t kMaxRunBytes = 65507;
// IPv4 header without options plus the UDP header.
constexpr int kIpv4UdpHeaderBytes = 28;

// Per output: 1 for an IPv6 socket (its copies carry IPV6_HOPLIMIT).
std::vector<uint8_t> socket_families(std::span<const int> fds) {
  std::vector<uint8_t> ipv6(fds.size());
  for (size_t output = 0; output < fds.size(); ++output) {
    ipv6[output] = output_socket_ipv6(fds[output]) ? 1 : 0;
  }
  return ipv6;
}

// Per output: the TTL its socket sends without a control message.
std::vector<uint8_t> socket_ttls(std::span<const int> fds) {
  std::vector<uint8_t> ttls(fds.size());
  for (size_t output = 0; output < fds.size(); ++output) {
    ttls[output] = output_socket_ttl(fds[output]);
  }
  return ttls;
}

// Per output: the largest copy that may join a GSO run; 0 without GSO. A segment must fit the
// path MTU with its IPv4 and UDP headers, or the kernel refuses the whole run (EINVAL); larger
// copies go alone (and are fragmented as without GSO). Output sockets are connected, so
// IP_MTU answers; if not, the kernel decides.
std::vector<uint32_t> largest_segments(std::span<const int> fds, bool gso) {
  std::vector<uint32_t> largest(fds.size(), gso ? kMaxRunBytes : 0);
  for (size_t output = 0; output < fds.size() && gso; ++output) {
    int mtu = 0;
    socklen_t length = sizeof mtu;
    if (::getsockopt(fds[output], IPPROTO_IP, IP_MTU, &mtu, &length) == 0 &&
        mtu > kIpv4UdpHeaderBytes) {
      largest[output] = static_cast<uint32_t>(mtu - kIpv4UdpHeaderBytes);
    }
  }
  return largest;
}

std::vector<uint32_t> reserved_list(size_t capacity) {
  std::vector<uint32_t> list;
  list.reserve(capacity);
  return list;
}

// The shared socket's TTL for a copy without a control message (open_shared_multicast_socket).
constexpr uint8_t kSharedSocketTtl = 1;

// The socket an output sends through: its own, or its family's shared one (GsoBatch::all).
enum SharedFamily : uint8_t { kOwnSocket = 0, kSharedIpv4 = 1, kSharedIpv6 = 2 };
constexpr SharedFamily kSharedFamilies[] = {kSharedIpv4, kSharedIpv6};

// The outputs that send through a shared socket and what their messages need.
struct SharedOutputs {
  std::array<UniqueFd, 3> fds;          // [kSharedIpv4], [kSharedIpv6]; invalid: not shared
  std::vector<uint8_t> family;          // per output: its SharedFamily
  std::vector<sockaddr_storage> peers;  // per output: its group and port (msg_name)
  std::vector<socklen_t> peer_lengths;  // per output: sizeof(sockaddr_in) or (sockaddr_in6)
  std::vector<int> ifindexes;           // per output: its interface (IP(V6)_PKTINFO)
};

// The family whose shared socket output `output` (socket `fd`) may use: a multicast output
// bound to an interface, whose peer and interface go into `result`.
SharedFamily shareable(int fd, size_t output, SharedOutputs& result) {
  result.ifindexes[output] = static_cast<int>(output_socket_ifindex(fd));
  if (result.ifindexes[output] == 0) {
    return kOwnSocket;
  }
  sockaddr_storage& peer = result.peers[output];
  socklen_t& length = result.peer_lengths[output];
  if (const std::optional<sockaddr_in> peer4 = output_socket_peer(fd);
      peer4 && IN_MULTICAST(ntohl(peer4->sin_addr.s_addr))) {
    std::memcpy(&peer, &*peer4, sizeof *peer4);
    length = sizeof *peer4;
    return kSharedIpv4;
  }
  if (const std::optional<sockaddr_in6> peer6 = output_socket_peer6(fd);
      peer6 && IN6_IS_ADDR_MULTICAST(&peer6->sin6_addr)) {
    std::memcpy(&peer, &*peer6, sizeof *peer6);
    length = sizeof *peer6;
    return kSharedIpv6;
  }
  return kOwnSocket;
}

// The multicast outputs of a family share one socket when at least two of them can (a single
// output keeps its connected socket, which caches the route). Without the shared socket (it
// could not be opened) the family's outputs keep their own.
SharedOutputs shared_outputs(std::span<const int> fds, bool enabled) {
  SharedOutputs result{.fds = {},
                       .family = std::vector<uint8_t>(fds.size(), kOwnSocket),
                       .peers = std::vector<sockaddr_storage>(fds.size()),
                       .peer_lengths = std::vector<socklen_t>(fds.size(), 0),
                       .ifindexes = std::vector<int>(fds.size(), 0)};
  std::array<uint64_t, 3> sndbuf{};
  std::array<size_t, 3> count{};
  for (size_t output = 0; output < fds.size() && enabled; ++output) {
    const SharedFamily family = shareable(fds[output], output, result);
    if (family == kOwnSocket) {
      continue;
    }
    result.family[output] = family;
    sndbuf[family] += static_cast<uint64_t>(std::max(socket_sndbuf(fds[output]), 0)) / 2;
    ++count[family];
  }
  for (SharedFamily family : kSharedFamilies) {
    if (count[family] >= 2) {
      auto fd = open_shared_multicast_socket(
          static_cast<uint32_t>(std::min<uint64_t>(sndbuf[family], INT_MAX / 2)),
          family == kSharedIpv6);
      if (fd) {
        result.fds[family] = std::move(*fd);
        continue;
      }
    }
    std::replace(result.family.begin(), result.family.end(), static_cast<uint8_t>(family),
                 static_cast<uint8_t>(kOwnSocket));
  }
  return result;
}

// An error of one output's path, not of one message: its other copies in the same call would
// fail the same way (its qdisc is full, its interface is down or gone).
constexpr bool fails_whole_output(int err) noexcept {
  return err == ENOBUFS || err == ENETDOWN || err == ENETUNREACH || err == EHOSTUNREACH ||
         err == ENODEV || err == ENXIO || err == EADDRNOTAVAIL;
}

class SendmmsgEgress final : public Egress {
 public:
  SendmmsgEgress(uint32_t batch, bool gso, bool share, std::span<const int> fds,
                 std::span<OutputCounters> output_counters, BufferPool& pool,
                 WorkerCounters& counters)
      : batch_(batch),
        gso_(gso),
        fds_(fds),
        output_counters_(output_counters),
        pool_(pool),
        counters_(counters),
        // Everything is reserved here (outputs x batch) so send() never allocates.
        messages_(fds.size() * batch),
        iovecs_(fds.size() * batch),
        buffers_(fds.size() * batch),
        ttls_(fds.size() * batch),
        controls_(fds.size() * batch),
        runs_(fds.size() * batch),
        queued_(fds.size(), 0),
        dirty_(reserved_list(fds.size())),
        is_dirty_(fds.size(), false),
        shared_order_(reserved_list(fds.size())),
        largest_segment_(largest_segments(fds, gso)),
        payload_limits_(output_payload_limits(fds)),
        socket_ttls_(socket_ttls(fds)),
        socket_ipv6_(socket_families(fds)),
        shared_(shared_outputs(fds, gso && share)) {
    for (size_t output = 0; output < fds.size(); ++output) {
      if (shared_.family[output] != kOwnSocket) {
        socket_ttls_[output] = kSharedSocketTtl;
        ++shared_count_[shared_.family[output]];
      }
    }
  }

  ~SendmmsgEgress() override { drain(0); }

  bool send(uint32_t output, PacketBuffer* buffer, const uint8_t* data, uint32_t len,
            uint8_t ttl) noexcept override {
    const size_t slot = static_cast<size_t>(output) * batch_ + queued_[output];
    iovecs_[slot].iov_base = const_cast<uint8_t*>(data);
    iovecs_[slot].iov_len = len;
    buffers_[slot] = buffer;
    ttls_[slot] = ttl;
    pool_.retain(buffer);
    if (len > payload_limits_[output]) {
      ++counters_.tx_fragmented;  // goes alone, not in a GSO run; the kernel fragments it
    }
    if (!is_dirty_[output]) {
      is_dirty_[output] = true;
      dirty_.push_back(output);  // capacity reserved: no allocation
    }
    if (++queued_[output] == batch_) {
      // A shared output's full batch sends every copy of its family's shared outputs: they
      // fill together.
      if (shared_.family[output] != kOwnSocket) {
        flush_shared(static_cast<SharedFamily>(shared_.family[output]));
      } else {
        flush_output(output);
      }
    }
    return true;
  }

  void flush() noexcept override {
    std::array<bool, 3> any_shared{};
    for (uint32_t output : dirty_) {
      is_dirty_[output] = false;
      if (queued_[output] == 0) {
        continue;
      }
      if (shared_.family[output] != kOwnSocket) {
        any_shared[shared_.family[output]] = true;
      } else {
        flush_output(output);
      }
    }
    for (SharedFamily family : kSharedFamilies) {
      if (any_shared[family]) {
        flush_shared(family);
      }
    }
    dirty_.clear();
  }

  bool caches_output_interfaces() const noexcept override {
    return shared_count_[kSharedIpv4] + shared_count_[kSharedIpv6] != 0;
  }
  EgressBackend backend() const noexcept override {
    return gso_ ? EgressBackend::gso : EgressBackend::sendmmsg;
  }
  std::string describe() const override {
    std::string text = std::string("egress ") +
                       (gso_ ? "gso (sendmmsg, UDP_SEGMENT runs of equal size)" : "sendmmsg") +
                       ": batch " + std::to_string(batch_) + " per output, " +
                       std::to_string(fds_.size()) + " outputs";
    for (SharedFamily family : kSharedFamilies) {
      if (shared_count_[family] != 0) {
        text += ", " + std::to_string(shared_count_[family]) +
                (family == kSharedIpv6 ? " IPv6" : "") +
                " multicast outputs through one shared socket (one sendmmsg per flush)";
      }
    }
    return text;
  }

 private:
  // One message: copies [first, first + length) of `output`.
  struct Run {
    uint32_t output = 0;
    uint32_t first = 0;
    uint32_t length = 0;
  };

  // Room for the control messages of one message, aligned as cmsghdr requires: UDP_SEGMENT
  // (a uint16_t), IP_PKTINFO or the larger IPV6_PKTINFO (shared sockets only) and IP_TTL or
  // IPV6_HOPLIMIT (an int).
  struct MessageControl {
    alignas(cmsghdr) unsigned char bytes[CMSG_SPACE(sizeof(uint16_t)) +
                                         CMSG_SPACE(sizeof(in6_pktinfo)) + CMSG_SPACE(sizeof(int))];
  };

  // The length of the run of `output`'s copies starting at `slot` (copy i of count): copies
  // of one size and one TTL, ending early after a shorter copy (UDP_SEGMENT lets only the
  // last segment be short); 1 for a copy above the output's largest segment (0 without GSO).
  uint32_t run_length(uint32_t output, size_t slot, uint32_t i, uint32_t count) const noexcept {
    const auto segment = static_cast<uint32_t>(iovecs_[slot].iov_len);
    uint32_t length = 1;
    uint32_t bytes = segment;
    // An empty copy never joins a run: a segment size of 0 would send the run as one
    // datagram, and an empty last segment would not be sent at all.
    if (segment == 0 || segment > largest_segment_[output]) {
      return length;
    }
    while (i + length < count && length < kMaxSegmentsPerRun) {
      const auto next = static_cast<uint32_t>(iovecs_[slot + length].iov_len);
      if (next == 0 || next > segment || bytes + next > kMaxRunBytes ||
          ttls_[slot + length] != ttls_[slot]) {
        break;
      }
      bytes += next;
      ++length;
      if (next < segment) {
        break;
      }
    }
    return length;
  }

  // Writes the control messages of a message of `length` copies starting at `slot` to
  // `control` and returns the bytes used.
  size_t write_controls(uint32_t output, size_t slot, uint32_t length,
                        MessageControl& control) const noexcept {
    size_t used = 0;
    if (length > 1) {
      auto* cmsg = reinterpret_cast<cmsghdr*>(control.bytes);
      cmsg->cmsg_level = SOL_UDP;
      cmsg->cmsg_type = UDP_SEGMENT;
      cmsg->cmsg_len = CMSG_LEN(sizeof(uint16_t));
      const auto size = static_cast<uint16_t>(iovecs_[slot].iov_len);
      std::memcpy(CMSG_DATA(cmsg), &size, sizeof size);
      used = CMSG_SPACE(sizeof(uint16_t));
    }
    if (shared_.family[output] != kOwnSocket) {
      used += write_interface_control(control.bytes + used, output);
    }
    if (ttls_[slot] != socket_ttls_[output]) {
      used += write_ttl_control(control.bytes + used, ttls_[slot], socket_ipv6_[output] != 0);
    }
    return used;
  }

  // The interface of a shared output's message (IP_PKTINFO or IPV6_PKTINFO, whose source
  // address stays unspecified: the route picks it); returns the bytes used.
  size_t write_interface_control(unsigned char* at, uint32_t output) const noexcept {
    auto* cmsg = reinterpret_cast<cmsghdr*>(at);
    if (shared_.family[output] == kSharedIpv6) {
      cmsg->cmsg_level = IPPROTO_IPV6;
      cmsg->cmsg_type = IPV6_PKTINFO;
      cmsg->cmsg_len = CMSG_LEN(sizeof(in6_pktinfo));
      in6_pktinfo info{};
      info.ipi6_ifindex = static_cast<unsigned>(shared_.ifindexes[output]);
      std::memcpy(CMSG_DATA(cmsg), &info, sizeof info);
      return CMSG_SPACE(sizeof(in6_pktinfo));
    }
    cmsg->cmsg_level = IPPROTO_IP;
    cmsg->cmsg_type = IP_PKTINFO;
    cmsg->cmsg_len = CMSG_LEN(sizeof(in_pktinfo));
    in_pktinfo info{};
    info.ipi_ifindex = shared_.ifindexes[output];
    std::memcpy(CMSG_DATA(cmsg), &info, sizeof info);
    return CMSG_SPACE(sizeof(in_pktinfo));
  }

  // Builds the messages for copies [first, count) of `output` (slots output * batch + i),
  // writing them from message index `at`, and returns how many.
  uint32_t build_messages(uint32_t output, size_t at, uint32_t first, uint32_t count) noexcept {
    const size_t base = static_cast<size_t>(output) * batch_;
    uint32_t messages = 0;
    for (uint32_t i = first; i < count;) {
      const size_t slot = base + i;
      const uint32_t length = run_length(output, slot, i, count);
      const size_t message = at + messages;
      msghdr& header = messages_[message].msg_hdr;
      header = msghdr{};
      header.msg_iov = &iovecs_[slot];
      header.msg_iovlen = length;
      if (shared_.family[output] != kOwnSocket) {
        header.msg_name = &shared_.peers[output];
        header.msg_namelen = shared_.peer_lengths[output];
      }
      const size_t used = write_controls(output, slot, length, controls_[message]);
      if (used != 0) {
        header.msg_control = controls_[message].bytes;
        header.msg_controllen = used;
      }
      runs_[message] = Run{.output = output, .first = i, .length = length};
      ++messages;
      i += length;
    }
    return messages;
  }

  void finish_copies(const Run& run, int err) noexcept {
    const size_t base = static_cast<size_t>(run.output) * batch_;
    for (uint32_t i = run.first; i < run.first + run.length; ++i) {
      const size_t slot = base + i;
      if (err == 0) {
        ++counters_.tx_packets;
        counters_.tx_bytes += iovecs_[slot].iov_len;
      } else {
        count_failed_copy(err, run.output, buffers_[slot], counters_, output_counters_);
      }
      pool_.release(buffers_[slot]);
    }
  }

  void flush_output(uint32_t output) noexcept {
    const size_t base = static_cast<size_t>(output) * batch_;
    const uint32_t count = queued_[output];
    uint32_t total = build_messages(output, base, 0, count);
    uint32_t done = 0;
    // Bounded: every iteration finishes at least one message, or turns GSO off for this
    // output once (the rebuilt messages are all single datagrams).
    while (done < total) {
      ++counters_.syscalls;
      ++counters_.batches;
      const int sent =
          ::sendmmsg(fds_[output], &messages_[base + done], total - done, MSG_DONTWAIT);
      if (sent > 0) {
        for (int m = 0; m < sent; ++m) {
          finish_copies(runs_[base + done + static_cast<size_t>(m)], 0);
        }
        done += static_cast<uint32_t>(sent);
        continue;
      }
      const int err = sent < 0 ? errno : EAGAIN;
      const Run failed = runs_[base + done];
      if (err == EAGAIN || err == EWOULDBLOCK || err == ENOBUFS) {
        // The socket's buffer is full: the rest of this batch would fail the same way, and
        // retrying would only burn syscalls.
        finish_copies(Run{.output = output, .first = failed.first, .length = count - failed.first},
                      err);
        break;
      }
      if (failed.length > 1 && gso_refused_by_path(err)) {
        // The path cannot segment: this output sends datagram by datagram from now on (the
        // per-output fallback policy is the selector's, egress_selector.h).
        stop_gso(output);
        total = done + build_messages(output, base + done, failed.first, count);
        continue;
      }
      // A per-message failure (e.g. ECONNREFUSED on a unicast output): drop that copy only.
      finish_copies(failed, err);
      ++done;
    }
    queued_[output] = 0;
  }

  void stop_gso(uint32_t output) noexcept {
    largest_segment_[output] = 0;
    ++counters_.gso_fallbacks;
  }

  // Builds the shared socket's messages from message `at` on: copies [first, queued) of
  // shared_order_[from], then every copy of the shared outputs after it. Returns the total.
  uint32_t build_shared(uint32_t at, size_t from, uint32_t first) noexcept {
    uint32_t total = at;
    for (size_t k = from; k < shared_order_.size(); ++k) {
      const uint32_t output = shared_order_[k];
      total += build_messages(output, total, k == from ? first : 0, queued_[output]);
    }
    return total;
  }

  // Fails messages [done, total) of one output (`done` is its first) with `err`; returns the
  // index of the next output's first message.
  uint32_t fail_output(uint32_t done, uint32_t total, int err) noexcept {
    const uint32_t output = runs_[done].output;
    while (done < total && runs_[done].output == output) {
      finish_copies(runs_[done], err);
      ++done;
    }
    return done;
  }

  // Every queued copy of one family's shared outputs in one sendmmsg() (more when the kernel
  // sends part of the array: the call goes on from the first message not sent). Messages are
  // grouped by output, so a failure of one output's path skips to the next output.
  void flush_shared(SharedFamily family) noexcept {
    shared_order_.clear();
    for (uint32_t output : dirty_) {
      if (shared_.family[output] == family && queued_[output] != 0) {
        shared_order_.push_back(output);  // capacity reserved: no allocation
      }
    }
    uint32_t total = build_shared(0, 0, 0);
    uint32_t done = 0;
    // Bounded: every iteration finishes at least one message, or turns GSO off for one
    // output (at most once per output).
    while (done < total) {
      ++counters_.syscalls;
      ++counters_.batches;
      const int sent =
          ::sendmmsg(shared_.fds[family].get(), &messages_[done], total - done, MSG_DONTWAIT);
      if (sent > 0) {
        for (int m = 0; m < sent; ++m) {
          finish_copies(runs_[done + static_cast<size_t>(m)], 0);
        }
        done += static_cast<uint32_t>(sent);
        continue;
      }
      const int err = sent < 0 ? errno : EAGAIN;
      const Run failed = runs_[done];
      if (err == EAGAIN || err == EWOULDBLOCK) {
        // The shared send buffer is full: every message left would fail the same way.
        while (done < total) {
          finish_copies(runs_[done++], err);
        }
        break;
      }
      if (failed.length > 1 && gso_refused_by_path(err)) {
        stop_gso(failed.output);
        const auto from = static_cast<size_t>(
            std::find(shared_order_.begin(), shared_order_.end(), failed.output) -
            shared_order_.begin());
        total = build_shared(done, from, failed.first);
        continue;
      }
      if (fails_whole_output(err)) {
        done = fail_output(done, total, err);
        continue;
      }
      finish_copies(failed, err);
      ++done;
    }
    for (uint32_t output : shared_order_) {
      queued_[output] = 0;
    }
  }

  const uint32_t batch_;
  const bool gso_;
  std::span<const int> fds_;
  std::span<OutputCounters> output_counters_;
  BufferPool& pool_;
  WorkerCounters& counters_;
  // Messages of one flush: per output at [output * batch], or all shared outputs' from 0 (a
  // flush never runs inside another, and one output has at most `batch` messages).
  std::vector<mmsghdr> messages_;
  std::vector<iovec> iovecs_;             // [output * batch + copy]
  std::vector<PacketBuffer*> buffers_;    // [output * batch + copy]
  std::vector<uint8_t> ttls_;             // [output * batch + copy]
  std::vector<MessageControl> controls_;  // [message], as messages_
  std::vector<Run> runs_;                 // [message], as messages_
  std::vector<uint32_t> queued_;          // copies queued per output
  std::vector<uint32_t> dirty_;           // outputs with queued copies, in first-queued order
  std::vector<bool> is_dirty_;
  std::vector<uint32_t> shared_order_;  // shared outputs in this flush, in message order
  // Per output: the largest copy that may join a GSO run (path MTU - 28 bytes); 0 without
  // GSO and once the output's path refused a GSO send.
  std::vector<uint32_t> largest_segment_;
  std::vector<uint32_t> payload_limits_;  // per output: larger copies leave as fragments
  std::vector<uint8_t> socket_ttls_;  // per output: the TTL it sends without a control message
  std::vector<uint8_t> socket_ipv6_;  // per output: 1 for an IPv6 socket (IPV6_HOPLIMIT)
  SharedOutputs shared_;
  std::array<uint32_t, 3> shared_count_{};  // per SharedFamily: outputs sending through its socket
};

}  // namespace

std::unique_ptr<Egress> make_sendmmsg_egress(const EgressOptions& options, std::span<const int> fds,
                                             BufferPool& pool, WorkerCounters& counters) {
  const bool gso = options.backend == EgressBackend::gso;
  const bool share = gso && resolve_gso_batch(options) == GsoBatch::all;
  return std::make_unique<SendmmsgEgress>(options.batch, gso, share, fds, options.output_counters,
                                          pool, counters);
}

}  // namespace mrelay
