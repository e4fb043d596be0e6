// Kernel multicast forwarding through the MRT_* socket options. See kernel_forwarder.h.
//
//   mrelay-kfwd --in rin0 --out rout0 --out rout1 --json      (uses this file)
#include "reference/kernel_forwarder.h"

#include <arpa/inet.h>
#include <linux/mroute.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string_view>
#include <utility>

namespace mrelay {
namespace {

// --duration upper bound in seconds: a reference forwarder in a test or a bench cell never
// needs more than a day; the bound catches unit mistakes (ms given as s).
constexpr double kMaxDurationS = 86400;

// "'text'" for messages, built by appending: GCC 12 reports a false -Wrestrict for a
// string literal + std::string concatenation here.
std::string quoted(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 2);
  out.push_back('\'');
  out.append(text);
  out.push_back('\'');
  return out;
}

Result<in_addr> parse_ipv4(std::string_view text, const std::string& flag) {
  in_addr address{};
  std::string copy(text);
  if (inet_pton(AF_INET, copy.c_str(), &address) != 1) {
    return fail(flag, quoted(copy) + " is not an IPv4 address");
  }
  return address;
}

// Seconds in 0..kMaxDurationS (the parser's number check: the error names the flag and range).
Result<double> parse_seconds(std::string_view text, const std::string& flag) {
  return cli::parse_double(flag, text, 0, kMaxDurationS);
}

Result<in_addr> parse_group(std::string_view text, const std::string& flag) {
  auto group = parse_ipv4(text, flag);
  if (!group) {
    return tl::unexpected(group.error());
  }
  if (!IN_MULTICAST(ntohl(group->s_addr))) {
    return fail(flag, quoted(text) + " is not a multicast group (224.0.0.0/4)");
  }
  return *group;
}

Result<in6_addr> parse_group6(std::string_view text, const std::string& flag) {
  in6_addr group{};
  std::string copy(text);
  if (inet_pton(AF_INET6, copy.c_str(), &group) != 1) {
    return fail(flag, quoted(copy) + " is not an IPv6 address");
  }
  if (!IN6_IS_ADDR_MULTICAST(&group)) {
    return fail(flag, quoted(copy) + " is not a multicast group (ff00::/8)");
  }
  return group;
}

Result<uint16_t> parse_port(std::string_view text, const std::string& flag) {
  auto port = cli::parse_uint(flag, text, 1, 65535);
  if (!port) {
    return tl::unexpected(port.error());
  }
  return static_cast<uint16_t>(*port);
}

// The flags that belong to one method only, and the ones nft needs.
Result<void> check_method_flags(const KfwdOptions& options) {
  if (options.method == KfwdMethod::ipmr) {
    if (options.port) {
      return fail("--port", "only with --method nft (multicast routing matches groups, not ports)");
    }
    if (options.rewrite_group || options.rewrite_group6) {
      return fail("--rewrite", "only with --method nft (multicast routing cannot rewrite)");
    }
    if (options.group6) {
      return fail("--group", "an IPv6 group needs --method nft (no IPv6 multicast routing here)");
    }
    return {};
  }
  if (!options.group && !options.group6) {
    return fail("--group", "required with --method nft");
  }
  if ((options.group6 && options.rewrite_group) || (options.group && options.rewrite_group6)) {
    return fail("--rewrite", "the group's family differs from --group's");
  }
  if (options.group6 && options.source) {
    return fail("--source", "an IPv4 source with an IPv6 --group");
  }
  if (!options.port) {
    return fail("--port", "required with --method nft");
  }
  return {};
}

// What --help says before the options.
constexpr const char* kKfwdDescription =
    "The kernel's own multicast replication as a reference forwarder, run inside the relay "
    "namespace (one instance per namespace), by one of two methods (see Methods).";


constexpr const char* kKfwdOutput =
    R"(  --json, ipmr: {"program":"mrelay-kfwd","method":"ipmr","duration_s":F,
    "upcalls":N,"ignored_upcalls":N,
    "mfc":[{"source":..,"group":..,"packets":N,"bytes":N,"wrong_if":N}],
    "vifs":[{"vif":0,"interface":..,"in_packets":N,"out_packets":N,
             "in_bytes":N,"out_bytes":N}]}
  nft: {"program":"mrelay-kfwd","method":"nft","duration_s":F,
    "matched_packets":N,"matched_bytes":N,"outputs":[..]}
)";

