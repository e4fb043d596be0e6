// What every launcher does unless its kind says otherwise, and which launcher a forwarder
// has: see rig/launcher.h.
#include "rig/launcher.h"

#include "rig/proc.h"

namespace mrelay::harness {

std::string input_endpoint() {
  return std::string(kInputGroup) + ":" + std::to_string(kInputPort);
}

std::string output_endpoint() {
  return std::string(kOutputGroup) + ":" + std::to_string(kOutputPort);
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
  return SinkPlan{output_endpoint(), topology.sinks};
}

bool Launcher::ready(const CellParams&, Host& host, const HostProcess& process,
                     const ForwarderFiles&) const {
  auto igmp = host.read_file("/proc/" + std::to_string(process.host_pid) + "/net/igmp");
  return igmp && igmp_lists_group(*igmp, kInputGroup);
}

bool Launcher::forwards_in_process() const {
  return true;
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
  // The egress qdisc is needed by every forwarder, direct included (the rig installs it); a
  // qdisc the probes do not know is left to tc.
  const std::string kind = qdisc_kind(params.egress_qdisc);
  if (kind == capability::kTbf || kind == capability::kNetem) {
    return missing(kind);
  }
  return std::nullopt;
}

}  // namespace mrelay::harness
