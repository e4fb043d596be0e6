// nftables netdev replication as a kernel reference forwarder. See nft_forwarder.h.
//
//   mrelay-kfwd --method nft --in rin0 --out rout0 --group 239.1.1.1 --port 5000
//       --rewrite 239.2.0.1:6000 --json                              (uses this file)
#include "reference/nft_forwarder.h"

#include <arpa/inet.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>
#include <sstream>
#include <utility>

#include "common/process.h"

namespace mrelay {
namespace {

// nft finishes in milliseconds; the bound only catches a hung binary.
constexpr auto kNftTimeout = std::chrono::seconds(20);
// TTLs that are forwarded: 2..255 (TTL <= 1 is not forwarded, as by the kernel's routing).
constexpr int kMinForwardedTtl = 2;
constexpr int kMaxTtl = 255;

std::string address_text(in_addr address) {
  char text[INET_ADDRSTRLEN] = {};
  ::inet_ntop(AF_INET, &address, text, sizeof text);
  return text;
}

std::string address_text(const in6_addr& address) {
  char text[INET6_ADDRSTRLEN] = {};
  ::inet_ntop(AF_INET6, &address, text, sizeof text);
  return text;
}

// What differs between an IPv4 and an IPv6 plan: the header's keywords, the groups as text,
// the destination MAC of the copies.
struct Family {
  const char* ip;    // "ip" / "ip6"
  const char* ttl;   // "ttl" / "hoplimit"
  std::string group;
  std::optional<std::string> rewrite_group;
  std::string mac;   // of the copies' group
};

Family family_of(const NftForwarderPlan& plan) {
  if (plan.group6) {
    const in6_addr out = plan.rewrite_group6.value_or(*plan.group6);
    return {"ip6", "hoplimit", address_text(*plan.group6),
            plan.rewrite_group6 ? std::optional(address_text(*plan.rewrite_group6)) : std::nullopt,
            multicast_mac6(out)};
  }
  const in_addr out = plan.rewrite_group.value_or(plan.group);
  return {"ip", "ttl", address_text(plan.group),
          plan.rewrite_group ? std::optional(address_text(*plan.rewrite_group)) : std::nullopt,
          multicast_mac(out)};
}

std::string quoted(const std::string& name) {
  return "\"" + name + "\"";
}

// Step 1 of the ruleset: the match, the counter, the rewrites, and the jump on the TTL.
std::string ingress_chain(const NftForwarderPlan& plan) {
  const Family f = family_of(plan);
  std::ostringstream rule;
  rule << "  chain ingress {\n"
       << "    type filter hook ingress device " << quoted(plan.input_interface)
       << " priority 0; policy accept;\n    ";
  if (plan.source && !plan.group6) {
    rule << "ip saddr " << address_text(*plan.source) << " ";
  }
  rule << f.ip << " daddr " << f.group << " udp dport " << plan.port << " " << f.ip << " "
       << f.ttl << " > " << kMinForwardedTtl - 1 << " counter";
  if (f.rewrite_group) {
    rule << " " << f.ip << " daddr set " << *f.rewrite_group;
  }
  if (plan.rewrite_port) {
    rule << " udp dport set " << *plan.rewrite_port;
  }
  rule << " ether daddr set " << f.mac << " " << f.ip << " " << f.ttl << " vmap {";
  for (int ttl = kMinForwardedTtl; ttl <= kMaxTtl; ++ttl) {
    rule << (ttl == kMinForwardedTtl ? " " : ", ") << ttl << " : goto ttl_" << ttl;
  }
  rule << " };\n  }\n";
  return rule.str();
}

// Step 3: one chain per TTL that stores TTL - 1 and goes on to the outputs.
std::string ttl_chains(const NftForwarderPlan& plan) {
  const Family f = family_of(plan);
  std::ostringstream chains;
  for (int ttl = kMinForwardedTtl; ttl <= kMaxTtl; ++ttl) {
    chains << "  chain ttl_" << ttl << " { " << f.ip << " " << f.ttl << " set " << ttl - 1
           << " goto fanout; }\n";
  }
  return chains.str();
}

// Step 4: source MAC + dup per output, the last one fwd, kNftOutputsPerRule per rule.
std::string fanout_chain(const NftForwarderPlan& plan) {
  std::ostringstream chain;
  chain << "  chain fanout {\n";
  const size_t n = plan.outputs.size();
  for (size_t first = 0; first < n; first += kNftOutputsPerRule) {
    chain << "   ";
    for (size_t i = first; i < n && i < first + kNftOutputsPerRule; ++i) {
      const NftOutput& output = plan.outputs[i];
      chain << " ether saddr set " << output.mac << (i + 1 == n ? " fwd to " : " dup to ")
            << quoted(output.interface);
    }
    chain << ";\n";
  }
  chain << "  }\n";
  return chain.str();
}

Result<std::string> write_temporary(const std::string& text) {
  char path[] = "/tmp/mrelay-kfwd-nft-XXXXXX";
  const int fd = ::mkstemp(path);
  if (fd < 0) {
    return fail_errno("mkstemp(/tmp/mrelay-kfwd-nft-*)");
  }
  size_t written = 0;
  while (written < text.size()) {
    const ssize_t n = ::write(fd, text.data() + written, text.size() - written);
    if (n <= 0) {
      auto error = fail_errno(std::string("write(") + path + ")");
      ::close(fd);
      ::unlink(path);
      return error;
    }
    written += static_cast<size_t>(n);
  }
  ::close(fd);
  return std::string(path);
}

// Runs nft with `args`; errors carry what nft printed.
Result<std::string> run_nft(const std::string& nft, const std::vector<std::string>& args,
                            const std::string& what) {
  std::vector<std::string> argv{nft};
  argv.insert(argv.end(), args.begin(), args.end());
  auto result = harness::run_capture(argv, kNftTimeout);
  if (!result) {
    return fail(what, result.error().to_string());
  }
  if (result->status.exited && result->status.code == 127) {
    return fail(what, "cannot run '" + nft + "' (install the nftables package)");
  }
  if (!result->status.ok()) {
    std::string message = result->err.empty() ? result->out : result->err;
    while (!message.empty() && message.back() == '\n') {
      message.pop_back();
    }
    return fail(what, result->status.describe() + ": " + message);
  }
  return result->out;
}

}  // namespace

std::string multicast_mac(in_addr group) {
  const uint32_t host = ntohl(group.s_addr);
  char text[18];
  std::snprintf(text, sizeof text, "01:00:5e:%02x:%02x:%02x", (host >> 16) & 0x7f,
                (host >> 8) & 0xff, host & 0xff);
  return text;
}

std::string multicast_mac6(const in6_addr& group) {
  char text[18];
  std::snprintf(text, sizeof text, "33:33:%02x:%02x:%02x:%02x", group.s6_addr[12],
                group.s6_addr[13], group.s6_addr[14], group.s6_addr[15]);
  return text;
}

std::string render_nft_ruleset(const NftForwarderPlan& plan) {
  std::ostringstream text;
  text << "table netdev " << kNftTable << " {\n"
       << ttl_chains(plan) << fanout_chain(plan) << ingress_chain(plan) << "}\n";
  return text.str();
}

Result<std::string> interface_mac(const std::string& interface) {
  if (interface.empty() || interface.size() >= IFNAMSIZ) {
    return fail(interface, "not an interface name");
  }
  const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return fail_errno("socket(AF_INET, SOCK_DGRAM)");
  }
  ifreq request{};
  std::memcpy(request.ifr_name, interface.c_str(), interface.size());
  const int rc = ::ioctl(fd, SIOCGIFHWADDR, &request);
  const int saved_errno = errno;
  ::close(fd);
  if (rc != 0) {
    if (saved_errno == ENODEV) {
      return fail(interface, "no such interface");
    }
    return fail(interface + ": ioctl(SIOCGIFHWADDR)", "failed", saved_errno);
  }
  const auto* mac = reinterpret_cast<const unsigned char*>(request.ifr_hwaddr.sa_data);
  char text[18];
  std::snprintf(text, sizeof text, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3],
                mac[4], mac[5]);
  return std::string(text);
}

