// AF_PACKET ingress socket and its TPACKET_V2 ring; see ingress_socket.h.
//
// Why AF_PACKET: frames are taken before the IP layer, so a source the host has no route to
// (which rp_filter would drop on the UDP path) is still relayed. The price: nothing the IP
// layer would refuse has been refused yet (packet_parser.cc applies those checks), and
// nothing the kernel's offloads leave undone has been done (a UDP GSO run arrives as one
// super-frame; a local sender's checksum may still be partial): the virtio_net_hdr in front
// of every frame says which.
#include <arpa/inet.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "dataplane/ingress/ingress_socket.h"

namespace mrelay {
namespace {

// struct virtio_net_hdr of linux/virtio_net.h, which C++ cannot include (a field there is
// named "class"). Fields in host byte order (see apply_vnet_header).
struct VnetHeader {
  uint8_t flags;
  uint8_t gso_type;
  uint16_t hdr_len;
  uint16_t gso_size;
  uint16_t csum_start;
  uint16_t csum_offset;
};
static_assert(sizeof(VnetHeader) == kVnetHeaderSize);
constexpr uint8_t kVnetNeedsChecksum = 1;  // VIRTIO_NET_HDR_F_NEEDS_CSUM: CHECKSUM_PARTIAL
constexpr uint8_t kVnetDataValid = 2;      // VIRTIO_NET_HDR_F_DATA_VALID: CHECKSUM_UNNECESSARY

// The socket filter (classic BPF, run on each frame from its Ethernet header, after the kernel
// moved an outer VLAN tag into metadata). Accepts IPv4 and IPv6 (UDP whole, other protocols
// as their first kNonUdpSnapBytes: the parser needs only the headers to count them as not UDP
// or as a fragment, and a 64 KiB TCP frame is then never copied out whole; an IPv6 packet
// whose first next header is an extension header the parser walks goes whole, UDP may follow)
// and frames still carrying an in-frame tag (QinQ, judged by the parser); drops the host's own
// outgoing frames and everything else.
constexpr uint32_t kWholeFrame = 0x40000;
constexpr uint32_t kNonUdpSnapBytes = 128;    // Ethernet + the longest IPv4 header, with room
constexpr uint32_t kIpProtocolByte = 14 + 9;  // untagged frame: IPv4 protocol field
constexpr uint32_t kIpv6NextHeaderByte = 14 + 6;  // untagged frame: IPv6 next header field
// Jump offsets count from the next instruction; the comments name the target.
sock_filter g_ingress_filter[] = {
    /* 0 */ BPF_STMT(BPF_LD | BPF_B | BPF_ABS, static_cast<uint32_t>(SKF_AD_OFF + SKF_AD_PKTTYPE)),
    /* 1 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, PACKET_OUTGOING, 5, 0),  // -> 7 drop
    /* 2 */ BPF_STMT(BPF_LD | BPF_H | BPF_ABS, static_cast<uint32_t>(SKF_AD_OFF + SKF_AD_PROTOCOL)),
    /* 3 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ETH_P_IP, 4, 0),       // -> 8 ipv4
    /* 4 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ETH_P_IPV6, 8, 0),     // -> 13 ipv6
    /* 5 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ETH_P_8021Q, 15, 0),   // -> 21 whole
    /* 6 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ETH_P_8021AD, 14, 0),  // -> 21 whole
    /* 7 */ BPF_STMT(BPF_RET | BPF_K, 0),                              // drop
    // ipv4: a frame too short to hold the protocol byte goes whole (the parser counts it).
    /* 8 */ BPF_STMT(BPF_LD | BPF_W | BPF_LEN, 0),
    /* 9 */ BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, kIpProtocolByte + 1, 0, 11),  // short -> 21
    /* 10 */ BPF_STMT(BPF_LD | BPF_B | BPF_ABS, kIpProtocolByte),
    /* 11 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, IPPROTO_UDP, 9, 0),  // -> 21 whole
    /* 12 */ BPF_STMT(BPF_RET | BPF_K, kNonUdpSnapBytes),
    // ipv6: the same with the next header; hop-by-hop, routing, destination options whole.
    /* 13 */ BPF_STMT(BPF_LD | BPF_W | BPF_LEN, 0),
    /* 14 */ BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, kIpv6NextHeaderByte + 1, 0, 6),  // short -> 21
    /* 15 */ BPF_STMT(BPF_LD | BPF_B | BPF_ABS, kIpv6NextHeaderByte),
    /* 16 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, IPPROTO_UDP, 4, 0),      // -> 21 whole
    /* 17 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, IPPROTO_HOPOPTS, 3, 0),  // -> 21 whole
    /* 18 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, IPPROTO_ROUTING, 2, 0),  // -> 21 whole
    /* 19 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, IPPROTO_DSTOPTS, 1, 0),  // -> 21 whole
    /* 20 */ BPF_STMT(BPF_RET | BPF_K, kNonUdpSnapBytes),
    /* 21 */ BPF_STMT(BPF_RET | BPF_K, kWholeFrame),  // whole
};

int set_int_option(int fd, int level, int name, int value) noexcept {
  return ::setsockopt(fd, level, name, &value, sizeof value);
}

