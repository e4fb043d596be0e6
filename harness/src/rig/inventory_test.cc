// The inventory's checks (every error names its field), the address and traffic plans, the
// refusal of interfaces that are not veth, and the shell plumbing of SSH hosts.
#include "rig/inventory.h"

#include <gtest/gtest.h>

#include "rig/host.h"

namespace mrelay::harness {
namespace {

using nlohmann::json;

json good_inventory() {
  return json::parse(R"({
    "ssh_config": "ssh_config",
    "hosts": {
      "t": {"ssh": "root@tester", "role": "tester", "cpu": 2},
      "d": {"ssh": "dut.example", "role": "dut", "bin_dir": "/opt/mrelay/bin"},
      "s": {"ssh": "sink1", "role": "sink"}
    },
    "ingress": {"tester": "eth1", "dut": "ens1f0"},
    "outputs": [
      {"dut": "ens1f1", "host": "t", "interface": "eth2"},
      {"dut": "ens2f0", "host": "s", "interface": "eth1"}
    ],
    "send_on_real_interfaces": ["d:ens1f0"]
  })");
}

std::string error_of(const json& document) {
  auto parsed = parse_inventory(document, "/usr/bin");
  return parsed ? std::string("(accepted)") : parsed.error().to_string();
}

TEST(Inventory, ParsesRolesLinksAndDefaults) {
  auto inventory = parse_inventory(good_inventory(), "/build/bin");
  ASSERT_TRUE(inventory) << inventory.error().to_string();
  EXPECT_EQ(inventory->tester().name, "t");
  EXPECT_EQ(inventory->dut().name, "d");
  EXPECT_EQ(inventory->tester().cpu, 2);
  EXPECT_EQ(inventory->tester().bin_dir, "/build/bin");  // the controller's, by default
  EXPECT_EQ(inventory->dut().bin_dir, "/opt/mrelay/bin");
  EXPECT_EQ(inventory->dut_ingress, "ens1f0");
  ASSERT_EQ(inventory->outputs.size(), 2u);
  EXPECT_EQ(inventory->outputs[1].host, "s");
  EXPECT_EQ(inventory->real_interfaces, std::vector<std::string>{"d:ens1f0"});
}

TEST(Inventory, EveryErrorNamesItsField) {
  struct Case {
    const char* what;
    std::function<void(json&)> edit;
    const char* field;
  };
  const std::vector<Case> cases = {
      {"unknown top-level key", [](json& j) { j["hostz"] = 1; }, "inventory.hostz"},
      {"no hosts", [](json& j) { j.erase("hosts"); }, "hosts"},
      {"role typo", [](json& j) { j["hosts"]["d"]["role"] = "dutt"; }, "hosts.d.role"},
      {"no ssh", [](json& j) { j["hosts"]["s"].erase("ssh"); }, "hosts.s.ssh"},
      {"cpu negative", [](json& j) { j["hosts"]["t"]["cpu"] = -1; }, "hosts.t.cpu"},
      {"unknown host key", [](json& j) { j["hosts"]["t"]["port"] = 22; }, "hosts.t.port"},
      {"two testers", [](json& j) { j["hosts"]["s"]["role"] = "tester"; }, "hosts"},
      {"no dut", [](json& j) { j["hosts"]["d"]["role"] = "sink"; }, "hosts"},
      {"ingress missing dut", [](json& j) { j["ingress"].erase("dut"); }, "ingress.dut"},
      {"bad interface name", [](json& j) { j["ingress"]["tester"] = "eth 1"; },
       "ingress.tester"},
      {"no outputs", [](json& j) { j["outputs"] = json::array(); }, "outputs"},
      {"output to unknown host", [](json& j) { j["outputs"][0]["host"] = "x"; },
       "outputs[0].host"},
      {"output to the dut", [](json& j) { j["outputs"][0]["host"] = "d"; }, "outputs[0].host"},
      {"interface used twice", [](json& j) { j["outputs"][1]["dut"] = "ens1f1"; }, "outputs[1]"},
      {"dut ingress reused as output", [](json& j) { j["outputs"][0]["dut"] = "ens1f0"; },
       "outputs[0]"},
      {"real interface of no host", [](json& j) { j["send_on_real_interfaces"] = {"q:eth0"}; },
       "send_on_real_interfaces"},
  };
  for (const Case& c : cases) {
    json document = good_inventory();
    c.edit(document);
    const std::string error = error_of(document);
    EXPECT_EQ(error.rfind(std::string(c.field) + ":", 0), 0u) << c.what << ": " << error;
  }
}

TEST(Inventory, AddressPlanIsTheNamespaceRigs) {
  auto inventory = parse_inventory(good_inventory(), "/usr/bin");
  ASSERT_TRUE(inventory);
  const auto plan = address_plan(*inventory);
  ASSERT_EQ(plan.size(), 6u);
  EXPECT_EQ(plan[0].host + " " + plan[0].interface + " " + plan[0].cidr, "t eth1 10.77.0.1/24");
  EXPECT_EQ(plan[1].host + " " + plan[1].interface + " " + plan[1].cidr,
            "d ens1f0 10.77.0.2/24");
  EXPECT_EQ(plan[4].host + " " + plan[4].interface + " " + plan[4].cidr,
            "d ens2f0 10.80.1.1/24");
  EXPECT_EQ(plan[5].host + " " + plan[5].interface + " " + plan[5].cidr, "s eth1 10.80.1.2/24");
}

TEST(Inventory, TrafficPlanNamesEveryLinkTheCellUses) {
  auto inventory = parse_inventory(good_inventory(), "/usr/bin");
  ASSERT_TRUE(inventory);
  const std::string hop = traffic_plan(*inventory, 1, 2);
  EXPECT_NE(hop.find("t:eth1 (10.77.0.1) -> 239.1.1.1:5000 TTL 2 -> d:ens1f0"), std::string::npos)
      << hop;
  EXPECT_NE(hop.find("d:ens1f1"), std::string::npos);
  EXPECT_EQ(hop.find("d:ens2f0"), std::string::npos) << "fanout 1 uses one output";
  EXPECT_NE(traffic_plan(*inventory, 2, 2).find("s:eth1"), std::string::npos);
}

TEST(Inventory, RefusesEveryInterfaceButVethAndLoopbackUnlessAllowed) {
  const json veth = json::parse(R"({"ifname":"t-in","link_type":"ether",
                                    "linkinfo":{"info_kind":"veth"}})");
  const json loopback = json::parse(R"({"ifname":"lo","link_type":"loopback"})");
  const json nic = json::parse(R"({"ifname":"ens1f0","link_type":"ether"})");
  const json bridge = json::parse(R"({"ifname":"br0","link_type":"ether",
                                      "linkinfo":{"info_kind":"bridge"}})");
  EXPECT_FALSE(refuse_interface("t:t-in", veth, false));
  EXPECT_FALSE(refuse_interface("t:lo", loopback, false));
  auto refused = refuse_interface("d:ens1f0", nic, false);
  ASSERT_TRUE(refused);
  EXPECT_NE(refused->find("--send-on-real-interface d:ens1f0"), std::string::npos) << *refused;
  EXPECT_TRUE(refuse_interface("d:br0", bridge, false));
  EXPECT_FALSE(refuse_interface("d:ens1f0", nic, true));
}

