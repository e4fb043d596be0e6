// Packet-mode ingress readers: an AF_PACKET socket (packet_socket.cc) read through its
// TPACKET_V2 ring, or with recvmmsg. See ingress.h for who owns what.
//
//   auto ingress = mrelay::make_ring_ingress(std::move(fd), ifindex, std::move(ring));
//   (*ingress).receive(forwarder, slots);   // frames read in place, each datagram copied once
#include <linux/if_packet.h>
#include <sys/socket.h>

#include <string>
#include <utility>

#include "dataplane/forwarder.h"
#include "dataplane/ingress/ingress_readers.h"
#include "dataplane/ingress/receive_slots.h"
#include "mrelay/packet.h"

namespace mrelay {
namespace {

// What both packet readers share: the socket and its kernel drop statistics.
class PacketIngress : public Ingress {
 public:
  PacketIngress(UniqueFd fd, unsigned ifindex) : fd_(std::move(fd)), ifindex_(ifindex) {}

  void read_kernel_drops(WorkerCounters& counters) noexcept override {
    ++counters.syscalls;
    counters.kernel_drops += read_packet_drops(fd_.get());
  }
  int fd() const noexcept override { return fd_.get(); }

 protected:
  UniqueFd fd_;
  const unsigned ifindex_;
};

// The ring: the kernel copies each frame into the next free slot in softirq context and this
// reader parses it in place, with no syscall per batch (only for a frame longer than a slot).
class RingIngress final : public PacketIngress {
 public:
  RingIngress(UniqueFd fd, unsigned ifindex, PacketRing ring)
      : PacketIngress(std::move(fd), ifindex), ring_(std::move(ring)) {}

  uint32_t receive(Forwarder& forwarder, ReceiveSlots& slots) noexcept override {
    uint32_t count = 0;
    while (count < kRecvBatch) {
      tpacket2_hdr* frame = ring_.next();
      if (frame == nullptr) {
        break;
      }
      handle(forwarder, slots, frame);
      ring_.release(frame);
      ++count;
    }
    return count;
  }

  std::string describe() const override {
    return "rx TPACKET_V2 ring " + std::to_string(ring_.frames()) + " frames";
  }

 private:
  void handle(Forwarder& forwarder, ReceiveSlots& slots, const tpacket2_hdr* frame) noexcept {
    WorkerCounters& counters = forwarder.counters();
    ++counters.rx_packets;
    const FrameMeta meta = ring_frame_meta(frame);
    const uint8_t* data = reinterpret_cast<const uint8_t*>(frame) + frame->tp_mac;
    size_t len = frame->tp_snaplen;
    if (frame->tp_len > frame->tp_snaplen) {
      // Longer than a slot (a GSO super-frame, a jumbo frame), or cut to its headers by the
      // socket filter (not UDP). The kernel queued a whole copy of the former beside the slot.
      ++counters.syscalls;
      const size_t whole =
          read_ring_copy(fd_.get(), frame, slots.copy_buffer(), ReceiveSlots::kCopyBufferSize);
      if (whole == 0) {
        forwarder.count_partial_frame(meta, data, len);
        return;
      }
      data = slots.copy_buffer() + kVnetHeaderSize;
      len = whole;
    }
    // The ring frame goes back to the kernel at once; each datagram lives on in a pool
    // buffer until its last copy is sent (one copy per datagram, not per output).
    forwarder.copy_frame(ifindex_, meta, data, len);
  }

  PacketRing ring_;
};

// recvmmsg into the worker's receive slots: a single datagram is forwarded from the buffer it
// was read into, without a copy; a GSO super-frame's datagrams are copied out one by one.
class PacketRecvmmsgIngress final : public PacketIngress {
 public:
  using PacketIngress::PacketIngress;

  uint32_t receive(Forwarder& forwarder, ReceiveSlots& slots) noexcept override {
    const uint32_t count = slots.receive(fd_.get(), forwarder.pool(), forwarder.counters());
    for (uint32_t slot = 0; slot < count; ++slot) {
      handle(forwarder, slots, slot);
    }
    return count;
  }

  std::string describe() const override { return "rx recvmmsg"; }

 private:
  void handle(Forwarder& forwarder, ReceiveSlots& slots, uint32_t slot) noexcept {
    WorkerCounters& counters = forwarder.counters();
    ++counters.rx_packets;
    msghdr& header = slots.header(slot);
    const uint8_t* bytes = slots.data(slot);
    const uint32_t len = slots.length(slot);
    if (len < kVnetHeaderSize) {
      ++counters.malformed_truncated;  // never from the kernel: every frame has its header
      return;
    }
    const tpacket_auxdata* auxdata = nullptr;
    for (cmsghdr* cmsg = CMSG_FIRSTHDR(&header); cmsg != nullptr;
         cmsg = CMSG_NXTHDR(&header, cmsg)) {
      if (cmsg->cmsg_level == SOL_PACKET && cmsg->cmsg_type == PACKET_AUXDATA) {
        auxdata = reinterpret_cast<const tpacket_auxdata*>(CMSG_DATA(cmsg));
      }
    }
    const FrameMeta meta = received_frame_meta(slots.link_source(slot), auxdata, bytes);
    const uint8_t* frame = bytes + kVnetHeaderSize;
    const size_t frame_len = len - kVnetHeaderSize;
    if ((header.msg_flags & MSG_TRUNC) != 0) {
      // Longer than a buffer (a GSO super-frame over 2 KiB, a jumbo frame): the rest is lost.
      // The ring (the default) reads such frames whole.
      forwarder.count_partial_frame(meta, frame, frame_len);
      return;
    }
    UdpView view;
    const int32_t rule = forwarder.accept_frame(ifindex_, meta, frame, frame_len, view);
    if (rule < 0) {
      return;
    }
    if (view.segment_size != 0) {
      forwarder.copy_and_send(rule, view);  // one buffer per datagram; the slot keeps its own
    } else {
      forwarder.forward(rule, slots.buffer(slot), view.payload, view.payload_len, view.ttl);
    }
  }
};

}  // namespace

std::unique_ptr<Ingress> make_ring_ingress(UniqueFd fd, unsigned ifindex, PacketRing ring) {
  return std::make_unique<RingIngress>(std::move(fd), ifindex, std::move(ring));
}

std::unique_ptr<Ingress> make_packet_recvmmsg_ingress(UniqueFd fd, unsigned ifindex) {
  return std::make_unique<PacketRecvmmsgIngress>(std::move(fd), ifindex);
}

}  // namespace mrelay
