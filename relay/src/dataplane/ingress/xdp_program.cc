// The XDP program, its XSKMAP and its BPF link; see xdp_program.h.
#include "dataplane/ingress/xdp_program.h"

#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_link.h>
#include <netinet/in.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <string_view>

namespace mrelay {
namespace {

// Instruction builders: the macros of the kernel's samples/bpf/bpf_insn.h, as functions.
constexpr bpf_insn insn(uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm) {
  return bpf_insn{code, dst, src, off, imm};
}
constexpr bpf_insn load(uint8_t size, uint8_t dst, uint8_t src, int16_t off) {
  return insn(BPF_LDX | BPF_MEM | size, dst, src, off, 0);
}
constexpr bpf_insn mov_reg(uint8_t dst, uint8_t src) {
  return insn(BPF_ALU64 | BPF_MOV | BPF_X, dst, src, 0, 0);
}
constexpr bpf_insn mov_imm(uint8_t dst, int32_t imm) {
  return insn(BPF_ALU64 | BPF_MOV | BPF_K, dst, 0, 0, imm);
}
constexpr bpf_insn add_imm(uint8_t dst, int32_t imm) {
  return insn(BPF_ALU64 | BPF_ADD | BPF_K, dst, 0, 0, imm);
}
// A conditional jump from instruction `at` to instruction `to` (offsets count from the next).
constexpr bpf_insn jump_imm(uint8_t op, uint8_t dst, int32_t imm, int at, int to) {
  return insn(BPF_JMP | op | BPF_K, dst, 0, static_cast<int16_t>(to - at - 1), imm);
}
constexpr bpf_insn jump_reg(uint8_t op, uint8_t dst, uint8_t src, int at, int to) {
  return insn(BPF_JMP | op | BPF_X, dst, src, static_cast<int16_t>(to - at - 1), 0);
}

// Registers: r1 the context (struct xdp_md), then r1..r3 the helper's arguments.
constexpr uint8_t r0 = 0, r1 = 1, r2 = 2, r3 = 3, r4 = 4, r5 = 5;
// Instruction numbers the jumps name.
constexpr int kIpv6 = 11, kUdp = 14, kPass = 21;
constexpr int16_t kEtherTypeOffset = 12;
constexpr int16_t kIpv4ProtocolOffset = ETH_HLEN + 9;
constexpr int16_t kIpv6NextHeaderOffset = ETH_HLEN + 6;
static_assert(kIpv4ProtocolOffset < static_cast<int16_t>(kXdpProgramReads));
// First byte of the multicast MACs: 01:00:5e:.. (IPv4, RFC 1112) and 33:33:.. (IPv6, RFC 2464).
// Checked in full (not just the group bit) so that broadcast frames (ARP) stay with the kernel.
constexpr int32_t kIpv4MulticastMac0 = 0x01, kIpv6MulticastMac0 = 0x33;

long bpf(int command, bpf_attr& attr) noexcept {
  return ::syscall(__NR_bpf, command, &attr, sizeof attr);
}

// The verifier's last complaint, for the error message.
std::string last_log_line(const char* log) {
  std::string text(log);
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) {
    text.pop_back();
  }
  const size_t start = text.rfind('\n');
  return start == std::string::npos ? text : text.substr(start + 1);
}

}  // namespace

std::vector<bpf_insn> xdp_redirect_program(int xskmap_fd) {
  // The loads go through 32-bit fields of xdp_md; the kernel rewrites them to the real
  // pointers, and the bounds check at 4 lets the verifier accept the reads below it.
  return {
      /* 0 */ load(BPF_W, r2, r1, offsetof(xdp_md, data)),
      /* 1 */ load(BPF_W, r3, r1, offsetof(xdp_md, data_end)),
      /* 2 */ mov_reg(r4, r2),
      /* 3 */ add_imm(r4, kXdpProgramReads),
      /* 4 */ jump_reg(BPF_JGT, r4, r3, 4, kPass),  // shorter than the bytes read
      /* 5 */ load(BPF_H, r4, r2, kEtherTypeOffset),
      /* 6 */ load(BPF_B, r5, r2, 0),
      /* 7 */ jump_imm(BPF_JNE, r4, htons(ETH_P_IP), 7, kIpv6),
      /* 8 */ jump_imm(BPF_JNE, r5, kIpv4MulticastMac0, 8, kPass),
      /* 9 */ load(BPF_B, r4, r2, kIpv4ProtocolOffset),
      /* 10 */ insn(BPF_JMP | BPF_JA, 0, 0, kUdp - 10 - 1, 0),
      /* 11 kIpv6 */ jump_imm(BPF_JNE, r4, htons(ETH_P_IPV6), 11, kPass),
      /* 12 */ jump_imm(BPF_JNE, r5, kIpv6MulticastMac0, 12, kPass),
      /* 13 */ load(BPF_B, r4, r2, kIpv6NextHeaderOffset),
      /* 14 kUdp */ jump_imm(BPF_JNE, r4, IPPROTO_UDP, 14, kPass),
      /* 15 */ load(BPF_W, r2, r1, offsetof(xdp_md, rx_queue_index)),
      /* 16 */ insn(BPF_LD | BPF_DW | BPF_IMM, r1, BPF_PSEUDO_MAP_FD, 0, xskmap_fd),
      /* 17 */ insn(0, 0, 0, 0, 0),    // the upper half of the 64-bit immediate
      /* 18 */ mov_imm(r3, XDP_PASS),  // no socket on this queue: on to the kernel
      /* 19 */ insn(BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_redirect_map),
      /* 20 */ insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0),
      /* 21 kPass */ mov_imm(r0, XDP_PASS),
      /* 22 */ insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0),
  };
}

