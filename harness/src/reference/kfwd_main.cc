// mrelay-kfwd: the kernel's multicast replication as a reference forwarder for the rig, by
// multicast routing (ipmr) or by an nftables netdev chain (nft).
//
//   ip netns exec mrl-ab12cd-relay0 mrelay-kfwd --in rin0 --out rout0 --out rout1 --json
//   ip netns exec mrl-ab12cd-relay0 mrelay-kfwd --in rin0 --out rout0 --source 10.77.0.1
//       --group 239.1.1.1 --duration 5 --json          (one command line)
//   ip netns exec mrl-ab12cd-relay0 mrelay-kfwd --method nft --in rin0 --out rout0
//       --group 239.1.1.1 --port 5000 --rewrite 239.2.0.1:6000 --json
//
// Runs until SIGTERM/SIGINT or --duration, then prints the kernel's counts (ipmr: per-(S,G)
// and per-VIF, SIOCGETSGCNT and SIOCGETVIFCNT; nft: the match rule's counter) and removes
// what it installed (MRT_DONE; the nft table).
// Flags: describe_kfwd() in kernel_forwarder.cc (or mrelay-kfwd --help).
#include <arpa/inet.h>
#include <linux/mroute.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <time.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "reference/kernel_forwarder.h"
#include "reference/nft_forwarder.h"

