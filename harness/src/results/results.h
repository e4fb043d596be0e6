// The results file of mrelay-bench: every raw sample (one record per cell run), the machine
// fingerprint, the git commit, the spec and the date; plus the ratios of each record to the
// `direct` ceiling and to the best kernel reference of the same run, and the headroom check.
//
//   nlohmann::json results = new_results_document(spec_json, repo_dir, placement);
//   results["samples"].push_back(record);            // as cells finish
//   add_reference_ratios(results["samples"]);        // after the last cell
//   results["headroom"] = check_headroom(results["samples"]);
//   auto ok = write_json_file("reports/runs/x.json", results);
//
// Record ratios compare per-output delivered pps (delivered_pps / outputs) with the
// reference's, matched by size, batch, fanout and rate (the same repetition when present,
// else the median over the reference's repetitions); NDR cells compare ndr_pps. A missing,
// skipped or failed reference gives null ("n/a"). `× kernel` (ratio_to_kernel) is the ratio
// to the best kernel reference that ran for the cell's key -- multicast routing (`kernel`,
// label ipmr) or nftables (`kernel-nft`, label nft), whichever delivered more -- named in
// kernel_reference; ratio_to_each_kernel keeps the ratio to each.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "mrelay/error.h"

namespace mrelay::harness {

/// CPU model, cores, kernel, virtualisation, memory (and the perf PMU's presence).
[[nodiscard]] nlohmann::json machine_fingerprint();

/// `git -C repo rev-parse HEAD`, or "unknown" when there is no repository or git.
[[nodiscard]] std::string git_commit(const std::string& repo);

/// "2026-11-22T04:05:06Z".
[[nodiscard]] std::string utc_timestamp();

/// The skeleton: format tag, created date, commit, machine, spec, placement, empty samples.
[[nodiscard]] nlohmann::json new_results_document(const nlohmann::json& spec,
                                                  const std::string& repo,
                                                  const nlohmann::json& placement);

/// Fills ratio_to_direct, ratio_to_kernel, kernel_reference and ratio_to_each_kernel of every
/// record in `samples` (an array).
void add_reference_ratios(nlohmann::json& samples);

/// "ipmr" for `kernel`, "nft" for `kernel-nft` (the table's "× kernel (nft)").
[[nodiscard]] std::string kernel_reference_label(const std::string& forwarder);

/// How far `direct` must exceed a forwarder's per-output rate for the tester not to be the
/// limit (RFC 2544: the tester must outrun the device under test). 10 %: more than the
/// run-to-run spread of direct's saturation rate on a 2-core VM.
inline constexpr double kHeadroomMargin = 1.1;

/// Marks every saturation and NDR record rig_bound true/false against the same run's direct
/// (null when there is none or the cell is paced), adds "rig_headroom" to limited_by of the
/// bound ones, and returns the summary: {"margin", "checked", "rig_bound": [...], "rule"}.
[[nodiscard]] nlohmann::json check_headroom(nlohmann::json& samples);

/// Writes pretty JSON via a temporary file and rename, so a reader never sees half a file.
[[nodiscard]] Result<void> write_json_file(const std::string& path, const nlohmann::json& value);

/// The key that matches a record with its references: "s512/b32/f1/r50000".
[[nodiscard]] std::string reference_key(const nlohmann::json& record);

}  // namespace mrelay::harness
