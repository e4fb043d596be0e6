// Cell parameters and sweep specs for mrelay-bench: a declarative JSON matrix expanded into
// cells, run with interleaved repetitions (rep 1 of every cell, then rep 2, ...), so slow
// drift of the machine spreads over all cells instead of biasing the ones run last.
//
//   auto spec = mrelay::harness::parse_sweep_spec(nlohmann::json::parse(text));
//   auto cells = mrelay::harness::expand_cells(*spec);
//   for (auto [cell, rep] : mrelay::harness::interleaved_plan(cells.size(), spec->repetitions))
//
// Spec (every key optional except "forwarders"; lists are the matrix axes):
//   {"name": "quickstart",
//    "forwarders": ["mrelay", "kernel", "kernel-nft", "socat", "direct"],
//    "sizes": [512], "batches": [32], "fanouts": [1],
//    "backends": ["uring", "sendmmsg"], "ingress": ["packet"],
//    "queue_depths": [1024], "sndbufs": [4194304],
//    "rates": [50000, 0, "ndr"],            // pps; 0 = as fast as the generator can; "ndr"
//    "repetitions": 3, "warmup_s": 0.5, "window_s": 2,
//    "relay_rcvbuf": 4194304, "sink_rcvbuf": 4194304, "gen_batch": 0, "gen_bursts": false,
//    "streams": 1,                          // >= every "workers" entry (see below)
//    "workers": [1, 2],                     // mrelay --workers (axis; references once)
//    "egress_qdisc": "", "ndr": {"loss_pct": 0.1, "resolution": 0.02, "min_rate": 1000},
//    "tester": "full",                      // or "fast": saturation and NDR cells only
//    "families": ["ipv4", "ipv6"],          // the traffic's address family (axis)
//    "mtu": 9000,                           // every veth's MTU (default: the kernel's 1500)
//    "egress_segmentation": ["software", "device"],  // who cuts the gso egress's runs (axis)
//    "latency_curve": {"of": ["kernel", "kernel-nft"], "fractions": [0.1, 0.3, 0.5]}}
// "latency_curve": after the spec's cells, the same matrix again, paced at each fraction of
// the best no-drop rate that the "of" forwarders reached in this sweep at that point (so the
// spec needs "ndr" among its rates and those forwarders among its own). The rates follow the
// machine the sweep runs on, and the curve cells' ids name the fraction, not the rate.
// "tester" names the generator and sink (Tester below). "fast" applies to the saturation
// (rate 0) and NDR cells; paced cells keep the full tester, whose sink measures latency.
// "family": "ipv6" is the one-family form of "families". A size must fit one packet of its
// family at the MTU (IPv4: MTU - 28, IPv6: MTU - 48); without "mtu", IPv4 sizes are not
// checked (the specs before jumbo frames had 4096 and 8192 B sizes) and IPv6 ones are against
// 1500.
// Backends, ingress modes, queue depths, send buffers and workers are mrelay knobs: the
// references (kernel, kernel-nft, socat, direct) get one cell per size × batch × fanout × rate.
// Queue depth only varies for the uring backend. "workers": the relay's event loops sharing the
// packet ingress with PACKET_FANOUT_HASH, which hashes flows: one flow lands on one worker, so
// a spec whose "streams" is below its largest "workers" is refused (naming "streams"); with
// streams > 1 the generator sends each stream's share from its own socket (mrelay-gen --flows),
// the flows the hash can tell apart. The spec is refused rather than its streams raised for
// the scale-out cells: a 2-worker cell is compared with the 1-worker cell of the same traffic.
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "mrelay/config.h"
#include "mrelay/error.h"