TEST(SshPlumbing, ShellQuotingSurvivesQuotesAndSpaces) {
  EXPECT_EQ(shell_quote("plain"), "'plain'");
  EXPECT_EQ(shell_quote("it's"), "'it'\\''s'");
  EXPECT_EQ(shell_command({"echo", "a b", "$HOME", "x'y"}),
            "'echo' 'a b' '$HOME' 'x'\\''y'");
  // Run through a real shell: the words arrive unchanged.
  auto result = run_capture({"sh", "-c", shell_command({"printf", "%s|", "a b", "$HOME", "x'y"})},
                            std::chrono::seconds(5));
  ASSERT_TRUE(result);
  EXPECT_EQ(result->out, "a b|$HOME|x'y|");
}

TEST(SshPlumbing, FileBlocksSplitByMarker) {
  const std::string out =
      "@@m /proc/stat\ncpu 1 2 3\ncpu0 1 2\n\n@@m! /proc/9/stat\n@@m /proc/net/snmp\nUdp: 1\n";
  auto files = split_file_blocks(out, "@@m");
  ASSERT_EQ(files.size(), 2u);
  EXPECT_EQ(files["/proc/stat"], "cpu 1 2 3\ncpu0 1 2\n\n");
  EXPECT_EQ(files["/proc/net/snmp"], "Udp: 1\n");
  EXPECT_EQ(files.count("/proc/9/stat"), 0u) << "a missing file is absent, not empty";
}

TEST(SshPlumbing, OneMasterConnectionPerHostWithoutPrompts) {
  SshHost host({"dut", "root@dut", "/etc/rig/ssh_config", "/usr/bin", "/tmp/mrl-ssh-1", "42"});
  const auto argv = host.ssh_prefix();
  auto has = [&](const std::string& option) {
    return std::find(argv.begin(), argv.end(), option) != argv.end();
  };
  EXPECT_EQ(argv.front(), "ssh");
  EXPECT_EQ(argv.back(), "root@dut");
  EXPECT_TRUE(has("BatchMode=yes"));
  EXPECT_TRUE(has("ControlMaster=auto"));
  EXPECT_TRUE(has("ControlPath=/tmp/mrl-ssh-1/%C"));
  EXPECT_TRUE(has("/etc/rig/ssh_config"));
  EXPECT_EQ(host.work_dir(), "/tmp/mrelay-rig-42-dut");
}

}  // namespace
}  // namespace mrelay::harness
