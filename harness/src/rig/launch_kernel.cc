// The kernel references: mrelay-kfwd makes the kernel replicate by multicast routing
// (`kernel`, method ipmr) or by an nftables netdev chain (`kernel-nft`, method nft). The
// forwarding runs in softirq on the forwarder's core (RPS steers the ingress there), so its
// cost is measured on that core, not in a process.
//
//   mrelay-kfwd --method ipmr --in rin0 --out rout0 --group 239.1.1.1 --duration 18.000
//               --ready-file DIR/kfwd.ready --json
//   mrelay-kfwd --method nft ... --port 5000 --rewrite 239.2.0.1:6000 --nft nft
#include <cstdio>
#include <filesystem>

#include "common/process.h"
#include "reference/kernel_forwarder.h"
#include "rig/launcher.h"
#include "rig/proc.h"

namespace mrelay::harness {
namespace {

using nlohmann::json;

bool is_nft(const CellParams& params) {
  return params.forwarder == Forwarder::kernel_nft;
}

class KernelLauncher final : public Launcher {
 public:
  // Multicast routing has kMaxVifs VIFs: one for the ingress plus one per output.
  std::optional<std::string> unsupported_reason(const CellParams& params) const override {
    if (!is_nft(params) && params.family == Family::ipv6) {
      return "mrelay-kfwd drives IPv4 multicast routing (ipmr) only: IPv6 multicast routing "
             "(ip6mr, MRT6_*) is not implemented (mrelay-bench probe says whether this kernel "
             "has ip6mr)";
    }
    if (!is_nft(params) && params.fanout + 1 > static_cast<uint32_t>(kMaxVifs)) {
      return "kernel forwarding is limited to " + std::to_string(kMaxVifs) + " VIFs (1 ingress + " +
             std::to_string(kMaxVifs - 1) + " outputs)";
    }
    return std::nullopt;
  }

  std::string_view required_capability(const CellParams& params) const override {
    return is_nft(params) ? capability::kNftDup : capability::kIpmr;
  }

  // nftables rewrites the group like mrelay does; multicast routing cannot, so its outputs
  // carry the input group.
  Result<SinkPlan> sink_plan(const CellParams& params, const RigTopology& topology) const override {
    auto plan = Launcher::sink_plan(params, topology);
    if (plan && !is_nft(params)) {
      plan->group = input_endpoint(params);
    }
    return plan;
  }

  Result<std::vector<std::string>> command(const LaunchContext& context) const override {
    const bool nft = is_nft(context.params);
    std::vector<std::string> args = {context.env.bin_dir + "/mrelay-kfwd", "--method",
                                     nft ? "nft" : "ipmr", "--in", context.topology.relay_ingress};
    for (uint32_t i = 0; i < context.params.fanout; ++i) {
      args.insert(args.end(), {"--out", context.topology.relay_egress[i]});
    }
    char duration[32];
    std::snprintf(duration, sizeof(duration), "%.3f", context.run_s + 3 * kChildSlackS);
    args.insert(args.end(), {"--group", input_group(context.params), "--duration", duration,
                             "--ready-file", context.files.ready, "--json"});
    if (nft) {
      args.insert(args.end(), {"--port", std::to_string(kInputPort), "--rewrite",
                               output_endpoint(context.params), "--nft", context.env.nft});
    }
    return args;
  }

  // Multicast routing is ready once its VIFs are installed; nftables once it wrote its ready
  // file (its rule is in place).
  bool ready(const CellParams& params, Host& host, const HostProcess& process,
             const ForwarderFiles& files) const override {
    if (is_nft(params)) {
      return host.exists(files.ready);
    }
    auto vifs = host.read_file("/proc/" + std::to_string(process.host_pid) + "/net/ip_mr_vif");
    return vifs && vif_count(*vifs) >= params.fanout + 1;
  }

  bool forwards_in_process() const override { return false; }

  // mrelay-kfwd --json: its routes' or rule's counters.
  void read_report(const ForwarderReport& report, WindowObservation&, json& record) const override {
    record["kernel_report"] =
        json::parse(read_text_file(report.files.out).value_or(""), nullptr, false);
  }
};

}  // namespace

const Launcher& kernel_launcher() {
  static const KernelLauncher launcher;
  return launcher;
}

}  // namespace mrelay::harness
