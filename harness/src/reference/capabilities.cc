// Capability probes for the rig: see capabilities.h.
//
//   mrelay-bench probe            # the table of what this machine can and cannot do
//   mrelay-bench probe --json     # the same as the results files' machine.capabilities
#include "reference/capabilities.h"

#include <arpa/inet.h>
#include <linux/mroute.h>
#include <linux/mroute6.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/process.h"
#include "mrelay/kernel_probe.h"
#include "reference/nft_forwarder.h"
#include "reference/perf_counters.h"

namespace mrelay::harness {
namespace {

using nlohmann::json;

// Every probe finishes in milliseconds; the bound only catches a hung tool.
constexpr auto kProbeTimeout = std::chrono::seconds(20);
// Exit code of a scratch-namespace child that could not create its namespace.
constexpr int kNoNamespaceExit = 125;

std::string first_line(const std::string& text) {
  std::string line = text.substr(0, text.find('\n'));
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) {
    line.pop_back();
  }
  return line;
}

// Runs `check` in a forked child inside a scratch network namespace of its own; the child
// exits with check()'s result (0 = works, else an errno). Returns that, or nullopt with
// `why` when no namespace could be made.
std::optional<int> errno_in_scratch_netns(int (*check)(), std::string& why) {
  const pid_t pid = ::fork();
  if (pid < 0) {
    why = std::string("fork: ") + std::strerror(errno);
    return std::nullopt;
  }
  if (pid == 0) {
    if (::unshare(CLONE_NEWNET) != 0) {
      ::_exit(kNoNamespaceExit);
    }
    ::_exit(check());
  }
  const ExitStatus status =
      wait_for_exit(pid, std::chrono::duration_cast<std::chrono::milliseconds>(kProbeTimeout));
  if (status.timed_out) {
    (void)stop_process(pid, SIGKILL, std::chrono::milliseconds(1000));
    why = "probe did not finish";
    return std::nullopt;
  }
  if (!status.exited || status.code == kNoNamespaceExit) {
    why = "cannot create a network namespace (needs root)";
    return std::nullopt;
  }
  return status.code;
}

// MRT_INIT on a raw IGMP socket: exactly what mrelay-kfwd --method ipmr does first.
int check_mrt_init() {
  const int fd = ::socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_IGMP);
  if (fd < 0) {
    return errno;
  }
  int one = 1;
  const int rc = ::setsockopt(fd, IPPROTO_IP, MRT_INIT, &one, sizeof one);
  const int saved = rc == 0 ? 0 : errno;
  ::close(fd);
  return saved;
}

Capability probe_ipmr() {
  Capability c{std::string(capability::kIpmr), "kernel multicast forwarding (ipmr)", false, "",
               "the `kernel` (ipmr) reference is skipped; `× kernel` uses the nftables "
               "reference (`kernel-nft`)"};
  std::string why;
  const auto result = errno_in_scratch_netns(check_mrt_init, why);
  if (!result) {
    c.detail = why;
  } else if (*result == 0) {
    c.present = true;
    c.detail = "MRT_INIT works";
  } else if (*result == ENOPROTOOPT) {
    c.detail = "not in this kernel (CONFIG_IP_MROUTE; setsockopt(MRT_INIT): " +
               std::string(std::strerror(*result)) + ")";
  } else {
    c.detail = "setsockopt(MRT_INIT): " + std::string(std::strerror(*result));
  }
  return c;
}

// MRT6_INIT on a raw ICMPv6 socket: what an IPv6 multicast routing daemon does first.
int check_mrt6_init() {
  const int fd = ::socket(AF_INET6, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMPV6);
  if (fd < 0) {
    return errno;
  }
  int one = 1;
  const int rc = ::setsockopt(fd, IPPROTO_IPV6, MRT6_INIT, &one, sizeof one);
  const int saved = rc == 0 ? 0 : errno;
  ::close(fd);
  return saved;
}