namespace mrelay::harness {

// The forwarders a cell can measure. kernel = the kernel's multicast routing (ipmr, where the
// kernel has CONFIG_IP_MROUTE); kernel_nft ("kernel-nft") = in-kernel replication by an
// nftables netdev chain, present on every modern kernel. Both are "kernel references":
// the forwarding runs in softirq, not in a process of its own.
enum class Forwarder { mrelay, kernel, kernel_nft, socat, direct };
inline constexpr Forwarder kAllForwarders[] = {Forwarder::mrelay, Forwarder::kernel,
                                               Forwarder::kernel_nft, Forwarder::socat,
                                               Forwarder::direct};
[[nodiscard]] std::string to_string(Forwarder forwarder);
/// kernel and kernel_nft: replication inside the kernel, CPU measured on the forwarder's core.
[[nodiscard]] constexpr bool is_kernel_reference(Forwarder forwarder) {
  return forwarder == Forwarder::kernel || forwarder == Forwarder::kernel_nft;
}
/// "mrelay|kernel|kernel-nft|socat|direct", for messages.
[[nodiscard]] std::string forwarder_names();
[[nodiscard]] Result<Forwarder> parse_forwarder(const std::string& text, const std::string& where);

/// The tester: the generator and sink around the forwarder. `full`: mrelay-gen one message
/// per datagram and mrelay-sink checking every payload's checksum and latency. `fast`:
/// mrelay-gen --gso (runs of datagrams per send, cut by the kernel before the device) and
/// mrelay-sink --count-only (a packet ring, stream and sequence only): cheaper per packet, so
/// `direct` can outrun the forwarders (RFC 2544: the tester faster than the device under test).
/// No latency figures.
enum class Tester { full, fast };
[[nodiscard]] std::string to_string(Tester tester);
/// "full" or "fast"; errors name `where`.
[[nodiscard]] Result<Tester> parse_tester(const std::string& text, const std::string& where);

/// NDR search knobs (RFC 2544 style binary search).
struct NdrOptions {
  double loss_threshold_pct = 0.1;  // % loss still counted as "no drop" (docs/metrics.md: 0.1 %)
  // Search stops when hi - lo <= resolution × hi. 2 % keeps a search near 7-8 trials.
  double resolution = 0.02;
  double min_rate = 1000;  // pps; the lower bracket, checked only when the top fails
  double max_rate = 0;     // pps; 0 = the generator's saturation rate measured with rate 0
  // Trials for the bracket and the bisection (not counting confirmation): 20 resolves 2 % of
  // any rate within a 1000x range (log2(1000 / 0.02) ~ 16 halvings) and bounds a noisy search.
  int max_trials = 20;
  int confirm_stepdowns = 4;  // confirmation failures tolerated (each steps down by resolution)
};

/// Where the relay's UDP GSO runs (the gso egress) are cut into datagrams. software:
/// tx-udp-segmentation off on the relay's output veths, so the relay's own kernel segments
/// before the device, as behind a NIC without UDP segmentation offload: the conservative
/// model, the default. device: left on, so veth carries a run to the sink's side as one
/// super-packet and the receiver's stack cuts it, as if the NIC segmented in hardware (USO).
/// Only cells whose egress sends runs (mrelay_sends_gso_runs) depend on it.
enum class Segmentation { software, device };
[[nodiscard]] std::string to_string(Segmentation segmentation);
/// "software" or "device"; errors name `where`.
[[nodiscard]] Result<Segmentation> parse_segmentation(const std::string& text,
                                                      const std::string& where);

/// The traffic's address family: IPv4 groups (239.1.1.1) or IPv6 ones (ff3e::1).
enum class Family { ipv4, ipv6 };
[[nodiscard]] std::string to_string(Family family);
/// "ipv4" or "ipv6"; errors name `where`.
[[nodiscard]] Result<Family> parse_family(const std::string& text, const std::string& where);
/// The veth MTU when a spec sets none (the kernel's default for veth).
inline constexpr uint32_t kDefaultMtu = 1500;
/// IP + UDP header bytes: the largest payload of one packet is the MTU minus these.
[[nodiscard]] constexpr uint32_t ip_udp_header_bytes(Family family) {
  return family == Family::ipv6 ? 40 + 8 : 20 + 8;
}

/// One measurement's parameters. Also the unit of matching for ratios (size, batch, fanout,
/// rate).
struct CellParams {
  Forwarder forwarder = Forwarder::mrelay;
  std::string ingress = "packet";  // mrelay --ingress
  std::string egress{egress_backend_name(kDefaultEgressBackend)};  // mrelay --egress
  uint32_t queue_depth = 1024;     // mrelay --queue-depth (io_uring SQ entries)
  uint32_t batch = 32;     // mrelay --batch and, unless gen_batch is set, mrelay-gen --batch
  uint32_t gen_batch = 0;  // mrelay-gen --batch; 0 = same as batch
  // mrelay-gen --bursts: paced, but always whole generator batches back to back (a bursty
  // source whose average stays below the egress link: what a socket send buffer must absorb).
  bool gen_bursts = false;
  uint32_t sndbuf = 4u << 20;  // mrelay --sndbuf, bytes (0 = kernel default)
  // SO_RCVBUF of the forwarder's ingress and of the sinks, bytes. 4 MiB: the relay's default,
  // rides out scheduling gaps of a few ms at the rates this rig reaches.
  uint32_t relay_rcvbuf = 4u << 20;
  uint32_t sink_rcvbuf = 4u << 20;
  uint32_t size = 512;       // UDP payload bytes
  uint32_t fanout = 1;       // outputs; 1 = hop topology, N = fanout:N
  uint32_t streams = 1;      // generator streams
  double rate_pps = 0;       // offered rate, 0 = generator at full speed
  bool ndr = false;          // search the no-drop rate instead of one rate
  double warmup_s = 0.5;     // seconds of traffic before the window; excluded from every metric
  double window_s = 2.0;     // measuring window, seconds
  std::string egress_qdisc;  // e.g. "tbf rate 300mbit burst 32kb latency 20ms"; empty = none
  Tester tester = Tester::full;
  Family family = Family::ipv4;
  uint32_t mtu = 0;  // every veth's MTU; 0 = not set (the kernel's default, kDefaultMtu)
  Segmentation segmentation = Segmentation::software;
  // A latency-curve cell (rate_fraction > 0): paced at rate_fraction x reference_ndr_pps, the
  // no-drop rate `rate_reference` reached earlier in the sweep (SweepSpec::curve).
  double rate_fraction = 0;
  std::string rate_reference;
  double reference_ndr_pps = 0;
  uint32_t workers = 1;  // mrelay --workers; worker i on the i-th forwarder core (placement)

