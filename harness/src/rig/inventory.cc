// The rig across machines: see rig/inventory.h and docs/multi-host.md.
#include "rig/inventory.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <set>
#include <sstream>

namespace mrelay::harness {
namespace {

using nlohmann::json;
using std::chrono::seconds;

constexpr auto kSetupTimeout = seconds(30);

const char* role_name(HostRole role) {
  switch (role) {
    case HostRole::tester:
      return "tester";
    case HostRole::dut:
      return "dut";
    case HostRole::sink:
      return "sink";
  }
  return "?";
}

Result<void> only_keys(const json& object, const std::string& where,
                       std::initializer_list<const char*> allowed) {
  for (const auto& item : object.items()) {
    if (std::none_of(allowed.begin(), allowed.end(),
                     [&](const char* key) { return item.key() == key; })) {
      return fail(where + "." + item.key(), "unknown key");
    }
  }
  return {};
}

Result<std::string> string_field(const json& object, const std::string& where, const char* key,
                                 bool required) {
  if (!object.contains(key)) {
    return required ? fail(where + "." + key, "missing") : Result<std::string>(std::string());
  }
  if (!object[key].is_string() || object[key].get<std::string>().empty()) {
    return fail(where + "." + key, "must be a non-empty string");
  }
  return object[key].get<std::string>();
}

// An interface name the kernel accepts (IFNAMSIZ, no '/', no whitespace).
Result<std::string> interface_field(const json& object, const std::string& where,
                                    const char* key) {
  auto name = string_field(object, where, key, true);
  if (name && (name->size() >= 16 || name->find_first_of("/ \t:") != std::string::npos)) {
    return fail(where + "." + key, "'" + *name + "' is not an interface name");
  }
  return name;
}

Result<InventoryHost> parse_host(const std::string& name, const json& object,
                                 const std::string& default_bin_dir) {
  const std::string where = "hosts." + name;
  if (!object.is_object()) {
    return fail(where, "must be an object");
  }
  if (auto keys = only_keys(object, where, {"ssh", "role", "bin_dir", "cpu"}); !keys) {
    return tl::unexpected(keys.error());
  }
  InventoryHost host;
  host.name = name;
  auto ssh = string_field(object, where, "ssh", true);
  auto role = string_field(object, where, "role", true);
  auto bin_dir = string_field(object, where, "bin_dir", false);
  for (const auto* field : {&ssh, &role, &bin_dir}) {
    if (!*field) {
      return tl::unexpected(field->error());
    }
  }
  host.ssh = *ssh;
  host.bin_dir = bin_dir->empty() ? default_bin_dir : *bin_dir;
  if (*role == "tester") {
    host.role = HostRole::tester;
  } else if (*role == "dut") {
    host.role = HostRole::dut;
  } else if (*role == "sink") {
    host.role = HostRole::sink;
  } else {
    return fail(where + ".role", "'" + *role + "' is not one of tester, dut, sink");
  }
  if (object.contains("cpu")) {
    if (!object["cpu"].is_number_unsigned() || object["cpu"].get<uint64_t>() > 4095) {
      return fail(where + ".cpu", "must be a CPU number (0..4095)");
    }
    host.cpu = object["cpu"].get<int>();
  }
  return host;
}

Result<void> parse_hosts(const json& document, const std::string& default_bin_dir,
                         Inventory& inventory) {
  if (!document.contains("hosts") || !document["hosts"].is_object()) {
    return fail("hosts", "missing (an object: name -> {ssh, role})");
  }
  std::map<HostRole, int> count;
  for (const auto& item : document["hosts"].items()) {
    auto host = parse_host(item.key(), item.value(), default_bin_dir);
    if (!host) {
      return tl::unexpected(host.error());
    }
    ++count[host->role];
    inventory.hosts[item.key()] = *host;
  }
  if (count[HostRole::tester] != 1 || count[HostRole::dut] != 1) {
    return fail("hosts", "needs exactly one host with role tester and one with role dut (has " +
                             std::to_string(count[HostRole::tester]) + " and " +
                             std::to_string(count[HostRole::dut]) + ")");
  }
  return {};
}

Result<void> parse_links(const json& document, Inventory& inventory) {
  if (!document.contains("ingress") || !document["ingress"].is_object()) {
    return fail("ingress", "missing (an object: {tester: IF, dut: IF})");
  }
  const json& ingress = document["ingress"];
  if (auto keys = only_keys(ingress, "ingress", {"tester", "dut"}); !keys) {
    return keys;
  }
  auto tester = interface_field(ingress, "ingress", "tester");
  auto dut = interface_field(ingress, "ingress", "dut");
  if (!tester || !dut) {
    return tl::unexpected(!tester ? tester.error() : dut.error());
  }
  inventory.tester_interface = *tester;
  inventory.dut_ingress = *dut;
  if (!document.contains("outputs") || !document["outputs"].is_array() ||
      document["outputs"].empty()) {
    return fail("outputs", "missing (a non-empty array of {dut, host, interface})");
  }
  std::set<std::string> used = {inventory.dut().name + ":" + inventory.dut_ingress,
                                inventory.tester().name + ":" + inventory.tester_interface};
  for (size_t i = 0; i < document["outputs"].size(); ++i) {
    const json& link = document["outputs"][i];
    const std::string where = "outputs[" + std::to_string(i) + "]";
    if (!link.is_object()) {
      return fail(where, "must be an object");
    }
    if (auto keys = only_keys(link, where, {"dut", "host", "interface"}); !keys) {
      return keys;
    }
    auto dut_if = interface_field(link, where, "dut");
    auto host = string_field(link, where, "host", true);
    auto interface = interface_field(link, where, "interface");
    if (!dut_if || !host || !interface) {
      return tl::unexpected(!dut_if ? dut_if.error() : !host ? host.error() : interface.error());
    }
    auto found = inventory.hosts.find(*host);
    if (found == inventory.hosts.end() || found->second.role == HostRole::dut) {
      return fail(where + ".host", "'" + *host + "' is not a tester or sink host of hosts");
    }
    for (const std::string& key : {inventory.dut().name + ":" + *dut_if, *host + ":" + *interface}) {
      if (!used.insert(key).second) {
        return fail(where, key + " is used by another link");
      }
    }
    inventory.outputs.push_back(OutputLink{*dut_if, *host, *interface});
  }
  return {};
}

Result<void> parse_real_interfaces(const json& document, Inventory& inventory) {
  if (!document.contains("send_on_real_interfaces")) {
    return {};
  }
  const json& list = document["send_on_real_interfaces"];
  if (!list.is_array()) {
    return fail("send_on_real_interfaces", "must be an array of \"HOST:IF\"");
  }
  for (const json& item : list) {
    const std::string text = item.is_string() ? item.get<std::string>() : "";
    const auto colon = text.find(':');
    if (colon == std::string::npos || inventory.hosts.count(text.substr(0, colon)) == 0) {
      return fail("send_on_real_interfaces", "'" + item.dump() + "' is not HOST:IF of a host");
    }
    inventory.real_interfaces.push_back(text);
  }
  return {};
}

std::string cidr(int a, int b, int c, int d) {
  return std::to_string(a) + "." + std::to_string(b) + "." + std::to_string(c) + "." +
         std::to_string(d) + "/24";
}

// Prints what a command run on a host said when it failed.
Result<void> run_on(Host& host, const std::vector<std::string>& argv) {
  auto result = host.run(argv, kSetupTimeout);
  if (!result) {
    return fail(host.name() + ": " + shell_command(argv), result.error().to_string());
  }
  if (!result->status.ok()) {
    return fail(host.name() + ": " + shell_command(argv),
                result->status.describe() + ": " + text_tail(result->err, 300));
  }
  return {};
}

std::map<std::string, std::string> key_values(const std::string& text) {
  std::map<std::string, std::string> values;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    const auto tab = line.find('\t');
    if (tab != std::string::npos) {
      std::string value = line.substr(tab + 1);
      value.erase(0, value.find_first_not_of(' '));
      values[line.substr(0, tab)] = value;
    }
  }
  return values;
}

json number_or_null(const std::string& text) {
  try {
    return text.empty() ? json(nullptr) : json(std::stoll(text));
  } catch (const std::exception&) {
    return nullptr;
  }
}

}  // namespace