// A handler that refuses an empty value, then stores with `store`.
cli::Handler nonempty(std::function<Result<void>(const std::string&, std::string_view)> store) {
  return [store = std::move(store)](std::string_view flag, std::string_view value) -> Result<void> {
    if (value.empty()) {
      return fail(std::string(flag), "empty value");
    }
    return store(std::string(flag), value);
  };
}

// Stores an optional address parsed by `parse` (parse_group or parse_ipv4).
template <typename Parse>
cli::Handler store_address(std::optional<in_addr>& target, Parse parse) {
  return nonempty([&target, parse](const std::string& flag, std::string_view v) -> Result<void> {
    auto address = parse(v, flag);
    if (!address) {
      return tl::unexpected(address.error());
    }
    target = *address;
    return {};
  });
}

Result<void> store_method(KfwdOptions& options, const std::string& flag, std::string_view v) {
  if (v == "ipmr") {
    options.method = KfwdMethod::ipmr;
  } else if (v == "nft") {
    options.method = KfwdMethod::nft;
  } else {
    return fail(flag, quoted(v) + " is not a method (ipmr, nft)");
  }
  return {};
}

// --rewrite [G6]:P: an IPv6 group in brackets (nft only).
Result<void> store_rewrite6(KfwdOptions& options, const std::string& flag, std::string_view v) {
  const auto close = v.find("]:");
  if (close == std::string_view::npos) {
    return fail(flag, quoted(v) + " is not [GROUP]:PORT");
  }
  auto group = parse_group6(v.substr(1, close - 1), flag);
  if (!group) {
    return tl::unexpected(group.error());
  }
  auto port = parse_port(v.substr(close + 2), flag);
  if (!port) {
    return tl::unexpected(port.error());
  }
  options.rewrite_group6 = *group;
  options.rewrite_port = *port;
  return {};
}

Result<void> store_rewrite(KfwdOptions& options, const std::string& flag, std::string_view v) {
  if (v.starts_with('[')) {
    return store_rewrite6(options, flag, v);
  }
  const auto colon = v.rfind(':');
  if (colon == std::string_view::npos) {
    return fail(flag, quoted(v) + " is not GROUP:PORT");
  }
  auto group = parse_group(v.substr(0, colon), flag);
  if (!group) {
    return tl::unexpected(group.error());
  }
  auto port = parse_port(v.substr(colon + 1), flag);
  if (!port) {
    return tl::unexpected(port.error());
  }
  options.rewrite_group = *group;
  options.rewrite_port = *port;
  return {};
}

// The checks across flags: required ones, method-only flags, the VIF limit, distinct outputs.
Result<void> check_kfwd_options(const KfwdOptions& options) {
  if (options.input_interface.empty()) {
    return fail("--in", "required");
  }
  if (options.output_interfaces.empty()) {
    return fail("--out", "at least one egress interface is required");
  }
  if (auto checked = check_method_flags(options); !checked) {
    return tl::unexpected(checked.error());
  }
  const size_t max_outputs = kMaxVifs - 1;
  if (options.method == KfwdMethod::ipmr && options.output_interfaces.size() > max_outputs) {
    return fail("--out", std::to_string(options.output_interfaces.size()) +
                             " egress interfaces given; the kernel allows at most " +
                             std::to_string(max_outputs) +
                             " (MAXVIFS = " + std::to_string(kMaxVifs) + " VIFs including --in)");
  }
  for (size_t i = 0; i < options.output_interfaces.size(); ++i) {
    const std::string& name = options.output_interfaces[i];
    if (name == options.input_interface) {
      return fail("--out", quoted(name) + " is also the --in interface");
    }
    for (size_t j = 0; j < i; ++j) {
      if (options.output_interfaces[j] == name) {
        return fail("--out", quoted(name) + " given twice");
      }
    }
  }
  if (options.method == KfwdMethod::ipmr && options.source && !options.group) {
    return fail("--source", "needs --group (a static entry is one (S,G))");
  }
  return {};
}

}  // namespace