Result<UniqueFd> create_xskmap(uint32_t entries) {
  bpf_attr attr{};
  attr.map_type = BPF_MAP_TYPE_XSKMAP;
  attr.key_size = sizeof(uint32_t);
  attr.value_size = sizeof(int);
  attr.max_entries = entries;
  UniqueFd fd(static_cast<int>(bpf(BPF_MAP_CREATE, attr)));
  if (!fd) {
    return fail_errno("bpf(BPF_MAP_CREATE, XSKMAP)");
  }
  return fd;
}

Result<void> set_xskmap_socket(int map_fd, uint32_t queue, int xsk_fd) {
  bpf_attr attr{};
  attr.map_fd = static_cast<uint32_t>(map_fd);
  attr.key = reinterpret_cast<uint64_t>(&queue);
  attr.value = reinterpret_cast<uint64_t>(&xsk_fd);
  attr.flags = BPF_ANY;
  if (bpf(BPF_MAP_UPDATE_ELEM, attr) != 0) {
    return fail_errno("bpf(BPF_MAP_UPDATE_ELEM, XSKMAP queue " + std::to_string(queue) + ")");
  }
  return {};
}

Result<UniqueFd> load_xdp_program(int xskmap_fd) {
  const std::vector<bpf_insn> program = xdp_redirect_program(xskmap_fd);
  static constexpr char kLicense[] = "Dual MIT/GPL";
  char log[4096] = {};
  bpf_attr attr{};
  attr.prog_type = BPF_PROG_TYPE_XDP;
  attr.expected_attach_type = BPF_XDP;
  attr.insns = reinterpret_cast<uint64_t>(program.data());
  attr.insn_cnt = static_cast<uint32_t>(program.size());
  attr.license = reinterpret_cast<uint64_t>(kLicense);
  attr.log_buf = reinterpret_cast<uint64_t>(log);
  attr.log_size = sizeof log;
  attr.log_level = 1;
  UniqueFd fd(static_cast<int>(bpf(BPF_PROG_LOAD, attr)));
  if (!fd) {
    const int saved = errno;
    const std::string why = last_log_line(log);
    return fail("bpf(BPF_PROG_LOAD, XDP)", why.empty() ? "refused" : "verifier: " + why, saved);
  }
  return fd;
}

XdpAttachMode xdp_attach_mode(const char* value) noexcept {
  if (value == nullptr) {
    return XdpAttachMode::any;
  }
  const std::string_view text(value);
  return text == "native"    ? XdpAttachMode::native
         : text == "generic" ? XdpAttachMode::generic
                             : XdpAttachMode::any;
}

Result<UniqueFd> attach_xdp(int prog_fd, unsigned ifindex, const std::string& interface,
                            std::string* notes, XdpAttachMode mode) {
  const auto link_create = [&](uint32_t flags) {
    bpf_attr attr{};
    attr.link_create.prog_fd = static_cast<uint32_t>(prog_fd);
    attr.link_create.target_ifindex = ifindex;
    attr.link_create.attach_type = BPF_XDP;
    attr.link_create.flags = flags;
    return UniqueFd(static_cast<int>(bpf(BPF_LINK_CREATE, attr)));
  };
  const std::string where = "ingress " + interface + ": bpf(BPF_LINK_CREATE, XDP";
  int native_errno = 0;
  if (mode != XdpAttachMode::generic) {
    UniqueFd link = link_create(XDP_FLAGS_DRV_MODE);
    if (link) {
      return link;
    }
    native_errno = errno;
    if (native_errno == EBUSY || native_errno == EEXIST) {
      return fail(where + ")", "another XDP program is attached to the interface", native_errno);
    }
    if (mode == XdpAttachMode::native) {
      return fail(where + " native mode)", "refused by the driver", native_errno);
    }
  }
  UniqueFd link = link_create(XDP_FLAGS_SKB_MODE);
  if (!link) {
    return fail_errno(where + " generic mode)");
  }
  if (notes != nullptr) {
    *notes += native_errno != 0
                  ? "XDP native mode refused (" + std::string(std::strerror(native_errno)) +
                        "), generic (skb) mode; "
                  : "XDP generic (skb) mode; ";
  }
  return link;
}

}  // namespace mrelay
