// The AF_XDP socket, its UMEM and rings; see xdp_socket.h.
#include "dataplane/ingress/xdp_socket.h"

#include <linux/ethtool.h>
#include <linux/if_ether.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <utility>

#include "dataplane/ingress/xdp_program.h"

namespace mrelay {
namespace {

constexpr uint32_t kMinFrames = 64, kMaxFrames = 65536;

int set_option(int fd, int name, const void* value, socklen_t size) noexcept {
  return ::setsockopt(fd, SOL_XDP, name, value, size);
}

// The interface's MTU and receive queue count, asked over an AF_INET socket (SIOCGIFMTU,
// ETHTOOL_GCHANNELS). A driver without channel counts (no get_channels) has one queue.
Result<void> read_interface(const std::string& interface, uint32_t* mtu, uint32_t* queues) {
  UniqueFd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!fd) {
    return fail_errno("ingress " + interface + ": socket(AF_INET)");
  }
  ifreq request{};
  std::strncpy(request.ifr_name, interface.c_str(), IFNAMSIZ - 1);
  if (::ioctl(fd.get(), SIOCGIFMTU, &request) != 0) {
    return fail_errno("ingress " + interface + ": ioctl(SIOCGIFMTU)");
  }
  *mtu = static_cast<uint32_t>(request.ifr_mtu);
  ethtool_channels channels{};
  channels.cmd = ETHTOOL_GCHANNELS;
  request.ifr_data = reinterpret_cast<char*>(&channels);
  *queues = 1;
  if (::ioctl(fd.get(), SIOCETHTOOL, &request) == 0) {
    *queues = std::max(1u, channels.rx_count + channels.combined_count);
  }
  return {};
}

Result<uint32_t> choose_frame_size(const std::string& interface) {
  uint32_t mtu = 0;
  uint32_t queues = 0;
  if (auto read = read_interface(interface, &mtu, &queues); !read) {
    return tl::unexpected(read.error());
  }
  if (queues > 1) {
    return fail("--ingress xdp",
                "interface " + interface + " has " + std::to_string(queues) +
                    " receive queues; the xdp ingress reads queue 0 only (one AF_XDP socket) "
                    "and would miss the others: use --ingress packet, or one queue (ethtool -L " +
                    interface + " combined 1)");
  }
  const uint32_t frame_size = xdp_frame_size(mtu);
  if (frame_size == 0) {
    return fail("--ingress xdp", "interface " + interface + " MTU " + std::to_string(mtu) +
                                     " does not fit a 4096-byte AF_XDP frame (at most " +
                                     std::to_string(4096 - kXdpKernelHeadroom - ETH_HLEN) +
                                     "): use --ingress packet");
  }
  return frame_size;
}

Result<XdpRing> map_ring(int fd, const xdp_ring_offset& offsets, uint32_t size, size_t entry_size,
                         off_t page_offset, const char* name) {
  const size_t length = offsets.desc + size * entry_size;
  void* base =
      ::mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, page_offset);
  if (base == MAP_FAILED) {
    return fail_errno(std::string("mmap(") + name + ")");
  }
  XdpRing ring;
  auto* bytes = static_cast<uint8_t*>(base);
  ring.producer = reinterpret_cast<uint32_t*>(bytes + offsets.producer);
  ring.consumer = reinterpret_cast<uint32_t*>(bytes + offsets.consumer);
  ring.entries = bytes + offsets.desc;
  ring.mask = size - 1;
  ring.region = MappedRegion(base, length);
  return ring;
}

}  // namespace

uint32_t xdp_frame_size(uint32_t mtu) noexcept {
  for (const uint32_t size : {2048u, 4096u}) {
    if (mtu + ETH_HLEN <= size - kXdpKernelHeadroom) {
      return size;
    }
  }
  return 0;
}

uint32_t xdp_frame_count(uint32_t umem_bytes, uint32_t frame_size) noexcept {
  if (umem_bytes == 0) {
    return kXdpDefaultFrames;
  }
  const uint32_t frames = std::bit_floor(std::max(umem_bytes / frame_size, 1u));
  return std::clamp(frames, kMinFrames, kMaxFrames);
}

