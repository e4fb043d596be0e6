// The AF_XDP socket of the xdp ingress (xdp_ingress.cc): its UMEM (one mmap'ed region of
// equal frames the kernel copies received frames into), its RX and fill rings, and the XDP
// program (xdp_program.h) that steers multicast UDP into it, all owned by one XdpSocket.
//
//   auto socket = mrelay::XdpSocket::open("veth0", ifindex, /*umem_bytes=*/0, &notes);
//   const uint32_t n = socket->peek_rx(kRecvBatch, &first);   // descriptors the kernel filled
//   for (uint32_t i = 0; i < n; ++i) { const xdp_desc& d = socket->rx(first + i); ... }
//   socket->release_rx(n);   // consumed, and their frames straight back on the fill ring
//
// Copy mode (XDP_COPY): veth and most drivers have no zero-copy, and copy mode works on any
// driver, native or generic XDP. Every UMEM frame is either on the fill ring, with the
// kernel, or in the RX ring: the fill ring holds them all, so returning a frame never waits.
// One socket, on receive queue 0: an interface with more receive queues is refused (the
// frames hashed to the other queues would never reach the relay); see open().
#pragma once

#include <linux/if_xdp.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "common/mapped_region.h"
#include "common/unique_fd.h"
#include "dataplane/ingress/xdp_program.h"
#include "mrelay/error.h"

namespace mrelay {

/// The kernel's headroom in front of a copy-mode frame in each UMEM chunk (XDP_PACKET_HEADROOM).
inline constexpr uint32_t kXdpKernelHeadroom = 256;
/// UMEM frames per socket when --rcvbuf is 0 (4096 frames of 2 KiB: 8 MiB).
inline constexpr uint32_t kXdpDefaultFrames = 4096;

/// UMEM frame (chunk) size for an interface MTU: 2048, or 4096 for a frame over 2 KiB; 0 when
/// even a 4096-byte frame cannot hold an Ethernet frame of that MTU.
[[nodiscard]] uint32_t xdp_frame_size(uint32_t mtu) noexcept;
/// UMEM frames for `umem_bytes` (0 = kXdpDefaultFrames): a power of two, 64..65536.
[[nodiscard]] uint32_t xdp_frame_count(uint32_t umem_bytes, uint32_t frame_size) noexcept;

// One ring shared with the kernel: producer and consumer indices and the entries.
struct XdpRing {
  uint32_t* producer = nullptr;
  uint32_t* consumer = nullptr;
  void* entries = nullptr;
  uint32_t mask = 0;
  MappedRegion region;
};

class XdpSocket {
 public:
  /// Creates the XSKMAP, the UMEM, the socket and its rings, binds it to queue 0 of `ifindex`
  /// in copy mode, loads the program and attaches it (native XDP, else generic: `notes`).
  /// Errors name the interface and the failing call; an interface with more than one receive
  /// queue, or an MTU no UMEM frame holds, is refused by name.
  [[nodiscard]] static Result<XdpSocket> open(const std::string& interface, unsigned ifindex,
                                              uint32_t umem_bytes, std::string* notes,
                                              XdpAttachMode mode = XdpAttachMode::any);

  /// Descriptors waiting in the RX ring, at most `most`; the first one's index in `first`.
  [[nodiscard]] uint32_t peek_rx(uint32_t most, uint32_t* first) noexcept;
  [[nodiscard]] const xdp_desc& rx(uint32_t index) const noexcept {
    return static_cast<const xdp_desc*>(rx_.entries)[index & rx_.mask];
  }
  /// The frame bytes of a descriptor, in the UMEM.
  [[nodiscard]] const uint8_t* frame(const xdp_desc& desc) const noexcept {
    return umem_.bytes() + desc.addr;
  }
  /// Gives the `count` descriptors of the last peek_rx() back: the RX ring slots to the
  /// kernel, and their frames to the fill ring.
  void release_rx(uint32_t count) noexcept;
  /// Frames the kernel dropped since the socket opened (XDP_STATISTICS rx_dropped,
  /// rx_ring_full, rx_invalid_descs: a fill ring found empty is counted in rx_dropped).
  [[nodiscard]] uint64_t kernel_drops() const noexcept;

  [[nodiscard]] int fd() const noexcept { return socket_.get(); }
  [[nodiscard]] uint32_t frames() const noexcept { return frames_; }
  [[nodiscard]] uint32_t frame_size() const noexcept { return frame_size_; }

 private:
  Result<void> create_rings(const std::string& where);
  Result<void> attach(unsigned ifindex, const std::string& interface, std::string* notes,
                      XdpAttachMode mode);
  void fill_all() noexcept;

  uint32_t frames_ = 0;
  uint32_t frame_size_ = 0;
  uint32_t rx_cursor_ = 0;  // our consumer index of rx_
  MappedRegion umem_;
  UniqueFd socket_;
  XdpRing rx_;
  XdpRing fill_;
  UniqueFd map_;
  UniqueFd program_;
  UniqueFd link_;  // last: destroyed first, so the program is gone before the socket
};

}  // namespace mrelay