namespace {

// Poll timeout in ms: how quickly a signal or the end of --duration is noticed. Upcalls wake
// the poll at once, so this only bounds shutdown latency.
constexpr int kPollTimeoutMs = 100;
// Upcalls read per loop turn, so a flood of new (S,G) cannot starve the signal check.
constexpr int kMaxUpcallsPerTurn = 64;
// Distinct (S,G) entries learned from upcalls. Bench cells use a handful of streams; the
// cap keeps a misbehaving sender from filling the kernel's MFC table.
constexpr size_t kMaxRoutes = 4096;

volatile sig_atomic_t g_stop = 0;

void on_signal(int) {
  g_stop = 1;
}

uint64_t monotonic_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

std::string to_text(in_addr address) {
  char text[INET_ADDRSTRLEN] = {};
  inet_ntop(AF_INET, &address, text, sizeof text);
  return text;
}

struct Route {
  in_addr source;
  in_addr group;
};

bool same_route(const Route& a, in_addr source, in_addr group) {
  return a.source.s_addr == source.s_addr && a.group.s_addr == group.s_addr;
}

int report_error(const mrelay::Error& error) {
  std::fprintf(stderr, "mrelay-kfwd: %s\n", error.to_string().c_str());
  return 1;
}

void install_signal_handlers() {
  struct sigaction action {};
  action.sa_handler = on_signal;
  sigemptyset(&action.sa_mask);
  // No SA_RESTART: poll() returns EINTR so the loop sees the flag at once.
  action.sa_flags = 0;
  sigaction(SIGTERM, &action, nullptr);
  sigaction(SIGINT, &action, nullptr);
}

bool create_ready_file(const std::string& path) {
  if (path.empty()) {
    return true;
  }
  std::ofstream ready(path);
  if (!ready) {
    std::fprintf(stderr, "mrelay-kfwd: --ready-file %s: cannot create\n", path.c_str());
    return false;
  }
  return true;
}

// Sleeps until SIGTERM/SIGINT or the deadline (0 = none), in kPollTimeoutMs steps.
void wait_for_stop(uint64_t deadline_ns) {
  while (g_stop == 0 && (deadline_ns == 0 || monotonic_ns() < deadline_ns)) {
    ::poll(nullptr, 0, kPollTimeoutMs);
  }
}

uint64_t deadline_after(double duration_s, uint64_t start_ns) {
  return duration_s > 0 ? start_ns + static_cast<uint64_t>(duration_s * 1e9) : 0;
}

int run_nft(const mrelay::KfwdOptions& options) {
  mrelay::NftForwarderPlan plan;
  plan.input_interface = options.input_interface;
  for (const std::string& name : options.output_interfaces) {
    auto mac = mrelay::interface_mac(name);
    if (!mac) {
      return report_error(
          mrelay::Error{"--out " + mac.error().where, mac.error().message, mac.error().sys_errno});
    }
    plan.outputs.push_back({name, *mac});
  }
  plan.group = options.group.value_or(in_addr{});
  plan.group6 = options.group6;
  plan.port = *options.port;
  plan.source = options.source;
  plan.rewrite_group = options.rewrite_group;
  plan.rewrite_group6 = options.rewrite_group6;
  plan.rewrite_port = options.rewrite_port;
  auto forwarder = mrelay::NftForwarder::install(plan, options.nft_program);
  if (!forwarder) {
    return report_error(forwarder.error());
  }
  if (!create_ready_file(options.ready_file)) {
    return 1;
  }
  std::fprintf(stderr, "mrelay-kfwd: nftables replicating %s -> %zu interface(s)\n",
               options.input_interface.c_str(), plan.outputs.size());
  const uint64_t start_ns = monotonic_ns();
  wait_for_stop(deadline_after(options.duration_s, start_ns));
  const double duration_s = static_cast<double>(monotonic_ns() - start_ns) / 1e9;
  auto counts = forwarder->counts();
  if (!counts) {
    return report_error(counts.error());
  }
  if (auto removed = forwarder->remove(); !removed) {
    return report_error(removed.error());
  }
  nlohmann::json result{{"program", "mrelay-kfwd"},       {"method", "nft"},
                        {"duration_s", duration_s},       {"matched_packets", counts->packets},
                        {"matched_bytes", counts->bytes}, {"outputs", options.output_interfaces}};
  if (options.json) {
    std::printf("%s\n", result.dump().c_str());
  } else {
    std::printf(
        "mrelay-kfwd: %.3f s, nftables: %llu packets matched and replicated to %zu "
        "interface(s)\n",
        duration_s, static_cast<unsigned long long>(counts->packets),
        options.output_interfaces.size());
  }
  return 0;
}

// Multicast routing for one run: the VIFs it added (the input first), the (S,G) routes it
// installed, and what the upcalls did.
struct IpmrState {
  int input_vif = -1;
  std::vector<int> output_vifs;
  std::vector<std::string> vif_names;  // by VIF number
  std::vector<Route> routes;
  uint64_t upcalls = 0;
  uint64_t ignored_upcalls = 0;
  uint64_t route_errors = 0;
};

// One VIF for --in and one per --out, then the static (S,G) route when --source was given.
mrelay::Result<void> add_vifs_and_route(mrelay::KernelForwarder& forwarder,
                                        const mrelay::KfwdOptions& options, IpmrState& state) {
  auto input_vif = forwarder.add_vif(options.input_interface, "--in");
  if (!input_vif) {
    return tl::unexpected(input_vif.error());
  }
  state.input_vif = *input_vif;
  state.vif_names.push_back(options.input_interface);
  for (const std::string& name : options.output_interfaces) {
    auto vif = forwarder.add_vif(name, "--out");
    if (!vif) {
      return tl::unexpected(vif.error());
    }
    state.output_vifs.push_back(*vif);
    state.vif_names.push_back(name);
  }
  state.routes.reserve(kMaxRoutes);
  if (options.source) {
    auto added =
        forwarder.add_route(*options.source, *options.group, state.input_vif, state.output_vifs);
    if (!added) {
      return tl::unexpected(added.error());
    }
    state.routes.push_back({*options.source, *options.group});
  }
  return {};
}

// An upcall for a new (S,G) arriving on --in gets a route to every output.
void handle_upcall(mrelay::KernelForwarder& forwarder, const mrelay::KfwdOptions& options,
                   const mrelay::Upcall& upcall, IpmrState& state) {
  ++state.upcalls;
  // Only (S,G) arriving on --in: installing entries for other VIFs would loop traffic.
  bool wanted = upcall.type == IGMPMSG_NOCACHE && upcall.vif == state.input_vif &&
                (!options.group || upcall.group.s_addr == options.group->s_addr);
  bool known = false;
  for (const Route& route : state.routes) {
    known = known || same_route(route, upcall.source, upcall.group);
  }
  if (!wanted || known || state.routes.size() >= kMaxRoutes) {
    ++state.ignored_upcalls;
    return;
  }
  auto added = forwarder.add_route(upcall.source, upcall.group, state.input_vif, state.output_vifs);
  if (!added) {
    // Rate-limited by kMaxRoutes distinct (S,G); a failure here is unusual enough to log.
    ++state.route_errors;
    if (state.route_errors <= 10) {
      std::fprintf(stderr, "mrelay-kfwd: (%s, %s): %s\n", to_text(upcall.source).c_str(),
                   to_text(upcall.group).c_str(), added.error().to_string().c_str());
    }
    return;
  }
  state.routes.push_back({upcall.source, upcall.group});
}

// Reads upcalls from the mroute socket until SIGTERM/SIGINT or the deadline (0 = none).
mrelay::Result<void> serve_upcalls(mrelay::KernelForwarder& forwarder,
                                   const mrelay::KfwdOptions& options, uint64_t deadline_ns,
                                   IpmrState& state) {
  uint8_t buffer[2048];
  while (g_stop == 0 && (deadline_ns == 0 || monotonic_ns() < deadline_ns)) {
    pollfd pfd{forwarder.fd(), POLLIN, 0};
    int ready = ::poll(&pfd, 1, kPollTimeoutMs);
    if (ready < 0) {
      if (errno == EINTR) {
        continue;
      }
      return mrelay::fail_errno("poll(mroute socket)");
    }
    for (int turn = 0; ready > 0 && turn < kMaxUpcallsPerTurn; ++turn) {
      ssize_t got = ::recv(forwarder.fd(), buffer, sizeof buffer, 0);
      if (got < 0) {
        if (errno != EAGAIN && errno != EINTR) {
          return mrelay::fail_errno("recv(mroute socket)");
        }
        break;
      }
      if (auto upcall = mrelay::parse_upcall(buffer, static_cast<size_t>(got))) {
        handle_upcall(forwarder, options, *upcall, state);
      }  // else an ordinary IGMP packet
    }
  }
  return {};
}

// The run's report: upcall counts, every (S,G) route's and every VIF's kernel counters.
mrelay::Result<nlohmann::json> ipmr_report(mrelay::KernelForwarder& forwarder,
                                           const IpmrState& state, double duration_s) {
  nlohmann::json result;
  result["program"] = "mrelay-kfwd";
  result["method"] = "ipmr";
  result["duration_s"] = duration_s;
  result["upcalls"] = state.upcalls;
  result["ignored_upcalls"] = state.ignored_upcalls;
  result["route_errors"] = state.route_errors;
  result["mfc"] = nlohmann::json::array();
  for (const Route& route : state.routes) {
    auto counts = forwarder.sg_counts(route.source, route.group);
    if (!counts) {
      return tl::unexpected(counts.error());
    }
    result["mfc"].push_back({{"source", to_text(route.source)},
                             {"group", to_text(route.group)},
                             {"packets", counts->packets},
                             {"bytes", counts->bytes},
                             {"wrong_if", counts->wrong_if}});
  }
  result["vifs"] = nlohmann::json::array();
  for (int vif = 0; vif < forwarder.vif_count(); ++vif) {
    auto counts = forwarder.vif_counts(vif);
    if (!counts) {
      return tl::unexpected(counts.error());
    }
    result["vifs"].push_back({{"vif", vif},
                              {"interface", state.vif_names[static_cast<size_t>(vif)]},
                              {"in_packets", counts->in_packets},
                              {"out_packets", counts->out_packets},
                              {"in_bytes", counts->in_bytes},
                              {"out_bytes", counts->out_bytes}});
  }
  return result;
}

void print_ipmr_report(const nlohmann::json& result) {
  std::printf("mrelay-kfwd: %.3f s, %llu upcall(s)\n", result["duration_s"].get<double>(),
              result["upcalls"].get<unsigned long long>());
  for (const auto& entry : result["mfc"]) {
    std::printf(
        "  (%s, %s): %llu packets, %llu bytes, %llu wrong interface\n",
        entry["source"].get<std::string>().c_str(), entry["group"].get<std::string>().c_str(),
        entry["packets"].get<unsigned long long>(), entry["bytes"].get<unsigned long long>(),
        entry["wrong_if"].get<unsigned long long>());
  }
  for (const auto& entry : result["vifs"]) {
    std::printf("  vif %d %s: in %llu, out %llu packets\n", entry["vif"].get<int>(),
                entry["interface"].get<std::string>().c_str(),
                entry["in_packets"].get<unsigned long long>(),
                entry["out_packets"].get<unsigned long long>());
  }
}

int run_ipmr(const mrelay::KfwdOptions& options) {
  auto forwarder = mrelay::KernelForwarder::open();
  if (!forwarder) {
    return report_error(forwarder.error());
  }
  IpmrState state;
  if (auto added = add_vifs_and_route(*forwarder, options, state); !added) {
    return report_error(added.error());
  }
  if (!create_ready_file(options.ready_file)) {
    return 1;
  }
  std::fprintf(stderr, "mrelay-kfwd: forwarding %s -> %zu interface(s), %s\n",
               options.input_interface.c_str(), state.output_vifs.size(),
               options.source ? "static (S,G)" : "learning (S,G) from upcalls");
  const uint64_t start_ns = monotonic_ns();
  if (auto served =
          serve_upcalls(*forwarder, options, deadline_after(options.duration_s, start_ns), state);
      !served) {
    return report_error(served.error());
  }
  const double duration_s = static_cast<double>(monotonic_ns() - start_ns) / 1e9;
  auto result = ipmr_report(*forwarder, state, duration_s);
  if (!result) {
    return report_error(result.error());
  }
  if (auto done = forwarder->done(); !done) {
    return report_error(done.error());
  }
  if (options.json) {
    std::printf("%s\n", result->dump().c_str());
  } else {
    print_ipmr_report(*result);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  mrelay::cli::Parser parser("mrelay-kfwd", "");
  mrelay::KfwdOptions options;
  if (auto code = mrelay::cli::finish(mrelay::parse_kfwd(parser, options, argc, argv))) {
    return *code;
  }
  install_signal_handlers();
  return options.method == mrelay::KfwdMethod::nft ? run_nft(options) : run_ipmr(options);
}