// Long: the option table, one entry per flag in the order --help lists them.
void describe_kfwd(cli::Parser& parser, KfwdOptions& options) {
  parser.describe(kKfwdDescription);
  parser.usage("--in IFACE --out IFACE [--out IFACE ...] [OPTIONS]");
  parser.value("--method", "ipmr|nft", "how to replicate (see Methods)",
               nonempty([&options](const std::string& flag, std::string_view v) {
                 return store_method(options, flag, v);
               }))
      .with_default("ipmr");
  parser.value("--in", "IFACE", "ingress interface (required)",
               nonempty([&options](const std::string& flag, std::string_view v) -> Result<void> {
                 if (!options.input_interface.empty()) {
                   return fail(flag, "given twice (one ingress interface per instance)");
                 }
                 options.input_interface = std::string(v);
                 return {};
               }));
  parser.repeated("--out", "IFACE", "egress interface (ipmr: at most 31)",
                  nonempty([&options](const std::string&, std::string_view v) {
                    options.output_interfaces.emplace_back(v);
                    return Result<void>{};
                  }));
  parser.value("--group", "G",
               "forward only group G (ipmr default: every group seen on --in; required with "
               "nft); nft also takes an IPv6 group (ff3e::1)",
               nonempty([&options](const std::string& flag, std::string_view v) -> Result<void> {
                 if (v.find(':') != std::string_view::npos) {
                   auto group6 = parse_group6(v, flag);
                   if (!group6) {
                     return tl::unexpected(group6.error());
                   }
                   options.group6 = *group6;
                   return {};
                 }
                 auto group = parse_group(v, flag);
                 if (!group) {
                   return tl::unexpected(group.error());
                 }
                 options.group = *group;
                 return {};
               }));
  parser.value("--port", "P", "UDP destination port to match, 1..65535 (nft only; required there)",
               nonempty([&options](const std::string& flag, std::string_view v) -> Result<void> {
                 auto port = parse_port(v, flag);
                 if (!port) {
                   return tl::unexpected(port.error());
                 }
                 options.port = *port;
                 return {};
               }));
  parser.value("--rewrite", "G:P",
               "copies leave as group G, port P (nft only); an IPv6 group in brackets: "
               "[ff3e::2]:6000",
               nonempty([&options](const std::string& flag, std::string_view v) {
                 return store_rewrite(options, flag, v);
               }))
      .with_default("unchanged");
  parser.value("--source", "S",
               "ipmr: install (S, --group) statically at start (default: learn from upcalls); "
               "nft: forward only packets from S (default: any source)",
               store_address(options.source, parse_ipv4));
  parser.value("--nft", "PATH", "the nft program, looked up in PATH",
               nonempty([&options](const std::string&, std::string_view v) {
                 options.nft_program = std::string(v);
                 return Result<void>{};
               }))
      .with_default("nft");
  parser.value("--duration", "S", "how long to run, fractional allowed; 0 = until SIGTERM/SIGINT",
               nonempty([&options](const std::string& flag, std::string_view v) -> Result<void> {
                 auto seconds = parse_seconds(v, flag);
                 if (!seconds) {
                   return tl::unexpected(seconds.error());
                 }
                 options.duration_s = *seconds;
                 return {};
               }))
      .with_unit("s")
      .with_default("0");
  parser.value("--ready-file", "PATH", "create PATH once forwarding is installed",
               nonempty([&options](const std::string&, std::string_view v) {
                 options.ready_file = std::string(v);
                 return Result<void>{};
               }));
  parser.flag("--json", "print the final counts as one JSON object (default: human text)",
              options.json);
  parser.section(
      "Methods",
      {{"ipmr (default)",
        "multicast routing: MRT_INIT, MRT_ADD_VIF, MRT_ADD_MFC. (S,G) entries are installed "
        "statically (--source with --group) or from the kernel's IGMPMSG_NOCACHE upcalls for "
        "every (S,G) arriving on --in (like smcroute). Forwards only TTL > 1 and decrements it; "
        "outputs carry the input group (the kernel cannot rewrite it); at most 31 outputs "
        "(MAXVIFS = 32). Needs a kernel built with CONFIG_IP_MROUTE."},
       {"nft",
        "an nftables netdev ingress chain on --in (table netdev mrelay_kfwd) that matches "
        "--group and --port with TTL > 1, rewrites the group and port (--rewrite), the "
        "destination MAC, the TTL (- 1) and the source MAC, and dups the frame to every --out "
        "(the last one fwd). No output limit. Needs nf_tables with the netdev family, dup and "
        "fwd, and the nft program."}});
  parser.section("Output", kKfwdOutput);
  parser.section("Exit codes",
                 "  0 ok, 1 runtime failure (the message names the step, e.g. a kernel\n"
                 "  without CONFIG_IP_MROUTE), 2 usage error.");
}

