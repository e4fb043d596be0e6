// The results file of mrelay-bench: every raw sample (one record per cell run), the machine
// fingerprint, the git commit, the spec and the date (harness/schema/results.schema.json says
// every key). The ratios and the headroom check over its samples are results/aggregate.h's.
//
//   nlohmann::json results = new_results_document(spec_json, repo_dir, placement);
//   results["samples"].push_back(record);            // as cells finish
//   add_reference_ratios(results["samples"]);        // after the last cell
//   results["headroom"] = check_headroom(results["samples"]);
//   auto ok = write_json_file("reports/runs/x.json", results);
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

/// Writes pretty JSON via a temporary file and rename, so a reader never sees half a file.
[[nodiscard]] Result<void> write_json_file(const std::string& path, const nlohmann::json& value);

}  // namespace mrelay::harness
