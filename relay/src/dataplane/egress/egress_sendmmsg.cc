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
//   auto egress = mrelay::make_egress({.backend = EgressBackend::gso, .batch = 64}, fds, pool,
//                                     counters);   // egress_selector.h
#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>
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

// Per output: the TTL its socket sends without a control message.
// Per output: 1 for an IPv6 socket (its copies carry IPV6_HOPLIMIT).
std::vector<uint8_t> socket_families(std::span<const int> fds) {
  std::vector<uint8_t> ipv6(fds.size());
  for (size_t output = 0; output < fds.size(); ++output) {
    ipv6[output] = output_socket_ipv6(fds[output]) ? 1 : 0;
  }
  return ipv6;
}

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

class SendmmsgEgress final : public Egress {
 public:
  SendmmsgEgress(uint32_t batch, bool gso, std::span<const int> fds,
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
        run_first_(fds.size() * batch),
        run_length_(fds.size() * batch),
        queued_(fds.size(), 0),
        dirty_(reserved_list(fds.size())),
        is_dirty_(fds.size(), false),
        largest_segment_(largest_segments(fds, gso)),
        payload_limits_(output_payload_limits(fds)),
        socket_ttls_(socket_ttls(fds)),
        socket_ipv6_(socket_families(fds)) {}

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
    if (++queued_[output] == batch_) {
      flush_output(output);
    } else if (!is_dirty_[output]) {
      is_dirty_[output] = true;
      dirty_.push_back(output);  // capacity reserved: no allocation
    }
    return true;
  }

  void flush() noexcept override {
    for (uint32_t output : dirty_) {
      is_dirty_[output] = false;
      if (queued_[output] != 0) {
        flush_output(output);
      }
    }
    dirty_.clear();
  }

  EgressBackend backend() const noexcept override {
    return gso_ ? EgressBackend::gso : EgressBackend::sendmmsg;
  }
  std::string describe() const override {
    return std::string("egress ") +
           (gso_ ? "gso (sendmmsg, UDP_SEGMENT runs of equal size)" : "sendmmsg") + ": batch " +
           std::to_string(batch_) + " per output, " + std::to_string(fds_.size()) + " outputs";
  }

 private:
  // Builds the messages for copies [first, count) of `output` (slots base + i), writing
  // them from message index `at` (at <= first), and returns how many. A copy larger than
  // the output's largest segment (0 without GSO) is its own message; otherwise a message
  // takes a run of copies of one size and one TTL, ending early after a shorter copy
  // (UDP_SEGMENT lets only the last segment be short).
  uint32_t build_messages(uint32_t output, uint32_t at, uint32_t first, uint32_t count) noexcept {
    const size_t base = static_cast<size_t>(output) * batch_;
    uint32_t messages = at;
    for (uint32_t i = first; i < count;) {
      const size_t slot = base + i;
      const auto segment = static_cast<uint32_t>(iovecs_[slot].iov_len);
      const uint8_t ttl = ttls_[slot];
      uint32_t length = 1;
      uint32_t bytes = segment;
      // An empty copy never joins a run: a segment size of 0 would send the run as one
      // datagram, and an empty last segment would not be sent at all.
      if (segment != 0 && segment <= largest_segment_[output]) {
        while (i + length < count && length < kMaxSegmentsPerRun) {
          const auto next = static_cast<uint32_t>(iovecs_[slot + length].iov_len);
          if (next == 0 || next > segment || bytes + next > kMaxRunBytes ||
              ttls_[slot + length] != ttl) {
            break;
          }
          bytes += next;
          ++length;
          if (next < segment) {
            break;
          }
        }
      }
      msghdr& header = messages_[base + messages].msg_hdr;
      header = msghdr{};
      header.msg_iov = &iovecs_[slot];
      header.msg_iovlen = length;
      MessageControl& control = controls_[base + messages];
      size_t used = 0;
      if (length > 1) {
        auto* cmsg = reinterpret_cast<cmsghdr*>(control.bytes);
        cmsg->cmsg_level = SOL_UDP;
        cmsg->cmsg_type = UDP_SEGMENT;
        cmsg->cmsg_len = CMSG_LEN(sizeof(uint16_t));
        const auto size = static_cast<uint16_t>(segment);
        std::memcpy(CMSG_DATA(cmsg), &size, sizeof size);
        used = CMSG_SPACE(sizeof(uint16_t));
      }
      if (ttl != socket_ttls_[output]) {
        used += write_ttl_control(control.bytes + used, ttl, socket_ipv6_[output] != 0);
      }
      if (used != 0) {
        header.msg_control = control.bytes;
        header.msg_controllen = used;
      }
      run_first_[base + messages] = i;
      run_length_[base + messages] = length;
      ++messages;
      i += length;
    }
    return messages - at;
  }

