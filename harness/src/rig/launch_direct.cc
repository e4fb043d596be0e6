// `direct`: no forwarder. The sink listens on the forwarder host's side of the ingress link
// for the input group: the same single veth hop a forwarder receives on, so its rate is the
// rig's ceiling (generator and sink alone). Whatever the fanout it is matched against, it uses
// that one link (hop topology, one output).
#include "rig/launcher.h"

namespace mrelay::harness {
namespace {

class DirectLauncher final : public Launcher {
 public:
  uint32_t outputs(const CellParams&) const override { return 1; }

  Result<SinkPlan> sink_plan(const CellParams& params,
                             const RigTopology& topology) const override {
    return SinkPlan{input_endpoint(params),
                    {SinkSite{topology.relay, {topology.relay_ingress}, {}}}};
  }

  Result<std::vector<std::string>> command(const LaunchContext&) const override {
    return std::vector<std::string>{};
  }

  bool forwards_in_process() const override { return false; }
};

}  // namespace

const Launcher& direct_launcher() {
  static const DirectLauncher launcher;
  return launcher;
}

}  // namespace mrelay::harness