Capability probe_ip6mr() {
  Capability c{std::string(capability::kIp6mr), "kernel IPv6 multicast forwarding (ip6mr)", false,
               "", "no IPv6 kernel-routing reference (mrelay-kfwd implements ipmr only: its IPv6 "
                   "cells are unsupported either way)"};
  std::string why;
  const auto result = errno_in_scratch_netns(check_mrt6_init, why);
  if (!result) {
    c.detail = why;
  } else if (*result == 0) {
    c.present = true;
    c.detail = "MRT6_INIT works";
  } else if (*result == ENOPROTOOPT || *result == EAFNOSUPPORT) {
    c.detail = "not in this kernel (CONFIG_IPV6_MROUTE; setsockopt(MRT6_INIT): " +
               std::string(std::strerror(*result)) + ")";
  } else {
    c.detail = "setsockopt(MRT6_INIT): " + std::string(std::strerror(*result));
  }
  return c;
}

// A shell script run in a scratch namespace; present when it exits 0, else its first line of
// stderr is the detail. Exit 127 = a program of the script is missing.
void run_scratch_script(Capability& c, const std::string& script,
                        const std::vector<std::string>& args, const std::string& missing_tool) {
  std::vector<std::string> argv{"sh", "-c", script, "mrelay-probe"};
  argv.insert(argv.end(), args.begin(), args.end());
  auto result = run_capture_in_scratch_netns(argv, kProbeTimeout);
  if (!result) {
    c.detail = result.error().to_string();
    return;
  }
  if (result->status.ok()) {
    c.present = true;
    return;
  }
  if (result->status.exited && result->status.code == 127) {
    c.detail = missing_tool + " not installed";
    return;
  }
  const std::string message = first_line(result->err.empty() ? result->out : result->err);
  c.detail = message.empty() ? result->status.describe() : message;
}

// The very ruleset mrelay-kfwd --method nft loads, on a veth pair of a scratch namespace.
Capability probe_nft(const std::string& nft) {
  Capability c{std::string(capability::kNftDup), "nftables netdev replication (dup/fwd)", false, "",
               "the `kernel-nft` reference is skipped"};
  NftForwarderPlan plan;
  plan.input_interface = "mrlp0";
  plan.outputs = {{"mrlp1", "02:00:00:00:00:01"}};
  inet_pton(AF_INET, "239.1.1.1", &plan.group);
  plan.port = 5000;
  in_addr rewrite{};
  inet_pton(AF_INET, "239.2.0.1", &rewrite);
  plan.rewrite_group = rewrite;
  plan.rewrite_port = 6000;
  const std::string ruleset = render_nft_ruleset(plan);
  const std::string script =
      "set -e; ip link add mrlp0 type veth peer name mrlp1; ip link set mrlp0 up; "
      "ip link set mrlp1 up; printf '%s' \"$2\" | \"$1\" -f -";
  run_scratch_script(c, script, {nft, ruleset}, "iproute2 or nft (package nftables)");
  if (c.present) {
    c.detail = "netdev ingress chain with payload rewrites, dup and fwd loads";
  }
  return c;
}

Capability probe_qdisc(std::string_view name, const char* title, const std::string& qdisc_args,
                       const char* without) {
  Capability c{std::string(name), title, false, "", without};
  run_scratch_script(c, "set -e; ip link set lo up; tc qdisc add dev lo root " + qdisc_args, {},
                     "tc (package iproute2)");
  if (c.present) {
    c.detail = "tc qdisc add ... " + qdisc_args + " works";
  }
  return c;
}

// The xdp ingress's own start-up probe (socket(AF_XDP), XSKMAP, the relay's XDP program
// through the verifier) and an attach to the scratch namespace's loopback (generic mode).
int check_af_xdp() {
  constexpr unsigned kLoopbackIfindex = 1;  // lo is always 1 in a fresh namespace
  const XdpProbe probe = probe_af_xdp(kLoopbackIfindex);
  return probe.available ? 0 : (probe.error != 0 ? probe.error : EINVAL);
}

Capability probe_af_xdp_capability() {
  Capability c{std::string(capability::kAfXdp), "AF_XDP sockets and XDP programs", false, "",
               "cells of mrelay with \"ingress\": \"xdp\" are skipped"};
  std::string why;
  const std::optional<int> error = errno_in_scratch_netns(check_af_xdp, why);
  c.present = error && *error == 0;
  if (c.present) {
    c.detail = "socket(AF_XDP), XSKMAP, XDP program and link accepted";
  } else if (error && *error == EAFNOSUPPORT) {
    c.detail = "not in this kernel (CONFIG_XDP_SOCKETS: socket(AF_XDP) refused)";
  } else {
    c.detail = error ? std::string("refused: ") + std::strerror(*error) : why;
  }
  return c;
}

