// Results file, machine fingerprint and reference ratios for mrelay-bench: see
// results/results.h.
//
//   auto doc = new_results_document(spec, "/path/to/mrelay", placement);
#include "results/results.h"

#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <vector>

#include "common/process.h"

namespace mrelay::harness {
namespace {

using nlohmann::json;

std::string first_line_value(const std::string& text, const std::string& key) {
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind(key, 0) == 0) {
      const size_t colon = line.find(':');
      if (colon == std::string::npos) {
        continue;
      }
      std::string value = line.substr(colon + 1);
      value.erase(0, value.find_first_not_of(" \t"));
      return value;
    }
  }
  return "";
}

std::string trimmed(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) {
    text.pop_back();
  }
  return text;
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const size_t n = values.size();
  return n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

// The figure ratios compare: per-output delivered pps, or the NDR.
std::optional<double> comparable_rate(const json& record) {
  if (record.value("status", "") != "ok") {
    return std::nullopt;
  }
  if (record.contains("ndr_pps") && record["ndr_pps"].is_number()) {
    return record["ndr_pps"].get<double>();
  }
  if (!record.contains("delivered_pps") || !record["delivered_pps"].is_number()) {
    return std::nullopt;
  }
  const double outputs = record.value("outputs", 1.0);
  return record["delivered_pps"].get<double>() / std::max(1.0, outputs);
}

// The kernel references, each a forwarder name of the specs.
constexpr const char* kKernelReferences[] = {"kernel", "kernel-nft"};

// reference forwarder -> cell key -> repetition -> comparable rate.
using ReferenceRates = std::map<std::string, std::map<std::string, std::map<int, double>>>;

ReferenceRates collect_reference_rates(const json& samples) {
  ReferenceRates refs;
  for (const auto& record : samples) {
    if (!record.contains("params")) {
      continue;
    }
    const std::string forwarder = record["params"].value("forwarder", "");
    if (forwarder != "direct" && forwarder != "kernel" && forwarder != "kernel-nft") {
      continue;
    }
    if (auto rate = comparable_rate(record); rate && *rate > 0) {
      refs[forwarder][reference_key(record)][record.value("rep", 1)] = *rate;
    }
  }
  return refs;
}

// The reference's rate for a key: the same repetition when it ran, else its median.
std::optional<double> reference_rate(const ReferenceRates& refs, const std::string& reference,
                                     const std::string& key, int rep) {
  auto by_name = refs.find(reference);
  if (by_name == refs.end()) {
    return std::nullopt;
  }
  auto by_key = by_name->second.find(key);
  if (by_key == by_name->second.end() || by_key->second.empty()) {
    return std::nullopt;
  }
  if (auto same_rep = by_key->second.find(rep); same_rep != by_key->second.end()) {
    return same_rep->second;
  }
  std::vector<double> values;
  for (const auto& [r, v] : by_key->second) {
    values.push_back(v);
  }
  return median(values);
}

// The kernel reference with the highest median rate for a key ("" when none ran): `× kernel`
// compares with the best in-kernel replication this machine has.
std::string best_kernel_reference(const ReferenceRates& refs, const std::string& key) {
  std::string best;
  double best_rate = 0;
  for (const char* reference : kKernelReferences) {
    auto by_name = refs.find(reference);
    if (by_name == refs.end()) {
      continue;
    }
    auto by_key = by_name->second.find(key);
    if (by_key == by_name->second.end() || by_key->second.empty()) {
      continue;
    }
    std::vector<double> values;
    for (const auto& [r, v] : by_key->second) {
      values.push_back(v);
    }
    if (const double rate = median(values); rate > best_rate) {
      best_rate = rate;
      best = reference;
    }
  }
  return best;
}
}  // namespace

std::string git_commit(const std::string& repo) {
  auto result = run_capture({"git", "-C", repo, "rev-parse", "HEAD"}, std::chrono::seconds(10));
  if (!result || !result->status.ok()) {
    return "unknown";
  }
  const std::string commit = trimmed(result->out);
  return commit.empty() ? "unknown" : commit;
}

std::string utc_timestamp() {
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  ::gmtime_r(&now, &utc);
  char text[32];
  std::strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &utc);
  return text;
}

nlohmann::json machine_fingerprint() {
  json machine;
  const std::string cpuinfo = read_text_file("/proc/cpuinfo").value_or("");
  machine["cpu_model"] = first_line_value(cpuinfo, "model name");
  machine["cores_online"] = ::sysconf(_SC_NPROCESSORS_ONLN);
  const std::string flags = first_line_value(cpuinfo, "flags");
  struct utsname names {};
  if (::uname(&names) == 0) {
    machine["kernel"] = std::string(names.release);
    machine["kernel_version"] = std::string(names.version);
    machine["arch"] = std::string(names.machine);
    machine["hostname"] = std::string(names.nodename);
  }
  const std::string meminfo = read_text_file("/proc/meminfo").value_or("");
  const std::string mem_total = first_line_value(meminfo, "MemTotal");
  machine["memory_kib"] = mem_total.empty() ? json(nullptr) : json(std::stoull(mem_total));
  // Virtualisation: a VM and a container can stack (e.g. docker inside kvm), so ask
  // systemd-detect-virt for each; without it, the CPU's hypervisor flag.
  auto detect = [](const char* kind) -> std::string {
    auto result = run_capture({"systemd-detect-virt", kind}, std::chrono::seconds(5));
    if (!result || !result->status.exited || result->status.code == 127) {
      return "";
    }
    return trimmed(result->out);  // "none" when not virtualised in that way
  };
  std::string vm = detect("--vm");
  const std::string container = detect("--container");
  if (vm.empty()) {
    vm = flags.find(" hypervisor") != std::string::npos ? "hypervisor (type unknown)" : "none";
  }
  machine["virtualization"] =
      "vm: " + vm + ", container: " + (container.empty() ? "unknown" : container);
  machine["vm"] = vm;
  machine["container"] = container.empty() ? json(nullptr) : json(container);
  machine["dmi_product"] = trimmed(read_text_file("/sys/class/dmi/id/product_name").value_or(""));
  machine["dmi_vendor"] = trimmed(read_text_file("/sys/class/dmi/id/sys_vendor").value_or(""));
  // A PMU means cycles/instructions can be counted (many VMs have none).
  machine["pmu_present"] = std::filesystem::exists("/sys/bus/event_source/devices/cpu");
  return machine;
}

