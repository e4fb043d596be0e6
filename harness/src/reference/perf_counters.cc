// perf_event_open + libpfm4 counters on a process (see reference/perf_counters.h).
//
//   auto counters = PerfCounters::attach(pid);  counters->start();  counters->read();
#include "reference/perf_counters.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/perf_event.h>
#include <perfmon/pfmlib_perf_event.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <mutex>
#include <optional>

namespace mrelay::harness {
namespace {

struct EventSpec {
  std::string_view name;
  const char* libpfm_name;
  bool is_tracepoint;
};

constexpr EventSpec kEvents[] = {
    {kSyscallsEvent, "perf::raw_syscalls:sys_enter", true},
    {kContextSwitchesEvent, "perf::PERF_COUNT_SW_CONTEXT_SWITCHES", false},
    {kTaskClockEvent, "perf::PERF_COUNT_SW_TASK_CLOCK", false},
    {kCyclesEvent, "perf::PERF_COUNT_HW_CPU_CYCLES", false},
    {kInstructionsEvent, "perf::PERF_COUNT_HW_INSTRUCTIONS", false},
};

// pfm_initialize() is process-global and not thread-safe; it scans the PMUs once.
int libpfm_status() {
  static std::once_flag once;
  static int status = PFM_SUCCESS;
  std::call_once(once, [] { status = pfm_initialize(); });
  return status;
}

long perf_event_open(perf_event_attr* attr, pid_t tid) {
  return syscall(SYS_perf_event_open, attr, tid, -1 /* any CPU */, -1 /* no group */,
                 PERF_FLAG_FD_CLOEXEC);
}

std::optional<uint64_t> read_id_file(const std::string& path) {
  std::ifstream in(path);
  uint64_t id = 0;
  if (in >> id) {
    return id;
  }
  return std::nullopt;
}

// Reads the id through a tracefs mounted privately in a child process. The child only makes
// raw system calls (no allocation), so forking from a multithreaded caller is safe.
std::optional<uint64_t> read_id_via_private_mount(const std::string& relative_path) {
  constexpr const char* kMountPoint = "/sys/kernel/tracing";
  const std::string path = std::string(kMountPoint) + "/" + relative_path;
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) {
    return std::nullopt;
  }
  const pid_t child = fork();
  if (child < 0) {
    close(pipe_fds[0]);
    close(pipe_fds[1]);
    return std::nullopt;
  }
  if (child == 0) {
    close(pipe_fds[0]);
    // A private copy of the mount table; MS_PRIVATE stops the mount propagating back.
    if (unshare(CLONE_NEWNS) != 0 ||
        mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 ||
        mount("tracefs", kMountPoint, "tracefs", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) != 0) {
      _exit(1);
    }
    const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      _exit(2);
    }
    char text[32];
    const ssize_t n = ::read(fd, text, sizeof text);
    if (n <= 0 || write(pipe_fds[1], text, static_cast<size_t>(n)) != n) {
      _exit(3);
    }
    _exit(0);
  }
  close(pipe_fds[1]);
  char text[32] = {};
  size_t length = 0;
  while (length < sizeof text) {
    const ssize_t n = ::read(pipe_fds[0], text + length, sizeof text - length);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      break;
    }
    length += static_cast<size_t>(n);
  }
  close(pipe_fds[0]);
  int status = 0;
  while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  uint64_t id = 0;
  const auto [end, error] = std::from_chars(text, text + length, id);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || error != std::errc() || end == text) {
    return std::nullopt;
  }
  return id;
}

std::vector<pid_t> list_threads(pid_t pid) {
  std::vector<pid_t> tids;
  const std::string dir_path = "/proc/" + std::to_string(pid) + "/task";
  DIR* dir = opendir(dir_path.c_str());
  if (dir == nullptr) {
    return tids;
  }
  while (const dirent* entry = readdir(dir)) {
    pid_t tid = 0;
    const char* name = entry->d_name;
    const auto [end, error] = std::from_chars(name, name + std::strlen(name), tid);
    if (error == std::errc() && *end == '\0') {
      tids.push_back(tid);
    }
  }
  closedir(dir);
  return tids;
}

// Builds the attr for one event: libpfm4 first, tracefs id for tracepoints it cannot see.
bool encode(const EventSpec& spec, perf_event_attr& attr, PerfReading& info) {
  std::memset(&attr, 0, sizeof attr);
  std::string libpfm_error;
  if (const int status = libpfm_status(); status != PFM_SUCCESS) {
    libpfm_error = std::string("pfm_initialize: ") + pfm_strerror(status);
  } else {
    pfm_perf_encode_arg_t arg;
    std::memset(&arg, 0, sizeof arg);
    arg.attr = &attr;
    arg.size = sizeof arg;
    const int rc =
        pfm_get_os_event_encoding(spec.libpfm_name, PFM_PLM0 | PFM_PLM3, PFM_OS_PERF_EVENT, &arg);
    if (rc == PFM_SUCCESS) {
      info.source = "libpfm4";
      return true;
    }
    libpfm_error = std::string("libpfm4: ") + pfm_strerror(rc);
  }
  if (spec.is_tracepoint) {
    auto id = tracepoint_id(spec.name);
    if (id) {
      std::memset(&attr, 0, sizeof attr);
      attr.type = PERF_TYPE_TRACEPOINT;
      attr.config = *id;
      info.source = "tracefs-id";
      return true;
    }
    info.unsupported_reason = libpfm_error + "; " + id.error().to_string();
    return false;
  }
  info.unsupported_reason = libpfm_error;
  return false;
}

}  // namespace

