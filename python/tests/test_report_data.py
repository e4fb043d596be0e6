"""Shared data (no tests): synthetic mrelay-bench results documents for the report, sizing
and reproduce tests.

Samples carry the fields harness/src/rig/metrics.cc writes that those modules read; the
numbers are chosen so the expected figures can be computed by hand in the tests.
"""

MACHINE = {"cpu_model": "Test CPU @ 2.0GHz", "cores_online": 2, "arch": "x86_64",
           "kernel": "6.18.0-test", "virtualization": "kvm", "memory_kib": 4 * 1024 * 1024,
           "pmu_present": False}


def sample(forwarder="mrelay", size=512, batch=32, fanout=1, rate=0, egress="uring",
           queue_depth=1024, sndbuf=4194304, rep=1, status="ok", **figures):
    """One cell record; figures override the defaults (delivered_pps etc.)."""
    params = {"forwarder": forwarder, "size": size, "batch": batch, "generator_batch": batch,
              "fanout": fanout, "streams": 1, "rate_pps": rate, "warmup_s": 0.5,
              "window_s": 2.0, "egress_qdisc": ""}
    if forwarder == "mrelay":
        params.update(ingress="packet", egress=egress, queue_depth=queue_depth, sndbuf=sndbuf)
    else:
        params.update(ingress=None, egress=None, queue_depth=None, sndbuf=None)
    cell_id = "/".join(f"{k}={params[k]}" for k in sorted(params))
    record = {"cell_id": cell_id, "label": cell_id, "rep": rep, "status": status,
              "params": params, "outputs": fanout, "sample_window_s": 2.0,
              "delivered_pps": 100000.0, "offered_pps": 100000.0, "loss_pct": 0.0,
              "latency_ns": {"p50": 20000, "p99": 50000}, "syscalls_per_pkt": 0.05,
              "buffer_exhaustion_pct": 0.0, "relay_cpu_pct": 50.0}
    record.update(figures)
    return record


def document(samples, name="test"):
    return {"format": "mrelay-bench-results/1", "created": "2026-11-22T05:00:00Z",
            "git_commit": "abc123", "machine": dict(MACHINE), "placement": {},
            "spec": {"name": name}, "samples": list(samples)}
