// The kernel's own IPv4 multicast forwarding (ipmr, the MRT_* socket options), driven like a
// minimal smcroute: the reference forwarder mrelay is compared against on the same rig.
//
//   auto fwd = mrelay::KernelForwarder::open();           // MRT_INIT on a raw IGMP socket
//   int in = *fwd->add_vif("rin0");                        // VIFF_USE_IFINDEX, threshold 1
//   int out = *fwd->add_vif("rout0");
//   fwd->add_route(source, group, in, {out});              // MRT_ADD_MFC, TTL threshold 1
//   // ... or read IGMPMSG_NOCACHE upcalls from fwd->fd() (parse_upcall) and add the (S,G) seen
//   auto sg = fwd->sg_counts(source, group);               // SIOCGETSGCNT
//
// Limits: one mroute socket per network namespace (MRT_INIT fails with EADDRINUSE otherwise),
// at most kMaxVifs (32, the kernel's MAXVIFS) interfaces in total, packets are forwarded only
// when their TTL exceeds the threshold (1) and leave with TTL - 1, and the group cannot be
// rewritten: outputs carry the input group.
#pragma once

#include <netinet/in.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "mrelay/cli.h"
#include "mrelay/error.h"

namespace mrelay {

/// The kernel's MAXVIFS (include/uapi/linux/mroute.h): VIFs per multicast routing table.
inline constexpr int kMaxVifs = 32;

/// How mrelay-kfwd makes the kernel replicate: multicast routing (MRT_*, this file) or an
/// nftables netdev ingress chain with dup/fwd (nft_forwarder.h).
enum class KfwdMethod { ipmr, nft };

/// Command line of mrelay-kfwd.
struct KfwdOptions {
  KfwdMethod method = KfwdMethod::ipmr;        // --method
  std::string input_interface;                 // --in
  std::vector<std::string> output_interfaces;  // --out (repeatable)
  std::optional<in_addr> group;                // --group: only this group is forwarded
  std::optional<in6_addr> group6;              // --group with an IPv6 group (nft only)
  std::optional<in_addr> source;               // --source: static (S,G) entry (needs --group)
  std::optional<uint16_t> port;                // --port: UDP port matched (nft only)
  std::optional<in_addr> rewrite_group;        // --rewrite GROUP:PORT (nft only)
  std::optional<in6_addr> rewrite_group6;      // --rewrite [GROUP]:PORT, IPv6 (nft only)
  std::optional<uint16_t> rewrite_port;
  std::string nft_program = "nft";  // --nft PATH
  double duration_s = 0;            // --duration: 0 = until SIGTERM/SIGINT
  bool json = false;                // --json
  std::string ready_file;           // --ready-file: created once VIFs exist
};

/// mrelay-kfwd's option table (and help text), storing into `options`.
void describe_kfwd(cli::Parser& parser, KfwdOptions& options);
/// Parses argv with that table, then checks across flags (required ones, method-only ones,
/// the VIF limit); errors name the flag ("--out: ..."). cli::finish() prints and exits.
[[nodiscard]] cli::Parsed parse_kfwd(cli::Parser& parser, KfwdOptions& options, int argc,
                                     const char* const* argv);

/// One message the kernel queued on the mroute socket (struct igmpmsg).
struct Upcall {
  uint8_t type = 0;  // IGMPMSG_NOCACHE, IGMPMSG_WRONGVIF, ...
  uint8_t vif = 0;   // VIF the packet arrived on
  in_addr source{};
  in_addr group{};
};

/// Decodes a datagram read from the mroute socket. Returns nothing for ordinary IGMP packets
/// (the same socket receives those: an upcall has 0 where an IP header has its protocol).
[[nodiscard]] std::optional<Upcall> parse_upcall(const uint8_t* data, size_t size) noexcept;

struct SgCounts {
  uint64_t packets = 0;
  uint64_t bytes = 0;  // IP total length
  uint64_t wrong_if = 0;
};

struct VifCounts {
  uint64_t in_packets = 0;
  uint64_t out_packets = 0;
  uint64_t in_bytes = 0;
  uint64_t out_bytes = 0;
};

/// Owns the mroute socket: MRT_INIT on open, MRT_DONE (which removes every VIF and MFC
/// entry) on destruction.
class KernelForwarder {
 public:
  [[nodiscard]] static Result<KernelForwarder> open();

  KernelForwarder(KernelForwarder&& other) noexcept;
  KernelForwarder& operator=(KernelForwarder&& other) noexcept;
  KernelForwarder(const KernelForwarder&) = delete;
  KernelForwarder& operator=(const KernelForwarder&) = delete;
  ~KernelForwarder();

  /// Adds `interface` as the next VIF (by ifindex, TTL threshold 1). `flag` names the
  /// command-line flag for errors. Returns the VIF index.
  [[nodiscard]] Result<int> add_vif(const std::string& interface, const std::string& flag);
  /// Installs (source, group) arriving on input_vif -> output_vifs (MRT_ADD_MFC).
  [[nodiscard]] Result<void> add_route(in_addr source, in_addr group, int input_vif,
                                       const std::vector<int>& output_vifs);
  [[nodiscard]] Result<SgCounts> sg_counts(in_addr source, in_addr group) const;
  [[nodiscard]] Result<VifCounts> vif_counts(int vif) const;
  /// MRT_DONE now (the destructor does it otherwise).
  [[nodiscard]] Result<void> done();

  /// The mroute socket: readable when an upcall (or an IGMP packet) is queued.
  [[nodiscard]] int fd() const { return fd_; }
  [[nodiscard]] int vif_count() const { return vif_count_; }

 private:
  explicit KernelForwarder(int fd) : fd_(fd) {}
  void close_socket() noexcept;

  int fd_ = -1;
  int vif_count_ = 0;
};

}  // namespace mrelay