cli::Parsed parse_kfwd(cli::Parser& parser, KfwdOptions& options, int argc,
                       const char* const* argv) {
  describe_kfwd(parser, options);
  cli::Parsed parsed = parser.parse(argc, argv);
  if (parsed.action == cli::Parsed::Action::run) {
    if (auto checked = check_kfwd_options(options); !checked) {
      parsed.action = cli::Parsed::Action::error;
      parsed.error = checked.error();
      parsed.output = parser.error_line(checked.error());
    }
  }
  return parsed;
}

std::optional<Upcall> parse_upcall(const uint8_t* data, size_t size) noexcept {
  if (size < sizeof(igmpmsg)) {
    return std::nullopt;
  }
  igmpmsg message;
  std::memcpy(&message, data, sizeof message);
  // im_mbz sits where an IP header carries its protocol: 0 for upcalls, 2 for real IGMP.
  if (message.im_mbz != 0 || message.im_msgtype == 0) {
    return std::nullopt;
  }
  Upcall upcall;
  upcall.type = message.im_msgtype;
  upcall.vif = message.im_vif;
  upcall.source = message.im_src;
  upcall.group = message.im_dst;
  return upcall;
}

Result<KernelForwarder> KernelForwarder::open() {
  int fd = ::socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, IPPROTO_IGMP);
  if (fd < 0) {
    return fail_errno("socket(AF_INET, SOCK_RAW, IPPROTO_IGMP)");
  }
  KernelForwarder forwarder(fd);
  int one = 1;
  if (::setsockopt(fd, IPPROTO_IP, MRT_INIT, &one, sizeof one) != 0) {
    const int saved_errno = errno;
    auto error = fail_errno("setsockopt(MRT_INIT)");
    if (saved_errno == EADDRINUSE) {
      error.value().message += " (another multicast router already runs in this namespace)";
    } else if (saved_errno == ENOPROTOOPT) {
      error.value().message += " (kernel built without CONFIG_IP_MROUTE)";
    }
    return error;
  }
  return forwarder;
}

KernelForwarder::KernelForwarder(KernelForwarder&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), vif_count_(other.vif_count_) {}

