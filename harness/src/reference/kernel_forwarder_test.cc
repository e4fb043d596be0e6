// Tests for mrelay-kfwd's option parsing and upcall decoding (kernel_forwarder.h). The
// forwarding itself needs namespaces: netns/tests/kfwd_test.sh covers it.
//
//   ./mrelay_harness_test --gtest_filter='Kfwd*'
#include "reference/kernel_forwarder.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <linux/mroute.h>

#include <cstring>
#include <string>
#include <vector>

namespace mrelay {
namespace {

// The options, or the error (cli::Parsed::error) of parse_kfwd.
Result<KfwdOptions> parse(std::vector<std::string> args) {
  args.insert(args.begin(), "mrelay-kfwd");
  std::vector<const char*> argv;
  for (const std::string& arg : args) {
    argv.push_back(arg.c_str());
  }
  cli::Parser parser("mrelay-kfwd", "");
  KfwdOptions options;
  const cli::Parsed parsed = parse_kfwd(parser, options, static_cast<int>(argv.size()), argv.data());
  if (parsed.action == cli::Parsed::Action::error) {
    return tl::unexpected(parsed.error);
  }
  return options;
}

TEST(KfwdArgs, MinimalAndFull) {
  auto minimal = parse({"--in", "rin0", "--out", "rout0"});
  ASSERT_TRUE(minimal) << minimal.error().to_string();
  EXPECT_EQ(minimal->input_interface, "rin0");
  EXPECT_EQ(minimal->output_interfaces, std::vector<std::string>{"rout0"});
  EXPECT_FALSE(minimal->group);
  EXPECT_EQ(minimal->duration_s, 0);

  auto full =
      parse({"--in=rin0", "--out", "rout0", "--out=rout1", "--group", "239.1.1.1", "--source",
             "10.77.0.1", "--duration", "2.5", "--json", "--ready-file", "/tmp/x"});
  ASSERT_TRUE(full) << full.error().to_string();
  EXPECT_EQ(full->output_interfaces.size(), 2u);
  ASSERT_TRUE(full->group);
  EXPECT_EQ(full->group->s_addr, inet_addr("239.1.1.1"));
  ASSERT_TRUE(full->source);
  EXPECT_EQ(full->source->s_addr, inet_addr("10.77.0.1"));
  EXPECT_DOUBLE_EQ(full->duration_s, 2.5);
  EXPECT_TRUE(full->json);
  EXPECT_EQ(full->ready_file, "/tmp/x");
}

// Each bad command line names the flag at fault.
TEST(KfwdArgs, ErrorsNameTheFlag) {
  struct Case {
    std::vector<std::string> args;
    std::string where;
  };
  const std::vector<Case> cases = {
      {{"--out", "rout0"}, "--in"},
      {{"--in", "rin0"}, "--out"},
      {{"--in", "rin0", "--out", "rin0"}, "--out"},
      {{"--in", "rin0", "--out", "a", "--out", "a"}, "--out"},
      {{"--in", "rin0", "--out", "a", "--group", "10.1.1.1"}, "--group"},
      {{"--in", "rin0", "--out", "a", "--group", "nonsense"}, "--group"},
      {{"--in", "rin0", "--out", "a", "--source", "10.77.0.1"}, "--source"},
      {{"--in", "rin0", "--out", "a", "--duration", "-1"}, "--duration"},
      {{"--in", "rin0", "--out", "a", "--duration", "5x"}, "--duration"},
      {{"--in", "rin0", "--out"}, "--out"},
      {{"--in", "rin0", "--in", "rin1", "--out", "a"}, "--in"},
  };
  for (const Case& c : cases) {
    auto result = parse(c.args);
    ASSERT_FALSE(result) << "accepted: " << c.args.size() << " args, expected error at " << c.where;
    EXPECT_EQ(result.error().where, c.where) << result.error().to_string();
  }
}

TEST(KfwdArgs, VifLimitIsEnforcedOnOut) {
  std::vector<std::string> args = {"--in", "rin0"};
  for (int i = 0; i < kMaxVifs - 1; ++i) {
    args.push_back("--out");
    args.push_back("rout" + std::to_string(i));
  }
  EXPECT_TRUE(parse(args)) << "31 outputs + 1 input = 32 VIFs must be accepted";
  args.push_back("--out");
  args.push_back("rout31");
  auto too_many = parse(args);
  ASSERT_FALSE(too_many);
  EXPECT_EQ(too_many.error().where, "--out");
  EXPECT_NE(too_many.error().message.find("MAXVIFS"), std::string::npos);
}

TEST(KfwdArgs, UnknownFlagIsNamed) {
  auto result = parse({"--in", "rin0", "--out", "a", "--bogus"});
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().where, "--bogus");
  EXPECT_EQ(result.error().message, "unknown flag");
}

TEST(KfwdArgs, HelpNeedsNothingElseAndListsTheTable) {
  const char* argv[] = {"mrelay-kfwd", "--help"};
  cli::Parser parser("mrelay-kfwd", "");
  KfwdOptions options;
  const cli::Parsed parsed = parse_kfwd(parser, options, 2, argv);
  EXPECT_EQ(parsed.action, cli::Parsed::Action::help);
  EXPECT_TRUE(parsed.output.starts_with("Usage: mrelay-kfwd --in IFACE")) << parsed.output;
  EXPECT_NE(parsed.output.find("\n  --out IFACE "), std::string::npos) << parsed.output;
  EXPECT_NE(parsed.output.find("\nMethods:\n"), std::string::npos);
}

TEST(KfwdUpcall, DecodesNocache) {
  igmpmsg message{};
  message.im_msgtype = IGMPMSG_NOCACHE;
  message.im_mbz = 0;
  message.im_vif = 3;
  message.im_src.s_addr = inet_addr("10.77.0.1");
  message.im_dst.s_addr = inet_addr("239.1.1.1");
  uint8_t bytes[64] = {};
  std::memcpy(bytes, &message, sizeof message);
  auto upcall = parse_upcall(bytes, sizeof bytes);
  ASSERT_TRUE(upcall);
  EXPECT_EQ(upcall->type, IGMPMSG_NOCACHE);
  EXPECT_EQ(upcall->vif, 3);
  EXPECT_EQ(upcall->source.s_addr, inet_addr("10.77.0.1"));
  EXPECT_EQ(upcall->group.s_addr, inet_addr("239.1.1.1"));
}

TEST(KfwdUpcall, IgnoresIgmpPacketsAndShortReads) {
  // An IGMPv2 report as the raw socket delivers it: IPv4 header with protocol 2 at byte 9.
  uint8_t igmp_packet[32] = {0x45, 0, 0, 32, 0, 0, 0, 0, 1, 2};
  EXPECT_FALSE(parse_upcall(igmp_packet, sizeof igmp_packet));
  uint8_t short_read[4] = {};
  EXPECT_FALSE(parse_upcall(short_read, sizeof short_read));
}

TEST(KfwdArgs, NftMethodNeedsGroupAndPortAndTakesARewrite) {
  auto nft = parse({"--method", "nft", "--in", "rin0", "--out", "rout0", "--group", "239.1.1.1",
                    "--port", "5000", "--rewrite", "239.2.0.1:6000", "--nft", "/usr/sbin/nft"});
  ASSERT_TRUE(nft) << nft.error().to_string();
  EXPECT_EQ(nft->method, KfwdMethod::nft);
  EXPECT_EQ(*nft->port, 5000);
  ASSERT_TRUE(nft->rewrite_group);
  EXPECT_EQ(nft->rewrite_group->s_addr, inet_addr("239.2.0.1"));
  EXPECT_EQ(*nft->rewrite_port, 6000);
  EXPECT_EQ(nft->nft_program, "/usr/sbin/nft");

  EXPECT_EQ(
      parse({"--method", "nft", "--in", "rin0", "--out", "rout0", "--port", "5000"}).error().where,
      "--group");
  EXPECT_EQ(parse({"--method", "nft", "--in", "rin0", "--out", "rout0", "--group", "239.1.1.1"})
                .error()
                .where,
            "--port");
  EXPECT_EQ(parse({"--method", "bpf", "--in", "rin0", "--out", "rout0"}).error().where, "--method");
  EXPECT_EQ(parse({"--method", "nft", "--in", "rin0", "--out", "rout0", "--group", "239.1.1.1",
                   "--port", "70000"})
                .error()
                .where,
            "--port");
  EXPECT_EQ(parse({"--method", "nft", "--in", "rin0", "--out", "rout0", "--group", "239.1.1.1",
                   "--port", "5000", "--rewrite", "10.0.0.1:6000"})
                .error()
                .where,
            "--rewrite");
}

TEST(KfwdArgs, NftTakesIpv6GroupsIpmrDoesNot) {
  auto six = parse({"--method", "nft", "--in", "rin0", "--out", "rout0", "--group", "ff3e::1",
                    "--port", "5000", "--rewrite", "[ff3e::2]:6000"});
  ASSERT_TRUE(six) << six.error().to_string();
  ASSERT_TRUE(six->group6);
  EXPECT_FALSE(six->group);
  ASSERT_TRUE(six->rewrite_group6);
  EXPECT_EQ(six->rewrite_group6->s6_addr[15], 2);
  EXPECT_EQ(six->rewrite_port, 6000);
  struct Bad {
    std::vector<std::string> args;
    const char* where;
  };
  const Bad bad[] = {
      {{"--in", "rin0", "--out", "rout0", "--group", "ff3e::1"}, "--group"},  // ipmr
      {{"--method", "nft", "--in", "rin0", "--out", "rout0", "--group", "fd77::1", "--port", "1"},
       "--group"},  // unicast
      {{"--method", "nft", "--in", "rin0", "--out", "rout0", "--group", "ff3e::1", "--port", "1",
        "--rewrite", "239.2.0.1:6000"},
       "--rewrite"},  // families differ
      {{"--method", "nft", "--in", "rin0", "--out", "rout0", "--group", "ff3e::1", "--port", "1",
        "--rewrite", "[ff3e::2]6000"},
       "--rewrite"},
  };
  for (const Bad& b : bad) {
    auto parsed = parse(b.args);
    ASSERT_FALSE(parsed) << b.args[5];
    EXPECT_EQ(parsed.error().where, b.where) << parsed.error().to_string();
  }
}

TEST(KfwdArgs, IpmrRefusesNftFlagsAndKeepsItsLimitWhileNftHasNone) {
  EXPECT_EQ(parse({"--in", "rin0", "--out", "rout0", "--port", "5000"}).error().where, "--port");
  EXPECT_EQ(parse({"--in", "rin0", "--out", "rout0", "--rewrite", "239.2.0.1:6000"}).error().where,
            "--rewrite");
  std::vector<std::string> many{"--method", "nft",       "--in",   "rin0",
                                "--group",  "239.1.1.1", "--port", "5000"};
  for (int i = 0; i < 40; ++i) {
    many.insert(many.end(), {"--out", "rout" + std::to_string(i)});
  }
  EXPECT_TRUE(parse(many));
  many[1] = "ipmr";
  many.erase(many.begin() + 6, many.begin() + 8);  // --port is nft only
  EXPECT_EQ(parse(many).error().where, "--out");
}

}  // namespace
}  // namespace mrelay