const InventoryHost& Inventory::tester() const {
  for (const auto& [name, host] : hosts) {
    if (host.role == HostRole::tester) {
      return host;
    }
  }
  throw std::logic_error("inventory without a tester");  // parse_inventory() rules it out
}

const InventoryHost& Inventory::dut() const {
  for (const auto& [name, host] : hosts) {
    if (host.role == HostRole::dut) {
      return host;
    }
  }
  throw std::logic_error("inventory without a dut");
}

Result<Inventory> parse_inventory(const json& document, const std::string& default_bin_dir) {
  if (!document.is_object()) {
    return fail("inventory", "must be a JSON object");
  }
  if (auto keys = only_keys(document, "inventory",
                            {"hosts", "ingress", "outputs", "ssh_config",
                             "send_on_real_interfaces", "comment"});
      !keys) {
    return tl::unexpected(keys.error());
  }
  Inventory inventory;
  auto config = string_field(document, "inventory", "ssh_config", false);
  if (!config) {
    return tl::unexpected(config.error());
  }
  inventory.ssh_config = *config;
  if (auto hosts = parse_hosts(document, default_bin_dir, inventory); !hosts) {
    return tl::unexpected(hosts.error());
  }
  for (auto step : {&parse_links, &parse_real_interfaces}) {
    if (auto parsed = step(document, inventory); !parsed) {
      return tl::unexpected(parsed.error());
    }
  }
  return inventory;
}

