// What a worker takes at a live rule change: a new plan plus every socket it lacks, prepared
// by the control thread (control/plan_update.h: prepare_worker_update) so the worker only
// moves things between lists at a loop-turn boundary (Worker::apply_update), without opening
// or allocating anything itself (except its egress backend, rebuilt over the new sockets).
//
//   auto update = mrelay::prepare_worker_update(current, next, w);   // control thread
//   worker.post_update(update->get());                                // the worker switches
//   wait until worker.applied_generation() >= next->generation; then free the update (it
//   holds the retired sockets, closed there, on the control thread)
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "common/unique_fd.h"
#include "dataplane/ingress/ingress.h"
#include "dataplane/plan.h"

namespace mrelay {

struct WorkerUpdate {
  uint64_t generation = 0;       // plan->generation
  uint64_t base_generation = 0;  // the plan this update was built on (its socket indices)
  std::shared_ptr<const RelayPlan> plan;
  // Per entry of the worker's new ingress list: >= 0 = index into its current list (reused),
  // -1 - k = opened_ingress[k].
  std::vector<int32_t> ingress_source;
  std::vector<std::unique_ptr<Ingress>> opened_ingress;
  // Per output of the new plan: >= 0 = index of the worker's current output socket (reused),
  // -1 - k = opened_outputs[k].
  std::vector<int32_t> output_source;
  std::vector<UniqueFd> opened_outputs;
  // Reserved here so the worker only moves elements; after the switch these hold the old
  // lists (what was not reused), closed when the control thread frees the update.
  std::vector<std::unique_ptr<Ingress>> next_ingress;
  std::vector<UniqueFd> next_outputs;
  std::vector<int> next_output_fds;
};

}  // namespace mrelay
