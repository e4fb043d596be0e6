// Sweep spec parsing and expansion for mrelay-bench: see rig/spec.h.
//
//   auto spec = parse_sweep_spec(json); auto cells = expand_cells(*spec);
#include "rig/spec.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>

namespace mrelay::harness {
namespace {

using nlohmann::json;

// Bounds that keep a typo from turning into an hour-long or nonsensical run.
constexpr double kMaxWindowSeconds = 600;
constexpr uint32_t kMaxRepetitions = 1000;
constexpr uint32_t kMaxFanout = 1024;
// "mtu": what mrelay-netns --mtu takes (576: IPv4's minimum datagram; 9000: jumbo frames).
constexpr uint64_t kMinMtu = 576;
constexpr uint64_t kMaxMtu = 9000;
constexpr uint32_t kMinMtuIpv6 = 1280;

Result<uint32_t> as_uint(const json& value, const std::string& where, uint64_t lo, uint64_t hi) {
  uint64_t number = 0;
  if (value.is_number_unsigned() || (value.is_number_integer() && value.get<int64_t>() >= 0)) {
    number = value.get<uint64_t>();
  } else if (value.is_string()) {
    auto bytes = parse_bytes(value.get<std::string>(), where);
    if (!bytes) {
      return tl::unexpected(bytes.error());
    }
    number = *bytes;
  } else {
    return fail(where, "must be a non-negative integer");
  }
  if (number < lo || number > hi) {
    return fail(where, "must be " + std::to_string(lo) + ".." + std::to_string(hi));
  }
  return static_cast<uint32_t>(number);
}

Result<double> as_double(const json& value, const std::string& where, double lo, double hi) {
  if (!value.is_number()) {
    return fail(where, "must be a number");
  }
  const double number = value.get<double>();
  if (!(number >= lo && number <= hi)) {
    return fail(where, "must be in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
  }
  return number;
}

// Reads an optional list of unsigned integers under `key`.
Result<void> read_uint_list(const json& spec, const char* key, uint64_t lo, uint64_t hi,
                            std::vector<uint32_t>& out) {
  if (!spec.contains(key)) {
    return {};
  }
  const json& list = spec.at(key);
  if (!list.is_array() || list.empty()) {
    return fail(key, "must be a non-empty list");
  }
  out.clear();
  for (size_t i = 0; i < list.size(); ++i) {
    auto value = as_uint(list[i], std::string(key) + "[" + std::to_string(i) + "]", lo, hi);
    if (!value) {
      return tl::unexpected(value.error());
    }
    out.push_back(*value);
  }
  return {};
}

Result<void> read_string_list(const json& spec, const char* key,
                              const std::set<std::string>& allowed, std::vector<std::string>& out) {
  if (!spec.contains(key)) {
    return {};
  }
  const json& list = spec.at(key);
  if (!list.is_array() || list.empty()) {
    return fail(key, "must be a non-empty list");
  }
  out.clear();
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string where = std::string(key) + "[" + std::to_string(i) + "]";
    if (!list[i].is_string() || allowed.count(list[i].get<std::string>()) == 0) {
      std::string names;
      for (const auto& name : allowed) {
        names += (names.empty() ? "" : "|") + name;
      }
      return fail(where, "must be one of " + names);
    }
    out.push_back(list[i].get<std::string>());
  }
  return {};
}

std::string compact_rate(double rate) {
  char text[32];
  if (rate >= 1e6 && std::fmod(rate, 1e5) == 0) {
    std::snprintf(text, sizeof(text), "%gMpps", rate / 1e6);
  } else if (rate >= 1e3 && std::fmod(rate, 100) == 0) {
    std::snprintf(text, sizeof(text), "%gkpps", rate / 1e3);
  } else {
    std::snprintf(text, sizeof(text), "%.0fpps", rate);
  }
  return text;
}

}  // namespace

std::string to_string(Forwarder forwarder) {
  switch (forwarder) {
    case Forwarder::mrelay:
      return "mrelay";
    case Forwarder::kernel:
      return "kernel";
    case Forwarder::kernel_nft:
      return "kernel-nft";
    case Forwarder::socat:
      return "socat";
    case Forwarder::direct:
      return "direct";
  }
  return "unknown";
}

std::string forwarder_names() {
  std::string names;
  for (Forwarder f : kAllForwarders) {
    if (!names.empty()) {
      names += '|';
    }
    names += to_string(f);
  }
  return names;
}

Result<Forwarder> parse_forwarder(const std::string& text, const std::string& where) {
  for (Forwarder f : kAllForwarders) {
    if (text == to_string(f)) {
      return f;
    }
  }
  return fail(where, "unknown forwarder '" + text + "' (" + forwarder_names() + ")");
}

std::string to_string(Family family) {
  return family == Family::ipv6 ? "ipv6" : "ipv4";
}

Result<Family> parse_family(const std::string& text, const std::string& where) {
  if (text == "ipv4") {
    return Family::ipv4;
  }
  if (text == "ipv6") {
    return Family::ipv6;
  }
  return fail(where, "unknown family '" + text + "' (ipv4 or ipv6)");
}

std::string to_string(Segmentation segmentation) {
  return segmentation == Segmentation::device ? "device" : "software";
}

Result<Segmentation> parse_segmentation(const std::string& text, const std::string& where) {
  if (text == "software") {
    return Segmentation::software;
  }
  if (text == "device") {
    return Segmentation::device;
  }
  return fail(where, "unknown segmentation '" + text +
                         "' (software: the relay's kernel cuts its GSO runs before the device; "
                         "device: the run crosses the veth whole, as with a NIC's USO)");
}

std::string to_string(Tester tester) {
  return tester == Tester::fast ? "fast" : "full";
}

Result<Tester> parse_tester(const std::string& text, const std::string& where) {
  if (text == "full") {
    return Tester::full;
  }
  if (text == "fast") {
    return Tester::fast;
  }
  return fail(where, "unknown tester '" + text +
                         "' (full: checks and times every payload; fast: mrelay-gen --gso and "
                         "mrelay-sink --count-only, for saturation and NDR cells)");
}

Result<uint32_t> parse_bytes(const std::string& text, const std::string& where) {
  if (text.empty()) {
    return fail(where, "empty byte count");
  }
  size_t used = 0;
  unsigned long long number = 0;
  try {
    number = std::stoull(text, &used);
  } catch (...) {
    return fail(where, "not a byte count: '" + text + "'");
  }
  uint64_t scale = 1;
  const std::string suffix = text.substr(used);
  if (suffix == "K" || suffix == "k") {
    scale = 1ull << 10;
  } else if (suffix == "M" || suffix == "m") {
    scale = 1ull << 20;
  } else if (suffix == "G" || suffix == "g") {
    scale = 1ull << 30;
  } else if (!suffix.empty()) {
    return fail(where, "unknown suffix '" + suffix + "' (K, M or G)");
  }
  const uint64_t bytes = number * scale;
  if (bytes > UINT32_MAX) {
    return fail(where, "too large: '" + text + "'");
  }
  return static_cast<uint32_t>(bytes);
}

std::string CellParams::rate_text() const {
  if (ndr) {
    return "ndr";
  }
  if (rate_fraction > 0) {
    char text[32];
    std::snprintf(text, sizeof text, "%g%%ndr", rate_fraction * 100);
    return text;
  }
  return std::to_string(static_cast<uint64_t>(std::llround(rate_pps)));
}

std::string CellParams::id() const {
  std::string text = to_string(forwarder);
  if (forwarder == Forwarder::mrelay) {
    text += "/" + ingress + "/" + egress;
    if (egress == "uring") {
      text += "/q" + std::to_string(queue_depth);
    }
    text += "/sb" + std::to_string(sndbuf);
  }
  text += "/s" + std::to_string(size) + "/b" + std::to_string(batch) + "/f" +
          std::to_string(fanout) + "/r" + rate_text();
  if (gen_batch != 0 && gen_batch != batch) {  // same id whether or not --gen-batch repeats --batch
    text += "/gb" + std::to_string(gen_batch);
  }
  if (gen_bursts) {
    text += "/bursts";
  }
  if (!egress_qdisc.empty()) {
    text += "/qdisc";
  }
  if (tester == Tester::fast) {
    text += "/fast";
  }
  // Only when set: the ids of IPv4 cells at the default MTU stay what they were.
  if (family == Family::ipv6) {
    text += "/ipv6";
  }
  if (mtu != 0) {
    text += "/mtu" + std::to_string(mtu);
  }
  // gso cells measured before the rig set the model measured the device one, under ids
  // without a mark: the software model gets one, so a baseline never mixes the two.
  if (sends_gso_runs() && segmentation == Segmentation::software) {
    text += "/segsw";
  }
  if (workers != 1) {  // only when set: 1-worker ids (and their baselines) stay what they were
    text += "/w" + std::to_string(workers);
  }
  return text;
}

std::string CellParams::label() const {
  std::string text = to_string(forwarder);
  if (forwarder == Forwarder::mrelay) {
    text += "(" + egress + "," + ingress;
    if (egress == "uring") {
      text += ",q" + std::to_string(queue_depth);
    }
    if (sndbuf != (4u << 20)) {
      text += ",sb" + std::to_string(sndbuf / 1024) + "K";
    }
    if (workers != 1) {
      text += ",w" + std::to_string(workers);
    }
    text += ")";
  }
  // Appended piece by piece: `" " + std::string&&` trips GCC 12's false -Wrestrict.
  text += ' ';
  text += std::to_string(size);
  text += "B b";
  text += std::to_string(batch);
  text += " f";
  text += std::to_string(fanout);
  text += ' ';
  if (ndr) {
    text += "ndr";
  } else if (rate_pps <= 0) {
    text += "max";
  } else {
    text += compact_rate(rate_pps);
  }
  if (rate_fraction > 0) {
    text += " (";
    text += rate_text();
    text += ')';
  }
  if (tester == Tester::fast) {
    text += " fast";
  }
  if (family == Family::ipv6) {
    text += " v6";
  }
  if (mtu != 0) {
    text += " mtu";
    text += std::to_string(mtu);
  }
  if (sends_gso_runs() && segmentation == Segmentation::device) {
    text += " uso";
  }
  return text;
}

nlohmann::json to_json(const CellParams& p) {
  json out = {
      {"forwarder", to_string(p.forwarder)},
      {"size", p.size},
      {"batch", p.batch},
      {"generator_batch", p.generator_batch()},
      {"generator_bursts", p.gen_bursts},
      {"fanout", p.fanout},
      {"streams", p.streams},
      {"rate_pps", p.ndr ? json("ndr") : json(p.rate_pps)},
      {"warmup_s", p.warmup_s},
      {"window_s", p.window_s},
      {"relay_rcvbuf", p.relay_rcvbuf},
      {"sink_rcvbuf", p.sink_rcvbuf},
      {"egress_qdisc", p.egress_qdisc},
      {"tester", to_string(p.tester)},
      {"family", to_string(p.family)},
      {"mtu", p.link_mtu()},
      {"egress_segmentation", to_string(p.segmentation)},
      {"topology", p.fanout == 1 ? std::string("hop") : "fanout:" + std::to_string(p.fanout)}};
  if (p.rate_fraction > 0) {
    out["rate_of_ndr"] = json{{"fraction", p.rate_fraction},
                              {"reference", p.rate_reference},
                              {"reference_ndr_pps", p.reference_ndr_pps}};
  }
  if (p.forwarder == Forwarder::mrelay) {
    out["ingress"] = p.ingress;
    out["egress"] = p.egress;
    out["queue_depth"] = p.queue_depth;
    out["sndbuf"] = p.sndbuf;
    if (p.workers != 1) {  // absent = 1: params of 1-worker cells match their older baselines
      out["workers"] = p.workers;
    }
  } else {
    out["ingress"] = nullptr;
    out["egress"] = nullptr;
    out["queue_depth"] = nullptr;
    out["sndbuf"] = nullptr;
  }
  return out;
}

namespace {

// "forwarders": required, each one of forwarder_names().
Result<void> read_forwarders(const json& spec_json, SweepSpec& spec) {
  std::vector<std::string> listed_forwarders;
  if (!spec_json.contains("forwarders")) {
    return fail("forwarders", "required (a list of " + forwarder_names() + ")");
  }
  std::set<std::string> known_forwarders;
  for (Forwarder f : kAllForwarders) {
    known_forwarders.insert(to_string(f));
  }
  if (auto r = read_string_list(spec_json, "forwarders", known_forwarders, listed_forwarders); !r) {
    return tl::unexpected(r.error());
  }
  for (const auto& name : listed_forwarders) {
    spec.forwarders.push_back(*parse_forwarder(name, "forwarders"));
  }
  return {};
}

// The matrix axes: sizes, batches, fanouts, queue depths, send buffers, backends, ingress.
Result<void> read_axes(const json& spec_json, SweepSpec& spec) {
  if (auto r = read_uint_list(spec_json, "sizes", 32, 65507, spec.sizes); !r) {
    return tl::unexpected(r.error());
  }
  if (auto r = read_uint_list(spec_json, "batches", 1, 1024, spec.batches); !r) {
    return tl::unexpected(r.error());
  }
  if (auto r = read_uint_list(spec_json, "fanouts", 1, kMaxFanout, spec.fanouts); !r) {
    return tl::unexpected(r.error());
  }
  if (auto r = read_uint_list(spec_json, "queue_depths", 1, 32768, spec.queue_depths); !r) {
    return tl::unexpected(r.error());
  }
  if (auto r = read_uint_list(spec_json, "sndbufs", 0, UINT32_MAX, spec.sndbufs); !r) {
    return tl::unexpected(r.error());
  }
  if (auto r = read_string_list(spec_json, "backends",
                                {"send", "sendmmsg", "uring", "packet", "gso"}, spec.backends);
      !r) {
    return tl::unexpected(r.error());
  }
  if (auto r = read_string_list(spec_json, "ingress", {"packet", "udp", "xdp"}, spec.ingress_modes); !r) {
    return tl::unexpected(r.error());
  }
  if (auto r = read_uint_list(spec_json, "workers", 1, kMaxWorkers, spec.workers); !r) {
    return tl::unexpected(r.error());
  }
  return {};
}

// Every mrelay cell's streams cover its workers (spec.h: refused, not raised).
Result<void> check_streams(const SweepSpec& spec) {
  const bool has_mrelay = std::find(spec.forwarders.begin(), spec.forwarders.end(),
                                    Forwarder::mrelay) != spec.forwarders.end();
  if (!has_mrelay) {
    return {};
  }
  const uint32_t most = *std::max_element(spec.workers.begin(), spec.workers.end());
  return check_streams_cover_workers(spec.base.streams, most, "streams");
}

// "rates": pps numbers (0 = full speed) or "ndr", encoded as -1.
Result<void> read_rates(const json& spec_json, SweepSpec& spec) {
  if (!spec_json.contains("rates")) {
    return {};
  }
  const json& rates = spec_json["rates"];
  if (!rates.is_array() || rates.empty()) {
    return fail("rates", "must be a non-empty list of pps numbers, 0 or \"ndr\"");
  }
  spec.rates.clear();
  for (size_t i = 0; i < rates.size(); ++i) {
    const std::string where = "rates[" + std::to_string(i) + "]";
    if (rates[i].is_string() && rates[i].get<std::string>() == "ndr") {
      spec.rates.push_back(-1);
      continue;
    }
    auto rate = as_double(rates[i], where, 0, 1e9);
    if (!rate) {
      return fail(where, "must be a rate in pps (0 = full speed) or \"ndr\"");
    }
    spec.rates.push_back(*rate);
  }
  return {};
}

// What every cell shares: repetitions, warm-up, window, buffers, generator, qdisc.
Result<void> read_base(const json& spec_json, SweepSpec& spec) {
  if (spec_json.contains("repetitions")) {
    auto reps = as_uint(spec_json["repetitions"], "repetitions", 1, kMaxRepetitions);
    if (!reps) {
      return tl::unexpected(reps.error());
    }
    spec.repetitions = *reps;
  }
  CellParams& base = spec.base;
  if (spec_json.contains("warmup_s")) {
    auto v = as_double(spec_json["warmup_s"], "warmup_s", 0, kMaxWindowSeconds);
    if (!v) {
      return tl::unexpected(v.error());
    }
    base.warmup_s = *v;
  }
  if (spec_json.contains("window_s")) {
    auto v = as_double(spec_json["window_s"], "window_s", 0.1, kMaxWindowSeconds);
    if (!v) {
      return tl::unexpected(v.error());
    }
    base.window_s = *v;
  }
  struct UintKey {
    const char* key;
    uint32_t* field;
    uint64_t lo;
    uint64_t hi;
  };
  for (const UintKey& k : {UintKey{"relay_rcvbuf", &base.relay_rcvbuf, 0, UINT32_MAX},
                           UintKey{"sink_rcvbuf", &base.sink_rcvbuf, 0, UINT32_MAX},
                           UintKey{"gen_batch", &base.gen_batch, 0, 1024},
                           UintKey{"streams", &base.streams, 1, 4096}}) {
    if (spec_json.contains(k.key)) {
      auto v = as_uint(spec_json[k.key], k.key, k.lo, k.hi);
      if (!v) {
        return tl::unexpected(v.error());
      }
      *k.field = *v;
    }
  }
  if (spec_json.contains("gen_bursts")) {
    if (!spec_json["gen_bursts"].is_boolean()) {
      return fail("gen_bursts", "must be true or false");
    }
    base.gen_bursts = spec_json["gen_bursts"].get<bool>();
  }
  if (spec_json.contains("egress_qdisc")) {
    if (!spec_json["egress_qdisc"].is_string()) {
      return fail("egress_qdisc",
                  "must be a string such as \"tbf rate 300mbit burst 32kb latency 20ms\"");
    }
    base.egress_qdisc = spec_json["egress_qdisc"].get<std::string>();
  }
  return {};
}

// "families" (a list) or "family" (one): the traffic's address families; "mtu": the veths'.
Result<void> read_families(const json& spec_json, SweepSpec& spec) {
  if (spec_json.contains("family") && spec_json.contains("families")) {
    return fail("family", "give either \"family\" or \"families\", not both");
  }
  std::vector<std::string> names;
  if (spec_json.contains("family")) {
    if (!spec_json["family"].is_string()) {
      return fail("family", "must be \"ipv4\" or \"ipv6\"");
    }
    names.push_back(spec_json["family"].get<std::string>());
  } else if (auto r = read_string_list(spec_json, "families", {"ipv4", "ipv6"}, names); !r) {
    return tl::unexpected(r.error());
  }
  if (!names.empty()) {
    spec.families.clear();
    for (size_t i = 0; i < names.size(); ++i) {
      const std::string where = spec_json.contains("family") ? "family"
                                                             : "families[" + std::to_string(i) + "]";
      auto family = parse_family(names[i], where);
      if (!family) {
        return tl::unexpected(family.error());
      }
      spec.families.push_back(*family);
    }
  }
  if (spec_json.contains("mtu")) {
    auto mtu = as_uint(spec_json["mtu"], "mtu", kMinMtu, kMaxMtu);
    if (!mtu) {
      return tl::unexpected(mtu.error());
    }
    spec.base.mtu = *mtu == kDefaultMtu ? 0 : *mtu;  // the default: the same cells as no "mtu"
  }
  return {};
}

// Every size fits one packet of each family at the MTU (see spec.h for the IPv4 exception).
Result<void> check_sizes_fit(const SweepSpec& spec) {
  for (Family family : spec.families) {
    if (family == Family::ipv4 && spec.base.mtu == 0) {
      continue;
    }
    if (family == Family::ipv6 && spec.base.link_mtu() < kMinMtuIpv6) {
      return fail("mtu", std::to_string(spec.base.link_mtu()) + " is below IPv6's minimum MTU (" +
                             std::to_string(kMinMtuIpv6) + ")");
    }
    const uint32_t largest = spec.base.link_mtu() - ip_udp_header_bytes(family);
    for (size_t i = 0; i < spec.sizes.size(); ++i) {
      if (spec.sizes[i] > largest) {
        return fail("sizes[" + std::to_string(i) + "]",
                    std::to_string(spec.sizes[i]) + " B is more than one " + to_string(family) +
                        " packet at MTU " + std::to_string(spec.base.link_mtu()) + " carries (" +
                        std::to_string(largest) + " B); set \"mtu\"");
      }
    }
  }
  return {};
}

// "tester": "full" or "fast" (Tester), for the saturation and NDR cells.
Result<void> read_tester(const json& spec_json, SweepSpec& spec) {
  if (!spec_json.contains("tester")) {
    return {};
  }
  if (!spec_json["tester"].is_string()) {
    return fail("tester", "must be \"full\" or \"fast\"");
  }
  auto tester = parse_tester(spec_json["tester"].get<std::string>(), "tester");
  if (!tester) {
    return tl::unexpected(tester.error());
  }
  spec.base.tester = *tester;
  return {};
}

// "egress_segmentation": "software", "device" or a list of them (an axis of the gso cells).
Result<void> read_segmentations(const json& spec_json, SweepSpec& spec) {
  if (!spec_json.contains("egress_segmentation")) {
    return {};
  }
  json listed = spec_json["egress_segmentation"];
  if (listed.is_string()) {
    listed = json::array({listed});
  }
  if (!listed.is_array() || listed.empty()) {
    return fail("egress_segmentation", "must be \"software\", \"device\" or a list of them");
  }
  spec.segmentations.clear();
  for (size_t i = 0; i < listed.size(); ++i) {
    const std::string where = "egress_segmentation[" + std::to_string(i) + "]";
    auto segmentation = listed[i].is_string()
                            ? parse_segmentation(listed[i].get<std::string>(), where)
                            : fail(where, "must be \"software\" or \"device\"");
    if (!segmentation) {
      return tl::unexpected(segmentation.error());
    }
    spec.segmentations.push_back(*segmentation);
  }
  return {};
}

// "latency_curve": {"of": [forwarders], "fractions": [0 < f <= 1]}; needs "ndr" among the
// rates and the "of" forwarders among the spec's (read after both).
Result<void> read_latency_curve(const json& spec_json, SweepSpec& spec) {
  if (!spec_json.contains("latency_curve")) {
    return {};
  }
  const json& curve_json = spec_json["latency_curve"];
  if (!curve_json.is_object() || !curve_json.contains("of") || !curve_json.contains("fractions")) {
    return fail("latency_curve", "must be {\"of\": [forwarders], \"fractions\": [numbers]}");
  }
  LatencyCurve curve;
  std::vector<std::string> names;
  std::set<std::string> listed;
  for (Forwarder f : spec.forwarders) {
    listed.insert(to_string(f));
  }
  if (auto r = read_string_list(curve_json, "of", listed, names); !r) {
    return fail("latency_curve." + r.error().where,
                r.error().message + " of the spec's forwarders");
  }
  for (const auto& name : names) {
    curve.of.push_back(*parse_forwarder(name, "latency_curve.of"));
  }
  const json& fractions = curve_json["fractions"];
  if (!fractions.is_array() || fractions.empty()) {
    return fail("latency_curve.fractions", "must be a non-empty list of numbers in (0, 1]");
  }
  for (size_t i = 0; i < fractions.size(); ++i) {
    const std::string where = "latency_curve.fractions[" + std::to_string(i) + "]";
    auto fraction = as_double(fractions[i], where, 0.001, 1);
    if (!fraction) {
      return tl::unexpected(fraction.error());
    }
    curve.fractions.push_back(*fraction);
  }
  if (std::find(spec.rates.begin(), spec.rates.end(), -1.0) == spec.rates.end()) {
    return fail("latency_curve", "needs \"ndr\" among the rates (the curve is paced at "
                                 "fractions of a no-drop rate measured in the same sweep)");
  }
  spec.curve = std::move(curve);
  return {};
}

// "ndr": the search knobs (NdrOptions).
Result<void> read_ndr_options(const json& spec_json, SweepSpec& spec) {
  if (!spec_json.contains("ndr")) {
    return {};
  }
  const json& ndr = spec_json["ndr"];
  if (!ndr.is_object()) {
    return fail("ndr", "must be an object");
  }
  struct DoubleKey {
    const char* key;
    double* field;
    double lo;
    double hi;
  };
  for (const DoubleKey& k : {DoubleKey{"loss_pct", &spec.ndr.loss_threshold_pct, 0, 100},
                             DoubleKey{"resolution", &spec.ndr.resolution, 0.001, 0.5},
                             DoubleKey{"min_rate", &spec.ndr.min_rate, 1, 1e9},
                             DoubleKey{"max_rate", &spec.ndr.max_rate, 0, 1e9}}) {
    if (ndr.contains(k.key)) {
      auto v = as_double(ndr[k.key], std::string("ndr.") + k.key, k.lo, k.hi);
      if (!v) {
        return tl::unexpected(v.error());
      }
      *k.field = *v;
    }
  }
  return {};
}

}  // namespace

Result<SweepSpec> parse_sweep_spec(const nlohmann::json& spec_json) {
  if (!spec_json.is_object()) {
    return fail("spec", "must be a JSON object");
  }
  static const std::set<std::string> kKnownKeys = {
      "name",     "forwarders",   "sizes",       "batches",   "fanouts",     "backends",
      "ingress",  "queue_depths", "sndbufs",     "rates",     "repetitions", "warmup_s",
      "window_s", "relay_rcvbuf", "sink_rcvbuf", "gen_batch", "streams",     "egress_qdisc",
      "ndr",      "description",  "gen_bursts",  "tester",      "family",    "families",
      "mtu",      "egress_segmentation",  "latency_curve", "workers"};
  for (const auto& item : spec_json.items()) {
    if (kKnownKeys.count(item.key()) == 0) {
      return fail(item.key(), "unknown key in sweep spec");
    }
  }
  SweepSpec spec;
  spec.source = spec_json;
  if (spec_json.contains("name")) {
    if (!spec_json["name"].is_string()) {
      return fail("name", "must be a string");
    }
    spec.name = spec_json["name"].get<std::string>();
  }
  for (auto read : {read_forwarders, read_axes, read_rates, read_base, read_tester,
                    read_ndr_options, read_families, read_segmentations, read_latency_curve}) {
    if (auto done = read(spec_json, spec); !done) {
      return tl::unexpected(done.error());
    }
  }
  if (auto fits = check_sizes_fit(spec); !fits) {
    return tl::unexpected(fits.error());
  }
  if (auto covered = check_streams(spec); !covered) {
    return tl::unexpected(covered.error());
  }
  return spec;
}

namespace {

// One mrelay cell per "workers" entry.
void add_worker_cells(const SweepSpec& spec, CellParams cell, std::vector<CellParams>& cells) {
  for (uint32_t workers : spec.workers) {
    cell.workers = workers;
    cells.push_back(cell);
  }
}

// One mrelay cell per segmentation model when its egress sends GSO runs; otherwise one,
// whose veths get the first model listed (it changes nothing for them); each with every
// "workers" entry.
void add_segmentation_cells(const SweepSpec& spec, CellParams cell,
                            std::vector<CellParams>& cells) {
  const size_t models = cell.sends_gso_runs() ? spec.segmentations.size() : 1;
  for (size_t m = 0; m < models; ++m) {
    cell.segmentation = spec.segmentations[m];
    add_worker_cells(spec, cell, cells);
  }
}

// The cells of one point of the matrix: one per reference forwarder, one per mrelay
// ingress x backend x queue depth (uring only) x send buffer.
void add_forwarder_cells(const SweepSpec& spec, CellParams cell, std::vector<CellParams>& cells) {
  for (Forwarder forwarder : spec.forwarders) {
    cell.forwarder = forwarder;
    cell.segmentation = spec.segmentations.front();
    if (forwarder != Forwarder::mrelay) {
      cells.push_back(cell);
      continue;
    }
    for (const auto& ingress : spec.ingress_modes) {
      for (const auto& backend : spec.backends) {
        // Queue depth is an io_uring knob: other backends get one cell.
        const size_t depths = backend == "uring" ? spec.queue_depths.size() : 1;
        for (size_t d = 0; d < depths; ++d) {
          for (uint32_t sndbuf : spec.sndbufs) {
            CellParams relay_cell = cell;
            relay_cell.ingress = ingress;
            relay_cell.egress = backend;
            relay_cell.queue_depth = spec.queue_depths[d];
            relay_cell.sndbuf = sndbuf;
            add_segmentation_cells(spec, relay_cell, cells);
          }
        }
      }
    }
  }
}

}  // namespace

std::vector<CellParams> expand_cells(const SweepSpec& spec) {
  std::vector<CellParams> cells;
  for (uint32_t size : spec.sizes) {
    for (uint32_t batch : spec.batches) {
      for (uint32_t fanout : spec.fanouts) {
        for (double rate : spec.rates) {
          CellParams cell = spec.base;
          cell.size = size;
          cell.batch = batch;
          cell.fanout = fanout;
          cell.ndr = rate < 0;
          cell.rate_pps = rate < 0 ? 0 : rate;
          // Paced cells measure latency: only the full tester's sink takes it.
          cell.tester = rate > 0 ? Tester::full : spec.base.tester;
          for (Family family : spec.families) {
            cell.family = family;
            add_forwarder_cells(spec, cell, cells);
          }
        }
      }
    }
  }
  return cells;
}

std::vector<CellParams> expand_curve_cells(
    const SweepSpec& spec,
    const std::function<std::optional<CurveBasis>(const CellParams&)>& basis) {
  std::vector<CellParams> cells;
  if (!spec.curve) {
    return cells;
  }
  for (const CellParams& ndr_cell : expand_cells(spec)) {
    if (!ndr_cell.ndr) {
      continue;
    }
    const std::optional<CurveBasis> found = basis(ndr_cell);
    if (!found || found->ndr_pps <= 0) {
      continue;
    }
    for (double fraction : spec.curve->fractions) {
      CellParams cell = ndr_cell;
      cell.ndr = false;
      cell.tester = Tester::full;  // paced: the sink that measures latency
      cell.rate_fraction = fraction;
      cell.rate_reference = found->reference;
      cell.reference_ndr_pps = found->ndr_pps;
      cell.rate_pps = std::max(1.0, std::round(fraction * found->ndr_pps));
      cells.push_back(cell);
    }
  }
  return cells;
}

Result<void> check_streams_cover_workers(uint32_t streams, uint32_t workers,
                                         const std::string& streams_key) {
  if (streams >= workers) {
    return {};
  }
  return fail(streams_key, std::to_string(streams) + " is below workers (" +
                               std::to_string(workers) +
                               "): the relay's workers share the ingress by a hash of the flow, "
                               "one stream is one flow and lands on one worker; give at least " +
                               std::to_string(workers) + " streams");
}

std::vector<PlannedRun> interleaved_plan(size_t cells, uint32_t repetitions) {
  std::vector<PlannedRun> plan;
  plan.reserve(cells * repetitions);
  for (uint32_t rep = 1; rep <= repetitions; ++rep) {
    for (size_t cell = 0; cell < cells; ++cell) {
      plan.push_back(PlannedRun{cell, rep});
    }
  }
  return plan;
}

}  // namespace mrelay::harness