Result<Inventory> load_inventory(const std::string& path, const std::string& default_bin_dir) {
  auto text = read_text_file(path);
  if (!text) {
    return tl::unexpected(text.error());
  }
  const json document = json::parse(*text, nullptr, false, true);
  if (document.is_discarded()) {
    return fail(path, "not valid JSON");
  }
  auto inventory = parse_inventory(document, default_bin_dir);
  if (!inventory) {
    return fail(path, inventory.error().to_string());
  }
  // A relative ssh_config is the inventory's neighbour, wherever the run starts.
  if (!inventory->ssh_config.empty() && inventory->ssh_config.front() != '/') {
    inventory->ssh_config =
        (std::filesystem::path(path).parent_path() / inventory->ssh_config).string();
  }
  return inventory;
}

std::vector<LinkAddress> address_plan(const Inventory& inventory) {
  std::vector<LinkAddress> plan = {
      {inventory.tester().name, inventory.tester_interface, cidr(10, 77, 0, 1)},
      {inventory.dut().name, inventory.dut_ingress, cidr(10, 77, 0, 2)}};
  for (size_t j = 0; j < inventory.outputs.size(); ++j) {
    const OutputLink& link = inventory.outputs[j];
    plan.push_back({inventory.dut().name, link.dut_interface, cidr(10, 80, int(j), 1)});
    plan.push_back({link.host, link.interface, cidr(10, 80, int(j), 2)});
  }
  return plan;
}

std::string traffic_plan(const Inventory& inventory, uint32_t fanout, int ttl) {
  std::string text = "  " + inventory.tester().name + ":" + inventory.tester_interface +
                     " (10.77.0.1) -> 239.1.1.1:5000 TTL " + std::to_string(ttl) + " -> " +
                     inventory.dut().name + ":" + inventory.dut_ingress + " (10.77.0.2)\n";
  for (size_t j = 0; j < inventory.outputs.size() && j < fanout; ++j) {
    const OutputLink& link = inventory.outputs[j];
    text += "  " + inventory.dut().name + ":" + link.dut_interface + " (10.80." +
            std::to_string(j) + ".1) -> 239.2.0.1:6000 -> " + link.host + ":" + link.interface +
            " (10.80." + std::to_string(j) + ".2)\n";
  }
  return text;
}

std::optional<std::string> refuse_interface(const std::string& key, const json& link,
                                            bool allowed) {
  const std::string kind = link.value("linkinfo", json::object()).value("info_kind", "");
  if (kind == "veth" || link.value("link_type", "") == "loopback" || allowed) {
    return std::nullopt;
  }
  return "is a real interface (" + (kind.empty() ? std::string("a NIC") : kind) +
         "): test traffic would leave the rig. Allow it by name with "
         "--send-on-real-interface " +
         key + " or \"send_on_real_interfaces\" in the inventory";
}

