// The XDP side of the AF_XDP ingress (xdp_ingress.cc): the eBPF program that steers multicast
// UDP frames into the relay's AF_XDP socket, assembled here as a few instructions (no libbpf,
// no compiler), the XSKMAP it redirects through, and its attachment as a BPF link.
//
//   auto map = mrelay::create_xskmap(/*entries=*/1);
//   auto prog = mrelay::load_xdp_program(map->get());
//   auto link = mrelay::attach_xdp(prog->get(), ifindex, "veth0", &notes);  // native, or skb
//   // closing *link detaches the program: nothing is left on the interface on any exit
//   // (SIGKILL included), because the kernel ends a link with its last file descriptor.
//
// What the program redirects (all else goes on to the kernel: ARP and every broadcast,
// unicast, IGMP and MLD queries, IPv6 neighbour discovery, VLAN-tagged frames):
//   - IPv4 UDP to an IPv4 multicast MAC (01:00:5e:..): ethertype 0x0800, protocol 17;
//   - IPv6 UDP to an IPv6 multicast MAC (33:33:..): ethertype 0x86dd, next header 17.
// A frame shorter than the bytes the program reads is passed. The key is the frame's receive
// queue; a queue with no socket in the map falls back to XDP_PASS (bpf_redirect_map's flags).
#pragma once

#include <linux/bpf.h>

#include <cstdint>
#include <string>
#include <vector>

#include "common/unique_fd.h"
#include "mrelay/error.h"

namespace mrelay {

/// Bytes of a frame the program reads (Ethernet header and the IPv4 protocol byte).
inline constexpr uint32_t kXdpProgramReads = 24;

/// The program, its map reference (the first instruction pair, BPF_LD_IMM64 with
/// BPF_PSEUDO_MAP_FD) naming `xskmap_fd`. Pure: unit-tested without a kernel.
[[nodiscard]] std::vector<bpf_insn> xdp_redirect_program(int xskmap_fd);

/// BPF_MAP_CREATE of a BPF_MAP_TYPE_XSKMAP with `entries` slots (one per receive queue).
[[nodiscard]] Result<UniqueFd> create_xskmap(uint32_t entries);
/// Puts socket `xsk_fd` in slot `queue` of the map (BPF_MAP_UPDATE_ELEM).
[[nodiscard]] Result<void> set_xskmap_socket(int map_fd, uint32_t queue, int xsk_fd);
/// BPF_PROG_LOAD of xdp_redirect_program(): the verifier's complaint in the error if refused.
[[nodiscard]] Result<UniqueFd> load_xdp_program(int xskmap_fd);
/// Which XDP attach modes attach_xdp() tries.
enum class XdpAttachMode : uint8_t {
  any,      // native (driver) mode, generic when the driver refuses
  native,   // native only: an error when the driver refuses
  generic,  // generic (skb) only: runs after RPS, on the core the stack's receive work is on
};

/// XdpAttachMode from kXdpModeEnv's value ("native", "generic"; anything else or unset: any).
[[nodiscard]] XdpAttachMode xdp_attach_mode(const char* value) noexcept;

/// BPF_LINK_CREATE (attach type BPF_XDP) on `ifindex` in `mode`: with `any`, native mode first,
/// generic mode when the driver refuses, said in `notes`. The returned link owns the
/// attachment.
[[nodiscard]] Result<UniqueFd> attach_xdp(int prog_fd, unsigned ifindex,
                                          const std::string& interface, std::string* notes,
                                          XdpAttachMode mode = XdpAttachMode::any);

}  // namespace mrelay