  void finish_copies(uint32_t output, uint32_t first, uint32_t length, int err) noexcept {
    const size_t base = static_cast<size_t>(output) * batch_;
    for (uint32_t i = first; i < first + length; ++i) {
      const size_t slot = base + i;
      if (err == 0) {
        ++counters_.tx_packets;
        counters_.tx_bytes += iovecs_[slot].iov_len;
      } else {
        count_failed_copy(err, output, buffers_[slot], counters_, output_counters_);
      }
      pool_.release(buffers_[slot]);
    }
  }

  void flush_output(uint32_t output) noexcept {
    const size_t base = static_cast<size_t>(output) * batch_;
    const uint32_t count = queued_[output];
    uint32_t total = build_messages(output, 0, 0, count);
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
          const size_t message = base + done + static_cast<size_t>(m);
          finish_copies(output, run_first_[message], run_length_[message], 0);
        }
        done += static_cast<uint32_t>(sent);
        continue;
      }
      const int err = sent < 0 ? errno : EAGAIN;
      const size_t failed = base + done;
      if (err == EAGAIN || err == EWOULDBLOCK || err == ENOBUFS) {
        // The socket's buffer is full: the rest of this batch would fail the same way, and
        // retrying would only burn syscalls.
        finish_copies(output, run_first_[failed], count - run_first_[failed], err);
        break;
      }
      if (run_length_[failed] > 1 && gso_refused_by_path(err)) {
        // The path cannot segment: this output sends datagram by datagram from now on (the
        // per-output fallback policy is the selector's, egress_selector.h).
        largest_segment_[output] = 0;
        ++counters_.gso_fallbacks;
        const uint32_t first = run_first_[failed];
        total = done + build_messages(output, done, first, count);
        continue;
      }
      // A per-message failure (e.g. ECONNREFUSED on a unicast output): drop that copy only.
      finish_copies(output, run_first_[failed], run_length_[failed], err);
      ++done;
    }
    queued_[output] = 0;
  }

  // Room for a UDP_SEGMENT control message (a uint16_t) and an IP_TTL one (an int), aligned
  // as cmsghdr requires.
  struct MessageControl {
    alignas(cmsghdr) unsigned char bytes[CMSG_SPACE(sizeof(uint16_t)) + CMSG_SPACE(sizeof(int))];
  };

  const uint32_t batch_;
  const bool gso_;
  std::span<const int> fds_;
  std::span<OutputCounters> output_counters_;
  BufferPool& pool_;
  WorkerCounters& counters_;
  std::vector<mmsghdr> messages_;         // [output * batch + message]
  std::vector<iovec> iovecs_;             // [output * batch + copy]
  std::vector<PacketBuffer*> buffers_;    // [output * batch + copy]
  std::vector<uint8_t> ttls_;             // [output * batch + copy]
  std::vector<MessageControl> controls_;  // [output * batch + message]
  std::vector<uint32_t> run_first_;       // [output * batch + message]: first copy
  std::vector<uint32_t> run_length_;      // [output * batch + message]: copies in it
  std::vector<uint32_t> queued_;          // copies queued per output
  std::vector<uint32_t> dirty_;           // outputs with queued copies, in first-queued order
  std::vector<bool> is_dirty_;
  // Per output: the largest copy that may join a GSO run (path MTU - 28 bytes); 0 without
  // GSO and once the output's path refused a GSO send.
  std::vector<uint32_t> largest_segment_;
  std::vector<uint32_t> payload_limits_;  // per output: larger copies leave as fragments
  std::vector<uint8_t> socket_ttls_;  // per output: the TTL it sends without a control message
  std::vector<uint8_t> socket_ipv6_;  // per output: 1 for an IPv6 socket (IPV6_HOPLIMIT)
};

}  // namespace

std::unique_ptr<Egress> make_sendmmsg_egress(const EgressOptions& options, std::span<const int> fds,
                                             BufferPool& pool, WorkerCounters& counters) {
  return std::make_unique<SendmmsgEgress>(options.batch, options.backend == EgressBackend::gso, fds,
                                          options.output_counters, pool, counters);
}

}  // namespace mrelay
