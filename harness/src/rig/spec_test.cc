// Sweep spec parsing, expansion (count and order of cells) and interleaving.
#include "rig/spec.h"

#include <gtest/gtest.h>

namespace mrelay::harness {
namespace {

using nlohmann::json;

TEST(BenchSpec, ExpandsTheMatrixAndCollapsesReferenceAxes) {
  auto spec = parse_sweep_spec(json::parse(R"({
    "forwarders": ["mrelay", "kernel", "socat", "direct"],
    "sizes": [512, 1400], "batches": [1, 32], "fanouts": [1],
    "backends": ["uring", "sendmmsg"], "queue_depths": [128, 1024],
    "sndbufs": [0, 4194304], "rates": [50000, 0], "repetitions": 3})"));
  ASSERT_TRUE(spec) << spec.error().to_string();
  const auto cells = expand_cells(*spec);
  // Per size×batch×fanout×rate (2×2×1×2 = 8): mrelay uring 2 depths × 2 sndbufs = 4,
  // sendmmsg (depth collapsed) × 2 sndbufs = 2, plus 3 references = 9.
  ASSERT_EQ(cells.size(), 8u * 9u);
  // Order: size outermost, then batch, fanout, rate, then forwarder.
  EXPECT_EQ(cells[0].size, 512u);
  EXPECT_EQ(cells[0].batch, 1u);
  EXPECT_EQ(cells[0].rate_pps, 50000);
  EXPECT_EQ(cells[0].forwarder, Forwarder::mrelay);
  EXPECT_EQ(cells[0].egress, "uring");
  EXPECT_EQ(cells[0].queue_depth, 128u);
  EXPECT_EQ(cells[0].sndbuf, 0u);
  EXPECT_EQ(cells[4].egress, "sendmmsg");
  EXPECT_EQ(cells[6].forwarder, Forwarder::kernel);
  EXPECT_EQ(cells[7].forwarder, Forwarder::socat);
  EXPECT_EQ(cells[8].forwarder, Forwarder::direct);
  EXPECT_EQ(cells[9].rate_pps, 0);  // second rate of the same size/batch/fanout
  EXPECT_EQ(cells[36].size, 1400u);
  // Every cell id is distinct.
  std::set<std::string> ids;
  for (const auto& cell : cells) {
    ids.insert(cell.id());
  }
  EXPECT_EQ(ids.size(), cells.size());
}

TEST(BenchSpec, FamiliesAreAnAxisAndMtuAKnob) {
  auto spec = parse_sweep_spec(json::parse(R"({
    "forwarders": ["mrelay", "direct"], "sizes": [64, 1400], "families": ["ipv4", "ipv6"],
    "backends": ["gso"], "ingress": ["udp"]})"));
  ASSERT_TRUE(spec) << spec.error().to_string();
  const auto cells = expand_cells(*spec);
  ASSERT_EQ(cells.size(), 2u * 2u * 2u);  // sizes x families x forwarders
  EXPECT_EQ(cells[0].family, Family::ipv4);
  EXPECT_EQ(cells[2].family, Family::ipv6);  // family inside size, outside forwarder
  EXPECT_EQ(cells[2].forwarder, Forwarder::mrelay);
  // IPv4 ids are what they were before families existed; IPv6 and an MTU add to them.
  EXPECT_EQ(cells[0].id(), "mrelay/udp/gso/sb4194304/s64/b32/f1/r0/segsw");
  EXPECT_EQ(cells[2].id(), "mrelay/udp/gso/sb4194304/s64/b32/f1/r0/ipv6/segsw");
  EXPECT_NE(cells[2].label().find(" v6"), std::string::npos);
  EXPECT_EQ(to_json(cells[2])["family"], "ipv6");
  EXPECT_EQ(to_json(cells[2])["mtu"], 1500);

  auto jumbo = parse_sweep_spec(json::parse(R"({
    "forwarders": ["direct"], "sizes": [8972], "mtu": 9000})"));
  ASSERT_TRUE(jumbo) << jumbo.error().to_string();
  EXPECT_EQ(expand_cells(*jumbo)[0].id(), "direct/s8972/b32/f1/r0/mtu9000");
  EXPECT_EQ(to_json(expand_cells(*jumbo)[0])["mtu"], 9000);
  auto one = parse_sweep_spec(json::parse(R"({"forwarders": ["direct"], "family": "ipv6",
    "sizes": [8952], "mtu": 9000})"));
  ASSERT_TRUE(one) << one.error().to_string();
  EXPECT_EQ(expand_cells(*one)[0].family, Family::ipv6);
  // "mtu": 1500 is the default: the same cells as none.
  auto default_mtu = parse_sweep_spec(json::parse(R"({"forwarders": ["direct"], "mtu": 1500})"));
  ASSERT_TRUE(default_mtu);
  EXPECT_EQ(expand_cells(*default_mtu)[0].id(), "direct/s512/b32/f1/r0");
}

// A spec that must be refused, the key its error names and words the message contains.
struct Bad {
  const char* spec;
  const char* where;
  const char* says;
};

template <size_t N>
void expect_refused(const Bad (&bad)[N]) {
  for (const Bad& b : bad) {
    auto spec = parse_sweep_spec(json::parse(b.spec));
    ASSERT_FALSE(spec) << b.spec;
    EXPECT_EQ(spec.error().where, b.where) << spec.error().to_string();
    EXPECT_NE(spec.error().message.find(b.says), std::string::npos) << spec.error().to_string();
  }
}

TEST(BenchSpec, FamilyAndMtuErrorsNameTheKey) {
  const Bad bad[] = {
      {R"({"forwarders": ["direct"], "families": ["ipv5"]})", "families[0]", "one of"},
      {R"({"forwarders": ["direct"], "family": "ipx"})", "family", "ipv4 or ipv6"},
      {R"({"forwarders": ["direct"], "family": "ipv6", "families": ["ipv6"]})", "family", "not both"},
      {R"({"forwarders": ["direct"], "mtu": 9001})", "mtu", "576..9000"},
      {R"({"forwarders": ["direct"], "sizes": [1400, 8953], "family": "ipv6", "mtu": 9000})",
       "sizes[1]", "8952 B"},
      {R"({"forwarders": ["direct"], "sizes": [8973], "mtu": 9000})", "sizes[0]", "8972 B"},
      {R"({"forwarders": ["direct"], "sizes": [1472], "family": "ipv6"})", "sizes[0]", "1452 B"},
      {R"({"forwarders": ["direct"], "family": "ipv6", "mtu": 1000})", "mtu", "minimum"},
  };
  expect_refused(bad);
  // Without "mtu", IPv4 sizes above one 1500-byte packet stay allowed (older specs have them).
  EXPECT_TRUE(parse_sweep_spec(json::parse(R"({"forwarders": ["direct"], "sizes": [8192]})")));
}

TEST(BenchSpec, WorkersAreAnMrelayAxisWithOneWorkerIdsUnchanged) {
  auto spec = parse_sweep_spec(json::parse(R"({
    "forwarders": ["mrelay", "kernel-nft", "direct"], "backends": ["sendmmsg"],
    "ingress": ["packet"], "workers": [1, 2], "streams": 4, "rates": ["ndr", 0],
    "tester": "fast"})"));
  ASSERT_TRUE(spec) << spec.error().to_string();
  const auto cells = expand_cells(*spec);
  // Per rate: mrelay with 1 and 2 workers, then each reference once.
  ASSERT_EQ(cells.size(), 2u * 4u);
  EXPECT_EQ(cells[0].workers, 1u);
  EXPECT_EQ(cells[1].workers, 2u);
  EXPECT_EQ(cells[1].forwarder, Forwarder::mrelay);
  EXPECT_EQ(cells[2].forwarder, Forwarder::kernel_nft);
  EXPECT_EQ(cells[2].workers, 1u);
  // 1 worker: the id and label of the cells before workers existed; 2 adds "/w2" and ",w2".
  EXPECT_EQ(cells[0].id(), "mrelay/packet/sendmmsg/sb4194304/s512/b32/f1/rndr/fast");
  EXPECT_EQ(cells[1].id(), "mrelay/packet/sendmmsg/sb4194304/s512/b32/f1/rndr/fast/w2");
  EXPECT_EQ(cells[0].label(), "mrelay(sendmmsg,packet) 512B b32 f1 ndr fast");
  EXPECT_EQ(cells[1].label(), "mrelay(sendmmsg,packet,w2) 512B b32 f1 ndr fast");
  EXPECT_EQ(to_json(cells[1])["workers"], 2);
  EXPECT_FALSE(to_json(cells[0]).contains("workers"));  // absent = 1, as in older records
  EXPECT_FALSE(to_json(cells[2]).contains("workers"));  // the references have none
  // No "workers": the same cells and ids as before.
  auto plain =
      parse_sweep_spec(json::parse(R"({"forwarders": ["mrelay"], "backends": ["sendmmsg"]})"));
  ASSERT_TRUE(plain);
  EXPECT_EQ(expand_cells(*plain).size(), 1u);
  EXPECT_EQ(expand_cells(*plain)[0].id(), "mrelay/packet/sendmmsg/sb4194304/s512/b32/f1/r0");
}

TEST(BenchSpec, WorkersErrorsNameTheKey) {
  const Bad bad[] = {
      {R"({"forwarders": ["mrelay"], "workers": [0]})", "workers[0]", "must be 1..64"},
      {R"({"forwarders": ["mrelay"], "workers": [1, 65], "streams": 4})", "workers[1]",
       "must be 1..64"},
      {R"({"forwarders": ["mrelay"], "workers": []})", "workers", "non-empty list"},
      {R"({"forwarders": ["mrelay"], "workers": [-1]})", "workers[0]", "non-negative integer"},
      // One stream is one flow, which PACKET_FANOUT hashes to one worker: refused, not raised.
      {R"({"forwarders": ["mrelay"], "workers": [1, 2]})", "streams", "below workers (2)"},
      {R"({"forwarders": ["mrelay"], "workers": [4], "streams": 3})", "streams",
       "at least 4 streams"},
  };
  expect_refused(bad);
  // The references have no workers: a spec without mrelay is not held to its streams.
  EXPECT_TRUE(parse_sweep_spec(json::parse(R"({"forwarders": ["direct"], "workers": [2]})")));
  EXPECT_TRUE(check_streams_cover_workers(2, 2, "--streams"));
  EXPECT_EQ(check_streams_cover_workers(1, 2, "--streams").error().where, "--streams");
}

TEST(BenchSpec, InterleavesRepetitions) {
  const auto plan = interleaved_plan(3, 2);
  ASSERT_EQ(plan.size(), 6u);
  const size_t expected_cells[] = {0, 1, 2, 0, 1, 2};
  const uint32_t expected_reps[] = {1, 1, 1, 2, 2, 2};
  for (size_t i = 0; i < plan.size(); ++i) {
    EXPECT_EQ(plan[i].cell, expected_cells[i]) << i;
    EXPECT_EQ(plan[i].rep, expected_reps[i]) << i;
  }
}

TEST(BenchSpec, ReadsNdrRatesAndBaseKnobs) {
  auto spec = parse_sweep_spec(json::parse(R"({
    "forwarders": ["direct"], "rates": ["ndr", 1000], "window_s": 1.5, "warmup_s": 0.25,
    "sink_rcvbuf": "8M", "egress_qdisc": "tbf rate 300mbit burst 32kb latency 20ms",
    "ndr": {"resolution": 0.05, "min_rate": 500}})"));
  ASSERT_TRUE(spec) << spec.error().to_string();
  const auto cells = expand_cells(*spec);
  ASSERT_EQ(cells.size(), 2u);
  EXPECT_TRUE(cells[0].ndr);
  EXPECT_FALSE(cells[1].ndr);
  EXPECT_EQ(cells[1].rate_pps, 1000);
  EXPECT_DOUBLE_EQ(cells[0].window_s, 1.5);
  EXPECT_DOUBLE_EQ(cells[0].warmup_s, 0.25);
  EXPECT_EQ(cells[0].sink_rcvbuf, 8u << 20);
  EXPECT_EQ(cells[0].egress_qdisc, "tbf rate 300mbit burst 32kb latency 20ms");
  EXPECT_DOUBLE_EQ(spec->ndr.resolution, 0.05);
  EXPECT_DOUBLE_EQ(spec->ndr.min_rate, 500);
  EXPECT_EQ(cells[0].rate_text(), "ndr");
}

TEST(BenchSpec, IngressAxisTakesXdp) {
  auto spec = parse_sweep_spec(json::parse(R"({"forwarders": ["mrelay"],
    "backends": ["gso"], "ingress": ["packet", "xdp"]})"));
  ASSERT_TRUE(spec) << spec.error().to_string();
  const auto cells = expand_cells(*spec);
  ASSERT_EQ(cells.size(), 2u);
  EXPECT_EQ(cells[1].ingress, "xdp");
  EXPECT_EQ(cells[1].id(), "mrelay/xdp/gso/sb4194304/s512/b32/f1/r0/segsw");
  auto wrong = parse_sweep_spec(json::parse(R"({"forwarders": ["mrelay"], "ingress": ["afxdp"]})"));
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().where, "ingress[0]");
}

TEST(BenchSpec, ErrorsNameTheKey) {
  struct Case {
    const char* spec;
    const char* where;
  };
  const Case cases[] = {
      {R"({"sizes": [512]})", "forwarders"},
      {R"({"forwarders": ["nginx"]})", "forwarders[0]"},
      {R"({"forwarders": ["direct"], "sizes": [512, 8]})", "sizes[1]"},
      {R"({"forwarders": ["direct"], "backends": ["epoll"]})", "backends[0]"},
      {R"({"forwarders": ["direct"], "rates": ["fast"]})", "rates[0]"},
      {R"({"forwarders": ["direct"], "window": 2})", "window"},
      {R"({"forwarders": ["direct"], "repetitions": 0})", "repetitions"},
      {R"({"forwarders": ["direct"], "ndr": {"resolution": 2}})", "ndr.resolution"},
  };
  for (const auto& c : cases) {
    auto spec = parse_sweep_spec(json::parse(c.spec));
    ASSERT_FALSE(spec) << c.spec;
    EXPECT_EQ(spec.error().where, c.where) << c.spec << " -> " << spec.error().to_string();
  }
}

TEST(BenchSpec, ParsesByteSuffixes) {
  EXPECT_EQ(*parse_bytes("4M", "--sndbuf"), 4u << 20);
  EXPECT_EQ(*parse_bytes("256K", "--sndbuf"), 256u << 10);
  EXPECT_EQ(*parse_bytes("212992", "--sndbuf"), 212992u);
  EXPECT_FALSE(parse_bytes("4X", "--sndbuf"));
  EXPECT_FALSE(parse_bytes("8G", "--sndbuf"));  // beyond uint32
  EXPECT_EQ(parse_bytes("abc", "--sndbuf").error().where, "--sndbuf");
}

TEST(BenchSpec, LabelsAndJsonNameTheKnobs) {
  CellParams cell;
  cell.rate_pps = 50000;
  cell.egress = "uring";  // the queue depth shows for uring only
  EXPECT_EQ(cell.label(), "mrelay(uring,packet,q1024) 512B b32 f1 50kpps");
  cell.forwarder = Forwarder::kernel;
  cell.fanout = 4;
  cell.rate_pps = 0;
  EXPECT_EQ(cell.label(), "kernel 512B b32 f4 max");
  const json j = to_json(cell);
  EXPECT_EQ(j["topology"], "fanout:4");
  EXPECT_TRUE(j["egress"].is_null());
  // An explicit generator batch equal to --batch is the same cell (re-runs from records).
  CellParams explicit_batch = cell;
  explicit_batch.gen_batch = cell.batch;
  EXPECT_EQ(explicit_batch.id(), cell.id());
  explicit_batch.gen_batch = 1;
  EXPECT_NE(explicit_batch.id(), cell.id());
}

TEST(BenchSpec, FastTesterAppliesToSaturationAndNdrCellsOnly) {
  auto spec = parse_sweep_spec(
      json::parse(R"({"forwarders": ["direct"], "rates": [0, "ndr", 20000], "tester": "fast"})"));
  ASSERT_TRUE(spec) << spec.error().to_string();
  const auto cells = expand_cells(*spec);
  ASSERT_EQ(cells.size(), 3u);
  EXPECT_EQ(cells[0].tester, Tester::fast);  // saturation
  EXPECT_EQ(cells[1].tester, Tester::fast);  // NDR
  EXPECT_EQ(cells[2].tester, Tester::full);  // paced: the full sink measures latency
  EXPECT_NE(cells[0].id(), expand_cells(*parse_sweep_spec(json::parse(
                                            R"({"forwarders": ["direct"], "rates": [0]})")))[0]
                               .id());
  EXPECT_EQ(to_json(cells[0])["tester"], "fast");
  EXPECT_EQ(to_json(cells[2])["tester"], "full");
}

TEST(BenchSpec, TesterErrorsNameTheField) {
  for (const char* text : {R"({"forwarders": ["direct"], "tester": "quick"})",
                           R"({"forwarders": ["direct"], "tester": true})"}) {
    auto spec = parse_sweep_spec(json::parse(text));
    ASSERT_FALSE(spec) << text;
    EXPECT_NE(spec.error().to_string().find("tester"), std::string::npos)
        << spec.error().to_string();
  }
}

TEST(BenchSpec, SegmentationIsAnAxisOfGsoCellsOnly) {
  auto spec = parse_sweep_spec(json::parse(R"({
    "forwarders": ["mrelay", "kernel-nft"], "backends": ["gso", "packet"],
    "egress_segmentation": ["software", "device"]})"));
  ASSERT_TRUE(spec) << spec.error().to_string();
  const auto cells = expand_cells(*spec);
  ASSERT_EQ(cells.size(), 2u + 1u + 1u);  // gso x 2 models, packet, kernel-nft
  EXPECT_EQ(cells[0].segmentation, Segmentation::software);
  EXPECT_EQ(cells[1].segmentation, Segmentation::device);
  // The software model marks gso ids (those measured before it was set were device ones);
  // the device model keeps the ids, and other cells never change.
  EXPECT_EQ(cells[0].id(), "mrelay/packet/gso/sb4194304/s512/b32/f1/r0/segsw");
  EXPECT_EQ(cells[1].id(), "mrelay/packet/gso/sb4194304/s512/b32/f1/r0");
  EXPECT_NE(cells[1].label().find(" uso"), std::string::npos);
  EXPECT_EQ(cells[2].id(), "mrelay/packet/packet/sb4194304/s512/b32/f1/r0");
  EXPECT_EQ(cells[3].id(), "kernel-nft/s512/b32/f1/r0");
  EXPECT_EQ(to_json(cells[0])["egress_segmentation"], "software");
  EXPECT_EQ(to_json(cells[1])["egress_segmentation"], "device");

  auto one = parse_sweep_spec(json::parse(R"({"forwarders": ["mrelay"],
    "egress_segmentation": "device"})"));
  ASSERT_TRUE(one) << one.error().to_string();
  EXPECT_EQ(expand_cells(*one)[0].segmentation, Segmentation::device);
  auto bad = parse_sweep_spec(json::parse(R"({"forwarders": ["mrelay"],
    "egress_segmentation": ["software", "hardware"]})"));
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().to_string().find("egress_segmentation[1]"), std::string::npos);
  EXPECT_NE(bad.error().to_string().find("'hardware'"), std::string::npos);
  EXPECT_FALSE(parse_sweep_spec(json::parse(R"({"forwarders": ["mrelay"],
    "egress_segmentation": []})")));
}

TEST(BenchSpec, LatencyCurvePacesEachNdrPointAtFractionsOfItsBasis) {
  auto spec = parse_sweep_spec(json::parse(R"({
    "forwarders": ["mrelay", "kernel-nft"], "backends": ["gso"], "sizes": [64, 512],
    "rates": ["ndr"], "tester": "fast",
    "latency_curve": {"of": ["kernel-nft"], "fractions": [0.1, 0.5]}})"));
  ASSERT_TRUE(spec) << spec.error().to_string();
  ASSERT_TRUE(spec->curve);
  // 64 B: the reference reached 600k; 512 B: nothing (its searches failed): no curve there.
  const auto cells = expand_curve_cells(*spec, [](const CellParams& cell) {
    return cell.size == 64 ? std::optional<CurveBasis>(CurveBasis{"kernel-nft", 600e3})
                           : std::nullopt;
  });
  ASSERT_EQ(cells.size(), 2u * 2u);  // forwarders x fractions, at 64 B only
  EXPECT_FALSE(cells[0].ndr);
  EXPECT_EQ(cells[0].tester, Tester::full);  // paced: the sink that measures latency
  EXPECT_DOUBLE_EQ(cells[0].rate_pps, 60e3);
  EXPECT_DOUBLE_EQ(cells[1].rate_pps, 300e3);
  // The id names the fraction (stable across machines), the label the rate as well.
  EXPECT_EQ(cells[0].id(), "mrelay/packet/gso/sb4194304/s64/b32/f1/r10%ndr/segsw");
  EXPECT_NE(cells[1].label().find("300kpps (50%ndr)"), std::string::npos);
  EXPECT_EQ(to_json(cells[2])["rate_of_ndr"],
            json({{"fraction", 0.1}, {"reference", "kernel-nft"}, {"reference_ndr_pps", 600e3}}));
  EXPECT_FALSE(to_json(expand_cells(*spec)[0]).contains("rate_of_ndr"));
}

TEST(BenchSpec, LatencyCurveErrorsNameTheKey) {
  auto error_of = [](const char* text) {
    auto spec = parse_sweep_spec(json::parse(text));
    return spec ? std::string() : spec.error().to_string();
  };
  EXPECT_NE(error_of(R"({"forwarders": ["mrelay"], "rates": [0],
    "latency_curve": {"of": ["mrelay"], "fractions": [0.1]}})")
                .find("needs \"ndr\""),
            std::string::npos);
  EXPECT_NE(error_of(R"({"forwarders": ["mrelay"], "rates": ["ndr"],
    "latency_curve": {"of": ["kernel-nft"], "fractions": [0.1]}})")
                .find("latency_curve.of[0]"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"forwarders": ["mrelay"], "rates": ["ndr"],
    "latency_curve": {"of": ["mrelay"], "fractions": [0.1, 1.5]}})")
                .find("latency_curve.fractions[1]"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"forwarders": ["mrelay"], "rates": ["ndr"],
    "latency_curve": {"fractions": [0.1]}})")
                .find("latency_curve"),
            std::string::npos);
}

}  // namespace
}  // namespace mrelay::harness