// ---- InventoryRig ----

InventoryRig::InventoryRig(Inventory inventory) : inventory_(std::move(inventory)) {}

InventoryRig::~InventoryRig() { cleanup(); }

Result<std::unique_ptr<InventoryRig>> InventoryRig::connect(Inventory inventory,
                                                            const std::string& version) {
  std::unique_ptr<InventoryRig> rig(new InventoryRig(std::move(inventory)));
  // A short local directory: a ControlPath must fit a UNIX socket address (108 bytes).
  rig->control_dir_ = "/tmp/mrl-ssh-" + std::to_string(::getpid());
  std::error_code error;
  std::filesystem::create_directories(rig->control_dir_, error);
  if (error) {
    return fail("mkdir " + rig->control_dir_, error.message());
  }
  std::filesystem::permissions(rig->control_dir_, std::filesystem::perms::owner_all,
                               std::filesystem::perm_options::replace, error);
  const std::string run_id = std::to_string(::getpid());
  for (const auto& [name, host] : rig->inventory_.hosts) {
    rig->hosts_[name] = std::make_unique<SshHost>(SshTarget{
        name, host.ssh, rig->inventory_.ssh_config, host.bin_dir, rig->control_dir_, run_id});
    if (auto checked = rig->check_host(host, version); !checked) {
      return tl::unexpected(checked.error());
    }
  }
  if (auto checked = rig->check_interfaces(); !checked) {
    return tl::unexpected(checked.error());
  }
  return rig;
}

// The programs of the host's role answer --version with ours: a host running another build
// would measure something else under our name.
Result<void> InventoryRig::check_host(const InventoryHost& host, const std::string& version) {
  SshHost& ssh = *hosts_.at(host.name);
  std::vector<std::string> programs = {"mrelay-sink"};
  if (host.role == HostRole::tester) {
    programs.push_back("mrelay-gen");
  } else if (host.role == HostRole::dut) {
    programs.insert(programs.end(), {"mrelay", "mrelay-kfwd", "mrelay-perfstat"});
  }
  for (const std::string& program : programs) {
    auto result = ssh.run({host.bin_dir + "/" + program, "--version"}, kSetupTimeout);
    if (!result) {
      return fail("host " + host.name + " (" + host.ssh + ")", result.error().to_string());
    }
    if (result->status.exited && result->status.code == 255) {
      return fail("host " + host.name + " (ssh " + host.ssh + ")",
                  "cannot connect: " + text_tail(result->err, 300));
    }
    if (!result->status.ok() || result->out.find(version) == std::string::npos) {
      return fail("host " + host.name + ": " + host.bin_dir + "/" + program,
                  "--version says '" + text_tail(result->out + result->err, 120) +
                      "', this mrelay-bench is " + version);
    }
  }
  std::vector<std::string> interfaces;
  for (const LinkAddress& address : address_plan(inventory_)) {
    if (address.host == host.name) {
      interfaces.push_back(address.interface);
    }
  }
  fingerprints_[host.name] = host_fingerprint(ssh, interfaces);
  return {};
}

// Every interface of the plan exists, and is a veth or loopback unless allowed by name.
Result<void> InventoryRig::check_interfaces() {
  for (const LinkAddress& address : address_plan(inventory_)) {
    const std::string key = address.host + ":" + address.interface;
    auto result = hosts_.at(address.host)->run({"ip", "-d", "-j", "link", "show", "dev",
                                                address.interface},
                                               kSetupTimeout);
    const json links = result && result->status.ok()
                           ? json::parse(result->out, nullptr, false)
                           : json();
    if (!links.is_array() || links.empty()) {
      return fail(key, "no such interface on the host" +
                           (result ? ": " + text_tail(result->err, 200) : std::string()));
    }
    if (auto refused = refuse_interface(key, links[0],
                                        allows_real_interface(address.host, address.interface))) {
      return fail(key, *refused);
    }
  }
  return {};
}

