// What every launcher does unless its kind says otherwise, and which launcher a forwarder
// has: see rig/launcher.h.
#include "rig/launcher.h"

#include "rig/proc.h"

namespace mrelay::harness {

namespace {

// "239.1.1.1:5000" or, IPv6 in brackets, "[ff3e::1]:5000".
std::string endpoint(const CellParams& params, const char* group, int port) {
  std::string text = params.family == Family::ipv6 ? "[" : "";
  text += group;
  text += params.family == Family::ipv6 ? "]:" : ":";
  text += std::to_string(port);
  return text;
}

}  // namespace

const char* input_group(const CellParams& params) {
  return params.family == Family::ipv6 ? kInputGroup6 : kInputGroup;
}

const char* output_group(const CellParams& params) {
  return params.family == Family::ipv6 ? kOutputGroup6 : kOutputGroup;
}

std::string input_endpoint(const CellParams& params) {
  return endpoint(params, input_group(params), kInputPort);
}

std::string output_endpoint(const CellParams& params) {
  return endpoint(params, output_group(params), kOutputPort);
}

std::optional<std::string> Launcher::unsupported_reason(const CellParams&) const {
  return std::nullopt;
}

std::string_view Launcher::required_capability(const CellParams&) const {
  return {};
}

uint32_t Launcher::outputs(const CellParams& params) const {
  return params.fanout;
}

Result<SinkPlan> Launcher::sink_plan(const CellParams& params, const RigTopology& topology) const {
  size_t sink_interfaces = 0;
  for (const SinkSite& site : topology.sinks) {
    sink_interfaces += site.interfaces.size();
  }
  if (topology.relay_egress.size() < params.fanout || sink_interfaces < params.fanout) {
    return fail("", "topology has fewer egress/sink interfaces than the fanout");
  }
  return SinkPlan{output_endpoint(params), topology.sinks};
}

bool Launcher::ready(const CellParams& params, Host& host, const HostProcess& process,
                     const ForwarderFiles&) const {
  const std::string net = "/proc/" + std::to_string(process.host_pid) + "/net/";
  if (params.family == Family::ipv6) {
    auto igmp6 = host.read_file(net + "igmp6");
    return igmp6 && igmp6_lists_group(*igmp6, input_group(params));
  }
  auto igmp = host.read_file(net + "igmp");
  return igmp && igmp_lists_group(*igmp, kInputGroup);
}

bool Launcher::forwards_in_process() const {
  return true;
}

Result<nlohmann::json> Launcher::after_ready(const LaunchContext&, Host&) const {
  return nlohmann::json();
}

void Launcher::at_window_edge(Host&, const HostProcess&) const {}

void Launcher::read_report(const ForwarderReport&, WindowObservation&, nlohmann::json&) const {}

const Launcher& launcher_for(Forwarder forwarder) {
  switch (forwarder) {
    case Forwarder::mrelay:
      return mrelay_launcher();
    case Forwarder::kernel:
    case Forwarder::kernel_nft:
      return kernel_launcher();
    case Forwarder::socat:
      return socat_launcher();
    case Forwarder::direct:
      break;
  }
  return direct_launcher();
}

std::optional<std::string> unavailable_reason(const CellParams& params, const Capabilities& caps) {
  auto missing = [&](std::string_view name) -> std::optional<std::string> {
    const Capability* c = caps.find(name);
    if (name.empty() || c == nullptr || c->present) {
      return std::nullopt;  // not needed, or not probed (an old results file): let it try
    }
    return missing_capability_text(*c);
  };
  if (auto reason = missing(launcher_for(params.forwarder).required_capability(params))) {
    return reason;
  }
  // IPv6 through mrelay's AF_PACKET ingress is a property of the relay build under test.
  if (params.family == Family::ipv6 && params.forwarder == Forwarder::mrelay &&
      params.ingress == "packet") {
    if (auto reason = missing(capability::kMrelayPacketIpv6)) {
      return reason;
    }
  }
  if (params.forwarder == Forwarder::mrelay && params.ingress == "xdp") {
    if (auto reason = missing(capability::kAfXdp)) {
      return reason;
    }
  }
  // The egress qdisc is needed by every forwarder, direct included (the rig installs it); a
  // qdisc the probes do not know is left to tc.
  const std::string kind = qdisc_kind(params.egress_qdisc);
  if (kind == capability::kTbf || kind == capability::kNetem) {
    return missing(kind);
  }
  return std::nullopt;
}

}  // namespace mrelay::harness
