// What is computed over the samples of a results document, in one place for the whole
// project (mrelay-bench calls it at the end of a sweep, the Python package through its native
// module): each record's ratio to the `direct` ceiling and to the best kernel reference of the
// same run, the headroom check, and the median. The fields it writes are described in
// harness/schema/results.schema.json.
//
//   add_reference_ratios(results["samples"]);        // after the last cell
//   results["headroom"] = check_headroom(results["samples"]);
//   json ratios = reference_ratios(round);            // the same, without changing `round`
//
// Ratios compare per-output delivered pps (delivered_pps / outputs) with the reference's,
// matched by size, batch, fanout and rate (the same repetition when present, else the median
// over the reference's repetitions); NDR cells compare ndr_pps. A missing, skipped or failed
// reference gives null ("n/a"). `× kernel` (ratio_to_kernel) is the ratio to the best kernel
// reference that ran for the cell's key -- multicast routing (`kernel`, label ipmr) or
// nftables (`kernel-nft`, label nft), whichever delivered more -- named in kernel_reference;
// ratio_to_each_kernel keeps the ratio to each. `× 1 worker` (ratio_to_one_worker) is the
// scale-out figure: an mrelay cell with several workers over the same cell with one.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace mrelay::harness {

/// The median of the values (the mean of the middle two for an even count); 0 when empty.
[[nodiscard]] double median(std::vector<double> values);

/// The figure ratios compare: ndr_pps for an NDR record, else delivered_pps per output;
/// nothing for a record that is not ok or has neither.
[[nodiscard]] std::optional<double> comparable_rate(const nlohmann::json& record);

/// The key that matches a record with its references: "s512/b32/f1/r50000", with "/fast" for
/// the fast tester (a forwarder is compared with direct measured by the same tester), "/ipv6"
/// for IPv6 cells and "/mtu9000" off the default MTU (and with references of its family and
/// MTU: an IPv4 direct must not stand in for an IPv6 one).
[[nodiscard]] std::string reference_key(const nlohmann::json& record);

/// The key that matches an mrelay record with several workers with the 1-worker record of the
/// same traffic and relay settings: reference_key() plus ingress, egress, queue depth, send
/// buffer, streams and, where the record has it, the egress segmentation
/// ("s512/b32/f1/r0/fast/\"packet\"/\"gso\"/q1024/sb4194304/st4/null").
[[nodiscard]] std::string one_worker_key(const nlohmann::json& record);

/// For each record of `samples` (an array), in order: {"ratio_to_direct", "ratio_to_kernel",
/// "kernel_reference", "ratio_to_each_kernel", "p99_ratio_to_kernel",
/// "kernel_latency_reference"} against the references among `samples`, and for an mrelay
/// record with workers > 1 "ratio_to_one_worker": its comparable rate over the 1-worker
/// mrelay record's of the same one_worker_key() (same repetition, else the median). The p99
/// ratio is for paced records only, against the kernel reference with the lowest p99 at the
/// same key.
[[nodiscard]] nlohmann::json reference_ratios(const nlohmann::json& samples);

/// The best no-drop rate (the median over repetitions of ndr_pps) that any of `forwarders`
/// reached at `key` (reference_key of an NDR record), and which one; nothing when none did.
/// A latency curve is paced at fractions of it.
[[nodiscard]] std::optional<std::pair<std::string, double>> best_ndr(
    const nlohmann::json& samples, const std::vector<std::string>& forwarders,
    const std::string& key);

/// Writes reference_ratios() into every record of `samples` that has params.
void add_reference_ratios(nlohmann::json& samples);

/// Each worker's median forwarded packets/s over the successful records of one cell
/// (relay_worker_rates), worker by worker in the order of the first record that has them;
/// empty when none has them.
[[nodiscard]] std::vector<double> worker_rate_medians(
    const std::vector<const nlohmann::json*>& records);

/// "ipmr" for `kernel`, "nft" for `kernel-nft` (the table's "× kernel (nft)").
[[nodiscard]] std::string kernel_reference_label(const std::string& forwarder);

/// How far `direct` must exceed a forwarder's per-output rate for the tester not to be the
/// limit (RFC 2544: the tester must outrun the device under test). 1.5x: on the 2-core rig the
/// generator and sink share one core, so a tester only slightly faster than the forwarder
/// still takes time the forwarder's figure depends on (the generator speeds up when the
/// forwarder drops); half again as fast leaves the forwarder's rate clear of the tester's
/// (run-to-run spread of direct's saturation rate is ~5 %). The fast tester
/// (rig/spec.h Tester) exists to reach it.
inline constexpr double kHeadroomMargin = 1.5;

/// Marks every saturation and NDR record rig_bound true/false against the same run's direct
/// (null when there is none or the cell is paced), adds "rig_headroom" to limited_by of the
/// bound ones, and returns the summary: {"margin", "checked", "rig_bound": [...], "rule"}.
[[nodiscard]] nlohmann::json check_headroom(nlohmann::json& samples);

}  // namespace mrelay::harness