  [[nodiscard]] uint32_t link_mtu() const { return mtu == 0 ? kDefaultMtu : mtu; }

  /// mrelay with the gso egress: the one forwarder whose copies leave as UDP GSO runs, so
  /// the one whose cost depends on `segmentation`.
  [[nodiscard]] bool sends_gso_runs() const {
    return forwarder == Forwarder::mrelay && egress == "gso";
  }
  [[nodiscard]] uint32_t generator_batch() const { return gen_batch == 0 ? batch : gen_batch; }
  /// Stable id of the cell (all parameters that define it, not the repetition).
  [[nodiscard]] std::string id() const;
  /// Short label for tables and progress: "mrelay(uring,packet) 512B b32 f1 50kpps".
  [[nodiscard]] std::string label() const;
  /// "0" = saturation, "ndr", the rate as an integer, or "10%ndr" for a latency-curve cell.
  [[nodiscard]] std::string rate_text() const;
};

[[nodiscard]] nlohmann::json to_json(const CellParams& params);

/// "latency_curve": the fractions of the best "of" forwarder's no-drop rate to pace at.
struct LatencyCurve {
  std::vector<Forwarder> of;
  std::vector<double> fractions;
};

struct SweepSpec {
  std::string name = "sweep";
  std::vector<Forwarder> forwarders;
  std::vector<uint32_t> sizes{512};
  std::vector<uint32_t> batches{32};
  std::vector<uint32_t> fanouts{1};
  std::vector<std::string> backends{"uring"};
  std::vector<std::string> ingress_modes{"packet"};
  std::vector<uint32_t> queue_depths{1024};
  std::vector<uint32_t> sndbufs{4u << 20};
  std::vector<double> rates{0};  // -1 encodes "ndr"
  std::vector<Family> families{Family::ipv4};
  std::vector<Segmentation> segmentations{Segmentation::software};  // gso cells only
  std::vector<uint32_t> workers{1};  // mrelay cells only
  uint32_t repetitions = 3;
  CellParams base;  // warm-up, window, buffers, qdisc, gen_batch, streams
  NdrOptions ndr;
  std::optional<LatencyCurve> curve;
  nlohmann::json source;  // the spec as given, stored in the results file
};

/// Parses and checks a spec; errors name the key ("sizes[2]: must be 32..65507",
/// "sizes[0]: 8972 B is more than one IPv6 packet at MTU 9000 carries (8952 B)").
[[nodiscard]] Result<SweepSpec> parse_sweep_spec(const nlohmann::json& json);

/// The matrix in a fixed order: size, batch, fanout, rate, family, then forwarder (mrelay cells:
/// ingress, backend, queue depth, sndbuf, workers). References come once per size/batch/fanout/rate.
/// A paced cell gets the full tester whatever the spec's "tester" says (it measures latency).
[[nodiscard]] std::vector<CellParams> expand_cells(const SweepSpec& spec);

/// The rate a latency curve is paced against at one point of the matrix: the no-drop rate
/// (pps) and the forwarder that reached it.
struct CurveBasis {
  std::string reference;
  double ndr_pps = 0;
};

/// The latency-curve cells after the spec's own have run: for each NDR cell of expand_cells(),
/// one paced copy per fraction at fraction x basis(cell) (full tester); none for a point
/// where `basis` has nothing (its references were skipped or failed).
[[nodiscard]] std::vector<CellParams> expand_curve_cells(
    const SweepSpec& spec, const std::function<std::optional<CurveBasis>(const CellParams&)>& basis);

struct PlannedRun {
  size_t cell = 0;   // index into expand_cells()
  uint32_t rep = 1;  // 1-based repetition
};

/// Interleaved order: rep 1 of every cell, then rep 2, ...
[[nodiscard]] std::vector<PlannedRun> interleaved_plan(size_t cells, uint32_t repetitions);

/// The most mrelay --workers a cell may ask for (the relay's own limit).
inline constexpr uint32_t kMaxWorkers = 64;

/// Fails when a cell's streams cannot spread over its workers ("streams: 1 is below workers
/// (2): ..."), naming `streams_key` (the spec's "streams", the command line's --streams).
[[nodiscard]] Result<void> check_streams_cover_workers(uint32_t streams, uint32_t workers,
                                                       const std::string& streams_key);

/// Byte counts as "4194304", "4M", "256K" (KiB/MiB/GiB). Errors name `where`.
[[nodiscard]] Result<uint32_t> parse_bytes(const std::string& text, const std::string& where);

}  // namespace mrelay::harness
