// mrelay-bench: measurements of mrelay and its references on the namespace rig.
//
//   mrelay-bench cell --forwarder mrelay --egress uring --size 512 --rate 50000 --window 2
//   mrelay-bench ndr --forwarder kernel --size 512 --resolution 0.02
//   mrelay-bench sweep reports/sweeps/quickstart.json --out reports/runs/quickstart.json
//   mrelay-bench table reports/runs/quickstart.json [--markdown]
//   mrelay-bench probe [--json]
//   mrelay-bench gc
//
// cell/ndr print one JSON record on stdout (the metrics of docs/metrics.md); sweep writes a results
// file (every raw sample, machine fingerprint, commit, spec, date), prints the table and writes it
// as Markdown next to the results. Needs root (network namespaces) except for `table`.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "common/process.h"
#include "common/program_util.h"
#include "mrelay/cli.h"
#include "reference/capabilities.h"
#include "results/aggregate.h"
#include "results/results.h"
#include "results/table.h"
#include "rig/cell.h"
#include "rig/launcher.h"
#include "rig/inventory.h"
#include "rig/ndr.h"
#include "rig/spec.h"

namespace {

using nlohmann::json;
using namespace mrelay::harness;

// Exit codes: 0 ok; 1 the measurement failed; 2 usage error; 77 skipped: needs root, or a
// `cell`/`ndr` needs a capability this machine lacks (the reason is printed; ctest's skip code).
constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;
constexpr int kExitNeedsRoot = 77;
constexpr int kExitSkipped = 77;

constexpr const char* kDescription =
    "Measures mrelay and its references on the namespace rig (or hosts over SSH). cell and ndr "
    "print one JSON record on stdout (the metrics of docs/metrics.md); sweep writes a results "
    "file, prints the table and writes it as Markdown next to the results. Needs root "
    "(network namespaces) except for table.";

constexpr const char* kPlacement =
    R"(  The forwarder runs on core 1 (mrelay --cpus 1 --rt-priority 10, socat via
  taskset and chrt -f 10, the kernel references' forwarding in softirq; RPS
  mask 2 on the relay ingress for every forwarder and for direct, whose sink's
  receive work then runs on core 1 too), generator and sink on core 0 (chrt -f
  10 and 11); on a 1-core machine everything shares core 0. With --workers N
  (spec "workers") worker i runs on the i-th forwarder core: core 1, then
  every other core but the load core; with fewer cores than that the next
  worker shares the load core (2 cores, 2 workers: --cpus 1,0), and the RPS
  mask covers every worker's core (3). Recorded in every result (relay_cpus,
  relay_workers_note).
)";

constexpr const char* kCapabilities =
    R"(  cell, ndr and sweep first probe what the kernel can do (multicast routing,
  IPv6 multicast routing, nftables dup, tbf, netem, RPS, io_uring, UDP GSO,
  tracepoints, PMU, socat) and whether the relay takes IPv6 groups on its
  packet ingress, print what is missing and what that costs, and record it
  in the results' machine record. A cell that needs a missing capability is
  "skipped: <reason>", which is not a failure.
)";

constexpr const char* kExitCodes =
    R"(  0 ok (skipped cells included), 1 a measurement failed, 2 usage error, 77 not
  root or (cell, ndr, probe --need) skipped for a missing capability.
)";

void on_signal(int) {
  set_interrupted();
}

