#!/usr/bin/env python3
"""The daemon under a stand-in for systemd: $NOTIFY_SOCKET is a datagram socket this test
bound, $JOURNAL_STREAM names the file stderr goes to. Checks READY=1 after the workers run,
RELOADING=1 + MONOTONIC_USEC then READY=1 around a SIGHUP (applied, then rejected), STOPPING=1
at SIGTERM, and "<N>" priorities on every stderr line; then the same run without
$JOURNAL_STREAM has plain lines. The relay forwards on loopback only (udp ingress, lo).

    python3 dist/tests/notify_test.py BIN_DIR          # ctest dist.daemon_notify
"""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile

SKIP = 77
RULE = {"name": "a", "input": {"interface": "lo", "group": "239.1.1.1", "port": 5000},
        "outputs": [{"interface": "lo", "group": "239.2.2.2", "port": 6000}]}


def write_config(path, rules):
    with open(path, "w", encoding="utf-8") as out:
        json.dump({"ingress": "udp", "rules": rules}, out)


def run_relay(binary, work, journal):
    """Runs one relay through start, a good and a bad reload, and stop; returns
    (datagrams, stderr text, exit code), or None when the relay cannot start here."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify_path = os.path.join(work, "notify")
    listener.bind(notify_path)
    listener.settimeout(20)
    config = os.path.join(work, "relay.json")
    write_config(config, [RULE])
    err_path = os.path.join(work, "stderr")
    with open(err_path, "w+", encoding="utf-8") as err:
        env = dict(os.environ, NOTIFY_SOCKET=notify_path)
        env.pop("JOURNAL_STREAM", None)
        if journal:
            status = os.fstat(err.fileno())
            env["JOURNAL_STREAM"] = f"{status.st_dev}:{status.st_ino}"
        relay = subprocess.Popen([binary, "--config", config], env=env, stderr=err,
                                 stdout=subprocess.DEVNULL)
        messages = []
        try:
            messages.append(listener.recv(512).decode())
            relay.send_signal(signal.SIGHUP)  # the same file: applied ("rules unchanged")
            messages += [listener.recv(512).decode(), listener.recv(512).decode()]
            with open(config, "w", encoding="utf-8") as out:
                out.write("{ not json")
            relay.send_signal(signal.SIGHUP)  # rejected: still RELOADING then READY
            messages += [listener.recv(512).decode(), listener.recv(512).decode()]
            relay.send_signal(signal.SIGTERM)
            messages.append(listener.recv(512).decode())
        except socket.timeout:
            relay.kill()
            relay.wait()
            err.seek(0)
            return None if not messages else (messages, err.read(), relay.returncode)
        finally:
            listener.close()
        code = relay.wait(timeout=20)
        err.seek(0)
        return messages, err.read(), code


def check(failures, what, ok, detail=""):
    print(("ok: " if ok else "FAIL: ") + what + ("" if ok else f"\n    {detail}"))
    if not ok:
        failures.append(what)


def main():
    binary = os.path.join(sys.argv[1], "mrelay")
    failures = []
    with tempfile.TemporaryDirectory(prefix="mrelay-notify-") as work:
        result = run_relay(binary, work, journal=True)
        if result is None:
            print("SKIP [dist.daemon_notify]: the relay did not start on lo (no multicast join "
                  "on loopback here?)")
            return SKIP
        messages, stderr, code = result
        check(failures, "READY=1 once the workers run", messages[0].startswith("READY=1\n"),
              messages)
        check(failures, "SIGHUP: RELOADING=1 with MONOTONIC_USEC",
              re.fullmatch(r"RELOADING=1\nMONOTONIC_USEC=\d+\n", messages[1]) is not None,
              messages)
        check(failures, "reload applied: READY=1 again", messages[2].startswith("READY=1\n"),
              messages)
        check(failures, "reload rejected: RELOADING=1 then READY=1 (rules unchanged)",
              messages[3].startswith("RELOADING=1\n") and messages[4].startswith("READY=1\n")
              and "rejected" in messages[4], messages)
        check(failures, "SIGTERM: STOPPING=1", messages[5].startswith("STOPPING=1\n"), messages)
        check(failures, "exit 0 after the drain", code == 0, code)
        lines = [line for line in stderr.splitlines() if line]
        check(failures, "journal: every stderr line has a priority",
              lines and all(re.match(r"<[3467]>mrelay", line) for line in lines), stderr)
        check(failures, "journal: info <6> and the rejected reload's warning <4>",
              any(line.startswith("<6>") for line in lines)
              and any(line.startswith("<4>") and "SIGHUP" in line for line in lines), stderr)
    with tempfile.TemporaryDirectory(prefix="mrelay-notify-") as work:
        result = run_relay(binary, work, journal=False)
        check(failures, "second run started", result is not None)
        if result is not None:
            lines = [line for line in result[1].splitlines() if line]
            check(failures, "no journal: plain lines",
                  lines and all(line.startswith("mrelay") for line in lines), result[1])
    print(f"notify_test: {len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