Capability probe_rps() {
  Capability c{std::string(capability::kRps), "receive packet steering (RPS)", false, "",
               "forwarders' ingress softirq and `direct`'s receive work cannot be steered to "
               "the forwarder's core: they run where the packet arrives (placement records it)"};
  // Read-only look at the host's loopback: the attribute exists only with CONFIG_RPS.
  c.present = std::filesystem::exists("/sys/class/net/lo/queues/rx-0/rps_cpus");
  c.detail = c.present ? "rps_cpus present" : "not in this kernel (CONFIG_RPS: no rps_cpus)";
  return c;
}

Capability probe_uring() {
  Capability c{std::string(capability::kIoUring), "io_uring with IORING_OP_SEND", false, "",
               "cells with the `uring` egress backend are skipped"};
  const UringProbe uring = probe_io_uring();
  c.present = uring.available && uring.op_send;
  c.detail = uring.describe();
  return c;
}

Capability probe_gso() {
  Capability c{std::string(capability::kUdpGso), "UDP segmentation offload (UDP_SEGMENT)", false,
               "", "the `gso` egress backend falls back to sendmmsg (the relay logs it)"};
  c.present = probe_udp_gso();
  c.detail = c.present ? "UDP_SEGMENT accepted" : "UDP_SEGMENT refused";
  return c;
}

// Tracepoints and the PMU, from the same counters the rig attaches to a forwarder.
std::vector<Capability> probe_perf() {
  Capability tracepoints{std::string(capability::kTracepoints),
                         "syscall tracepoint (raw_syscalls:sys_enter)", false, "",
                         "syscalls/pkt is not measured (n/a)"};
  Capability pmu{std::string(capability::kPmu), "hardware counters (cycles, instructions)", false,
                 "", "cycles and instructions are not counted (the rest is)"};
  auto counters = PerfCounters::attach(::getpid());
  if (!counters) {
    tracepoints.detail = pmu.detail = counters.error().to_string();
    return {tracepoints, pmu};
  }
  for (const PerfReading& reading : counters->read()) {
    Capability* target = reading.name == kSyscallsEvent ? &tracepoints
                         : reading.name == kCyclesEvent ? &pmu
                                                        : nullptr;
    if (target != nullptr) {
      target->present = reading.supported;
      target->detail = reading.supported ? "perf_event_open works (" + reading.source + ")"
                                         : reading.unsupported_reason;
    }
  }
  return {tracepoints, pmu};
}

// The relay under test with an IPv6 group on its AF_PACKET ingress, on a veth pair of a
// scratch namespace (DAD off and the link-local address waited for: an IPv6 output socket
// cannot be set up before it exists): refused at start (exits at once, the reason on stderr) by a build whose
// packet ingress parses IPv4 only; a build that takes it is still running after a second
// (timeout's exit 124), which is all the probe asks.
Capability probe_mrelay_packet_ipv6(const std::string& mrelay) {
  Capability c{std::string(capability::kMrelayPacketIpv6),
               "mrelay AF_PACKET ingress with IPv6 groups", false, "",
               "IPv6 cells of mrelay with \"ingress\": \"packet\" are skipped (\"udp\" "
               "relays IPv6)"};
  const std::string config =
      R"({"ingress": "packet", "rules": [{"name": "probe", "input": {"interface": "mrlp0", )"
      R"("group": "ff3e::1", "port": 5000}, "outputs": [{"interface": "mrlp1", )"
      R"("group": "ff3e::2", "port": 6000}]}]})";
  const std::string script =
      "sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0 || exit 1\n"
      "ip link add mrlp0 type veth peer name mrlp1 || exit 1\n"
      "ip link set mrlp0 up && ip link set mrlp1 up || exit 1\n"
      "i=0\n"
      "while [ $i -lt 100 ] && ! ip -6 addr show dev mrlp1 scope link | grep -q inet6; do\n"
      "  sleep 0.02; i=$((i + 1))\n"
      "done\n"
      "f=$(mktemp) || exit 1\n"
      "printf '%s\\n' \"$2\" > \"$f\"\n"
      "timeout -k 1 1 \"$1\" --config \"$f\" >/dev/null 2>\"$f.err\"; rc=$?\n"
      "tail -n 1 \"$f.err\" >&2; rm -f \"$f\" \"$f.err\"\n"
      "[ $rc -eq 124 ]\n";
  run_scratch_script(c, script, {mrelay, config}, mrelay);
  if (c.present) {
    c.detail = "a packet-ingress rule for ff3e::1 starts";
  }
  return c;
}

