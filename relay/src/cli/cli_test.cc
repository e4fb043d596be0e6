#include "mrelay/cli.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace mrelay::cli {
namespace {

// argv from words, argv[0] = "prog".
struct Args {
  explicit Args(std::vector<std::string> words) : storage(std::move(words)) {
    storage.insert(storage.begin(), "prog");
    for (const std::string& word : storage) {
      pointers.push_back(word.c_str());
    }
  }
  [[nodiscard]] int argc() const { return static_cast<int>(pointers.size()); }
  std::vector<std::string> storage;
  std::vector<const char*> pointers;
};

struct Fixture {
  uint32_t rate = 1000;
  double seconds = 1.0;
  std::string name;
  std::vector<std::string> outs;
  bool json = false;
  Parser parser{"prog", "Does things for the tests."};

  Fixture() {
    parser.usage("[OPTIONS] FILE...");
    parser.value("--rate", "PPS", "send rate", store_uint(rate, 1, 1'000'000))
        .with_short('r')
        .with_unit("packets/s")
        .with_default("1000");
    parser.value("--duration", "S", "how long", store_double(seconds, 0.1, 60)).with_unit("s");
    parser.value("--name", "NAME", "a name", store_text(name));
    parser.repeated("--out", "SPEC", "an output", append_text(outs));
    parser.flag("--json", "print JSON", json);
  }
  Parsed parse(std::vector<std::string> words) const {
    Args args(std::move(words));
    return parser.parse(args.argc(), args.pointers.data());
  }
};

TEST(Cli, SpaceAndEqualsForms) {
  Fixture f;
  const Parsed parsed = f.parse({"--rate", "5", "--name=a=b", "-r", "7", "--json"});
  ASSERT_EQ(parsed.action, Parsed::Action::run) << parsed.output;
  EXPECT_EQ(f.rate, 7u);  // the last value wins
  EXPECT_EQ(f.name, "a=b");
  EXPECT_TRUE(f.json);
}

TEST(Cli, RepeatedValuesAndPositionals) {
  Fixture f;
  const Parsed parsed = f.parse({"a.txt", "--out", "x", "--out=y", "b.txt"});
  ASSERT_EQ(parsed.action, Parsed::Action::run) << parsed.output;
  EXPECT_EQ(f.outs, (std::vector<std::string>{"x", "y"}));
  EXPECT_EQ(parsed.positionals, (std::vector<std::string>{"a.txt", "b.txt"}));
}

TEST(Cli, DoubleDashEndsOptions) {
  Fixture f;
  const Parsed parsed = f.parse({"--json", "--", "--rate", "-", "--help"});
  ASSERT_EQ(parsed.action, Parsed::Action::run) << parsed.output;
  EXPECT_EQ(parsed.positionals, (std::vector<std::string>{"--rate", "-", "--help"}));
  EXPECT_EQ(f.rate, 1000u);
}

TEST(Cli, UnknownFlagNamesItAndPointsToHelp) {
  Fixture f;
  const Parsed parsed = f.parse({"--rate", "5", "--bogus"});
  EXPECT_EQ(parsed.action, Parsed::Action::error);
  EXPECT_EQ(parsed.output, "prog: --bogus: unknown flag (see prog --help)\n");
  EXPECT_EQ(finish(parsed), 2);
  EXPECT_EQ(f.parse({"--bogus=1"}).output, "prog: --bogus: unknown flag (see prog --help)\n");
}

TEST(Cli, MissingValueNamesTheFlag) {
  Fixture f;
  const Parsed parsed = f.parse({"--rate"});
  EXPECT_EQ(parsed.action, Parsed::Action::error);
  EXPECT_EQ(parsed.output, "prog: --rate: needs a value (PPS) (see prog --help)\n");
}

TEST(Cli, AFollowingFlagIsNotAValue) {
  Fixture f;
  EXPECT_EQ(f.parse({"--name", "--json"}).output,
            "prog: --name: needs a value (NAME) (see prog --help)\n");
  ASSERT_EQ(f.parse({"--name=--json"}).action, Parsed::Action::run);
  EXPECT_EQ(f.name, "--json");
  ASSERT_EQ(f.parse({"--name", "-"}).action, Parsed::Action::run);
  EXPECT_EQ(f.name, "-");
}

TEST(Cli, GroupsAreSectionsAfterOptions) {
  std::string a;
  std::string b;
  Parser parser("prog", "x");
  parser.value("--a", "A", "first", store_text(a));
  parser.group("Data plane", "  a note\n");
  parser.value("--b", "B", "second", store_text(b));
  const std::string help = parser.help_text();
  EXPECT_NE(help.find("Options:\n  --a A                   first\n  -h, --help"), std::string::npos)
      << help;
  EXPECT_NE(help.find("\nData plane:\n  --b B                   second\n  a note\n"),
            std::string::npos)
      << help;
  const char* argv[] = {"prog", "--b", "2"};
  ASSERT_EQ(parser.parse(3, argv).action, Parsed::Action::run);
  EXPECT_EQ(b, "2");
}

TEST(Cli, FlagGivenAValueIsAnError) {
  Fixture f;
  EXPECT_EQ(f.parse({"--json=1"}).output, "prog: --json: takes no value (see prog --help)\n");
}

TEST(Cli, NumericRangeErrorsNameTheFlag) {
  Fixture f;
  EXPECT_EQ(f.parse({"--rate", "0"}).output,
            "prog: --rate: '0' is not an integer in 1..1000000 (see prog --help)\n");
  EXPECT_EQ(f.parse({"-r", "12x"}).output,
            "prog: --rate: '12x' is not an integer in 1..1000000 (see prog --help)\n");
  EXPECT_EQ(f.parse({"--duration=99"}).output,
            "prog: --duration: '99' is not a number in 0.1..60 (see prog --help)\n");
  EXPECT_EQ(f.parse({"--duration", "nan"}).action, Parsed::Action::error);
  Fixture ok;
  ASSERT_EQ(ok.parse({"--duration", "2.5"}).action, Parsed::Action::run);
  EXPECT_DOUBLE_EQ(ok.seconds, 2.5);
}

TEST(Cli, ParseHelpersCheckRangeAndWholeText) {
  EXPECT_EQ(*parse_uint("--n", "42", 0, 100), 42u);
  EXPECT_FALSE(parse_uint("--n", "", 0, 100));
  EXPECT_FALSE(parse_uint("--n", "-1", 0, 100));
  EXPECT_FALSE(parse_uint("--n", "99999999999999999999", 0, UINT64_MAX));
  EXPECT_EQ(parse_uint("--n", "101", 0, 100).error().where, "--n");
  EXPECT_FALSE(parse_double("--x", "1.5s", 0, 10));
  EXPECT_DOUBLE_EQ(*parse_double("--x", "1e-3", 0, 10), 0.001);
}

TEST(Cli, HelpAndVersionStopParsing) {
  Fixture f;
  const Parsed help = f.parse({"--rate", "5", "--help", "--bogus"});
  EXPECT_EQ(help.action, Parsed::Action::help);
  EXPECT_EQ(help.output, f.parser.help_text());
  EXPECT_EQ(f.parse({"-h"}).action, Parsed::Action::help);
  EXPECT_EQ(f.parse({"-V"}).action, Parsed::Action::version);
  const Parsed version = f.parse({"--version"});
  EXPECT_EQ(version.action, Parsed::Action::version);
  EXPECT_EQ(version.output, std::string("prog ") + MRELAY_VERSION + "\n");
}

TEST(Cli, HelpLayoutShape) {
  Fixture f;
  f.parser.section("Exit codes", "  0 ok, 2 usage error");
  const std::string help = f.parser.help_text();
  EXPECT_TRUE(help.starts_with("Usage: prog [OPTIONS] FILE...\n\nDoes things for the tests.\n\n"
                               "Options:\n"))
      << help;
  EXPECT_NE(help.find("  -r, --rate PPS          send rate (packets/s, default: 1000)\n"),
            std::string::npos)
      << help;
  EXPECT_NE(help.find("  --duration S            how long (s)\n"), std::string::npos) << help;
  EXPECT_NE(help.find("  --out SPEC              an output (repeatable)\n"), std::string::npos);
  EXPECT_NE(help.find("  -h, --help              print this help and exit\n"), std::string::npos);
  EXPECT_NE(help.find("  -V, --version           print the version and exit\n"),
            std::string::npos);
  EXPECT_TRUE(help.ends_with("\nExit codes:\n  0 ok, 2 usage error\n")) << help;
  for (size_t start = 0, end = 0; start < help.size(); start = end + 1) {
    end = help.find('\n', start);
    EXPECT_LE(end - start, 79u) << help.substr(start, end - start);
  }
}

TEST(Cli, LongHelpWrapsUnderItsColumn) {
  Parser parser("prog", "x");
  parser.value("--a-very-long-option-name", "VALUE",
               std::string(20, 'a') + " " + std::string(20, 'b') + " " + std::string(20, 'c'),
               nullptr);
  const std::string help = parser.help_text();
  // 26 + 20 + 1 + 20 = 67 columns fit; a third word would end at column 88.
  EXPECT_NE(help.find("  --a-very-long-option-name VALUE\n" + std::string(26, ' ') +
                      std::string(20, 'a') + " " + std::string(20, 'b') + "\n" +
                      std::string(26, ' ') + std::string(20, 'c') + "\n"),
            std::string::npos)
      << help;
}

TEST(Cli, RowSectionsAreLaidOutLikeOptions) {
  Parser parser("program", "x");
  parser.section("Methods", {{"ipmr", "multicast routing"}, {"nft", "netdev chain"}});
  EXPECT_TRUE(parser.help_text().ends_with("\nMethods:\n  ipmr                    multicast routing\n"
                                           "  nft                     netdev chain\n"))
      << parser.help_text();
}

TEST(Cli, FurtherUsageLinesSayOr) {
  Parser parser("program", "x");
  parser.usage("--config FILE [OPTIONS]");
  parser.usage("--check-config FILE");
  EXPECT_TRUE(parser.help_text().starts_with("Usage: program --config FILE [OPTIONS]\n"
                                             "  or:  program --check-config FILE\n\nx\n"))
      << parser.help_text();
}

TEST(Cli, SubCommandsHaveTheirOwnTables) {
  bool json = false;
  bool prometheus = false;
  Parser parser("ctl", "Talks to a daemon.");
  parser.usage("[OPTIONS] COMMAND [ARGS]");
  parser.flag("--json", "print JSON", json);
  parser.command("ping", "", "check it answers");
  parser.command("stats", "", "counters").flag("--prometheus", "text format", prometheus);

  Args stats({"stats", "--prometheus", "--json"});
  Parsed parsed = parser.parse(stats.argc(), stats.pointers.data());
  ASSERT_EQ(parsed.action, Parsed::Action::run) << parsed.output;
  EXPECT_EQ(parsed.command, "stats");
  EXPECT_TRUE(prometheus);
  EXPECT_TRUE(json);  // the program's options are global

  Args ping({"ping", "--prometheus"});
  parsed = parser.parse(ping.argc(), ping.pointers.data());
  EXPECT_EQ(parsed.output, "ctl: --prometheus: unknown flag (see ctl --help)\n");

  Args bad({"pong"});
  parsed = parser.parse(bad.argc(), bad.pointers.data());
  EXPECT_EQ(parsed.output, "ctl: unknown command 'pong' (see ctl --help)\n");

  Args sub_help({"stats", "--help"});
  parsed = parser.parse(sub_help.argc(), sub_help.pointers.data());
  EXPECT_EQ(parsed.action, Parsed::Action::help);
  EXPECT_TRUE(parsed.output.starts_with("Usage: ctl stats [OPTIONS]\n\ncounters\n\nOptions:\n"))
      << parsed.output;
  EXPECT_NE(parsed.output.find("\nGlobal options:\n  --json "), std::string::npos);
  EXPECT_NE(parser.help_text().find("\nCommands:\n  ping                    check it answers\n"
                                    "  stats                   counters\n"),
            std::string::npos)
      << parser.help_text();
  Args sub_version({"stats", "--version"});
  EXPECT_EQ(parser.parse(sub_version.argc(), sub_version.pointers.data()).output,
            std::string("ctl ") + MRELAY_VERSION + "\n");
}

TEST(Cli, PassThroughPrefixCollectsUnknownFlags) {
  Parser parser("bench", "x");
  parser.pass_through("--benchmark_", "Google Benchmark's flags");
  Args args({"--benchmark_filter=BM_x", "--benchmark_min_time", "--nope"});
  const Parsed parsed = parser.parse(args.argc(), args.pointers.data());
  EXPECT_EQ(parsed.output, "bench: --nope: unknown flag (see bench --help)\n");
  Args good({"--benchmark_filter=BM_x", "--benchmark_list_tests"});
  const Parsed ok = parser.parse(good.argc(), good.pointers.data());
  ASSERT_EQ(ok.action, Parsed::Action::run);
  EXPECT_EQ(ok.passed_through,
            (std::vector<std::string>{"--benchmark_filter=BM_x", "--benchmark_list_tests"}));
}

}  // namespace
}  // namespace mrelay::cli
