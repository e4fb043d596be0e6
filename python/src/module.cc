// _mrelay: a thin pybind11 binding of the C++ pieces the Python package needs to agree with
// byte for byte: the latency histogram, the test payload, the frame parser, config
// validation, and the rig's own rules over results (reference ratios, sweep expansion, the
// kernel's VIF limit), so that mrelay-bench and the Python tools share one implementation.
// No logic lives here; the package `mrelay` re-exports these names.
//
//   >>> import mrelay
//   >>> h = mrelay.Histogram(); h.record(1500); h.percentile(99.0)
//   1500
//   >>> mrelay.parse_config_json('{"rules": []}')   # dict, or ValueError naming the field
//   >>> mrelay.check_payload(mrelay.stamp_payload(64, stream=1, sequence=7, send_time_ns=5))
//   >>> mrelay.native().reference_ratios([record, direct_record])[0]["ratio_to_direct"]
#include <arpa/inet.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "mrelay/config.h"
#include "mrelay/packet.h"
#include "mrelay/payload.h"
#include "reference/kernel_forwarder.h"
#include "results/aggregate.h"
#include "rig/spec.h"
#include "traffic/histogram.h"

namespace py = pybind11;

namespace {

std::string address_text(in_addr address) {
  char text[INET_ADDRSTRLEN] = {};
  ::inet_ntop(AF_INET, &address, text, sizeof(text));
  return text;
}

std::string address_text(uint32_t network_order) {
  in_addr address{};
  address.s_addr = network_order;
  return address_text(address);
}

std::string address6_text(const in6_addr& address) {
  char text[INET6_ADDRSTRLEN] = {};
  ::inet_ntop(AF_INET6, &address, text, sizeof(text));
  return text;
}

// A contiguous read-only view of any bytes-like object (bytes, bytearray, memoryview).
struct ByteView {
  const uint8_t* data = nullptr;
  size_t size = 0;
};

ByteView view_of(const py::buffer& buffer) {
  const py::buffer_info info = buffer.request();
  if (info.ndim != 1 || info.itemsize != 1 || info.strides[0] != 1) {
    throw py::value_error("expected a contiguous bytes-like object");
  }
  return {static_cast<const uint8_t*>(info.ptr), static_cast<size_t>(info.size)};
}

py::dict payload_fields_dict(const mrelay::PayloadFields& fields) {
  py::dict out;
  out["stream"] = fields.stream;
  out["flags"] = fields.flags;
  out["sequence"] = fields.sequence;
  out["send_time_ns"] = fields.send_time_ns;
  return out;
}

std::string payload_status_text(mrelay::PayloadStatus status) {
  switch (status) {
    case mrelay::PayloadStatus::ok:
      return "ok";
    case mrelay::PayloadStatus::too_short:
      return "too_short";
    case mrelay::PayloadStatus::bad_magic:
      return "bad_magic";
    case mrelay::PayloadStatus::bad_size:
      return "bad_size";
    case mrelay::PayloadStatus::bad_checksum:
      return "bad_checksum";
  }
  return "unknown";
}

py::bytes stamp_payload(size_t size, uint16_t stream, uint64_t sequence, uint64_t send_time_ns,
                        uint16_t flags) {
  if (size < mrelay::kPayloadHeaderSize) {
    throw py::value_error("size: must be at least " + std::to_string(mrelay::kPayloadHeaderSize) +
                          " bytes (got " + std::to_string(size) + ")");
  }
  std::string buffer(size, '\0');
  mrelay::stamp_payload(
      reinterpret_cast<uint8_t*>(buffer.data()), size,
      {.stream = stream, .flags = flags, .sequence = sequence, .send_time_ns = send_time_ns});
  return py::bytes(buffer);
}

py::bytes restamp_time(const py::buffer& payload, uint64_t send_time_ns) {
  const ByteView view = view_of(payload);
  if (view.size < mrelay::kPayloadHeaderSize) {
    throw py::value_error("payload: shorter than the 32-byte header");
  }
  std::string copy(reinterpret_cast<const char*>(view.data), view.size);
  mrelay::restamp_time(reinterpret_cast<uint8_t*>(copy.data()), copy.size(), send_time_ns);
  return py::bytes(copy);
}

py::dict check_payload(const py::buffer& payload) {
  const ByteView view = view_of(payload);
  const mrelay::PayloadCheck check = mrelay::check_payload(view.data, view.size);
  py::dict out = payload_fields_dict(check.fields);
  out["status"] = payload_status_text(check.status);
  return out;
}

py::dict udp_view_dict(mrelay::ParseVerdict verdict, const mrelay::UdpView& view,
                       const uint8_t* base) {
  py::dict out;
  out["verdict"] = std::string(mrelay::to_string(verdict));
  out["malformed"] = mrelay::is_malformed(verdict);
  if (verdict != mrelay::ParseVerdict::ok) {
    return out;
  }
  out["ipv6"] = view.ipv6;
  out["src_addr"] = view.ipv6 ? address6_text(view.src6) : address_text(view.src_addr);
  out["dst_addr"] = view.ipv6 ? address6_text(view.dst6) : address_text(view.dst_addr);
  out["src_port"] = view.src_port;
  out["dst_port"] = view.dst_port;
  out["vlan_id"] = view.vlan_id;
  out["ttl"] = view.ttl;
  out["payload_offset"] = static_cast<size_t>(view.payload - base);
  out["payload"] = py::bytes(reinterpret_cast<const char*>(view.payload), view.payload_len);
  return out;
}

py::dict parse_frame(const py::buffer& frame) {
  const ByteView view = view_of(frame);
  mrelay::UdpView udp;
  const auto verdict = mrelay::parse_frame(view.data, view.size, udp);
  return udp_view_dict(verdict, udp, view.data);
}

py::dict parse_ipv4(const py::buffer& packet) {
  const ByteView view = view_of(packet);
  mrelay::UdpView udp;
  const auto verdict = mrelay::parse_ipv4(view.data, view.size, udp);
  return udp_view_dict(verdict, udp, view.data);
}

// A rule's sources as the config and list_rules write them: None (any source), one address,
// or a list of addresses (a source-specific rule with several), IPv4 or IPv6.
py::object source_object(const mrelay::Rule& rule) {
  const std::vector<std::string> sources = mrelay::source_texts(rule);
  if (sources.empty()) {
    return py::none();
  }
  if (sources.size() == 1) {
    return py::str(sources.front());
  }
  py::list list;
  for (const std::string& source : sources) {
    list.append(source);
  }
  return list;
}

py::dict config_dict(const mrelay::Config& config) {
  py::list rules;
  for (const auto& rule : config.rules) {
    py::list outputs;
    for (const auto& output : rule.outputs) {
      py::dict item;
      item["interface"] = output.interface;
      item["group"] = mrelay::output_address_text(output);  // IPv4 or IPv6
      item["port"] = output.port;
      // None: copies carry the received TTL - 1; a number: a fixed TTL.
      item["ttl"] = output.ttl ? py::object(py::int_(*output.ttl)) : py::none();
      item["ttl_threshold"] = output.ttl_threshold;
      outputs.append(item);
    }
    py::dict input;
    input["interface"] = rule.input_interface;
    input["group"] = mrelay::input_group_text(rule);  // IPv4 or IPv6
    input["port"] = rule.port;
    input["source"] = source_object(rule);
    input["vlan"] = rule.vlan != 0 ? py::object(py::int_(rule.vlan)) : py::none();
    py::dict item;
    item["name"] = rule.name;
    item["input"] = input;
    item["outputs"] = outputs;
    item["allow_link_local"] = rule.allow_link_local;
    rules.append(item);
  }
  py::dict egress;
  egress["backend"] = std::string(mrelay::to_string(config.egress.backend));
  egress["queue_depth"] = config.egress.queue_depth;
  egress["batch"] = config.egress.batch;
  egress["sndbuf"] = config.egress.sndbuf;
  py::dict out;
  out["ingress"] = std::string(mrelay::to_string(config.ingress));
  out["egress"] = egress;
  out["rcvbuf"] = config.rcvbuf;
  out["workers"] = config.workers;
  out["cpus"] = config.cpus;
  out["pool_buffers"] = config.pool_buffers;
  out["stats_interval_ms"] = config.stats_interval_ms;
  out["rules"] = rules;
  return out;
}

// Shape/value checks (parse_config_json) plus the whole-config rules of validate_config. With
// check_interfaces=False, interface names are accepted as they are (no lookup), so a config
// written for a rig can be checked on any machine.
py::dict parse_config(const std::string& text, bool check_interfaces) {
  auto config = mrelay::parse_config_json(text);
  if (!config) {
    throw py::value_error(config.error().to_string());
  }
  const mrelay::InterfaceLookup lookup =
      check_interfaces ? mrelay::system_interfaces()
                       : mrelay::InterfaceLookup([](const std::string&) { return 1u; });
  if (auto valid = mrelay::validate_config(*config, lookup); !valid) {
    throw py::value_error(valid.error().to_string());
  }
  return config_dict(*config);
}

// Results documents cross the boundary as JSON text: Python's json module on this side,
// nlohmann::json on the other, the same parser mrelay-bench reads and writes them with.
nlohmann::json to_json_value(const py::object& value) {
  const std::string text = py::module_::import("json").attr("dumps")(value).cast<std::string>();
  return nlohmann::json::parse(text);
}

py::object to_python(const nlohmann::json& value) {
  return py::module_::import("json").attr("loads")(value.dump());
}

py::object reference_ratios(const py::object& samples) {
  return to_python(mrelay::harness::reference_ratios(to_json_value(samples)));
}

std::string reference_key(const py::object& record) {
  return mrelay::harness::reference_key(to_json_value(record));
}

py::object expand_sweep_spec(const py::object& spec) {
  auto parsed = mrelay::harness::parse_sweep_spec(to_json_value(spec));
  if (!parsed) {
    throw py::value_error(parsed.error().to_string());
  }
  nlohmann::json cells = nlohmann::json::array();
  for (const auto& cell : mrelay::harness::expand_cells(*parsed)) {
    cells.push_back(mrelay::harness::to_json(cell));
  }
  return to_python(cells);
}

}  // namespace