void install_signal_handlers() {
  struct sigaction action {};
  action.sa_handler = on_signal;
  sigemptyset(&action.sa_mask);
  ::sigaction(SIGINT, &action, nullptr);
  ::sigaction(SIGTERM, &action, nullptr);
  ::sigaction(SIGHUP, &action, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
}

std::string self_dir() {
  std::error_code error;
  auto exe = std::filesystem::read_symlink("/proc/self/exe", error);
  return error ? "." : exe.parent_path().string();
}

struct Options {
  CellParams cell;
  NdrOptions ndr;
  std::string bin_dir;
  std::string out;
  std::string markdown;
  bool markdown_flag = false;
  bool keep_files = false;
  bool verbose = false;
  uint32_t forwarder_rt_priority = 10;  // see RigEnvironment::forwarder_rt_priority
  uint32_t load_rt_priority = 10;       // see RigEnvironment::load_rt_priority
  bool ingress_rps_all = true;          // see RigEnvironment::ingress_rps_all
  std::string nft = "nft";              // see RigEnvironment::nft
  std::vector<std::string> needs;       // probe --need
  bool json = false;                    // probe --json
  bool dry_run = false;
  std::string inventory;                    // --inventory FILE: the rig across hosts
  std::vector<std::string> real_interfaces;  // --send-on-real-interface HOST:IF
  std::vector<std::string> positional;
};

int usage_error(const std::string& message) {
  std::fprintf(stderr, "mrelay-bench: %s (see mrelay-bench --help)\n", message.c_str());
  return kExitUsage;
}

using mrelay::cli::Handler;
using mrelay::cli::store_double;
using mrelay::cli::store_text;
using mrelay::cli::store_uint;

// A handler for a value that must be one of `choices`.
Handler store_choice(std::string& target, std::vector<std::string> choices) {
  return [&target, choices](std::string_view flag, std::string_view value) -> mrelay::Result<void> {
    for (const std::string& choice : choices) {
      if (value == choice) {
        target = choice;
        return {};
      }
    }
    std::string list;
    for (const std::string& choice : choices) {
      list += (list.empty() ? "" : "|") + choice;
    }
    return mrelay::fail(std::string(flag), "must be " + list);
  };
}

// A handler that parses with one of the rig's parsers (parse_bytes, parse_forwarder, ...),
// which take (text, where).
template <typename T, typename Parse>
Handler store_parsed(T& target, Parse parse) {
  return mrelay::cli::store_parsed(target, [parse](std::string_view flag, std::string_view value) {
    return parse(std::string(value), std::string(flag));
  });
}

// The flags of one cell, for `cell` and `ndr`.
// Long: one table entry per flag, in the order the help lists them.
void add_cell_flags(mrelay::cli::Parser& p, CellParams& c) {
  const CellParams d;
  p.value("--forwarder", "F",
          "mrelay | kernel | kernel-nft | socat | direct. kernel = multicast routing (ipmr), "
          "kernel-nft = nftables netdev dup/fwd replication (mrelay-kfwd --method); direct = no "
          "forwarder",
          store_parsed(c.forwarder, parse_forwarder))
      .with_default(to_string(d.forwarder));
  p.value("--ingress", "M", "mrelay ingress: packet | udp | xdp", store_choice(c.ingress, {"packet", "udp", "xdp"}))
      .with_default(d.ingress);
  p.value("--egress", "B", "mrelay egress backend: send|sendmmsg|uring|packet|gso",
          store_choice(c.egress, {"send", "sendmmsg", "uring", "packet", "gso"}))
      .with_default(d.egress);
  p.value("--queue-depth", "N", "mrelay io_uring SQ entries, 1..32768",
          store_uint(c.queue_depth, 1, 32768))
      .with_default(std::to_string(d.queue_depth));
  p.value("--batch", "N", "mrelay --batch and generator sendmmsg batch, 1..1024",
          store_uint(c.batch, 1, 1024))
      .with_unit("packets")
      .with_default(std::to_string(d.batch));
  p.value("--gen-batch", "N", "generator batch when it should differ from --batch, 0..1024",
          store_uint(c.gen_batch, 0, 1024))
      .with_default("= --batch");
  p.flag("--gen-bursts",
         "generator sends whole batches back to back at the paced average rate (a bursty "
         "source: mrelay-gen --bursts)",
         c.gen_bursts);
  p.value("--sndbuf", "BYTES", "mrelay SO_SNDBUF per output (K/M suffixes; 0 = kernel)",
          store_parsed(c.sndbuf, parse_bytes))
      .with_default("4M");
  p.value("--rcvbuf", "BYTES", "forwarder ingress SO_RCVBUF (mrelay --rcvbuf, socat rcvbuf)",
          store_parsed(c.relay_rcvbuf, parse_bytes))
      .with_default("4M");
  p.value("--sink-rcvbuf", "BYTES", "sink SO_RCVBUF", store_parsed(c.sink_rcvbuf, parse_bytes))
      .with_default("4M");
  p.value("--size", "BYTES", "UDP payload size, 32..65507", store_uint(c.size, 32, 65507))
      .with_default(std::to_string(d.size));
  p.value("--fanout", "N", "outputs (1 = hop topology, N = fanout:N), 1..1024",
          store_uint(c.fanout, 1, 1024))
      .with_default(std::to_string(d.fanout));
  p.value("--streams", "N",
          "generator streams, 1..4096; more than 1: each its share of the batches from its own "
          "socket (mrelay-gen --flows), at least --workers",
          store_uint(c.streams, 1, 4096))
      .with_default(std::to_string(d.streams));
  p.value("--workers", "N",
          "mrelay --workers: event loops sharing the packet ingress (PACKET_FANOUT_HASH), worker "
          "i on the i-th forwarder core (Placement), 1..64",
          store_uint(c.workers, 1, kMaxWorkers))
      .with_default(std::to_string(d.workers));
  p.value("--rate", "PPS", "offered rate; 0 = generator at full speed",
          store_double(c.rate_pps, 0, 1e9))
      .with_unit("packets/s")
      .with_default("0");
  p.value("--warmup", "S", "traffic before the window (excluded), 0..600",
          store_double(c.warmup_s, 0, 600))
      .with_unit("s")
      .with_default("0.5");
  p.value("--window", "S", "measuring window, 0.1..600", store_double(c.window_s, 0.1, 600))
      .with_unit("s")
      .with_default("2");
  p.value("--egress-qdisc", "SPEC",
          "qdisc on every relay egress, e.g. \"tbf rate 300mbit burst 32kb latency 20ms\" "
          "(emulates a NIC transmit queue; veth alone has none)",
          store_text(c.egress_qdisc))
      .with_default("none");
  p.value("--tester", "T",
          "full (every payload checked and timed) | fast (mrelay-gen --gso, mrelay-sink "
          "--count-only: no latency; docs/metrics.md)",
          store_parsed(c.tester, parse_tester))
      .with_default("full");
  p.value("--family", "F",
          "the traffic's address family: ipv4 (239.1.1.1 -> 239.2.0.1) | ipv6 (ff3e::1 -> "
          "ff3e::2, mrelay-netns up --family ipv6)",
          store_parsed(c.family, parse_family))
      .with_default("ipv4");
  p.value("--egress-segmentation", "M",
          "who cuts the gso egress's UDP GSO runs: software (the relay's kernel, before its "
          "output veths: a NIC without USO) | device (veth carries the run whole, as USO)",
          store_parsed(c.segmentation, parse_segmentation))
      .with_default("software");
  p.value("--mtu", "N", "every veth's MTU, 576..9000 (jumbo frames: 9000)",
          [&c](std::string_view flag, std::string_view text) -> mrelay::Result<void> {
            auto mtu = mrelay::cli::parse_uint(flag, text, 576, 9000);
            if (!mtu) {
              return tl::unexpected(mtu.error());
            }
            // The default MTU is the same cell as no --mtu.
            c.mtu = *mtu == kDefaultMtu ? 0 : static_cast<uint32_t>(*mtu);
            return {};
          })
      .with_unit("bytes")
      .with_default("1500");
}

void add_ndr_flags(mrelay::cli::Parser& p, NdrOptions& ndr) {
  p.value("--min-rate", "PPS", "lower bound of the search", store_double(ndr.min_rate, 1, 1e9))
      .with_unit("packets/s")
      .with_default("1000");
  p.value("--max-rate", "PPS", "upper bound; 0 = saturation rate measured with --rate 0",
          store_double(ndr.max_rate, 0, 1e9))
      .with_unit("packets/s")
      .with_default("0");
  p.value("--resolution", "F", "stop when the bracket is within F of the rate, 0.001..0.5",
          store_double(ndr.resolution, 0.001, 0.5))
      .with_default("0.02");
  p.value("--loss", "PCT", "loss still counted as no drop, 0..100",
          store_double(ndr.loss_threshold_pct, 0, 100))
      .with_unit("percent")
      .with_default("0.1");
}

// The flags every command accepts: where the programs are, placement, hosts, output.
// Long: one table entry per flag, in the order the help lists them.
void add_common_flags(mrelay::cli::Parser& p, Options& o) {
  p.value("--out", "FILE", "cell, ndr: also write the record to FILE; sweep: the results file",
          store_text(o.out));
  p.value("--bin-dir", "DIR", "where mrelay, mrelay-gen, mrelay-sink, mrelay-kfwd are",
          store_text(o.bin_dir))
      .with_default("$MRELAY_BIN_DIR or this program's directory");
  p.value("--forwarder-rt-priority", "N",
          "SCHED_FIFO priority of mrelay and socat on their core, the way kernel forwarding runs "
          "in softirq; 0 = normal scheduling, 0..99",
          store_uint(o.forwarder_rt_priority, 0, 99))
      .with_default("10");
  p.value("--load-rt-priority", "N",
          "SCHED_FIFO priority of the generator (the sink gets N+1), so other work on their core "
          "cannot make the generator miss its rate; 0 = off, 0..98",
          store_uint(o.load_rt_priority, 0, 98))
      .with_default("10");
  p.value("--ingress-rps", "WHO",
          "RPS of the relay ingress to the forwarder's core (to every worker's core for mrelay "
          "--workers N): all (every forwarder and direct's sink), or kernel (the kernel references only; then mrelay's and socat's ingress "
          "softirq run on the generator's core)",
          [&o](std::string_view flag, std::string_view v) -> mrelay::Result<void> {
            o.ingress_rps_all = v == "all";
            return v == "all" || v == "kernel" ? mrelay::Result<void>{}
                                               : mrelay::fail(std::string(flag), "must be all or kernel");
          })
      .with_default("all");
  p.value("--nft", "PATH", "the nft program of the kernel-nft reference", store_text(o.nft))
      .with_default("nft");
  p.value("--inventory", "FILE",
          "run the cells on the hosts of FILE over SSH (roles tester, dut, sink) instead of "
          "namespaces of this machine; the DUT's fingerprint keys the results, every host's is "
          "recorded (docs/multi-host.md)",
          store_text(o.inventory))
      .with_default("namespaces");
  p.repeated("--send-on-real-interface", "HOST:IF",
             "allow test traffic on HOST:IF although it is not a veth (a real NIC: traffic "
             "leaves the machine)",
             [&o](std::string_view flag, std::string_view v) -> mrelay::Result<void> {
               o.real_interfaces.emplace_back(v);
               if (v.find(':') == std::string_view::npos) {
                 return mrelay::fail(std::string(flag), "expected HOST:IF, got '" + std::string(v) + "'");
               }
               return {};
             });
  p.flag("--keep-files", "keep each cell's child outputs under /tmp/mrelay-bench-PID", o.keep_files);
  p.flag("--verbose", "print each step to stderr", o.verbose);
}

// The program's table: the common flags, then one table per command.
void describe(mrelay::cli::Parser& parser, Options& options) {
  parser.usage("COMMAND [OPTIONS] [ARGS]");
  add_common_flags(parser, options);
  mrelay::cli::Parser& cell =
      parser.command("cell", "", "one measurement; JSON record on stdout");
  add_cell_flags(cell, options.cell);
  mrelay::cli::Parser& ndr = parser.command("ndr", "", "no-drop rate search; JSON record on stdout");
  add_cell_flags(ndr, options.cell);
  add_ndr_flags(ndr, options.ndr);
  mrelay::cli::Parser& sweep = parser.command(
      "sweep", "SPEC.json", "a matrix of cells, interleaved repetitions, into --out FILE");
  sweep.value("--markdown", "FILE", "the table as Markdown", store_text(options.markdown))
      .with_default("--out's FILE with .md");
  sweep.flag("--dry-run", "list the cells and the run count only", options.dry_run);
  parser.command("table", "RESULTS.json", "the summary table of a results file")
      .flag("--markdown", "print the table as Markdown", options.markdown_flag);
  mrelay::cli::Parser& probe = parser.command(
      "probe", "", "what this kernel and machine can do (the probes every cell, ndr and sweep "
                   "run first)");
  probe.flag("--json", "print the probes as JSON", options.json);
  probe.repeated("--need", "NAME", "exit 77 with the reason unless NAME is present",
                 mrelay::cli::append_text(options.needs));
  parser.command("gc", "", "remove stale mrl- namespaces (mrelay-netns gc)");
  parser.section("Placement", kPlacement);
  parser.section("Capabilities", kCapabilities);
  parser.section("Exit codes", kExitCodes);
}

RigEnvironment make_environment(const Options& options) {
  std::string bin_dir = options.bin_dir;
  if (bin_dir.empty()) {
    const char* from_env = std::getenv("MRELAY_BIN_DIR");
    bin_dir = from_env != nullptr ? from_env : self_dir();
  }
  RigEnvironment env = default_environment(bin_dir);
  env.keep_files = options.keep_files;
  env.verbose = options.verbose;
  env.forwarder_rt_priority = static_cast<int>(options.forwarder_rt_priority);
  env.load_rt_priority = static_cast<int>(options.load_rt_priority);
  env.ingress_rps_all = options.ingress_rps_all;
  env.nft = options.nft;
  return env;
}

// Probes the machine once for this run and says what is missing and what that costs.
void probe_and_report(RigEnvironment& env) {
  env.capabilities = probe_capabilities(env.nft, env.socat, env.bin_dir + "/mrelay");
  const std::string missing = env.capabilities.missing_report();
  std::istringstream lines(missing);
  std::string line;
  while (std::getline(lines, line)) {
    std::fprintf(stderr, "mrelay-bench: %s\n", line.c_str());
  }
}

// The rig across hosts (--inventory): one SSH master per host, versions and fingerprints
// checked, the capabilities probed on the DUT (where the forwarders run), and where the
// traffic will go printed before any is sent. Null without --inventory.
mrelay::Result<std::unique_ptr<InventoryRig>> connect_inventory(const Options& options,
                                                                RigEnvironment& env,
                                                                uint32_t max_fanout) {
  if (options.inventory.empty()) {
    return std::unique_ptr<InventoryRig>();
  }
  auto inventory = load_inventory(options.inventory, env.bin_dir);
  if (!inventory) {
    return tl::unexpected(inventory.error());
  }
  inventory->real_interfaces.insert(inventory->real_interfaces.end(),
                                    options.real_interfaces.begin(),
                                    options.real_interfaces.end());
  std::fprintf(stderr, "mrelay-bench: connecting to %zu hosts of %s\n", inventory->hosts.size(),
               options.inventory.c_str());
  auto rig = InventoryRig::connect(std::move(*inventory), MRELAY_VERSION);
  if (!rig) {
    return tl::unexpected(rig.error());
  }
  std::fprintf(stderr, "mrelay-bench: test traffic will go (TTL %d from the tester):\n%s",
               kGeneratorTtl, traffic_plan((*rig)->inventory(), max_fanout, kGeneratorTtl).c_str());
  env.inventory = rig->get();
  return rig;
}

// What the DUT's kernel can do, asked of mrelay-bench on the DUT (its own probe); this
// machine's probe says nothing about another kernel.
void probe_dut(RigEnvironment& env) {
  Host& dut = *env.inventory->dut_host();
  auto probe = dut.run({dut.bin_dir() + "/mrelay-bench", "probe", "--json"},
                       std::chrono::seconds(120));
  const json caps = probe && probe->status.ok() ? json::parse(probe->out, nullptr, false) : json();
  if (!caps.is_object()) {
    std::fprintf(stderr,
                 "mrelay-bench: warning: the DUT's capability probe failed (%s); every cell is "
                 "tried\n",
                 probe ? text_tail(probe->err, 200).c_str() : probe.error().to_string().c_str());
    return;
  }
  env.capabilities = Capabilities::from_json(caps);
  std::istringstream lines(env.capabilities.missing_report());
  for (std::string line; std::getline(lines, line);) {
    std::fprintf(stderr, "mrelay-bench: DUT: %s\n", line.c_str());
  }
}

int require_root(const char* command) {
  if (::geteuid() != 0) {
    std::fprintf(stderr,
                 "mrelay-bench %s: must run as root (it creates network namespaces and veth "
                 "pairs); try: sudo mrelay-bench %s ...\n",
                 command, command);
    return kExitNeedsRoot;
  }
  return 0;
}

std::string format_duration(double seconds) {
  const long total = static_cast<long>(seconds + 0.5);
  char text[32];
  if (total >= 3600) {
    std::snprintf(text, sizeof(text), "%ldh%02ldm", total / 3600, (total / 60) % 60);
  } else {
    std::snprintf(text, sizeof(text), "%ldm%02lds", total / 60, total % 60);
  }
  return text;
}

// The run's directory of child outputs, unless --keep-files asked to keep it (then say where).
void remove_work_dir(const RigEnvironment& env) {
  std::error_code error;
  if (!env.keep_files) {
    std::filesystem::remove_all(env.work_dir, error);
  } else {
    std::fprintf(stderr, "mrelay-bench: child outputs kept in %s\n", env.work_dir.c_str());
  }
}

int command_cell(const Options& options, bool ndr) {
  if (options.cell.forwarder == Forwarder::mrelay) {
    if (auto covered = check_streams_cover_workers(options.cell.streams, options.cell.workers,
                                                   "--streams");
        !covered) {
      return usage_error(covered.error().to_string());
    }
  }
  if (int code = require_root(ndr ? "ndr" : "cell"); code != 0) {
    return code;
  }
  RigEnvironment env = make_environment(options);
  auto rig = connect_inventory(options, env, options.cell.fanout);
  if (!rig) {
    std::fprintf(stderr, "mrelay-bench: %s\n", rig.error().to_string().c_str());
    return kExitFailed;
  }
  *rig ? probe_dut(env) : probe_and_report(env);
  CellParams params = options.cell;
  params.ndr = ndr;
  json record = ndr ? run_ndr_cell(params, options.ndr, env, 1) : run_cell(params, env, 1);
  if (*rig) {
    record["hosts"] = (*rig)->hosts_json();
    (*rig)->cleanup();
  }
  remove_work_dir(env);
  std::cout << record.dump(1) << std::endl;
  if (!options.out.empty()) {
    if (auto written = write_json_file(options.out, record); !written) {
      std::fprintf(stderr, "mrelay-bench: %s\n", written.error().to_string().c_str());
      return kExitFailed;
    }
  }
  const std::string status = record.value("status", "error");
  if (status == "error") {
    std::fprintf(stderr, "mrelay-bench: cell failed: %s\n", record.value("reason", "?").c_str());
    return kExitFailed;
  }
  if (status == "skipped") {
    std::fprintf(stderr, "mrelay-bench: cell skipped: %s\n", record.value("reason", "?").c_str());
    return kExitSkipped;
  }
  return 0;
}

std::string markdown_path_for(const std::string& results_path) {
  std::filesystem::path path(results_path);
  path.replace_extension(".md");
  return path.string();
}

// A sweep's spec, read, checked and expanded into cells and their interleaved order.
struct SweepPlan {
  std::string path;
  json source;
  SweepSpec spec;
  std::vector<CellParams> cells;
  std::vector<PlannedRun> runs;
};

// The spec file named on the command line; the error is the usage message.
mrelay::Result<SweepPlan> load_sweep(const Options& options) {
  if (options.positional.size() != 1) {
    return mrelay::fail("", "sweep: expected exactly one SPEC file");
  }
  if (options.out.empty() && !options.dry_run) {
    return mrelay::fail("", "sweep: --out FILE is required");
  }
  SweepPlan plan;
  plan.path = options.positional[0];
  auto text = read_text_file(plan.path);
  if (!text) {
    return mrelay::fail("", "sweep: " + text.error().to_string());
  }
  plan.source = json::parse(*text, nullptr, false);
  if (plan.source.is_discarded()) {
    return mrelay::fail("", "sweep: " + plan.path + ": not valid JSON");
  }
  auto spec = parse_sweep_spec(plan.source);
  if (!spec) {
    return mrelay::fail("", "sweep: " + plan.path + ": " + spec.error().to_string());
  }
  plan.spec = std::move(*spec);
  plan.cells = expand_cells(plan.spec);
  plan.runs = interleaved_plan(plan.cells.size(), plan.spec.repetitions);
  return plan;
}

// The plan only: validates a spec and shows its size before committing machine time.
int print_dry_run(const SweepPlan& plan) {
  double seconds = 0;
  size_t points = 0;         // NDR cells: each a point of a latency curve
  double curve_seconds = 0;  // one run per NDR cell
  for (const auto& cell : plan.cells) {
    std::printf("%s\n", cell.label().c_str());
    // ~1.2 s of rig set-up and teardown per run; an NDR search is ~10 runs.
    const double run_s = cell.warmup_s + cell.window_s + 1.2;
    seconds += run_s * (cell.ndr ? 10 : 1);
    points += cell.ndr ? 1 : 0;
    curve_seconds += cell.ndr ? run_s : 0;
  }
  std::printf("%zu cells x %u repetitions = %zu runs, roughly %s\n", plan.cells.size(),
              plan.spec.repetitions, plan.runs.size(),
              format_duration(seconds * plan.spec.repetitions).c_str());
  if (plan.spec.curve) {
    const size_t fractions = plan.spec.curve->fractions.size();
    std::printf("then a latency curve: up to %zu cells x %u repetitions (each NDR cell at %zu "
                "fractions of its references' no-drop rate), roughly %s more\n",
                points * fractions, plan.spec.repetitions, fractions,
                format_duration(curve_seconds * fractions * plan.spec.repetitions).c_str());
  }
  return 0;
}

// How far a sweep got, for the progress line and the summary.
struct SweepProgress {
  bool tty = ::isatty(STDERR_FILENO) != 0;
  std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
  size_t done = 0;
  size_t failed = 0;
  size_t skipped = 0;

  [[nodiscard]] double elapsed_s() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
  // "\r\033[K" rewrites the progress line on a terminal; a log gets one line each.
  [[nodiscard]] const char* line_start() const { return tty ? "\r\033[K" : ""; }
};

void print_progress(const SweepPlan& plan, const PlannedRun& run, const SweepProgress& progress) {
  const double elapsed = progress.elapsed_s();
  std::string remaining = "?";
  if (progress.done > 0) {
    // Appended, not "~" + std::string&&: that trips GCC 12's false -Wrestrict.
    remaining = "~";
    remaining += format_duration(elapsed / progress.done * (plan.runs.size() - progress.done));
  }
  std::fprintf(stderr, "%s[sweep %s] %zu/%zu done, elapsed %s, remaining %s | rep %u %s%s",
               progress.line_start(), plan.spec.name.c_str(), progress.done, plan.runs.size(),
               format_duration(elapsed).c_str(), remaining.c_str(), run.rep,
               plan.cells[run.cell].label().c_str(), progress.tty ? "" : "\n");
  std::fflush(stderr);
}

// Counts a finished run; says why it failed, and why a cell is skipped (once per cell).
void note_status(const CellParams& cell, const PlannedRun& run, const json& record,
                 SweepProgress& progress) {
  const std::string status = record.value("status", "error");
  if (status == "error") {
    ++progress.failed;
    std::fprintf(stderr, "%s[sweep] %s rep %u failed: %s\n", progress.line_start(),
                 cell.label().c_str(), run.rep, record.value("reason", "?").c_str());
  } else if (status == "skipped") {
    ++progress.skipped;
    if (run.rep == 1) {  // the reason once per cell, not once per repetition
      std::fprintf(stderr, "%s[sweep] %s skipped: %s\n", progress.line_start(),
                   cell.label().c_str(), record.value("reason", "?").c_str());
    }
  }
}

// Runs every planned cell, rewriting the results file after each, so a crash or Ctrl-C keeps
// what was measured. False when the file cannot be written.
// Runs the planned runs not done yet (a latency curve appends its runs after the first call).
bool run_sweep(const SweepPlan& plan, const RigEnvironment& env, const Options& options,
               json& results, SweepProgress& progress) {
  for (size_t next = progress.done; next < plan.runs.size(); ++next) {
    if (interrupted()) {
      break;
    }
    const PlannedRun& run = plan.runs[next];
    const CellParams& cell = plan.cells[run.cell];
    print_progress(plan, run, progress);
    json record = cell.ndr ? run_ndr_cell(cell, plan.spec.ndr, env, static_cast<int>(run.rep))
                           : run_cell(cell, env, static_cast<int>(run.rep));
    note_status(cell, run, record, progress);
    results["samples"].push_back(std::move(record));
    ++progress.done;
    results["completed_runs"] = progress.done;
    if (auto written = write_json_file(options.out, results); !written) {
      std::fprintf(stderr, "\nmrelay-bench: %s\n", written.error().to_string().c_str());
      return false;
    }
  }
  return true;
}

// A latency curve's cells, appended to the plan once the spec's own have run: each NDR point
// paced at the curve's fractions of the best no-drop rate its references reached there.
// Returns how many cells it added.
size_t add_curve_runs(SweepPlan& plan, const json& samples) {
  if (!plan.spec.curve) {
    return 0;
  }
  std::vector<std::string> of;
  for (Forwarder forwarder : plan.spec.curve->of) {
    of.push_back(to_string(forwarder));
  }
  const auto cells = expand_curve_cells(
      plan.spec, [&](const CellParams& cell) -> std::optional<CurveBasis> {
        const auto best = best_ndr(samples, of, reference_key(json{{"params", to_json(cell)}}));
        if (!best) {
          return std::nullopt;
        }
        return CurveBasis{best->first, best->second};
      });
  const size_t first = plan.cells.size();
  plan.cells.insert(plan.cells.end(), cells.begin(), cells.end());
  for (PlannedRun run : interleaved_plan(cells.size(), plan.spec.repetitions)) {
    run.cell += first;
    plan.runs.push_back(run);
  }
  return cells.size();
}

// The spec's cells, then its latency curve's (whose rates come from the first part's NDRs).
bool run_sweep_and_curve(SweepPlan& plan, const RigEnvironment& env, const Options& options,
                         json& results, SweepProgress& progress) {
  if (!run_sweep(plan, env, options, results, progress)) {
    return false;
  }
  if (!plan.spec.curve || interrupted()) {
    return true;
  }
  const size_t added = add_curve_runs(plan, results["samples"]);
  std::fprintf(stderr, "%s[sweep %s] latency curve: %zu cells at fractions of the best no-drop "
               "rate of its references%s\n",
               progress.line_start(), plan.spec.name.c_str(), added,
               added == 0 ? " (none: no reference reached a no-drop rate)" : "");
  results["planned_runs"] = plan.runs.size();
  return run_sweep(plan, env, options, results, progress);
}

// After the last cell: ratios, headroom, the final file, its Markdown table and the text table.
int finish_sweep(const SweepPlan& plan, const RigEnvironment& env, const Options& options,
                 json& results, const SweepProgress& progress) {
  const double elapsed = progress.elapsed_s();
  std::fprintf(stderr, "%s[sweep %s] %zu/%zu done in %s, %zu failed, %zu skipped%s\n",
               progress.line_start(), plan.spec.name.c_str(), progress.done, plan.runs.size(),
               format_duration(elapsed).c_str(), progress.failed, progress.skipped,
               interrupted() ? " (interrupted)" : "");
  add_reference_ratios(results["samples"]);
  results["headroom"] = check_headroom(results["samples"]);
  results["completed_runs"] = progress.done;
  results["interrupted"] = interrupted();
  results["duration_s"] = elapsed;
  if (auto written = write_json_file(options.out, results); !written) {
    std::fprintf(stderr, "mrelay-bench: %s\n", written.error().to_string().c_str());
    return kExitFailed;
  }
  remove_work_dir(env);
  const std::string markdown =
      options.markdown.empty() ? markdown_path_for(options.out) : options.markdown;
  {
    std::ofstream md(markdown);
    md << "# mrelay-bench: " << plan.spec.name << "\n\nResults: `" << options.out << "`\n\n"
       << format_results_table(results, TableStyle::markdown);
  }
  std::cout << format_results_table(results, TableStyle::text) << "\nresults: " << options.out
            << "\ntable:   " << markdown << std::endl;
  if (interrupted()) {
    return kExitFailed;
  }
  return progress.failed == 0 ? 0 : kExitFailed;
}

int command_sweep(const Options& options) {
  auto plan = load_sweep(options);
  if (!plan) {
    return usage_error(plan.error().message);
  }
  if (options.dry_run) {
    return print_dry_run(*plan);
  }
  if (int code = require_root("sweep"); code != 0) {
    return code;
  }
  RigEnvironment env = make_environment(options);
  uint32_t max_fanout = 1;
  for (const CellParams& cell : plan->cells) {
    max_fanout = std::max(max_fanout, cell.fanout);
  }
  auto rig = connect_inventory(options, env, max_fanout);
  if (!rig) {
    std::fprintf(stderr, "mrelay-bench: %s\n", rig.error().to_string().c_str());
    return kExitFailed;
  }
  *rig ? probe_dut(env) : probe_and_report(env);
  json results = new_results_document(plan->source, env.repo_dir, placement_json(env));
  if (*rig) {  // the DUT's fingerprint is the one tables and the gate key on
    results["machine"] = (*rig)->dut_fingerprint();
    results["hosts"] = (*rig)->hosts_json();
  }
  results["machine"]["capabilities"] = env.capabilities.to_json();
  results["spec_path"] = plan->path;
  results["planned_runs"] = plan->runs.size();
  SweepProgress progress;
  if (!run_sweep_and_curve(*plan, env, options, results, progress)) {
    return kExitFailed;
  }
  if (*rig) {
    (*rig)->cleanup();
  }
  return finish_sweep(*plan, env, options, results, progress);
}

int command_table(const Options& options) {
  if (options.positional.size() != 1) {
    return usage_error("table: expected exactly one RESULTS file");
  }
  auto text = read_text_file(options.positional[0]);
  if (!text) {
    return usage_error("table: " + text.error().to_string());
  }
  json results = json::parse(*text, nullptr, false);
  if (!results.is_object() || !results.contains("samples")) {
    return usage_error("table: " + options.positional[0] + ": not a mrelay-bench results file");
  }
  std::cout << format_results_table(
      results, options.markdown_flag ? TableStyle::markdown : TableStyle::text);
  return 0;
}

int command_probe(const Options& options) {
  if (!options.positional.empty()) {
    return usage_error("probe: unexpected argument '" + options.positional[0] + "'");
  }
  const RigEnvironment env = make_environment(options);
  const Capabilities caps = probe_capabilities(env.nft, env.socat, env.bin_dir + "/mrelay");
  if (options.json) {
    std::cout << caps.to_json().dump(1) << std::endl;
  } else if (options.needs.empty()) {
    std::cout << caps.full_report();
  }
  for (const std::string& need : options.needs) {
    const Capability* c = caps.find(need);
    if (c == nullptr) {
      return usage_error("--need: unknown capability '" + need +
                         "' (mrelay-bench probe lists them)");
    }
    if (!c->present) {
      std::printf("SKIP: %s; %s\n", missing_capability_text(*c).c_str(), c->without.c_str());
      return kExitSkipped;
    }
  }
  return 0;
}

int command_gc(const Options& options) {
  if (int code = require_root("gc"); code != 0) {
    return code;
  }
  auto output = run_netns_gc(make_environment(options));
  if (!output) {
    std::fprintf(stderr, "mrelay-bench gc: %s\n", output.error().to_string().c_str());
    return kExitFailed;
  }
  std::cout << *output;
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  mrelay::cli::Parser parser("mrelay-bench", kDescription);
  Options options;
  describe(parser, options);
  const mrelay::cli::Parsed parsed = parser.parse(argc, argv);
  if (auto code = mrelay::cli::finish(parsed)) {
    return *code;
  }
  if (parsed.command.empty()) {
    return usage_error("no command given (cell|ndr|sweep|table|probe|gc)");
  }
  const std::string& command = parsed.command;
  options.positional = parsed.positionals;
  install_signal_handlers();
  if (command == "cell" || command == "ndr") {
    if (!options.positional.empty()) {
      return usage_error(command + ": unexpected argument '" + options.positional[0] + "'");
    }
    return command_cell(options, command == "ndr");
  }
  if (command == "sweep") {
    return command_sweep(options);
  }
  if (command == "table") {
    return command_table(options);
  }
  if (command == "probe") {
    return command_probe(options);
  }
  return command_gc(options);
}