Result<NftCounts> parse_nft_counter(const std::string& nft_json) {
  const auto document = nlohmann::json::parse(nft_json, nullptr, false);
  if (!document.is_object() || !document.contains("nftables") || !document["nftables"].is_array()) {
    return fail("nft -j list chain", "unexpected output (no \"nftables\" array)");
  }
  for (const auto& item : document["nftables"]) {
    if (!item.contains("rule") || !item["rule"].contains("expr")) {
      continue;
    }
    for (const auto& expr : item["rule"]["expr"]) {
      if (expr.is_object() && expr.contains("counter") && expr["counter"].is_object()) {
        const auto& counter = expr["counter"];
        return NftCounts{counter.value("packets", uint64_t{0}),
                         counter.value("bytes", uint64_t{0})};
      }
    }
  }
  return fail("nft -j list chain", "no rule with a counter");
}

Result<NftForwarder> NftForwarder::install(const NftForwarderPlan& plan,
                                           const std::string& nft_program) {
  if (run_nft(nft_program, {"list", "table", "netdev", kNftTable}, "nft list table")) {
    return fail(std::string("table netdev ") + kNftTable,
                "exists already (another mrelay-kfwd --method nft in this namespace?)");
  }
  auto path = write_temporary(render_nft_ruleset(plan));
  if (!path) {
    return tl::unexpected(path.error());
  }
  auto loaded = run_nft(nft_program, {"-f", *path}, "nft -f (netdev dup/fwd ruleset)");
  ::unlink(path->c_str());
  if (!loaded) {
    return tl::unexpected(loaded.error());
  }
  return NftForwarder(nft_program);
}

NftForwarder::NftForwarder(NftForwarder&& other) noexcept : nft_(std::exchange(other.nft_, "")) {}

NftForwarder& NftForwarder::operator=(NftForwarder&& other) noexcept {
  if (this != &other) {
    (void)remove();
    nft_ = std::exchange(other.nft_, "");
  }
  return *this;
}

NftForwarder::~NftForwarder() {
  (void)remove();
}

Result<NftCounts> NftForwarder::counts() const {
  auto listed =
      run_nft(nft_, {"-j", "list", "chain", "netdev", kNftTable, "ingress"}, "nft list chain");
  if (!listed) {
    return tl::unexpected(listed.error());
  }
  return parse_nft_counter(*listed);
}

Result<void> NftForwarder::remove() {
  if (nft_.empty()) {
    return {};
  }
  auto deleted = run_nft(nft_, {"delete", "table", "netdev", kNftTable}, "nft delete table");
  nft_.clear();
  if (!deleted) {
    return tl::unexpected(deleted.error());
  }
  return {};
}

}  // namespace mrelay
