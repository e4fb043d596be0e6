// Test helper: a Worker's loop on its own thread, stopped and joined when the test is done
// (or when the helper goes out of scope). Header-only and test-only.
//
//   mrelay::Worker worker(0, -1, plan);
//   ASSERT_TRUE(worker.open());
//   mrelay::testing::WorkerThread loop(worker);    // worker.run() until stopped
//   ... send, wait on counters ...
//   const std::string error = loop.stop();         // "" or "run: <why the loop failed>"
#pragma once

#include <atomic>
#include <string>
#include <thread>

#include "dataplane/worker.h"

namespace mrelay::testing {

class WorkerThread {
 public:
  explicit WorkerThread(Worker& worker)
      : thread_([this, &worker] {
          if (auto ok = worker.run(stop_); !ok) {
            error_ = ok.error().to_string();
          }
        }) {}
  WorkerThread(const WorkerThread&) = delete;
  WorkerThread& operator=(const WorkerThread&) = delete;
  ~WorkerThread() { (void)stop(); }

  /// Stops the loop (it drains its egress first) and joins; "" or "run: <error>".
  std::string stop() {
    if (thread_.joinable()) {
      stop_ = true;
      thread_.join();
    }
    return error_.empty() ? std::string() : "run: " + error_;
  }

 private:
  std::atomic<bool> stop_{false};
  std::string error_;
  std::thread thread_;  // last: starts once the members above exist
};

}  // namespace mrelay::testing
