// The userspace copy-loop reference: socat receives the input group on the relay ingress and
// sends each datagram to the output group on the first relay output; pinned to the
// forwarder's core with taskset, real-time like mrelay (chrt -f). Hop only: one output.
//
//   taskset -c 1 chrt -f 10 socat -u UDP4-RECV:5000,reuseaddr,ip-add-membership=239.1.1.1:rin0,
//     rcvbuf=4194304 UDP4-SENDTO:239.2.0.1:6000,ip-multicast-if=10.80.0.1,ip-multicast-loop=0
//   ... socat -u UDP6-RECV:5000,reuseaddr,ipv6-join-group=[ff3e::1]:rin0,rcvbuf=4194304
//     UDP6-SENDTO:[ff3e::2]:6000,so-bindtodevice=rout0          (IPv6 cells)
#include <chrono>
#include <sstream>

#include "common/process.h"
#include "rig/launcher.h"

namespace mrelay::harness {
namespace {

// taskset onto the forwarder's core, the same real-time placement as mrelay --rt-priority
// (see RigEnvironment), then socat.
std::vector<std::string> socat_prefix(const RigEnvironment& env) {
  std::vector<std::string> args = {"taskset", "-c", std::to_string(env.relay_cpu)};
  for (std::string& word : realtime_prefix(env.forwarder_rt_priority)) {
    args.push_back(std::move(word));
  }
  args.push_back(env.socat);
  return args;
}

// socat needs the egress's IPv4 address for IP_MULTICAST_IF.
Result<std::string> egress_address(const RigTopology& topology) {
  auto shown = topology.relay->run({"ip", "-4", "-o", "addr", "show", "dev",
                                    topology.relay_egress[0]},
                                   std::chrono::seconds(10));
  if (shown && shown->status.ok()) {
    std::istringstream words(shown->out);
    std::string word;
    while (words >> word) {
      if (word == "inet" && (words >> word)) {
        return word.substr(0, word.find('/'));
      }
    }
  }
  return fail("socat", "no IPv4 address on " + topology.relay_egress[0]);
}

// socat's two addresses for an IPv6 cell: join with ipv6-join-group; socat has no IPv6
// multicast-interface option, so the sending socket is bound to the output device
// (SO_BINDTODEVICE), which the kernel's multicast route lookup then uses.
std::vector<std::string> ipv6_addresses(const LaunchContext& context) {
  return {"UDP6-RECV:" + std::to_string(kInputPort) + ",reuseaddr,ipv6-join-group=[" +
              kInputGroup6 + "]:" + context.topology.relay_ingress +
              ",rcvbuf=" + std::to_string(context.params.relay_rcvbuf),
          "UDP6-SENDTO:" + output_endpoint(context.params) +
              ",so-bindtodevice=" + context.topology.relay_egress[0]};
}

class SocatLauncher final : public Launcher {
 public:
  std::optional<std::string> unsupported_reason(const CellParams& params) const override {
    if (params.fanout > 1) {
      return "socat reference is hop only (one output)";
    }
    return std::nullopt;
  }

  std::string_view required_capability(const CellParams&) const override {
    return capability::kSocat;
  }

  Result<std::vector<std::string>> command(const LaunchContext& context) const override {
    if (context.params.family == Family::ipv6) {
      std::vector<std::string> args = socat_prefix(context.env);
      args.push_back("-u");
      for (std::string& address : ipv6_addresses(context)) {
        args.push_back(std::move(address));
      }
      return args;
    }
    auto address = egress_address(context.topology);
    if (!address) {
      return tl::unexpected(address.error());
    }
    std::vector<std::string> args = socat_prefix(context.env);
    args.insert(args.end(), {"-u",
                             "UDP4-RECV:" + std::to_string(kInputPort) +
                                 ",reuseaddr,ip-add-membership=" + kInputGroup + ":" +
                                 context.topology.relay_ingress +
                                 ",rcvbuf=" + std::to_string(context.params.relay_rcvbuf),
                             "UDP4-SENDTO:" + output_endpoint(context.params) +
                                 ",ip-multicast-if=" + *address +
                                 ",ip-multicast-loop=0"});
    return args;
  }
};

}  // namespace

const Launcher& socat_launcher() {
  static const SocatLauncher launcher;
  return launcher;
}

}  // namespace mrelay::harness
