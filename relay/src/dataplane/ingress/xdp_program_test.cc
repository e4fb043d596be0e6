// Tests of the xdp ingress that need no kernel: the XDP program, run on frames by a small
// interpreter of the instructions it uses (so what it redirects and what it leaves to the
// kernel is checked, not only its shape), and the UMEM sizing.
#include "dataplane/ingress/xdp_program.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <linux/if_ether.h>
#include <netinet/in.h>

#include <array>
#include <cstring>
#include <vector>

#include "dataplane/ingress/xdp_socket.h"

namespace mrelay {
namespace {

constexpr int kMapFd = 42;
constexpr uint32_t kQueue = 3;

// What the program returned: XDP_PASS, or a redirect through the map with its key and flags.
struct Verdict {
  bool redirected = false;
  uint64_t action = 0;  // r0 at exit, when not redirected
  uint64_t map = 0, key = 0, flags = 0;
};

// xdp_md as the program reads it: 32-bit offsets standing for the frame's pointers.
struct Context {
  const uint8_t* data;
  const uint8_t* end;
};

uint64_t load_context(const Context& ctx, int16_t off) {
  switch (off) {
    case offsetof(xdp_md, data):
      return reinterpret_cast<uint64_t>(ctx.data);
    case offsetof(xdp_md, data_end):
      return reinterpret_cast<uint64_t>(ctx.end);
    case offsetof(xdp_md, rx_queue_index):
      return kQueue;
    default:
      ADD_FAILURE() << "program reads xdp_md offset " << off;
      return 0;
  }
}

// Loads from the frame fail the test when they fall outside [data, end): the verifier would
// have refused such a program.
uint64_t load_frame(const Context& ctx, uint64_t address, int size) {
  const auto* at = reinterpret_cast<const uint8_t*>(address);
  EXPECT_TRUE(at >= ctx.data && at + size <= ctx.end) << "out-of-bounds read";
  uint64_t value = 0;
  std::memcpy(&value, at, size);  // little-endian hosts, as the kernel's own loads
  return value;
}

int size_of(uint8_t code) {
  switch (BPF_SIZE(code)) {
    case BPF_B:
      return 1;
    case BPF_H:
      return 2;
    case BPF_W:
      return 4;
    default:
      return 8;
  }
}

bool jump_taken(uint8_t code, uint64_t dst, uint64_t src) {
  switch (BPF_OP(code)) {
    case BPF_JA:
      return true;
    case BPF_JGT:
      return dst > src;
    case BPF_JNE:
      return dst != src;
    default:
      ADD_FAILURE() << "unexpected jump op " << int(BPF_OP(code));
      return false;
  }
}

// One branch per instruction class the program uses.
Verdict run(const std::vector<bpf_insn>& program, const std::vector<uint8_t>& frame) {
  const Context ctx{frame.data(), frame.data() + frame.size()};
  std::array<uint64_t, 11> reg{};
  bool r1_is_context = true;
  Verdict verdict;
  for (size_t pc = 0; pc < program.size(); ++pc) {
    const bpf_insn& in = program[pc];
    const uint8_t cls = BPF_CLASS(in.code);
    if (cls == BPF_LDX) {
      const bool context = in.src_reg == 1 && r1_is_context;
      reg[in.dst_reg] = context ? load_context(ctx, in.off)
                                : load_frame(ctx, reg[in.src_reg] + in.off, size_of(in.code));
    } else if (cls == BPF_ALU64 && BPF_OP(in.code) == BPF_MOV) {
      reg[in.dst_reg] = BPF_SRC(in.code) == BPF_X ? reg[in.src_reg] : uint64_t(int64_t(in.imm));
    } else if (cls == BPF_ALU64 && BPF_OP(in.code) == BPF_ADD) {
      reg[in.dst_reg] += uint64_t(int64_t(in.imm));
    } else if (cls == BPF_LD) {
      EXPECT_EQ(in.src_reg, BPF_PSEUDO_MAP_FD);
      reg[in.dst_reg] = uint32_t(in.imm);
      r1_is_context = r1_is_context && in.dst_reg != 1;
      ++pc;  // the upper half
    } else if (in.code == (BPF_JMP | BPF_CALL)) {
      EXPECT_EQ(in.imm, BPF_FUNC_redirect_map);
      verdict = {true, 0, reg[1], reg[2], reg[3]};
      reg[0] = XDP_REDIRECT;
    } else if (in.code == (BPF_JMP | BPF_EXIT)) {
      verdict.action = reg[0];
      return verdict;
    } else if (cls == BPF_JMP) {
      const uint64_t src = BPF_SRC(in.code) == BPF_X ? reg[in.src_reg] : uint64_t(int64_t(in.imm));
      if (jump_taken(in.code, reg[in.dst_reg], src)) {
        pc += in.off;
      }
    } else {
      ADD_FAILURE() << "unexpected instruction " << int(in.code) << " at " << pc;
      return verdict;
    }
  }
  ADD_FAILURE() << "ran off the end";
  return verdict;
}

// An Ethernet frame to `mac0`:..., of `ethertype`, with `protocol` where IPv4 or IPv6 keep it.
std::vector<uint8_t> frame(uint8_t mac0, uint16_t ethertype, uint8_t protocol, size_t size = 64) {
  std::vector<uint8_t> bytes(size, 0);
  if (size < ETH_HLEN) {
    return bytes;
  }
  bytes[0] = mac0;
  bytes[1] = mac0 == 0xff ? 0xff : 0x00;
  const uint16_t type = htons(ethertype);
  std::memcpy(&bytes[12], &type, 2);
  if (ethertype == ETH_P_IP && size > ETH_HLEN + 9) {
    bytes[ETH_HLEN] = 0x45;
    bytes[ETH_HLEN + 9] = protocol;
  } else if (ethertype == ETH_P_IPV6 && size > ETH_HLEN + 6) {
    bytes[ETH_HLEN] = 0x60;
    bytes[ETH_HLEN + 6] = protocol;
  }
  return bytes;
}

TEST(XdpProgram, RedirectsMulticastUdpToTheSocketOfItsQueue) {
  const auto program = xdp_redirect_program(kMapFd);
  for (const auto& bytes :
       {frame(0x01, ETH_P_IP, IPPROTO_UDP), frame(0x33, ETH_P_IPV6, IPPROTO_UDP),
        frame(0x01, ETH_P_IP, IPPROTO_UDP, kXdpProgramReads)}) {
    const Verdict v = run(program, bytes);
    EXPECT_TRUE(v.redirected);
    EXPECT_EQ(v.map, uint64_t(kMapFd));
    EXPECT_EQ(v.key, kQueue);
    EXPECT_EQ(v.flags, uint64_t(XDP_PASS));  // no socket on the queue: on to the kernel
    EXPECT_EQ(v.action, uint64_t(XDP_REDIRECT));
  }
}

TEST(XdpProgram, LeavesEverythingElseToTheKernel) {
  const auto program = xdp_redirect_program(kMapFd);
  const std::vector<std::vector<uint8_t>> kernel_frames = {
      frame(0xff, ETH_P_ARP, 0),                                 // ARP request (broadcast)
      frame(0xff, ETH_P_IP, IPPROTO_UDP),                        // broadcast UDP (DHCP)
      frame(0x02, ETH_P_IP, IPPROTO_UDP),                        // unicast UDP
      frame(0x02, ETH_P_IP, IPPROTO_ICMP),                       // ping to the relay
      frame(0x01, ETH_P_IP, IPPROTO_IGMP),                       // IGMP query
      frame(0x33, ETH_P_IPV6, IPPROTO_ICMPV6),                   // neighbour discovery, MLD
      frame(0x33, ETH_P_IPV6, IPPROTO_HOPOPTS),                  // MLD behind hop-by-hop
      frame(0x01, ETH_P_8021Q, 0),                               // VLAN-tagged
      frame(0x33, ETH_P_IP, IPPROTO_UDP),                        // IPv4 to an IPv6 MAC
      frame(0x01, ETH_P_IPV6, IPPROTO_UDP),                      // IPv6 to an IPv4 MAC
      frame(0x01, ETH_P_IP, IPPROTO_UDP, kXdpProgramReads - 1),  // too short to judge
      frame(0x01, 0, 0, 0),                                      // empty
  };
  for (size_t i = 0; i < kernel_frames.size(); ++i) {
    const Verdict v = run(program, kernel_frames[i]);
    EXPECT_FALSE(v.redirected) << "frame " << i;
    EXPECT_EQ(v.action, uint64_t(XDP_PASS)) << "frame " << i;
  }
}

TEST(XdpProgram, ShapeTheVerifierNeeds) {
  const auto program = xdp_redirect_program(kMapFd);
  ASSERT_FALSE(program.empty());
  EXPECT_EQ(program.back().code, BPF_JMP | BPF_EXIT);
  int map_loads = 0;
  for (size_t pc = 0; pc < program.size(); ++pc) {
    const bpf_insn& in = program[pc];
    if (in.code == (BPF_LD | BPF_DW | BPF_IMM)) {
      ++map_loads;
      EXPECT_EQ(in.imm, kMapFd);
      ASSERT_LT(pc + 1, program.size());
      EXPECT_EQ(program[pc + 1].code, 0);
    }
    if (BPF_CLASS(in.code) == BPF_JMP && in.code != (BPF_JMP | BPF_CALL) &&
        in.code != (BPF_JMP | BPF_EXIT)) {
      const int64_t target = int64_t(pc) + 1 + in.off;
      EXPECT_GT(target, int64_t(pc)) << "backward jump at " << pc;  // no loops
      EXPECT_LT(target, int64_t(program.size())) << "jump out at " << pc;
    }
  }
  EXPECT_EQ(map_loads, 1);
}

TEST(XdpProgram, AttachModeFromTheEnvironmentValue) {
  EXPECT_EQ(xdp_attach_mode(nullptr), XdpAttachMode::any);
  EXPECT_EQ(xdp_attach_mode("generic"), XdpAttachMode::generic);
  EXPECT_EQ(xdp_attach_mode("native"), XdpAttachMode::native);
  EXPECT_EQ(xdp_attach_mode("skb"), XdpAttachMode::any);  // unknown: the default
}

TEST(XdpSocket, FrameSizeFromTheMtu) {
  EXPECT_EQ(xdp_frame_size(1500), 2048u);
  EXPECT_EQ(xdp_frame_size(2048 - kXdpKernelHeadroom - ETH_HLEN), 2048u);
  EXPECT_EQ(xdp_frame_size(2048 - kXdpKernelHeadroom - ETH_HLEN + 1), 4096u);
  EXPECT_EQ(xdp_frame_size(4096 - kXdpKernelHeadroom - ETH_HLEN), 4096u);
  EXPECT_EQ(xdp_frame_size(9000), 0u);  // jumbo: refused by name at start
}

TEST(XdpSocket, FrameCountFromTheReceiveBuffer) {
  EXPECT_EQ(xdp_frame_count(0, 2048), kXdpDefaultFrames);
  EXPECT_EQ(xdp_frame_count(1u << 20, 2048), 512u);
  EXPECT_EQ(xdp_frame_count(3u << 20, 2048), 1024u);   // a power of two, rounded down
  EXPECT_EQ(xdp_frame_count(4096, 2048), 64u);         // at least 64
  EXPECT_EQ(xdp_frame_count(1u << 30, 4096), 65536u);  // at most 65536
}

}  // namespace
}  // namespace mrelay
