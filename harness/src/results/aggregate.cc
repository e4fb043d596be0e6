// Reference ratios, headroom and the median over a results document's samples: see
// results/aggregate.h.
#include "results/aggregate.h"

#include <algorithm>
#include <map>

namespace mrelay::harness {
namespace {

using nlohmann::json;

// The kernel references, each a forwarder name of the specs.
constexpr const char* kKernelReferences[] = {"kernel", "kernel-nft"};

// The 1-worker mrelay records, as a "reference" of their own in ReferenceRates.
constexpr const char* kOneWorker = "mrelay/1 worker";

// reference forwarder -> cell key -> repetition -> comparable rate.
using ReferenceRates = std::map<std::string, std::map<std::string, std::map<int, double>>>;

// mrelay --workers of a record (absent: 1, as before the option); 0 for the references.
uint32_t workers_of(const json& params) {
  if (params.value("forwarder", "") != "mrelay") {
    return 0;
  }
  const json workers = params.value("workers", json(1));
  // Signed or unsigned: records from Python (the native module) carry signed integers.
  return workers.is_number_integer() && workers.get<int64_t>() > 0
             ? static_cast<uint32_t>(workers.get<int64_t>())
             : 1;
}

// The references' figures (comparable_rate, or another figure of a record) by name, key and
// repetition.
ReferenceRates collect_reference_rates(
    const json& samples, std::optional<double> (*figure)(const json&) = comparable_rate) {
  ReferenceRates refs;
  for (const auto& record : samples) {
    if (!record.contains("params")) {
      continue;
    }
    if (workers_of(record["params"]) == 1) {
      if (auto value = figure(record); value && *value > 0) {
        refs[kOneWorker][one_worker_key(record)][record.value("rep", 1)] = *value;
      }
      continue;
    }
    const std::string forwarder = record["params"].value("forwarder", "");
    if (forwarder != "direct" && forwarder != "kernel" && forwarder != "kernel-nft") {
      continue;
    }
    if (auto value = figure(record); value && *value > 0) {
      refs[forwarder][reference_key(record)][record.value("rep", 1)] = *value;
    }
  }
  return refs;
}

// p99 latency (ns) of an ok paced record; nothing for saturation and NDR records, whose
// latency is that of an overloaded path.
std::optional<double> paced_p99(const json& record) {
  if (record.value("status", "") != "ok" || !record.contains("params")) {
    return std::nullopt;
  }
  const json& rate = record["params"].value("rate_pps", json());
  if (!rate.is_number() || rate.get<double>() <= 0 || !record.contains("latency_ns") ||
      !record["latency_ns"].is_object() || !record["latency_ns"].value("p99", json()).is_number()) {
    return std::nullopt;
  }
  return record["latency_ns"]["p99"].get<double>();
}

// The repetitions' rates of one reference for one key; nullptr when it has none.
const std::map<int, double>* reference_runs(const ReferenceRates& refs,
                                            const std::string& reference, const std::string& key) {
  auto by_name = refs.find(reference);
  if (by_name == refs.end()) {
    return nullptr;
  }
  auto by_key = by_name->second.find(key);
  if (by_key == by_name->second.end() || by_key->second.empty()) {
    return nullptr;
  }
  return &by_key->second;
}

double median_of_runs(const std::map<int, double>& runs) {
  std::vector<double> values;
  for (const auto& [rep, value] : runs) {
    values.push_back(value);
  }
  return median(values);
}

// The reference's rate for a key: the same repetition when it ran, else its median.
std::optional<double> reference_rate(const ReferenceRates& refs, const std::string& reference,
                                     const std::string& key, int rep) {
  const auto* runs = reference_runs(refs, reference, key);
  if (runs == nullptr) {
    return std::nullopt;
  }
  if (auto same_rep = runs->find(rep); same_rep != runs->end()) {
    return same_rep->second;
  }
  return median_of_runs(*runs);
}

// The kernel reference with the highest median rate for a key ("" when none ran): `× kernel`
// compares with the best in-kernel replication this machine has.
std::string best_kernel_reference(const ReferenceRates& refs, const std::string& key) {
  std::string best;
  double best_rate = 0;
  for (const char* reference : kKernelReferences) {
    const auto* runs = reference_runs(refs, reference, key);
    if (runs == nullptr) {
      continue;
    }
    if (const double rate = median_of_runs(*runs); rate > best_rate) {
      best_rate = rate;
      best = reference;
    }
  }
  return best;
}

// The record's p99 over the lowest p99 among the kernel references at its key (the most
// demanding comparison), and which reference that was; nulls when either is missing.
json latency_ratio_of(const json& record, const ReferenceRates& p99s) {
  const auto p99 = paced_p99(record);
  const std::string key = reference_key(record);
  std::optional<double> lowest;
  std::string lowest_reference;
  for (const char* reference : kKernelReferences) {
    const auto value = reference_rate(p99s, reference, key, record.value("rep", 1));
    if (value && (!lowest || *value < *lowest)) {
      lowest = value;
      lowest_reference = reference;
    }
  }
  if (!p99 || !lowest) {
    return json{{"p99_ratio_to_kernel", nullptr}, {"kernel_latency_reference", nullptr}};
  }
  return json{{"p99_ratio_to_kernel", *p99 / *lowest},
              {"kernel_latency_reference", lowest_reference}};
}

json ratios_of(const json& record, const ReferenceRates& refs) {
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
  json each = json::object();
  for (const char* reference : kKernelReferences) {
    each[reference] = ratio_to(reference);
  }
  const std::string best = best_kernel_reference(refs, key);
  json ratios = {{"ratio_to_direct", ratio_to("direct")},
                 {"ratio_to_each_kernel", each},
                 {"kernel_reference", best.empty() ? json(nullptr) : json(best)},
                 {"ratio_to_kernel", best.empty() ? json(nullptr) : ratio_to(best)}};
  if (workers_of(record["params"]) > 1) {
    const auto one = reference_rate(refs, kOneWorker, one_worker_key(record), rep);
    ratios["ratio_to_one_worker"] = rate && one ? json(*rate / *one) : json(nullptr);
  }
  return ratios;
}

}  // namespace

double median(std::vector<double> values) {
  if (values.empty()) {
    return 0;
  }
  std::sort(values.begin(), values.end());
  const size_t n = values.size();
  return n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

std::optional<double> comparable_rate(const nlohmann::json& record) {
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

std::string reference_key(const nlohmann::json& record) {
  const json& p = record.at("params");
  const json given = p.value("rate_pps", json());
  const std::string rate = given.is_string() ? given.get<std::string>()
                           : given.is_number()
                               ? std::to_string(static_cast<uint64_t>(given.get<double>()))
                               : "?";
  std::string key = "s" + std::to_string(p.value("size", 0)) + "/b" +
                    std::to_string(p.value("batch", 0)) + "/f" +
                    std::to_string(p.value("fanout", 0)) + "/r" + rate;
  if (p.value("tester", "full") == "fast") {
    key += "/fast";
  }
  // A forwarder is compared with references of its own family and MTU (absent: IPv4, 1500,
  // so the keys of older files stay what they were).
  if (p.value("family", "ipv4") != "ipv4") {
    key += "/" + p.value("family", "ipv4");
  }
  if (p.value("mtu", 1500) != 1500) {
    key += "/mtu" + std::to_string(p.value("mtu", 1500));
  }
  return key;
}

std::string one_worker_key(const nlohmann::json& record) {
  const json& p = record.at("params");
  return reference_key(record) + "/" + p.value("ingress", json()).dump() + "/" +
         p.value("egress", json()).dump() + "/q" + p.value("queue_depth", json()).dump() +
         "/sb" + p.value("sndbuf", json()).dump() + "/st" + p.value("streams", json(1)).dump() +
         "/" + p.value("egress_segmentation", json()).dump();
}

std::vector<double> worker_rate_medians(const std::vector<const nlohmann::json*>& records) {
  std::vector<std::vector<double>> by_worker;
  for (const json* record : records) {
    if (record->value("status", "") != "ok" || !record->contains("relay_worker_rates") ||
        !(*record)["relay_worker_rates"].is_array()) {
      continue;
    }
    const json& workers = (*record)["relay_worker_rates"];
    by_worker.resize(std::max(by_worker.size(), workers.size()));
    for (size_t w = 0; w < workers.size(); ++w) {
      if (workers[w].contains("forwarded_pps") && workers[w]["forwarded_pps"].is_number()) {
        by_worker[w].push_back(workers[w]["forwarded_pps"].get<double>());
      }
    }
  }
  std::vector<double> medians;
  for (const auto& values : by_worker) {
    medians.push_back(median(values));
  }
  return medians;
}

nlohmann::json reference_ratios(const nlohmann::json& samples) {
  const ReferenceRates refs = collect_reference_rates(samples);
  const ReferenceRates p99s = collect_reference_rates(samples, paced_p99);
  json out = json::array();
  for (const auto& record : samples) {
    if (!record.contains("params")) {
      out.push_back(nullptr);
      continue;
    }
    json ratios = ratios_of(record, refs);
    ratios.update(latency_ratio_of(record, p99s));
    out.push_back(std::move(ratios));
  }
  return out;
}

std::optional<std::pair<std::string, double>> best_ndr(const nlohmann::json& samples,
                                                      const std::vector<std::string>& forwarders,
                                                      const std::string& key) {
  std::optional<std::pair<std::string, double>> best;
  for (const std::string& forwarder : forwarders) {
    std::vector<double> rates;
    for (const auto& record : samples) {
      if (record.contains("params") && record["params"].value("forwarder", "") == forwarder &&
          record.contains("ndr_pps") && reference_key(record) == key) {
        if (auto rate = comparable_rate(record); rate && *rate > 0) {
          rates.push_back(*rate);
        }
      }
    }
    if (!rates.empty() && (!best || median(rates) > best->second)) {
      best = std::make_pair(forwarder, median(rates));
    }
  }
  return best;
}

void add_reference_ratios(nlohmann::json& samples) {
  const json ratios = reference_ratios(samples);
  for (size_t i = 0; i < samples.size(); ++i) {
    if (!ratios[i].is_object()) {
      continue;
    }
    for (const auto& item : ratios[i].items()) {
      samples[i][item.key()] = item.value();
    }
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

}  // namespace mrelay::harness