nlohmann::json new_results_document(const nlohmann::json& spec, const std::string& repo,
                                    const nlohmann::json& placement) {
  return json{{"format", "mrelay-bench-results/1"},
              {"created", utc_timestamp()},
              {"git_commit", git_commit(repo)},
              {"machine", machine_fingerprint()},
              {"placement", placement},
              {"spec", spec},
              {"samples", json::array()}};
}

std::string reference_key(const nlohmann::json& record) {
  const json& p = record.at("params");
  std::string rate = p["rate_pps"].is_string()
                         ? p["rate_pps"].get<std::string>()
                         : std::to_string(static_cast<uint64_t>(p["rate_pps"].get<double>()));
  return "s" + std::to_string(p.value("size", 0)) + "/b" + std::to_string(p.value("batch", 0)) +
         "/f" + std::to_string(p.value("fanout", 0)) + "/r" + rate;
}

void add_reference_ratios(nlohmann::json& samples) {
  const ReferenceRates refs = collect_reference_rates(samples);
  for (auto& record : samples) {
    if (!record.contains("params")) {
      continue;
    }
    const auto rate = comparable_rate(record);
    const std::string key = reference_key(record);
    const int rep = record.value("rep", 1);
    auto ratio_to = [&](const std::string& reference) -> json {
      if (!rate) {
        return nullptr;
      }
      auto value = reference_rate(refs, reference, key, rep);
      return value ? json(*rate / *value) : json(nullptr);
    };
    record["ratio_to_direct"] = ratio_to("direct");
    json each = json::object();
    for (const char* reference : kKernelReferences) {
      each[reference] = ratio_to(reference);
    }
    record["ratio_to_each_kernel"] = each;
    const std::string best = best_kernel_reference(refs, key);
    record["kernel_reference"] = best.empty() ? json(nullptr) : json(best);
    record["ratio_to_kernel"] = best.empty() ? json(nullptr) : ratio_to(best);
  }
}

std::string kernel_reference_label(const std::string& forwarder) {
  if (forwarder == "kernel") {
    return "ipmr";
  }
  if (forwarder == "kernel-nft") {
    return "nft";
  }
  return forwarder;
}

nlohmann::json check_headroom(nlohmann::json& samples) {
  const ReferenceRates refs = collect_reference_rates(samples);
  json rig_bound = json::array();
  size_t checked = 0;
  for (auto& record : samples) {
    if (!record.contains("params")) {
      continue;
    }
    const json& params = record["params"];
    const std::string forwarder = params.value("forwarder", "");
    const bool forwarder_limited =
        params.contains("rate_pps") &&
        (params["rate_pps"].is_string() || params["rate_pps"].get<double>() == 0);
    const auto rate = comparable_rate(record);
    const auto ceiling =
        reference_rate(refs, "direct", reference_key(record), record.value("rep", 1));
    if (forwarder == "direct" || !forwarder_limited || !rate || !ceiling) {
      record["rig_bound"] = nullptr;
      continue;
    }
    ++checked;
    const bool bound = *ceiling < kHeadroomMargin * *rate;
    record["rig_bound"] = bound;
    if (bound) {
      if (record.contains("limited_by") && record["limited_by"].is_array()) {
        record["limited_by"].push_back("rig_headroom");
      }
      rig_bound.push_back(json{{"label", record.value("label", "?")},
                               {"rep", record.value("rep", 1)},
                               {"forwarder_pps", *rate},
                               {"direct_pps", *ceiling}});
    }
  }
  return json{{"margin", kHeadroomMargin},
              {"checked", checked},
              {"rig_bound", rig_bound},
              {"rule",
               "at saturation and at the no-drop rate, direct must deliver at least margin x "
               "a forwarder's per-output rate; below that the rig, not the forwarder, is the "
               "limit (rig_bound = true, limited_by rig_headroom)"}};
}

Result<void> write_json_file(const std::string& path, const nlohmann::json& value) {
  std::error_code error;
  const std::filesystem::path target(path);
  if (target.has_parent_path()) {
    std::filesystem::create_directories(target.parent_path(), error);
    if (error) {
      return fail("mkdir(" + target.parent_path().string() + ")", error.message());
    }
  }
  const std::string temporary = path + ".tmp";
  {
    std::ofstream out(temporary);
    if (!out) {
      return fail_errno("open(" + temporary + ")");
    }
    out << value.dump(1) << "\n";
    if (!out) {
      return fail_errno("write(" + temporary + ")");
    }
  }
  std::filesystem::rename(temporary, target, error);
  if (error) {
    return fail("rename(" + temporary + ")", error.message());
  }
  return {};
}

}  // namespace mrelay::harness
