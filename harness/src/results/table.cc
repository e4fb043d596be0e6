// Results table for mrelay-bench: see results/table.h.
//
//   std::cout << format_results_table(results, TableStyle::text);
#include "results/table.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>
#include <sstream>

#include "results/aggregate.h"

namespace mrelay::harness {
namespace {

using nlohmann::json;

struct Column {
  const char* title;
  bool si_suffix;
  // Extracts the figure from one record; nullopt when the record has none.
  std::optional<double> (*extract)(const json&);
};

std::optional<double> number_at(const json& record, const char* key) {
  if (record.contains(key) && record[key].is_number()) {
    return record[key].get<double>();
  }
  return std::nullopt;
}

// A latency percentile of the record in µs ("p99", "p999").
std::optional<double> latency_us(const json& record, const char* percentile) {
  if (record.contains("latency_ns") && record["latency_ns"].is_object()) {
    if (auto ns = number_at(record["latency_ns"], percentile)) {
      return *ns / 1000.0;
    }
  }
  return std::nullopt;
}

const Column kColumns[] = {
    {"delivered pps", true, [](const json& r) { return number_at(r, "delivered_pps"); }},
    {"NDR pps", true, [](const json& r) { return number_at(r, "ndr_pps"); }},
    {"loss %", false, [](const json& r) { return number_at(r, "loss_pct"); }},
    {"p99 µs", false, [](const json& r) { return latency_us(r, "p99"); }},
    {"p99.9 µs", false, [](const json& r) { return latency_us(r, "p999"); }},
    {"p99 × kernel", false, [](const json& r) { return number_at(r, "p99_ratio_to_kernel"); }},
    {"syscalls/pkt", false, [](const json& r) { return number_at(r, "syscalls_per_pkt"); }},
    {"exhaust %", false, [](const json& r) { return number_at(r, "buffer_exhaustion_pct"); }},
    {"relay CPU %", false, [](const json& r) { return number_at(r, "relay_cpu_pct"); }},
    {"ns/copy", false, [](const json& r) { return number_at(r, "ns_per_copy"); }},
    {"× kernel", false, [](const json& r) { return number_at(r, "ratio_to_kernel"); }},
    {"× direct", false, [](const json& r) { return number_at(r, "ratio_to_direct"); }},
    {"× 1 worker", false, [](const json& r) { return number_at(r, "ratio_to_one_worker"); }},
};

// A record whose relay ran several workers (relay_worker_rates has more than one entry).
bool has_several_workers(const json& record) {
  return record.contains("relay_worker_rates") && record["relay_worker_rates"].is_array() &&
         record["relay_worker_rates"].size() > 1;
}

// "w0 1.2M / w1 1.1M": each worker's median forwarded pps (worker_rate_medians); "-" for a
// cell with one worker or none.
std::string per_worker_text(const std::vector<const json*>& records) {
  if (std::none_of(records.begin(), records.end(),
                   [](const json* record) { return has_several_workers(*record); })) {
    return "-";
  }
  std::string text;
  const std::vector<double> medians = worker_rate_medians(records);
  for (size_t w = 0; w < medians.size(); ++w) {
    // Appended piece by piece: `" " + std::string&&` trips GCC 12's false -Wrestrict.
    text += w == 0 ? "w" : " / w";
    text += std::to_string(w);
    text += ' ';
    text += format_quantity(medians[w], true);
  }
  return text;
}

// Display width in terminal columns (UTF-8 continuation bytes take none).
size_t display_width(const std::string& text) {
  size_t width = 0;
  for (unsigned char c : text) {
    if ((c & 0xC0) != 0x80) {
      ++width;
    }
  }
  return width;
}

std::string pad(const std::string& text, size_t width, bool right) {
  const size_t have = display_width(text);
  const std::string fill(have < width ? width - have : 0, ' ');
  return right ? fill + text : text + fill;
}

// The limiters named by the successful runs, each with how many runs named it when not all:
// "relay_cpu, sink_rcvbuf 1/3"; "-" when none was named.
std::string limiter_summary(const std::vector<const json*>& records) {
  std::vector<std::pair<std::string, size_t>> counts;
  size_t ok = 0;
  for (const json* record : records) {
    if (record->value("status", "ok") != "ok") {
      continue;
    }
    ++ok;
    if (!record->contains("limited_by") || !(*record)["limited_by"].is_array()) {
      continue;
    }
    for (const auto& name : (*record)["limited_by"]) {
      const std::string text = name.is_string() ? name.get<std::string>() : name.dump();
      auto it = std::find_if(counts.begin(), counts.end(),
                             [&](const auto& entry) { return entry.first == text; });
      if (it == counts.end()) {
        counts.emplace_back(text, 1);
      } else {
        ++it->second;
      }
    }
  }
  std::string summary;
  for (const auto& [name, count] : counts) {
    if (!summary.empty()) {
      summary += ", ";
    }
    summary += name;
    if (count != ok) {
      summary += ' ';
      summary += std::to_string(count);
      summary += '/';
      summary += std::to_string(ok);
    }
  }
  return summary.empty() ? "-" : summary;
}

// "× kernel (nft)": the kernel reference(s) the ratios of this run were taken against.
std::string kernel_column_title(const json& samples) {
  std::set<std::string> labels;
  for (const auto& record : samples) {
    if (record.contains("kernel_reference") && record["kernel_reference"].is_string()) {
      labels.insert(kernel_reference_label(record["kernel_reference"].get<std::string>()));
    }
  }
  std::string title = "× kernel";
  if (!labels.empty()) {
    std::string names;
    for (const auto& label : labels) {
      names += (names.empty() ? "" : "/") + label;
    }
    title += " (" + names + ")";
  }
  return title;
}

// The headroom summary of a sweep (check_headroom), as one legend line.
std::string headroom_line(const json& results) {
  if (!results.contains("headroom") || !results["headroom"].is_object()) {
    return "";
  }
  const json& headroom = results["headroom"];
  const size_t checked = headroom.value("checked", size_t{0});
  const json bound = headroom.value("rig_bound", json::array());
  char margin[16];
  std::snprintf(margin, sizeof margin, "%.2g", headroom.value("margin", 0.0));
  if (checked == 0) {
    return "headroom: not checked (no direct reference at saturation or NDR in this run)";
  }
  if (bound.empty()) {
    return "headroom: direct exceeded every forwarder by more than " + std::string(margin) +
           "x in all " + std::to_string(checked) +
           " checked runs: the forwarders, not the rig, "
           "set the rates";
  }
  return "headroom: in " + std::to_string(bound.size()) + " of " + std::to_string(checked) +
         " checked runs direct was not " + margin +
         "x above the forwarder: there the rig "
         "(generator and sink), not the forwarder, is the limit (limited by rig_headroom)";
}

// The records of each cell, in first-seen order of cell ids (the sweep's expansion order).
std::vector<std::pair<std::string, std::vector<const json*>>> cells_in_order(const json& samples) {
  std::vector<std::pair<std::string, std::vector<const json*>>> cells;
  std::map<std::string, size_t> index;
  for (const auto& record : samples) {
    const std::string id = record.value("cell_id", "?");
    auto [it, added] = index.try_emplace(id, cells.size());
    if (added) {
      cells.emplace_back(id, std::vector<const json*>{});
    }
    cells[it->second].second.push_back(&record);
  }
  return cells;
}

// A record's address family and veth MTU (files from before they were recorded: IPv4, 1500).
std::string family_of(const json& record) {
  const json params = record.value("params", json::object());
  return params.is_object() ? params.value("family", "ipv4") : "ipv4";
}

std::string mtu_of(const json& record) {
  const json params = record.value("params", json::object());
  return std::to_string(params.is_object() ? params.value("mtu", 1500) : 1500);
}

// The header and the figure columns shown: "NDR pps" only when some record has one, the
// latency comparison ("p99.9 µs", "p99 × kernel") only when some record has a p99 ratio; "family"
// and "MTU" only when the records differ in them (the label says " v6" / " mtu9000" anyway).
struct Layout {
  std::vector<std::string> header;
  std::vector<size_t> columns;  // indexes into kColumns
  bool family = false;
  bool mtu = false;
  bool per_worker = false;  // "worker pps": some record's relay ran several workers
  [[nodiscard]] size_t lead() const { return 2 + (family ? 1 : 0) + (mtu ? 1 : 0); }
};

Layout table_layout(const json& samples) {
  bool any_ndr = false;
  bool any_latency_ratio = false;
  bool any_scale_ratio = false;
  bool per_worker = false;
  std::set<std::string> families;
  std::set<std::string> mtus;
  for (const auto& record : samples) {
    any_ndr = any_ndr || (record.contains("ndr_pps") && record["ndr_pps"].is_number());
    any_latency_ratio = any_latency_ratio || number_at(record, "p99_ratio_to_kernel");
    any_scale_ratio = any_scale_ratio || record.contains("ratio_to_one_worker");
    per_worker = per_worker || has_several_workers(record);
    families.insert(family_of(record));
    mtus.insert(mtu_of(record));
  }
  Layout layout{{"cell"}, {}, families.size() > 1, mtus.size() > 1, per_worker};
  if (layout.family) {
    layout.header.push_back("family");
  }
  if (layout.mtu) {
    layout.header.push_back("MTU");
  }
  layout.header.push_back("n");
  for (size_t c = 0; c < std::size(kColumns); ++c) {
    const std::string title = kColumns[c].title;
    if ((title == "NDR pps" && !any_ndr) || (title == "× 1 worker" && !any_scale_ratio) ||
        ((title == "p99.9 µs" || title == "p99 × kernel") && !any_latency_ratio)) {
      continue;
    }
    layout.header.push_back(title == "× kernel" ? kernel_column_title(samples) : title);
    layout.columns.push_back(c);
  }
  if (layout.per_worker) {
    layout.header.push_back("worker pps");
  }
  layout.header.push_back("limited by");
  return layout;
}

// One cell's row: label, successful runs ("2/3" when some failed), each figure as
// "median [min–max]" over the successful runs, the limiters. A cell without a successful run
// shows the first problem instead of figures.
std::vector<std::string> table_row(const std::string& id, const std::vector<const json*>& records,
                                   const Layout& layout) {
  const std::vector<size_t>& columns = layout.columns;
  std::vector<std::string> row{records.front()->value("label", id)};
  if (layout.family) {
    row.push_back(family_of(*records.front()));
  }
  if (layout.mtu) {
    row.push_back(mtu_of(*records.front()));
  }
  size_t ok = 0;
  std::string problem;
  for (const json* record : records) {
    const std::string status = record->value("status", "ok");
    if (status == "ok") {
      ++ok;
    } else if (problem.empty()) {
      problem = status + ": " + record->value("reason", "");
    }
  }
  std::string runs = std::to_string(ok);
  if (ok != records.size()) {
    runs += '/';
    runs += std::to_string(records.size());
  }
  row.push_back(runs);
  if (ok == 0) {
    row.push_back(problem);
    // The figures, the per-worker column when shown, and "limited by".
    for (size_t c = 1; c <= columns.size() + (layout.per_worker ? 1 : 0); ++c) {
      row.push_back("");
    }
    return row;
  }
  for (size_t c : columns) {
    std::vector<double> values;
    for (const json* record : records) {
      if (record->value("status", "ok") != "ok") {
        continue;
      }
      if (auto v = kColumns[c].extract(*record)) {
        values.push_back(*v);
      }
    }
    row.push_back(format_spread(values, kColumns[c].si_suffix));
  }
  if (layout.per_worker) {
    row.push_back(per_worker_text(records));
  }
  row.push_back(limiter_summary(records));
  return row;
}

std::string markdown_table(const std::vector<std::string>& header,
                           const std::vector<std::vector<std::string>>& rows) {
  std::ostringstream out;
  out << "|";
  for (const auto& title : header) {
    out << " " << title << " |";
  }
  out << "\n|";
  for (size_t c = 0; c < header.size(); ++c) {
    out << (c == 0 || c + 1 == header.size() ? " :--- |" : " ---: |");
  }
  out << "\n";
  for (const auto& row : rows) {
    out << "|";
    for (const auto& cell : row) {
      out << " " << cell << " |";
    }
    out << "\n";
  }
  return out.str();
}

// A row without figures (an "unsupported: ..." note in their place); `lead` is the index of
// the first figure column (after the label, family and MTU when shown, and n).
bool is_note_row(const std::vector<std::string>& row, size_t lead) {
  return row.size() > lead + 1 && row[lead + 1].empty();
}

std::string text_table(const std::vector<std::string>& header,
                       const std::vector<std::vector<std::string>>& rows, size_t lead) {
  std::vector<size_t> widths(header.size(), 0);
  for (size_t c = 0; c < header.size(); ++c) {
    widths[c] = display_width(header[c]);
  }
  for (const auto& row : rows) {
    for (size_t c = 0; c < row.size() && c < widths.size(); ++c) {
      // An "unsupported: ..." note spans the figure columns: do not widen them for it.
      if (c == lead && is_note_row(row, lead)) {
        continue;
      }
      widths[c] = std::max(widths[c], display_width(row[c]));
    }
  }
  std::ostringstream out;
  auto emit = [&](const std::vector<std::string>& row) {
    std::string line;
    for (size_t c = 0; c < row.size(); ++c) {
      // Figures right-aligned; the label and the limiter list read left to right.
      const bool right = c != 0 && c + 1 != row.size();
      line += (c == 0 ? "" : "  ") + pad(row[c], widths[c], right);
    }
    while (!line.empty() && line.back() == ' ') {
      line.pop_back();
    }
    out << line << "\n";
  };
  emit(header);
  for (const auto& row : rows) {
    if (is_note_row(row, lead)) {
      out << pad(row[0], widths[0], false);
      for (size_t c = 1; c < lead; ++c) {
        out << "  " << pad(row[c], widths[c], true);
      }
      out << "  " << row[lead] << "\n";
      continue;
    }
    emit(row);
  }
  return out.str();
}

// The scale-out legend, when a relay ran several workers: what "× 1 worker" and "worker pps"
// are, and each several-worker placement (its cores, and which worker shares the load core)
// once, as the records state it.
std::string scale_out_lines(const json& results, const std::string& bullet) {
  const json samples = results.value("samples", json::array());
  std::set<std::string> placements;
  for (const auto& record : samples) {
    const json placement = record.value("placement", json::object());
    if (placement.is_object() && placement.value("relay_workers", 1) > 1) {
      placements.insert(std::to_string(placement.value("relay_workers", 1)) + " workers on cores " +
                        placement.value("relay_cpus", json::array()).dump() + " (RPS mask " +
                        placement.value("kernel_rps_cpus_mask", json("-")).dump() + ")" +
                        (placement.contains("relay_workers_note")
                             ? "; " + placement.value("relay_workers_note", "")
                             : std::string()));
    }
  }
  if (placements.empty()) {
    return "";
  }
  std::string text = bullet +
                     "× 1 worker: a several-worker mrelay cell's delivered pps (or NDR) ÷ the "
                     "1-worker cell's of the same traffic and relay settings; worker pps: each "
                     "worker's forwarded packets/s over the relay's window (median)\n";
  for (const std::string& placement : placements) {
    text += bullet + "scale-out placement: " + placement + "\n";
  }
  return text;
}

// Legend: what the figures mean and where they were measured.
std::string legend(const json& results, TableStyle style) {
  std::ostringstream out;
  const std::string bullet = style == TableStyle::markdown ? "- " : "  ";
  out << "\n" << bullet << "figures: median [min–max] over repetitions; n = successful runs\n";
  out << bullet << "× kernel / × direct: per-output delivered pps (or NDR) ÷ the reference's, "
      << "same size/batch/fanout/rate, tester, family and MTU; n/a = no reference in this run; × kernel takes the best "
      << "kernel reference that ran (ipmr = multicast routing, nft = nftables netdev dup)\n";
  out << scale_out_lines(results, bullet);
  out << bullet << "ns/copy: forwarding work on the forwarder's core (its kernel time and the "
      << "forwarder's user time) ÷ copies delivered; includes the outputs' receive softirq on "
      << "veth (direct: the sink's alone); meaningful at paced rates\n";
  if (const std::string headroom = headroom_line(results); !headroom.empty()) {
    out << bullet << headroom << "\n";
  }
  if (results.contains("placement")) {
    out << bullet << "placement: " << results["placement"].dump() << "\n";
  }
  if (results.contains("machine")) {
    const json& m = results["machine"];
    out << bullet << "machine: " << m.value("cpu_model", "?") << ", " << m.value("cores_online", 0)
        << " cores, kernel " << m.value("kernel", "?") << ", virt "
        << m.value("virtualization", "?") << "\n";
  }
  if (results.contains("git_commit")) {
    // "created" is null in a document that wraps one `cell --out` record.
    const json created = results.value("created", json());
    out << bullet << "commit: " << results.value("git_commit", "unknown") << ", created "
        << (created.is_string() ? created.get<std::string>() : "?") << "\n";
  }
  return out.str();
}

}  // namespace

std::string format_quantity(double value, bool si_suffix) {
  char text[48];
  const double magnitude = std::fabs(value);
  if (si_suffix && magnitude >= 1e6) {
    std::snprintf(text, sizeof(text), "%.3gM", value / 1e6);
  } else if (si_suffix && magnitude >= 1e3) {
    std::snprintf(text, sizeof(text), "%.4gk", value / 1e3);
  } else if (magnitude == 0) {
    return "0";
  } else if (magnitude >= 100) {
    std::snprintf(text, sizeof(text), "%.0f", value);
  } else if (magnitude >= 0.01) {
    std::snprintf(text, sizeof(text), "%.3g", value);
  } else {
    std::snprintf(text, sizeof(text), "%.2g", value);
  }
  return text;
}

std::string format_spread(const std::vector<double>& values, bool si_suffix) {
  if (values.empty()) {
    return "n/a";
  }
  const auto [low, high] = std::minmax_element(values.begin(), values.end());
  const std::string mid = format_quantity(median(values), si_suffix);
  const std::string lo = format_quantity(*low, si_suffix);
  const std::string hi = format_quantity(*high, si_suffix);
  if (values.size() == 1 || lo == hi) {
    return mid;
  }
  return mid + " [" + lo + "–" + hi + "]";
}

std::string format_results_table(const nlohmann::json& results, TableStyle style) {
  const json& samples = results.contains("samples") ? results["samples"] : json::array();
  const Layout layout = table_layout(samples);
  std::vector<std::vector<std::string>> rows;
  for (const auto& [id, records] : cells_in_order(samples)) {
    rows.push_back(table_row(id, records, layout));
  }
  std::ostringstream out;
  out << (style == TableStyle::markdown ? markdown_table(layout.header, rows)
                                        : text_table(layout.header, rows, layout.lead()));
  out << legend(results, style);
  return out.str();
}

}  // namespace mrelay::harness
