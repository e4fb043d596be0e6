// The xdp ingress reader: an AF_XDP socket (xdp_socket.h) whose XDP program steers the
// interface's multicast UDP frames into a UMEM; each frame is parsed in place and its datagram
// copied into a pool buffer by the same per-frame path as the TPACKET_V2 ring
// (Forwarder::copy_frame), then the frame goes straight back on the fill ring.
//
//   auto ingress = mrelay::make_xdp_ingress(std::move(*socket), ifindex);
//   (*ingress).receive(forwarder, slots);   // no syscall: the rings are shared memory
#include <linux/if_packet.h>

#include <string>
#include <utility>

#include "dataplane/forwarder.h"
#include "dataplane/ingress/ingress_readers.h"

namespace mrelay {
namespace {

class XdpIngress final : public Ingress {
 public:
  XdpIngress(XdpSocket socket, unsigned ifindex) : socket_(std::move(socket)), ifindex_(ifindex) {}

  uint32_t receive(Forwarder& forwarder, ReceiveSlots& /*slots*/) noexcept override {
    uint32_t first = 0;
    const uint32_t count = socket_.peek_rx(kRecvBatch, &first);
    for (uint32_t i = 0; i < count; ++i) {
      handle(forwarder, socket_.rx(first + i));
    }
    socket_.release_rx(count);
    return count;
  }

  // XDP_STATISTICS counts since the socket opened (never reset): the difference is new.
  void read_kernel_drops(WorkerCounters& counters) noexcept override {
    ++counters.syscalls;
    const uint64_t total = socket_.kernel_drops();
    if (total > reported_drops_) {
      counters.kernel_drops += total - reported_drops_;
      reported_drops_ = total;
    }
  }

  int fd() const noexcept override { return socket_.fd(); }

  std::string describe() const override {
    return "rx AF_XDP copy mode " + std::to_string(socket_.frames()) + " frames of " +
           std::to_string(socket_.frame_size());
  }

 private:
  void handle(Forwarder& forwarder, const xdp_desc& desc) noexcept {
    ++forwarder.counters().rx_packets;
    // The program redirects only frames to a multicast MAC, and XDP runs before the kernel
    // classifies or checksums anything: no VLAN metadata (tagged frames are not redirected),
    // no checksum state (a veth peer's partial checksum is told apart by the parser), no GSO state
    // (native XDP on a veth turns GSO off on the sending side; a super-frame larger than a UMEM
    // frame is dropped by the kernel: kernel_drops).
    FrameMeta meta;
    meta.pkttype = PACKET_MULTICAST;
    meta.checksum = ChecksumState::unreported;
    forwarder.copy_frame(ifindex_, meta, socket_.frame(desc), desc.len);
  }

  XdpSocket socket_;
  const unsigned ifindex_;
  uint64_t reported_drops_ = 0;
};

}  // namespace

std::unique_ptr<Ingress> make_xdp_ingress(XdpSocket socket, unsigned ifindex) {
  return std::make_unique<XdpIngress>(std::move(socket), ifindex);
}

}  // namespace mrelay