json InventoryRig::hosts_json() const {
  json hosts = json::object();
  for (const auto& [name, host] : inventory_.hosts) {
    hosts[name] = json{{"role", role_name(host.role)},
                       {"ssh", host.ssh},
                       {"bin_dir", host.bin_dir},
                       {"fingerprint", fingerprints_.count(name) ? fingerprints_.at(name) : json()}};
  }
  return hosts;
}

const json& InventoryRig::dut_fingerprint() const {
  return fingerprints_.at(inventory_.dut().name);
}

// tx-udp-segmentation of the tester's ingress interface (ethtool -K).
Result<void> InventoryRig::set_tester_segmentation(bool on) {
  return run_on(*hosts_.at(inventory_.tester().name),
                {"ethtool", "-K", inventory_.tester_interface, "tx-udp-segmentation",
                 on ? "on" : "off"});
}

Result<void> InventoryRig::configure(const std::string& egress_qdisc,
                                     bool tester_segmentation_off) {
  if (tester_segmentation_off != segmentation_off_) {
    if (auto done = set_tester_segmentation(!tester_segmentation_off); !done) {
      return done;
    }
    segmentation_off_ = tester_segmentation_off;
  }
  if (configured_.empty()) {
    for (const LinkAddress& address : address_plan(inventory_)) {
      Host& host = *hosts_.at(address.host);
      configured_.push_back(address);  // before: a half-done step is undone too
      for (const auto& argv : {std::vector<std::string>{"ip", "addr", "replace", address.cidr,
                                                        "dev", address.interface},
                               std::vector<std::string>{"ip", "link", "set", address.interface,
                                                        "up"}}) {
        if (auto done = run_on(host, argv); !done) {
          return done;
        }
      }
    }
  }
  if (egress_qdisc == qdisc_on_) {
    return {};
  }
  Host& dut = *hosts_.at(inventory_.dut().name);
  for (const OutputLink& link : inventory_.outputs) {
    std::vector<std::string> argv = {"tc", "qdisc"};
    if (egress_qdisc.empty()) {
      argv.insert(argv.end(), {"del", "dev", link.dut_interface, "root"});
    } else {
      argv.insert(argv.end(), {"replace", "dev", link.dut_interface, "root"});
      std::istringstream words(egress_qdisc);
      for (std::string word; words >> word;) {
        argv.push_back(word);
      }
    }
    if (auto done = run_on(dut, argv); !done) {
      return done;
    }
  }
  qdisc_on_ = egress_qdisc;
  return {};
}

void InventoryRig::unconfigure() {
  if (segmentation_off_) {
    (void)set_tester_segmentation(true);
    segmentation_off_ = false;
  }
  if (!qdisc_on_.empty()) {
    for (const OutputLink& link : inventory_.outputs) {
      (void)run_on(*hosts_.at(inventory_.dut().name),
                   {"tc", "qdisc", "del", "dev", link.dut_interface, "root"});
    }
    qdisc_on_.clear();
  }
  for (const LinkAddress& address : configured_) {
    if (auto done = run_on(*hosts_.at(address.host),
                           {"ip", "addr", "del", address.cidr, "dev", address.interface});
        !done) {
      std::fprintf(stderr, "mrelay-bench: warning: %s\n", done.error().to_string().c_str());
    }
  }
  configured_.clear();
}

Result<RigTopology> InventoryRig::topology_for(uint32_t outputs) {
  const InventoryHost& tester = inventory_.tester();
  const InventoryHost& dut = inventory_.dut();
  RigTopology rig;
  rig.source = hosts_.at(tester.name).get();
  rig.source_interface = inventory_.tester_interface;
  rig.relay = hosts_.at(dut.name).get();
  rig.relay_ingress = inventory_.dut_ingress;
  rig.relay_cpu = dut.cpu;
  rig.load_cpu = tester.cpu;
  if (outputs > inventory_.outputs.size()) {
    return fail("inventory", "has " + std::to_string(inventory_.outputs.size()) +
                                 " output links; the cell needs " + std::to_string(outputs));
  }
  std::map<std::string, size_t> site_of;
  site_of[tester.name] = 0;
  rig.sinks.push_back(SinkSite{rig.source, {}, tester.cpu});
  for (uint32_t j = 0; j < outputs; ++j) {
    const OutputLink& link = inventory_.outputs[j];
    rig.relay_egress.push_back(link.dut_interface);
    if (site_of.count(link.host) == 0) {
      site_of[link.host] = rig.sinks.size();
      rig.sinks.push_back(
          SinkSite{hosts_.at(link.host).get(), {}, inventory_.hosts.at(link.host).cpu});
    }
    rig.sinks[site_of[link.host]].interfaces.push_back(link.interface);
  }
  if (rig.sinks.front().interfaces.empty()) {
    rig.sinks.erase(rig.sinks.begin());  // no output comes back to the tester
  }
  return rig;
}

