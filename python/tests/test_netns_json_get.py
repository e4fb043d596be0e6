"""netns/json_get.py, the query reader behind lib.sh's json_get: every query form the netns
tests ask is answered as before, and a query that would run code is refused without running.

    cd python && /usr/bin/python3 -m pytest -q tests/test_netns_json_get.py
"""

import ast
import importlib.util
import json
import re
import subprocess
from pathlib import Path

import pytest

NETNS = Path(__file__).resolve().parents[2] / "netns"
_spec = importlib.util.spec_from_file_location("json_get", NETNS / "json_get.py")
json_get = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(json_get)

TOPOLOGY = {"relays": [{"ns": "mrl-x-relay0", "egress": ["rout0", "rout1"],
                        "feeds": [{"egress": "rout0", "address": "10.80.0.1", "peer": "10.80.0.2",
                                   "to": "sink"}]}],
            "sinks": [{"ns": "mrl-x-sink0", "interfaces": ["snk0", "snk1"]}],
            "sources": [{"ns": "mrl-x-src0", "address": "10.77.0.1"}],
            "settings": {"egress_qdisc": "", "rps_cpus": "2", "rp_filter_relay_ingress": "0"}}
SINK = {"received": 5990, "warmup_received": 10, "streams": [{"received": 3000, "lost": 1},
                                                            {"received": 2990, "lost": 0}]}
KFWD = {"mfc": [{"source": "10.77.0.1", "group": "239.1.1.1", "packets": 6000, "wrong_if": 0}],
        "vifs": [{"out_packets": 0}, {"out_packets": 6000}, {"out_packets": 6000}],
        "method": "nft", "ok": True}
STATS = "\n".join(json.dumps(line) for line in (
    {"event": "stats", "total": {"gso_frames": 1}},
    {"event": "final", "total": {"gso_frames": 7, "gso_segments": 21}},
    {"event": "stats", "total": {"gso_frames": 9}}))

# (JSON text, query, what json_get prints): the forms netns/tests/*.sh use.
ANSWERS = [
    (TOPOLOGY, 'j["relays"][0]["ns"]', "mrl-x-relay0"),
    (TOPOLOGY, "j['relays'][0]['feeds'][0]['to']", "sink"),
    (TOPOLOGY, '" ".join(j["relays"][0]["egress"])', "rout0 rout1"),
    (TOPOLOGY, '[f for f in j["relays"][0]["feeds"] if f["egress"] == "rout0"][0]["peer"]',
     "10.80.0.2"),
    (TOPOLOGY, 'j["settings"]["egress_qdisc"] + "|" + j["settings"]["rps_cpus"]', "|2"),
    (SINK, 'j["received"] + j["warmup_received"]', "6000"),
    (SINK, 'sum(s["lost"] for s in j["streams"])', "1"),
    (SINK, 'len(j["streams"])', "2"),
    (KFWD, 'sorted({v["out_packets"] for v in j["vifs"][1:]})', "[6000]"),
    (KFWD, 'j["mfc"][0]["source"] + " " + j["mfc"][0]["group"]', "10.77.0.1 239.1.1.1"),
    (KFWD, '[m["packets"] for m in j["mfc"]]', "[6000]"),
    (KFWD, 'j["ok"]', "1"),
    (KFWD, 'j["mfc"]', json.dumps(KFWD["mfc"])),
    (STATS, '[l for l in lines if l.get("event") == "final"][-1]["total"]["gso_segments"]', "21"),
    (STATS, 'j["total"]["gso_frames"]', "9"),
]


@pytest.mark.parametrize("data,query,expected", ANSWERS, ids=[q for _, q, _ in ANSWERS])
def test_answers_the_queries_the_tests_ask(data, query, expected):
    text = data if isinstance(data, str) else json.dumps(data)
    assert json_get.answer(text, query) == expected


# Queries that would reach code: each must be refused, naming what is not allowed.
REFUSED = [
    "__import__('os').system('true')",
    "open('/etc/passwd').read()",
    "j.__class__.__mro__[1].__subclasses__()",
    "(lambda: 1)()",
    "[x for x in ().__class__.__base__.__subclasses__()]",
    "eval('1')",
    "j.get.__globals__",
    "sorted(j, key=len)",
    "x := 1",
]


@pytest.mark.parametrize("query", REFUSED)
def test_refuses_what_is_not_data(query, tmp_path):
    with pytest.raises(json_get.QueryError):
        json_get.answer(json.dumps(SINK), query)
    marker = tmp_path / "ran"
    path = tmp_path / "j.json"
    path.write_text(json.dumps(SINK))
    done = subprocess.run(["/usr/bin/python3", str(NETNS / "json_get.py"), str(path),
                           f"__import__('os').system('touch {marker}')"],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 1 and "not allowed" in done.stderr and not marker.exists()


def test_every_query_in_the_netns_tests_is_one_json_get_reads():
    allowed = set(json_get.HANDLERS) | {ast.Load, ast.Store, ast.comprehension, ast.Add, ast.Sub,
                                        ast.Mult, ast.Div, ast.Eq, ast.NotEq, ast.Lt, ast.Gt,
                                        ast.LtE, ast.GtE, ast.In, ast.NotIn, ast.And, ast.Or,
                                        ast.Not, ast.USub, ast.Attribute, ast.FloorDiv, ast.Mod}
    queries = []
    for script in sorted((NETNS / "tests").glob("*.sh")) + [NETNS / "soak_rss.sh"]:
        for match in re.finditer(r"(?:json_get \S+|topo_get) '([^']+)'", script.read_text()):
            queries.append(match.group(1))
    assert len(queries) > 40
    for query in queries:
        nodes = {type(node) for node in ast.walk(ast.parse(query, mode="eval"))}
        assert nodes <= allowed, (query, nodes - allowed)