Result<XdpSocket> XdpSocket::open(const std::string& interface, unsigned ifindex,
                                  uint32_t umem_bytes, std::string* notes, XdpAttachMode mode) {
  const std::string where = "ingress " + interface;
  XdpSocket xsk;
  const auto frame_size = choose_frame_size(interface);
  if (!frame_size) {
    return tl::unexpected(frame_size.error());
  }
  xsk.frame_size_ = *frame_size;
  xsk.frames_ = xdp_frame_count(umem_bytes, xsk.frame_size_);
  const size_t umem_size = static_cast<size_t>(xsk.frames_) * xsk.frame_size_;
  void* umem = ::mmap(nullptr, umem_size, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
  if (umem == MAP_FAILED) {
    return fail_errno(where + ": mmap(UMEM, " + std::to_string(umem_size) + " bytes)");
  }
  xsk.umem_ = MappedRegion(umem, umem_size);
  xsk.socket_ = UniqueFd(::socket(AF_XDP, SOCK_RAW | SOCK_CLOEXEC, 0));
  if (!xsk.socket_) {
    return fail_errno(where + ": socket(AF_XDP)");
  }
  if (auto rings = xsk.create_rings(where); !rings) {
    return tl::unexpected(rings.error());
  }
  xsk.fill_all();
  sockaddr_xdp address{};
  address.sxdp_family = AF_XDP;
  address.sxdp_ifindex = ifindex;
  address.sxdp_queue_id = 0;
  address.sxdp_flags = XDP_COPY;
  if (::bind(xsk.socket_.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
    return fail_errno(where + ": bind(AF_XDP, queue 0, XDP_COPY)");
  }
  if (auto attached = xsk.attach(ifindex, interface, notes, mode); !attached) {
    return tl::unexpected(attached.error());
  }
  return xsk;
}

// The map with this socket in slot 0, the program reading it, and the link that attaches it.
Result<void> XdpSocket::attach(unsigned ifindex, const std::string& interface, std::string* notes,
                               XdpAttachMode mode) {
  auto map = create_xskmap(1);
  if (!map) {
    return tl::unexpected(map.error());
  }
  map_ = std::move(*map);
  if (auto set = set_xskmap_socket(map_.get(), 0, socket_.get()); !set) {
    return set;
  }
  auto program = load_xdp_program(map_.get());
  if (!program) {
    return tl::unexpected(program.error());
  }
  program_ = std::move(*program);
  auto link = attach_xdp(program_.get(), ifindex, interface, notes, mode);
  if (!link) {
    return tl::unexpected(link.error());
  }
  link_ = std::move(*link);
  return {};
}

// UMEM registration, then the fill, completion (required by bind, unused: nothing is sent)
// and RX rings, each as large as the UMEM has frames.
Result<void> XdpSocket::create_rings(const std::string& where) {
  const int fd = socket_.get();
  xdp_umem_reg umem{};
  umem.addr = reinterpret_cast<uint64_t>(umem_.bytes());
  umem.len = static_cast<uint64_t>(frames_) * frame_size_;
  umem.chunk_size = frame_size_;
  if (set_option(fd, XDP_UMEM_REG, &umem, sizeof umem) != 0) {
    return fail_errno(where + ": setsockopt(XDP_UMEM_REG)");
  }
  const uint32_t size = frames_;
  if (set_option(fd, XDP_UMEM_FILL_RING, &size, sizeof size) != 0 ||
      set_option(fd, XDP_UMEM_COMPLETION_RING, &size, sizeof size) != 0 ||
      set_option(fd, XDP_RX_RING, &size, sizeof size) != 0) {
    return fail_errno(where + ": setsockopt(XDP rings, " + std::to_string(size) + " entries)");
  }
  xdp_mmap_offsets offsets{};
  socklen_t length = sizeof offsets;
  if (::getsockopt(fd, SOL_XDP, XDP_MMAP_OFFSETS, &offsets, &length) != 0) {
    return fail_errno(where + ": getsockopt(XDP_MMAP_OFFSETS)");
  }
  auto rx = map_ring(fd, offsets.rx, size, sizeof(xdp_desc), XDP_PGOFF_RX_RING, "RX");
  if (!rx) {
    return tl::unexpected(rx.error());
  }
  rx_ = std::move(*rx);
  auto fill = map_ring(fd, offsets.fr, size, sizeof(uint64_t),
                       static_cast<off_t>(XDP_UMEM_PGOFF_FILL_RING), "fill");
  if (!fill) {
    return tl::unexpected(fill.error());
  }
  fill_ = std::move(*fill);
  return {};
}

// Every frame onto the fill ring before bind: the kernel can fill all of them at once.
void XdpSocket::fill_all() noexcept {
  auto* addresses = static_cast<uint64_t*>(fill_.entries);
  for (uint32_t i = 0; i < frames_; ++i) {
    addresses[i & fill_.mask] = static_cast<uint64_t>(i) * frame_size_;
  }
  __atomic_store_n(fill_.producer, frames_, __ATOMIC_RELEASE);
}

uint32_t XdpSocket::peek_rx(uint32_t most, uint32_t* first) noexcept {
  const uint32_t produced = __atomic_load_n(rx_.producer, __ATOMIC_ACQUIRE);
  *first = rx_cursor_;
  return std::min(produced - rx_cursor_, most);
}

void XdpSocket::release_rx(uint32_t count) noexcept {
  if (count == 0) {
    return;
  }
  // The fill ring has room for every frame (see xdp_socket.h), so no free-space check.
  auto* addresses = static_cast<uint64_t*>(fill_.entries);
  const uint32_t fill_at = *fill_.producer;  // only this process writes it
  const uint64_t chunk = ~static_cast<uint64_t>(frame_size_ - 1);
  for (uint32_t i = 0; i < count; ++i) {
    addresses[(fill_at + i) & fill_.mask] = rx(rx_cursor_ + i).addr & chunk;
  }
  __atomic_store_n(fill_.producer, fill_at + count, __ATOMIC_RELEASE);
  rx_cursor_ += count;
  __atomic_store_n(rx_.consumer, rx_cursor_, __ATOMIC_RELEASE);
}

uint64_t XdpSocket::kernel_drops() const noexcept {
  xdp_statistics stats{};
  socklen_t length = sizeof stats;
  if (::getsockopt(socket_.get(), SOL_XDP, XDP_STATISTICS, &stats, &length) != 0) {
    return 0;
  }
  return stats.rx_dropped + stats.rx_ring_full + stats.rx_invalid_descs;
}

}  // namespace mrelay
