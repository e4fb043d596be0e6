// The latency histogram of the sink (traffic/histogram.h) under the name code outside
// harness/ includes it by (bench/).
#pragma once

#include "traffic/histogram.h"
