// AF_PACKET ingress socket; see ingress.h.
//
// Why AF_PACKET: frames are taken before the IP layer, so a source the host has no route to
// (which rp_filter would drop on the UDP path) is still relayed.
#include <arpa/inet.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "ingress.h"

namespace mrelay {

Result<void> set_receive_buffer(int fd, uint32_t bytes, const std::string& where) {
  if (bytes == 0) {
    return {};
  }
  const int value = static_cast<int>(bytes);
  if (::setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &value, sizeof value) == 0) {
    return {};
  }
  if (::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &value, sizeof value) != 0) {
    return fail_errno(where + ": setsockopt(SO_RCVBUF, " + std::to_string(bytes) + ")");
  }
  return {};
}

PacketRing::PacketRing(PacketRing&& other) noexcept
    : base_(std::exchange(other.base_, nullptr)),
      size_(std::exchange(other.size_, 0)),
      frame_count_(std::exchange(other.frame_count_, 0)),
      cursor_(std::exchange(other.cursor_, 0)) {}

PacketRing& PacketRing::operator=(PacketRing&& other) noexcept {
  if (this != &other) {
    unmap();
    base_ = std::exchange(other.base_, nullptr);
    size_ = std::exchange(other.size_, 0);
    frame_count_ = std::exchange(other.frame_count_, 0);
    cursor_ = std::exchange(other.cursor_, 0);
  }
  return *this;
}

PacketRing::~PacketRing() {
  unmap();
}

void PacketRing::unmap() noexcept {
  if (base_ != nullptr) {
    ::munmap(base_, size_);
    base_ = nullptr;
  }
}

Result<void> PacketRing::map(int fd, uint32_t bytes) {
  const int version = TPACKET_V2;
  if (::setsockopt(fd, SOL_PACKET, PACKET_VERSION, &version, sizeof version) != 0) {
    return fail_errno("setsockopt(PACKET_VERSION, TPACKET_V2)");
  }
  tpacket_req request{};
  request.tp_block_size = kBlockSize;
  request.tp_block_nr = bytes / kBlockSize < 4 ? 4 : bytes / kBlockSize;
  request.tp_frame_size = kFrameSize;
  request.tp_frame_nr = request.tp_block_nr * (kBlockSize / kFrameSize);
  if (::setsockopt(fd, SOL_PACKET, PACKET_RX_RING, &request, sizeof request) != 0) {
    return fail_errno("setsockopt(PACKET_RX_RING, " + std::to_string(request.tp_frame_nr) +
                      " frames)");
  }
  const size_t size = static_cast<size_t>(request.tp_block_size) * request.tp_block_nr;
  void* base = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (base == MAP_FAILED) {
    return fail_errno("mmap(PACKET_RX_RING)");
  }
  unmap();
  base_ = static_cast<uint8_t*>(base);
  size_ = size;
  frame_count_ = request.tp_frame_nr;
  cursor_ = 0;
  return {};
}

Result<UniqueFd> open_packet_socket(const std::string& interface, unsigned ifindex,
                                    const IngressSocketOptions& options, std::string* notes,
                                    PacketRing* ring) {
  const std::string where = "ingress " + interface;
  // Protocol 0 until bind(): the socket queues nothing before the filter is attached, so no
  // outgoing frame slips in between socket() and SO_ATTACH_FILTER.
  UniqueFd fd(::socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) {
    if (errno == EPERM || errno == EACCES) {
      return fail(where + ": socket(AF_PACKET)",
                  "permission denied: packet ingress needs CAP_NET_RAW (run as root, or use "
                  "--ingress udp)",
                  errno);
    }
    return fail_errno(where + ": socket(AF_PACKET)");
  }
  // Drop frames the host itself sends on this interface (pkttype PACKET_OUTGOING), so the
  // relay never re-reads its own copies when an output shares the ingress interface.
  static sock_filter code[] = {
      BPF_STMT(BPF_LD | BPF_B | BPF_ABS, static_cast<uint32_t>(SKF_AD_OFF + SKF_AD_PKTTYPE)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, PACKET_OUTGOING, 0, 1), BPF_STMT(BPF_RET | BPF_K, 0),
      BPF_STMT(BPF_RET | BPF_K, 0x40000),  // whole frame
  };
  sock_fprog program{static_cast<unsigned short>(sizeof code / sizeof code[0]), code};
  if (::setsockopt(fd.get(), SOL_SOCKET, SO_ATTACH_FILTER, &program, sizeof program) != 0) {
    return fail_errno(where + ": setsockopt(SO_ATTACH_FILTER)");
  }
#ifdef PACKET_IGNORE_OUTGOING
  const int one = 1;
  if (::setsockopt(fd.get(), SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one) != 0 &&
      notes != nullptr) {
    *notes += "PACKET_IGNORE_OUTGOING unavailable, BPF pkttype filter only; ";
  }
#else
  if (notes != nullptr) {
    *notes += "PACKET_IGNORE_OUTGOING not in headers, BPF pkttype filter only; ";
  }
#endif
  if (auto ok = set_receive_buffer(fd.get(), options.rcvbuf, where); !ok) {
    return tl::unexpected(ok.error());
  }
  if (ring != nullptr) {
    // A ring of options.rcvbuf bytes replaces the socket receive queue; 1 MiB when unset.
    const uint32_t ring_bytes = options.rcvbuf != 0 ? options.rcvbuf : 1u << 20;
    if (auto mapped = ring->map(fd.get(), ring_bytes); !mapped && notes != nullptr) {
      *notes +=
          "TPACKET_V2 ring unavailable (" + mapped.error().to_string() + "), using recvmmsg; ";
    }
  }
  sockaddr_ll address{};
  address.sll_family = AF_PACKET;
  address.sll_protocol = htons(ETH_P_IP);
  address.sll_ifindex = static_cast<int>(ifindex);
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
    return fail_errno(where + ": bind(AF_PACKET, ifindex " + std::to_string(ifindex) + ")");
  }
  if (options.fanout_id >= 0) {
    // Hash fanout keeps each flow on one worker, so a stream is never reordered.
    const int fanout = (options.fanout_id & 0xffff) | (PACKET_FANOUT_HASH << 16);
    if (::setsockopt(fd.get(), SOL_PACKET, PACKET_FANOUT, &fanout, sizeof fanout) != 0) {
      return fail_errno(where + ": setsockopt(PACKET_FANOUT)");
    }
  }
  // Statistics count from here on: discard whatever the kernel counted before.
  (void)read_packet_drops(fd.get());
  return fd;
}

uint64_t read_packet_drops(int fd) noexcept {
  tpacket_stats stats{};
  socklen_t size = sizeof stats;
  if (::getsockopt(fd, SOL_PACKET, PACKET_STATISTICS, &stats, &size) != 0) {
    return 0;
  }
  return stats.tp_drops;
}

}  // namespace mrelay