Result<uint64_t> tracepoint_id(std::string_view tracepoint) {
  const size_t colon = tracepoint.find(':');
  if (colon == std::string_view::npos) {
    return fail(std::string(tracepoint), "expected category:event");
  }
  const std::string relative = "events/" + std::string(tracepoint.substr(0, colon)) + "/" +
                               std::string(tracepoint.substr(colon + 1)) + "/id";
  for (const char* root : {"/sys/kernel/tracing/", "/sys/kernel/debug/tracing/"}) {
    if (auto id = read_id_file(root + relative)) {
      return *id;
    }
  }
  if (auto id = read_id_via_private_mount(relative)) {
    return *id;
  }
  return fail(std::string(tracepoint),
              "no tracefs id: /sys/kernel/tracing and /sys/kernel/debug/tracing are not mounted "
              "and a private tracefs mount failed (needs CAP_SYS_ADMIN)");
}

Result<PerfCounters> PerfCounters::attach(pid_t pid) {
  const std::vector<pid_t> tids = list_threads(pid);
  if (tids.empty()) {
    return fail("--pid", "no process " + std::to_string(pid) + " (/proc/" + std::to_string(pid) +
                             "/task unreadable)");
  }
  PerfCounters counters;
  counters.pid_ = pid;
  for (const EventSpec& spec : kEvents) {
    Event event;
    event.info.name = std::string(spec.name);
    perf_event_attr attr{};
    if (!encode(spec, attr, event.info)) {
      counters.events_.push_back(std::move(event));
      continue;
    }
    attr.size = sizeof attr;
    attr.disabled = 1;
    attr.inherit = 1;
    attr.exclude_kernel = 0;  // tracepoints fire in the kernel
    attr.exclude_hv = 1;
    attr.read_format = PERF_FORMAT_TOTAL_TIME_ENABLED | PERF_FORMAT_TOTAL_TIME_RUNNING;
    int first_error = 0;
    for (pid_t tid : tids) {
      const long fd = perf_event_open(&attr, tid);
      if (fd >= 0) {
        event.fds.push_back(static_cast<int>(fd));
      } else if (errno != ESRCH && first_error == 0) {  // ESRCH: the thread just exited
        first_error = errno;
      }
    }
    if (event.fds.empty()) {
      if (first_error == EACCES || first_error == EPERM) {
        counters.events_.push_back(std::move(event));
        return fail(
            "perf_event_open(" + std::string(spec.name) + ", pid " + std::to_string(pid) + ")",
            "not permitted (root, CAP_PERFMON or kernel.perf_event_paranoid <= 1 needed)",
            first_error);
      }
      event.info.unsupported_reason =
          "perf_event_open: " + std::string(std::strerror(first_error != 0 ? first_error : ESRCH));
    } else {
      event.info.supported = true;
      event.info.threads = event.fds.size();
      counters.threads_ = std::max(counters.threads_, event.fds.size());
    }
    counters.events_.push_back(std::move(event));
  }
  return counters;
}

PerfCounters::PerfCounters(PerfCounters&& other) noexcept
    : pid_(other.pid_), threads_(other.threads_), events_(std::move(other.events_)) {
  other.events_.clear();
}

PerfCounters& PerfCounters::operator=(PerfCounters&& other) noexcept {
  if (this != &other) {
    close_all();
    pid_ = other.pid_;
    threads_ = other.threads_;
    events_ = std::move(other.events_);
    other.events_.clear();
  }
  return *this;
}

PerfCounters::~PerfCounters() {
  close_all();
}

void PerfCounters::close_all() noexcept {
  for (Event& event : events_) {
    for (int fd : event.fds) {
      close(fd);
    }
    event.fds.clear();
  }
}

Result<void> PerfCounters::start() {
  for (const Event& event : events_) {
    for (int fd : event.fds) {
      if (ioctl(fd, PERF_EVENT_IOC_RESET, 0) != 0 || ioctl(fd, PERF_EVENT_IOC_ENABLE, 0) != 0) {
        return fail_errno("ioctl(PERF_EVENT_IOC_ENABLE, " + event.info.name + ")");
      }
    }
  }
  return {};
}

Result<void> PerfCounters::stop() {
  for (const Event& event : events_) {
    for (int fd : event.fds) {
      if (ioctl(fd, PERF_EVENT_IOC_DISABLE, 0) != 0) {
        return fail_errno("ioctl(PERF_EVENT_IOC_DISABLE, " + event.info.name + ")");
      }
    }
  }
  return {};
}

std::vector<PerfReading> PerfCounters::read() const {
  std::vector<PerfReading> readings;
  readings.reserve(events_.size());
  for (const Event& event : events_) {
    PerfReading reading = event.info;
    for (int fd : event.fds) {
      uint64_t values[3] = {};  // value, time_enabled, time_running (our read_format)
      if (::read(fd, values, sizeof values) != static_cast<ssize_t>(sizeof values)) {
        continue;
      }
      reading.raw_value += values[0];
      // Multiplexed counters ran only part of the time: extrapolate to the enabled time.
      uint64_t scaled = values[0];
      if (values[2] != 0 && values[2] < values[1]) {
        scaled =
            static_cast<uint64_t>(static_cast<double>(values[0]) * static_cast<double>(values[1]) /
                                  static_cast<double>(values[2]));
      }
      reading.value += scaled;
      reading.time_enabled_ns = std::max(reading.time_enabled_ns, values[1]);
      reading.time_running_ns = std::max(reading.time_running_ns, values[2]);
    }
    readings.push_back(std::move(reading));
  }
  return readings;
}

}  // namespace mrelay::harness