KernelForwarder& KernelForwarder::operator=(KernelForwarder&& other) noexcept {
  if (this != &other) {
    close_socket();
    fd_ = std::exchange(other.fd_, -1);
    vif_count_ = other.vif_count_;
  }
  return *this;
}

KernelForwarder::~KernelForwarder() {
  close_socket();
}

void KernelForwarder::close_socket() noexcept {
  if (fd_ >= 0) {
    // MRT_DONE is implied by closing the mroute socket; the explicit call keeps the order
    // (tables cleared before the fd goes) obvious. Its result does not matter here.
    int one = 1;
    (void)::setsockopt(fd_, IPPROTO_IP, MRT_DONE, &one, sizeof one);
    ::close(fd_);
    fd_ = -1;
  }
}

Result<void> KernelForwarder::done() {
  int one = 1;
  if (::setsockopt(fd_, IPPROTO_IP, MRT_DONE, &one, sizeof one) != 0) {
    return fail_errno("setsockopt(MRT_DONE)");
  }
  ::close(fd_);
  fd_ = -1;
  return {};
}

Result<int> KernelForwarder::add_vif(const std::string& interface, const std::string& flag) {
  if (vif_count_ >= kMaxVifs) {
    return fail(flag, "kernel VIF limit reached (MAXVIFS = " + std::to_string(kMaxVifs) + ")");
  }
  unsigned ifindex = if_nametoindex(interface.c_str());
  if (ifindex == 0) {
    return fail(flag, "no such interface " + quoted(interface), errno);
  }
  vifctl vif{};
  vif.vifc_vifi = static_cast<vifi_t>(vif_count_);
  vif.vifc_flags = VIFF_USE_IFINDEX;
  // Forward packets whose TTL is above 1 (they leave with TTL - 1, still >= 1).
  vif.vifc_threshold = 1;
  vif.vifc_lcl_ifindex = static_cast<int>(ifindex);
  if (::setsockopt(fd_, IPPROTO_IP, MRT_ADD_VIF, &vif, sizeof vif) != 0) {
    auto error = fail_errno("setsockopt(MRT_ADD_VIF)");
    error.value().where = flag + " " + interface + ": setsockopt(MRT_ADD_VIF)";
    return error;
  }
  return vif_count_++;
}

Result<void> KernelForwarder::add_route(in_addr source, in_addr group, int input_vif,
                                        const std::vector<int>& output_vifs) {
  mfcctl route{};
  route.mfcc_origin = source;
  route.mfcc_mcastgrp = group;
  route.mfcc_parent = static_cast<vifi_t>(input_vif);
  for (int vif : output_vifs) {
    if (vif < 0 || vif >= kMaxVifs) {
      return fail("MRT_ADD_MFC", "output VIF " + std::to_string(vif) + " out of range");
    }
    // TTL threshold per output; 0 would mean "not an output".
    route.mfcc_ttls[vif] = 1;
  }
  if (::setsockopt(fd_, IPPROTO_IP, MRT_ADD_MFC, &route, sizeof route) != 0) {
    return fail_errno("setsockopt(MRT_ADD_MFC)");
  }
  return {};
}

Result<SgCounts> KernelForwarder::sg_counts(in_addr source, in_addr group) const {
  sioc_sg_req request{};
  request.src = source;
  request.grp = group;
  if (::ioctl(fd_, SIOCGETSGCNT, &request) != 0) {
    return fail_errno("ioctl(SIOCGETSGCNT)");
  }
  return SgCounts{request.pktcnt, request.bytecnt, request.wrong_if};
}

Result<VifCounts> KernelForwarder::vif_counts(int vif) const {
  sioc_vif_req request{};
  request.vifi = static_cast<vifi_t>(vif);
  if (::ioctl(fd_, SIOCGETVIFCNT, &request) != 0) {
    return fail_errno("ioctl(SIOCGETVIFCNT)");
  }
  return VifCounts{request.icount, request.ocount, request.ibytes, request.obytes};
}

}  // namespace mrelay