PYBIND11_MODULE(_mrelay, m) {
  m.doc() = "mrelay native helpers: histogram, payload, frame parser, config validation";

  using mrelay::harness::Histogram;
  py::class_<Histogram>(m, "Histogram",
                        "Log-linear latency histogram in ns (<= 1 % relative error).")
      .def(py::init<uint64_t>(), py::arg("highest_trackable") = Histogram::kDefaultHighestNs)
      .def("record", &Histogram::record, py::arg("value"), "Adds one value (ns).")
      .def(
          "record_many",
          [](Histogram& self, const std::vector<uint64_t>& values) {
            for (const uint64_t value : values) {
              self.record(value);
            }
          },
          py::arg("values"), "Adds every value of an iterable of ints.")
      .def("merge", &Histogram::merge, py::arg("other"), "Adds another histogram's counts.")
      .def("reset", &Histogram::reset)
      .def("percentile", &Histogram::percentile, py::arg("p"),
           "Value at percentile p in [0, 100]; 0 when empty.")
      .def_property_readonly("count", &Histogram::count)
      .def_property_readonly("min", &Histogram::min)
      .def_property_readonly("max", &Histogram::max)
      .def_property_readonly("mean", &Histogram::mean)
      .def_property_readonly("clamped_count", &Histogram::clamped_count)
      .def_property_readonly("highest_trackable", &Histogram::highest_trackable)
      .def("__len__", &Histogram::count)
      .def("__repr__", [](const Histogram& self) {
        return "<Histogram count=" + std::to_string(self.count()) +
               " p50=" + std::to_string(self.percentile(50.0)) +
               " p99=" + std::to_string(self.percentile(99.0)) + ">";
      });

  m.attr("PAYLOAD_MAGIC") = mrelay::kPayloadMagic;
  m.attr("PAYLOAD_HEADER_SIZE") = mrelay::kPayloadHeaderSize;
  m.attr("PAYLOAD_FLAG_WARMUP") = mrelay::kPayloadFlagWarmup;
  m.def("stamp_payload", &stamp_payload, py::arg("size"), py::arg("stream") = 0,
        py::arg("sequence") = 0, py::arg("send_time_ns") = 0, py::arg("flags") = 0,
        "Returns a payload of `size` bytes as mrelay-gen writes it.");
  m.def("restamp_time", &restamp_time, py::arg("payload"), py::arg("send_time_ns"),
        "Returns a copy with a new send time and checksum.");
  m.def("check_payload", &check_payload, py::arg("payload"),
        "Returns {status, stream, flags, sequence, send_time_ns}; status 'ok' when intact.");
  m.def("parse_frame", &parse_frame, py::arg("frame"),
        "Parses an Ethernet frame: {verdict, malformed, and on 'ok' the UDP/IPv4 fields}.");
  m.def("parse_ipv4", &parse_ipv4, py::arg("packet"), "Like parse_frame, from the IPv4 header.");
  m.def("parse_config_json", &parse_config, py::arg("text"), py::arg("check_interfaces") = false,
        "Parses and validates relay config JSON; returns a dict or raises ValueError whose "
        "message starts with the field path (\"rules[0].outputs[1].port: ...\").");

  m.attr("KERNEL_VIF_LIMIT") = mrelay::kMaxVifs;
  m.def("reference_ratios", &reference_ratios, py::arg("samples"),
        "For each record of a list of bench records: {ratio_to_direct, ratio_to_kernel, "
        "kernel_reference, ratio_to_each_kernel} against the references in the list (None for "
        "a record without params), as mrelay-bench computes them for a sweep.");
  m.def("reference_key", &reference_key, py::arg("record"),
        "The key that matches a record with its references: 's512/b32/f1/r50000'.");
  m.def("expand_sweep_spec", &expand_sweep_spec, py::arg("spec"),
        "The cells of a sweep spec, as the params of their records, in mrelay-bench's order; "
        "ValueError naming the key for a bad spec.");
}
