// The readable summary of a results file: one row per cell (repetitions folded), each figure
// as "median [min–max]": delivered pps, loss %, p99 µs, syscalls/pkt, buffer exhaustion %,
// relay CPU %, ratio to kernel, ratio to direct (n/a when absent). Plain text for terminals,
// Markdown for reports.
//
//   std::cout << format_results_table(results, TableStyle::text);
//   write(md_path, format_results_table(results, TableStyle::markdown));
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace mrelay::harness {

enum class TableStyle { text, markdown };

/// "1.23M", "456.7k", "12.3", "0.0012": 4 significant figures, SI suffix for pps.
[[nodiscard]] std::string format_quantity(double value, bool si_suffix);

/// "median [min–max]" of the values; "n/a" when empty; just the value when all are equal.
[[nodiscard]] std::string format_spread(const std::vector<double>& values, bool si_suffix);

/// The whole table (header, rows, and a short legend with placement and machine).
[[nodiscard]] std::string format_results_table(const nlohmann::json& results, TableStyle style);

}  // namespace mrelay::harness