Capability probe_socat(const std::string& socat) {
  Capability c{std::string(capability::kSocat), "socat (userspace reference)", false, "",
               "the `socat` reference is skipped"};
  auto result = run_capture({socat, "-V"}, kProbeTimeout);
  c.present = result && result->status.ok();
  c.detail = c.present ? first_line(result->out) : "'" + socat + "' not runnable (package socat)";
  return c;
}

}  // namespace

// "<title>: not in this kernel (...)" or "<title>: not available (<what the probe saw>)".
std::string missing_capability_text(const Capability& c) {
  if (c.detail.rfind("not ", 0) == 0) {
    return c.title + ": " + c.detail;
  }
  return c.title + ": not available (" + c.detail + ")";
}

bool Capabilities::has(std::string_view name) const {
  const Capability* c = find(name);
  return c != nullptr && c->present;
}

const Capability* Capabilities::find(std::string_view name) const {
  for (const Capability& c : items) {
    if (c.name == name) {
      return &c;
    }
  }
  return nullptr;
}

nlohmann::json Capabilities::to_json() const {
  json out = json::object();
  for (const Capability& c : items) {
    out[c.name] = json{
        {"present", c.present}, {"title", c.title}, {"detail", c.detail}, {"without", c.without}};
  }
  return out;
}

Capabilities Capabilities::from_json(const nlohmann::json& json) {
  Capabilities caps;
  if (!json.is_object()) {
    return caps;
  }
  for (const auto& [name, value] : json.items()) {
    if (!value.is_object()) {
      continue;
    }
    caps.items.push_back(Capability{name, value.value("title", name), value.value("present", false),
                                    value.value("detail", ""), value.value("without", "")});
  }
  return caps;
}

std::string Capabilities::missing_report() const {
  std::string out;
  for (const Capability& c : items) {
    if (!c.present) {
      out += missing_capability_text(c) + "; " + c.without + "\n";
    }
  }
  return out;
}

std::string Capabilities::full_report() const {
  std::string out;
  for (const Capability& c : items) {
    char head[64];
    std::snprintf(head, sizeof head, "%-18s %-4s ", c.name.c_str(), c.present ? "yes" : "NO");
    out += head + c.title + ": " + c.detail + "\n";
    if (!c.present) {
      out += std::string(24, ' ') + "without it: " + c.without + "\n";
    }
  }
  return out;
}

Capabilities probe_capabilities(const std::string& nft, const std::string& socat,
                                const std::string& mrelay) {
  Capabilities caps;
  caps.items.push_back(probe_ipmr());
  caps.items.push_back(probe_ip6mr());
  caps.items.push_back(probe_nft(nft));
  caps.items.push_back(probe_qdisc(capability::kTbf, "token bucket qdisc (tbf)",
                                   "tbf rate 1mbit burst 32kb latency 20ms",
                                   "cells with a tbf egress qdisc are skipped (the November "
                                   "2025 reproduction and the gate self-test's check of it)"));
  caps.items.push_back(probe_qdisc(capability::kNetem, "network emulator qdisc (netem)",
                                   "netem delay 1ms",
                                   "cells with a netem egress qdisc are skipped"));
  caps.items.push_back(probe_rps());
  caps.items.push_back(probe_af_xdp_capability());
  caps.items.push_back(probe_uring());
  caps.items.push_back(probe_gso());
  for (Capability& c : probe_perf()) {
    caps.items.push_back(std::move(c));
  }
  caps.items.push_back(probe_socat(socat));
  if (!mrelay.empty()) {
    caps.items.push_back(probe_mrelay_packet_ipv6(mrelay));
  }
  return caps;
}

std::string qdisc_kind(const std::string& spec) {
  std::istringstream words(spec);
  std::string kind;
  words >> kind;
  return kind;
}

}  // namespace mrelay::harness
