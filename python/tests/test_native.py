"""The native module _mrelay through the package (histogram, payload, frame parser, config).
Skipped when the module is not built.

    cd python && MRELAY_BUILD_DIR=../build /usr/bin/python3 -m pytest -q tests/test_native.py
"""

import socket
import struct
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import mrelay  # noqa: E402

pytestmark = pytest.mark.skipif(
    not mrelay.native_available(),
    reason=f"native module _mrelay not built (looked in {mrelay.build_dir() / 'python'}; "
           f"set MRELAY_BUILD_DIR)")


def native():
    return mrelay.native()


# --- histogram ----------------------------------------------------------------------------


def test_histogram_percentiles_within_one_percent():
    h = native().Histogram()
    values = [1000 + 37 * i for i in range(10_000)]  # 1 us .. ~371 us
    h.record_many(values)
    assert h.count == len(values) and len(h) == len(values)
    assert h.min == values[0] and h.max == values[-1]
    assert h.mean == pytest.approx(sum(values) / len(values))
    ordered = sorted(values)
    for p in (50.0, 90.0, 99.0, 99.9):
        exact = ordered[int(len(ordered) * p / 100) - 1]
        assert h.percentile(p) == pytest.approx(exact, rel=0.01)


def test_histogram_merge_reset_and_clamping():
    a, b = native().Histogram(), native().Histogram(1_000_000)
    a.record(100)
    b.record(200)
    b.record(5_000_000)  # above b's range: clamped, counted
    assert b.clamped_count == 1 and b.max == 5_000_000
    a.merge(b)
    assert a.count == 3 and a.min == 100
    a.reset()
    assert a.count == 0 and a.percentile(50.0) == 0
    assert "Histogram" in repr(b)


# --- payload ------------------------------------------------------------------------------


def test_payload_round_trip_and_corruption():
    n = native()
    payload = n.stamp_payload(128, stream=3, sequence=42, send_time_ns=123_456, flags=0)
    assert len(payload) == 128
    assert struct.unpack_from("<I", payload)[0] == n.PAYLOAD_MAGIC
    check = n.check_payload(payload)
    assert check == {"status": "ok", "stream": 3, "flags": 0, "sequence": 42,
                     "send_time_ns": 123_456}
    for index in (0, 20, 100):  # magic, time, filler
        corrupted = bytearray(payload)
        corrupted[index] ^= 0x40
        assert n.check_payload(corrupted)["status"] != "ok"
    restamped = n.restamp_time(payload, 999)
    assert n.check_payload(restamped)["send_time_ns"] == 999
    assert n.check_payload(memoryview(payload)[:16])["status"] == "too_short"
    with pytest.raises(ValueError, match="size"):
        n.stamp_payload(8)


def test_warmup_flag_is_carried():
    n = native()
    payload = n.stamp_payload(64, flags=n.PAYLOAD_FLAG_WARMUP)
    assert n.check_payload(payload)["flags"] == n.PAYLOAD_FLAG_WARMUP


# --- frame parser -------------------------------------------------------------------------


def ipv4_checksum(header: bytes) -> int:
    total = sum(struct.unpack(f"!{len(header) // 2}H", header))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def frame(payload=b"hello", *, ttl=4, vlan=None, fragment=0, protocol=17, bad_checksum=False):
    udp = struct.pack("!HHHH", 4000, 5000, 8 + len(payload), 0) + payload
    header = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, fragment, ttl,
                                   protocol, 0, bytes([10, 0, 0, 1]), bytes([239, 1, 1, 1])))
    struct.pack_into("!H", header, 10, ipv4_checksum(bytes(header)) ^ (1 if bad_checksum else 0))
    ethernet = b"\x01\x00\x5e\x01\x01\x01" + b"\x02\x00\x00\x00\x00\x01"
    if vlan is not None:
        ethernet += struct.pack("!HH", 0x8100, vlan)
    return ethernet + b"\x08\x00" + bytes(header) + udp


def test_parse_frame_ok_fields():
    parsed = native().parse_frame(frame(b"payload!", vlan=7))
    assert parsed["verdict"] == "ok" and not parsed["malformed"]
    assert parsed["src_addr"] == "10.0.0.1" and parsed["dst_addr"] == "239.1.1.1"
    assert (parsed["src_port"], parsed["dst_port"]) == (4000, 5000)
    assert parsed["vlan_id"] == 7 and parsed["ttl"] == 4
    assert parsed["payload"] == b"payload!"


@pytest.mark.parametrize("data, verdict, malformed", [
    (frame()[:20], "truncated", True),
    (frame(bad_checksum=True), "bad_checksum", True),
    (frame(fragment=0x2000), "fragment", True),
    (frame(protocol=6), "not_udp", False),
    (frame()[:12] + b"\x88\xb5" + frame()[14:], "not_ipv4", False),
    # IPv4 bytes under the IPv6 EtherType: the version field says 4.
    (frame(b"x" * 40)[:12] + b"\x86\xdd" + frame(b"x" * 40)[14:], "bad_ip_header", True),
])
def test_parse_frame_verdicts(data, verdict, malformed):
    parsed = native().parse_frame(data)
    assert parsed["verdict"] == verdict
    assert parsed["malformed"] is malformed
    assert "payload" not in parsed