bool InventoryRig::allows_real_interface(const std::string& host,
                                         const std::string& interface) const {
  const std::string key = host + ":" + interface;
  return std::find(inventory_.real_interfaces.begin(), inventory_.real_interfaces.end(), key) !=
         inventory_.real_interfaces.end();
}

void InventoryRig::cleanup() {
  unconfigure();
  for (auto& [name, host] : hosts_) {
    host->cleanup();
  }
  std::error_code error;
  std::filesystem::remove_all(control_dir_, error);
}

json host_fingerprint(Host& host, const std::vector<std::string>& interfaces) {
  std::string script =
      "printf 'cpu_model\\t%s\\n' \"$(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2-)\"; "
      "printf 'cores_online\\t%s\\n' \"$(getconf _NPROCESSORS_ONLN)\"; "
      "printf 'kernel\\t%s\\n' \"$(uname -r)\"; printf 'kernel_version\\t%s\\n' \"$(uname -v)\"; "
      "printf 'arch\\t%s\\n' \"$(uname -m)\"; printf 'hostname\\t%s\\n' \"$(uname -n)\"; "
      "printf 'memory_kib\\t%s\\n' \"$(awk '/^MemTotal/{print $2}' /proc/meminfo)\"; "
      "printf 'vm\\t%s\\n' \"$(systemd-detect-virt --vm 2>/dev/null)\"; "
      "printf 'pmu\\t%s\\n' \"$([ -e /sys/bus/event_source/devices/cpu ] && echo 1)\"; "
      "for i; do printf 'driver %s\\t%s\\n' \"$i\" \"$(ethtool -i \"$i\" 2>/dev/null | "
      "awk '/^driver:/{print $2}')\"; "
      "printf 'speed %s\\t%s\\n' \"$i\" \"$(cat /sys/class/net/$i/speed 2>/dev/null)\"; "
      "printf 'mtu %s\\t%s\\n' \"$i\" \"$(cat /sys/class/net/$i/mtu 2>/dev/null)\"; done";
  std::vector<std::string> argv = {"sh", "-c", script, "sh"};
  argv.insert(argv.end(), interfaces.begin(), interfaces.end());
  auto result = host.run(argv, kSetupTimeout);
  const auto values = key_values(result && result->status.ok() ? result->out : "");
  auto value = [&](const std::string& key) {
    auto found = values.find(key);
    return found == values.end() ? std::string() : found->second;
  };
  json machine{{"cpu_model", value("cpu_model")},
               {"cores_online", number_or_null(value("cores_online"))},
               {"kernel", value("kernel")},
               {"kernel_version", value("kernel_version")},
               {"arch", value("arch")},
               {"hostname", value("hostname")},
               {"memory_kib", number_or_null(value("memory_kib"))},
               {"vm", value("vm").empty() ? json(nullptr) : json(value("vm"))},
               {"pmu_present", value("pmu") == "1"},
               {"reached_by", host.describe()}};
  json nics = json::object();
  for (const std::string& interface : interfaces) {
    // veth reports speed 10000 and no real link; a NIC's speed is what sizing needs.
    nics[interface] = json{{"driver", value("driver " + interface)},
                           {"speed_mbps", number_or_null(value("speed " + interface))},
                           {"mtu", number_or_null(value("mtu " + interface))}};
  }
  machine["interfaces"] = nics;
  return machine;
}

}  // namespace mrelay::harness
