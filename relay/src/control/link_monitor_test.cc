// LinkMonitor in a private network namespace: quiet until a link is added, then reports it,
// and reports its removal.
#include "control/link_monitor.h"

#include <gtest/gtest.h>
#include <poll.h>

#include <cstdlib>

#include "testing/test_netns.h"

namespace mrelay {
namespace {

// True once the monitor reports a change within 2 s (the event is queued by the time `ip`
// returns; the wait only absorbs scheduling).
bool reports_change(LinkMonitor& links) {
  pollfd entry{links.fd(), POLLIN, 0};
  return ::poll(&entry, 1, 2000) > 0 && links.drain();
}

std::string run_link_events() {
  LinkMonitor links;
  if (auto ok = links.open(); !ok) {
    return "open: " + ok.error().to_string();
  }
  if (links.drain()) {
    return "a change reported before any";
  }
  if (std::system("ip link add mrlt0 type veth peer name mrlt1 >/dev/null 2>&1") != 0) {
    return "SKIP: ip link add ... type veth failed";
  }
  if (!reports_change(links)) {
    return "no change reported for a new link";
  }
  if (std::system("ip link del mrlt0 >/dev/null 2>&1") != 0) {
    return "ip link del failed";
  }
  if (!reports_change(links)) {
    return "no change reported for a removed link";
  }
  return "";
}

TEST(LinkMonitor, ReportsLinksAddedAndRemoved) {
  MRELAY_EXPECT_IN_PRIVATE_NETNS(run_link_events);
}

}  // namespace
}  // namespace mrelay