def frame6(payload=b"hello", *, hops=9, fragment=False, zero_checksum=False):
    src = socket.inet_pton(socket.AF_INET6, "2001:db8::1")
    dst = socket.inet_pton(socket.AF_INET6, "ff3e::1")
    udp = bytearray(struct.pack("!HHHH", 4000, 5000, 8 + len(payload), 0) + payload)
    padded = bytes(udp) + (b"\0" if len(udp) % 2 else b"")
    total = sum(struct.unpack(f"!{len(src + dst) // 2}H", src + dst)) + len(udp) + 17
    total += sum(struct.unpack(f"!{len(padded) // 2}H", padded))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    struct.pack_into("!H", udp, 6, 0 if zero_checksum else (~total & 0xFFFF) or 0xFFFF)
    extension = bytes([17, 0, 0, 0, 0, 0, 0, 1]) if fragment else b""
    header = struct.pack("!IHBB", 0x60000000, len(extension) + len(udp), 44 if fragment else 17,
                         hops) + src + dst
    ethernet = b"\x33\x33\x00\x00\x00\x01" + b"\x02\x00\x00\x00\x00\x01" + b"\x86\xdd"
    return ethernet + header + extension + bytes(udp)


def test_parse_frame_ipv6():
    parsed = native().parse_frame(frame6(b"payload!"))
    assert parsed["verdict"] == "ok" and parsed["ipv6"]
    assert parsed["src_addr"] == "2001:db8::1" and parsed["dst_addr"] == "ff3e::1"
    assert parsed["ttl"] == 9 and parsed["payload"] == b"payload!"
    assert native().parse_frame(frame6(fragment=True))["verdict"] == "fragment"
    assert native().parse_frame(frame6(zero_checksum=True))["verdict"] == "bad_udp_checksum"
    assert not native().parse_frame(frame())["ipv6"]


def test_parse_ipv4_from_l3():
    assert native().parse_ipv4(frame()[14:])["verdict"] == "ok"


# --- config validation --------------------------------------------------------------------

GOOD = """{
  "egress": {"backend": "sendmmsg", "batch": 16},
  "rules": [{"name": "cam1",
             "input": {"interface": "rin0", "group": "239.1.1.1", "port": 5000},
             "outputs": [{"interface": "rout0", "group": "239.2.2.2", "port": 6000}]}]
}"""


def test_config_view_shows_every_source_and_ipv6_addresses():
    config = native().parse_config_json("""{"rules": [
      {"name": "ssm", "input": {"interface": "rin0", "group": "232.1.1.1", "port": 5000,
                                "source": ["10.0.0.1", "10.0.0.2"]},
       "outputs": [{"interface": "rout0", "group": "239.2.2.2", "port": 6000}]},
      {"name": "one", "input": {"interface": "rin1", "group": "232.1.1.2", "port": 5000,
                                "source": "10.0.0.3"},
       "outputs": [{"interface": "rout1", "group": "239.2.2.3", "port": 6000}]},
      {"name": "v6", "input": {"interface": "rin2", "group": "ff3e::8000:1", "port": 5000},
       "outputs": [{"interface": "rout2", "group": "ff3e::8000:2", "port": 6000}]},
      {"name": "v6ssm", "input": {"interface": "rin3", "group": "ff3e::8000:3", "port": 5000,
                                  "source": ["2001:db8::1", "2001:db8::2"]},
       "outputs": [{"interface": "rout3", "group": "ff3e::8000:4", "port": 6000}]}]}""")
    ssm, one, v6, v6ssm = config["rules"]
    assert v6ssm["input"]["source"] == ["2001:db8::1", "2001:db8::2"]
    assert v6["input"]["source"] is None
    assert ssm["input"]["source"] == ["10.0.0.1", "10.0.0.2"]
    assert one["input"]["source"] == "10.0.0.3"
    assert v6["input"]["group"] == "ff3e::8000:1"
    assert v6["outputs"][0]["group"] == "ff3e::8000:2"


def test_config_ok_returns_a_dict():
    config = native().parse_config_json(GOOD)
    assert config["egress"]["backend"] == "sendmmsg" and config["egress"]["batch"] == 16
    rule = config["rules"][0]
    assert rule["name"] == "cam1" and rule["input"]["group"] == "239.1.1.1"
    assert rule["input"]["source"] is None
    assert rule["outputs"][0] == {"interface": "rout0", "group": "239.2.2.2", "port": 6000,
                                  "ttl": None, "ttl_threshold": 1}
    assert rule["allow_link_local"] is False


@pytest.mark.parametrize("change, field", [
    (("6000", "0"), "rules[0].outputs[0].port"),
    (('"batch": 16', '"batch": 0'), "egress.batch"),
    (('"239.1.1.1"', '"10.1.1.1"'), "rules[0].input.group"),
    (('"backend"', '"backnd"'), "egress"),
])
def test_config_errors_name_the_field(change, field):
    with pytest.raises(ValueError) as error:
        native().parse_config_json(GOOD.replace(*change))
    assert str(error.value).startswith(field), str(error.value)


def test_config_interface_lookup_is_optional():
    with pytest.raises(ValueError, match="interface"):
        native().parse_config_json(GOOD.replace("rout0", "mrl-no-such-if0"),
                                   check_interfaces=True)


def test_package_reexports_native_names():
    assert mrelay.Histogram is native().Histogram
    assert mrelay.parse_config_json is native().parse_config_json