void apply_vnet_header(const uint8_t* bytes, FrameMeta& meta) noexcept {
  // Host byte order: a packet socket's vnet header is in the byte order of the host (vio_le()
  // is the legacy virtio order, little-endian on little-endian hosts).
  VnetHeader header;
  std::memcpy(&header, bytes, sizeof header);
  if ((header.flags & kVnetNeedsChecksum) != 0) {
    meta.checksum = ChecksumState::partial;
  } else if ((header.flags & kVnetDataValid) != 0) {
    meta.checksum = ChecksumState::verified;  // CHECKSUM_UNNECESSARY only
  }
  meta.gso_type = header.gso_type;
  meta.gso_size = header.gso_size;
}

}  // namespace

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
    : region_(std::move(other.region_)),
      frame_count_(std::exchange(other.frame_count_, 0)),
      cursor_(std::exchange(other.cursor_, 0)) {}

PacketRing& PacketRing::operator=(PacketRing&& other) noexcept {
  if (this != &other) {
    region_ = std::move(other.region_);
    frame_count_ = std::exchange(other.frame_count_, 0);
    cursor_ = std::exchange(other.cursor_, 0);
  }
  return *this;
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
  region_ = MappedRegion(base, size);
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
  // The filter drops frames the host itself sends on this interface (pkttype
  // PACKET_OUTGOING), so the relay never re-reads its own copies when an output shares the
  // ingress interface, and every ethertype it has no use for.
  sock_fprog program{
      static_cast<unsigned short>(sizeof g_ingress_filter / sizeof g_ingress_filter[0]),
      g_ingress_filter};
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
  // Before the ring: the kernel refuses PACKET_VNET_HDR once a ring is mapped.
  if (set_int_option(fd.get(), SOL_PACKET, PACKET_VNET_HDR, 1) != 0) {
    return fail_errno(where + ": setsockopt(PACKET_VNET_HDR)");
  }
  if (set_int_option(fd.get(), SOL_PACKET, PACKET_AUXDATA, 1) != 0) {
    return fail_errno(where + ": setsockopt(PACKET_AUXDATA)");
  }
  if (ring != nullptr) {
    // A ring of options.rcvbuf bytes replaces the socket receive queue; 1 MiB when unset. The
    // queue (SO_RCVBUF) then only holds the whole copies of frames longer than a slot.
    if (set_int_option(fd.get(), SOL_PACKET, PACKET_COPY_THRESH, 1) != 0) {
      return fail_errno(where + ": setsockopt(PACKET_COPY_THRESH)");
    }
    const uint32_t ring_bytes = options.rcvbuf != 0 ? options.rcvbuf : 1u << 20;
    if (auto mapped = ring->map(fd.get(), ring_bytes); !mapped && notes != nullptr) {
      *notes +=
          "TPACKET_V2 ring unavailable (" + mapped.error().to_string() + "), using recvmmsg; ";
    }
  }
  sockaddr_ll address{};
  address.sll_family = AF_PACKET;
  // ETH_P_ALL: see open_packet_socket() in ingress_socket.h (the VLAN tag survives as metadata).
  address.sll_protocol = htons(ETH_P_ALL);
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

FrameMeta ring_frame_meta(const tpacket2_hdr* frame) noexcept {
  const auto* slot = reinterpret_cast<const uint8_t*>(frame);
  FrameMeta meta;
  sockaddr_ll address;
  std::memcpy(&address, slot + TPACKET_ALIGN(sizeof(tpacket2_hdr)), sizeof address);
  meta.pkttype = address.sll_pkttype;
  meta.vlan_valid = (frame->tp_status & TP_STATUS_VLAN_VALID) != 0;
  meta.vlan_tci = frame->tp_vlan_tci;
  if (frame->tp_mac >= kVnetHeaderSize) {
    apply_vnet_header(slot + frame->tp_mac - kVnetHeaderSize, meta);
  }
  // TP_STATUS_CSUMNOTREADY is the same CHECKSUM_PARTIAL the vnet header reports. Its sibling
  // TP_STATUS_CSUM_VALID is not trusted: the kernel also sets it for CHECKSUM_COMPLETE, where
  // the NIC summed the packet but nobody has compared that sum with the UDP checksum yet.
  if ((frame->tp_status & TP_STATUS_CSUMNOTREADY) != 0) {
    meta.checksum = ChecksumState::partial;
  }
  return meta;
}

FrameMeta received_frame_meta(const sockaddr_ll& address, const tpacket_auxdata* auxdata,
                              const uint8_t* vnet_header) noexcept {
  FrameMeta meta;
  meta.pkttype = address.sll_pkttype;
  if (auxdata != nullptr) {
    meta.vlan_valid = (auxdata->tp_status & TP_STATUS_VLAN_VALID) != 0;
    meta.vlan_tci = auxdata->tp_vlan_tci;
  }
  apply_vnet_header(vnet_header, meta);
  if (auxdata != nullptr && (auxdata->tp_status & TP_STATUS_CSUMNOTREADY) != 0) {
    meta.checksum = ChecksumState::partial;
  }
  return meta;
}

size_t read_ring_copy(int fd, const tpacket2_hdr* frame, uint8_t* buffer, size_t size) noexcept {
  if ((frame->tp_status & TP_STATUS_COPY) == 0) {
    return 0;  // the socket queue was full (SO_RCVBUF): the kernel kept no copy
  }
  // MSG_TRUNC: the real length even if it does not fit, so a short buffer is noticed.
  const ssize_t got = ::recv(fd, buffer, size, MSG_DONTWAIT | MSG_TRUNC);
  if (got < static_cast<ssize_t>(kVnetHeaderSize) || static_cast<size_t>(got) > size ||
      static_cast<size_t>(got) - kVnetHeaderSize != frame->tp_len) {
    return 0;
  }
  return static_cast<size_t>(got) - kVnetHeaderSize;
}

}  // namespace mrelay
