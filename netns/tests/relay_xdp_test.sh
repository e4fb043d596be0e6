#!/usr/bin/env bash
# The AF_XDP ingress (mrelay --ingress xdp) end to end:
#
#   hop        src -> relay -> sink at a paced 10k pps, gso egress: every datagram delivered
#              with its payload intact (the sink checks checksums and sequence), the relay's
#              counters agree, and the start-up line says the AF_XDP reader was used.
#   kernel     while the program is attached (ip -d link show: prog/xdp), traffic that is not
#              multicast UDP still reaches the relay host's kernel: the neighbour cache is
#              flushed first, so ARP (broadcast) must be answered before a TCP exchange with
#              the relay's ingress address can work.
#   generic    MRELAY_XDP_MODE=generic attaches in skb mode (xdpgeneric), same delivery.
#   user       --user nobody keeps CAP_NET_RAW, CAP_NET_ADMIN, CAP_BPF, CAP_IPC_LOCK only, and
#              relays as before.
#   drops      a stopped relay with a 64-frame UMEM: the kernel drops the rest, and
#              rx_packets + kernel_drops (XDP_STATISTICS) is exactly what the generator sent.
#   detach     after SIGTERM, and after SIGKILL (no clean-up code runs: the link dies with its
#              file descriptor), no XDP program is left on the ingress interface.
#   refusals   an interface with 2 receive queues and one with MTU 9000 are refused at start
#              with errors naming the interface, and leave nothing attached; without the
#              privileges AF_XDP needs (as on a kernel without it) the start fails with one
#              error naming the refused call, its errno and --ingress packet.
#   fanout 4   one input to 4 outputs, every copy intact.
#
# Skips (77) where the kernel lacks AF_XDP or XDP (`mrelay-bench probe --need af_xdp`).
#
#   sudo MRELAY_BIN_DIR=build/bin netns/tests/relay_xdp_test.sh
# shellcheck source=netns/lib.sh
source "$(dirname "$0")/../lib.sh"
mrelay_require_root
mrelay_require_programs mrelay mrelay-gen mrelay-sink
mrelay_require_capability af_xdp
mrelay_test_init xdp

readonly RATE_PPS=10000
readonly COUNT=6000
readonly WARMUP_S=0.1
readonly FANOUT=4

# xdp_attached NS IFACE: true while an XDP program is attached to the interface.
xdp_attached() {
  ip -n "$1" -d link show dev "$2" | grep -q "prog/xdp"
}

# expect_detached LABEL NS IFACE: no XDP program on the interface within 5 s of the exit (a
# link's release may run in a kernel worker just after the process is gone).
expect_detached() {
  if ! wait_until 5 bash -c "! ip -n '$2' -d link show dev '$3' | grep -q prog/xdp"; then
    ip -n "$2" -d link show dev "$3" >&2
    mrelay_fail "$1: an XDP program is still attached to $3"
  fi
  mrelay_log "$1: nothing attached to $3"
}

# tcp_exchange SERVER_NS CLIENT_NS ADDRESS: a TCP connection from CLIENT_NS to ADDRESS:7777,
# served in SERVER_NS, carries one line back and forth (bounded by timeouts).
tcp_exchange() {
  local server=$1 client=$2 address=$3
  ip netns exec "$server" timeout 5 "$MRELAY_PYTHON" -c '
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], 7777)); s.listen(1); s.settimeout(4)
c, _ = s.accept(); c.settimeout(4); c.sendall(c.recv(64).upper())' "$address" &
  local server_pid=$!
  MRELAY_PIDS+=("$server_pid")
  local reply status=0
  reply=$(ip netns exec "$client" timeout 5 "$MRELAY_PYTHON" -c '
import socket, sys, time
for attempt in range(40):
    try:
        c = socket.create_connection((sys.argv[1], 7777), timeout=2); break
    except ConnectionRefusedError:
        time.sleep(0.05)
c.sendall(b"ping"); print(c.recv(64).decode())' "$address") || status=$?
  wait_pid "$server_pid" 6 || true
  [[ $status -eq 0 && $reply == PING ]] || mrelay_fail "TCP to $address beside XDP: '$reply' (exit $status)"
}

mrelay_topology_up hop
src=$(topo_get 'j["sources"][0]["ns"]')
relay=$(topo_get 'j["relays"][0]["ns"]')
sink=$(topo_get 'j["sinks"][0]["ns"]')
relay_address=$(topo_get 'j["sources"][0]["peer"]')

# hop_start NAME [mrelay flags]: a sink on snk0, then the relay on the hop with --ingress xdp.
hop_start() {
  local name=$1
  shift
  start_sink "sink-$name" "$sink" snk0 239.2.0.1:6000 0
  HOP_SINK_PID=$SINK_PID
  start_relay "relay-$name" "$relay" rin0 239.1.1.1 --ingress xdp --egress gso \
    --in rin0:239.1.1.1:5000 --out rout0:239.2.0.1:6000 "$@"
  HOP_RELAY_PID=$RELAY_PID
}

# hop_finish NAME LABEL COUNT: COUNT packets through, then every binding check; nothing left
# attached after SIGTERM.
hop_finish() {
  local name=$1 label=$2 count=$3
  run_gen "gen-$name" "$src" gen0 239.1.1.1:5000 --rate "$RATE_PPS" --count "$count" \
    --warmup "$WARMUP_S" --size 512
  wait_sink "sink-$name" "$HOP_SINK_PID"
  stop_relay "relay-$name" "$HOP_RELAY_PID"
  check_delivery "$label" "gen-$name" "sink-$name" 1
  check_relay_counters "$label" "relay-$name" "$(json_get "$MRELAY_TMP/gen-$name.out" 'j["sent"]')" \
    1 "sink-$name"
  expect_eq "$label: stats ingress" "$(json_get "$MRELAY_TMP/relay-$name.stats" 'j["ingress"]')" xdp
  expect_detached "$label, after SIGTERM" "$relay" rin0
}

# --- hop, and the kernel's own traffic beside the program ---------------------------------
label="hop xdp/gso"
hop_start hop
grep -q "rx AF_XDP" "$MRELAY_TMP/relay-hop.err" || {
  show_logs "$MRELAY_TMP/relay-hop"
  mrelay_fail "$label: the start-up log does not name the AF_XDP reader"
}
mrelay_log "$label: $(grep -o 'rx AF_XDP[^;]*' "$MRELAY_TMP/relay-hop.err" | head -1)$(grep -o '; XDP native mode refused[^;]*' "$MRELAY_TMP/relay-hop.err" | head -1)"
xdp_attached "$relay" rin0 || mrelay_fail "$label: no prog/xdp on rin0 while the relay runs"
ip -n "$src" neigh flush dev gen0
tcp_exchange "$relay" "$src" "$relay_address"
mrelay_log "kernel: ARP and TCP to $relay_address work beside the program"
hop_finish hop "$label" "$COUNT"

# --- generic (skb) mode on request (MRELAY_XDP_MODE=generic): the same delivery ----------
label="hop xdp generic/gso"
MRELAY_XDP_MODE=generic hop_start generic
grep -q "XDP generic (skb) mode" "$MRELAY_TMP/relay-generic.err" ||
  mrelay_fail "$label: the start-up log does not say generic mode"
ip -n "$relay" -d link show dev rin0 | grep -q "xdpgeneric" ||
  mrelay_fail "$label: rin0 shows no xdpgeneric program"
hop_finish generic "$label" 2000

# --- privileges dropped (--user nobody): what AF_XDP needs is kept, the rest is gone ------
if getent passwd nobody >/dev/null; then
  label="hop xdp --user nobody"
  # The relay writes its final stats as nobody: the files of this case go to directories
  # named like the other cases' prefixes (relay-user/hop.stats), the relay's one nobody's.
  chmod 0711 "$MRELAY_TMP"
  mkdir "$MRELAY_TMP/sink-user" "$MRELAY_TMP/gen-user"
  install -d -o nobody -g "$(id -g nobody)" -m 0700 "$MRELAY_TMP/relay-user"
  hop_start user/hop --user nobody
  grep -q "kept cap_net_admin,cap_net_raw,cap_ipc_lock,cap_bpf (" "$MRELAY_TMP/relay-user/hop.err" || {
    show_logs "$MRELAY_TMP/relay-user/hop"
    mrelay_fail "$label: not the capabilities the xdp ingress needs"
  }
  hop_finish user/hop "$label" 2000
fi

# --- kernel drops: a stopped relay's 64-frame UMEM overflows; each lost frame counted once --
# The kernel drops what finds no free UMEM frame (XDP_STATISTICS rx_dropped) or a full RX
# ring (rx_ring_full), never passing it on: rx_packets + kernel_drops is exactly what was sent.
start_relay relay-drops "$relay" rin0 239.1.1.1 --ingress xdp --rcvbuf 128K \
  --stats-interval 100 --in rin0:239.1.1.1:5000 --out rout0:239.2.0.1:6000
relay_pid=$RELAY_PID
grep -q "rx AF_XDP copy mode 64 frames" "$MRELAY_TMP/relay-drops.err" ||
  mrelay_fail "kernel drops: --rcvbuf 128K did not give a 64-frame UMEM"
kill -STOP "$relay_pid"
run_gen gen-drops "$src" gen0 239.1.1.1:5000 --rate 20000 --count 1000 --warmup 0 --size 512
kill -CONT "$relay_pid"
gen_sent=$(json_get "$MRELAY_TMP/gen-drops.out" 'j["sent"]')
# Frames still in the RX ring when the relay stops are never read: let it catch up first (a
# stats line on stdout every 100 ms; the kernel's counts are read into them periodically).
drops_settled() {
  [[ $(json_get "$MRELAY_TMP/relay-drops.out" \
    "j['total']['rx_packets'] + j['total']['kernel_drops'] == $gen_sent") == 1 ]]
}
wait_until 10 drops_settled ||
  mrelay_log "kernel drops: no stats line with every frame accounted for after 10 s"
stop_relay relay-drops "$relay_pid"
rx=$(json_get "$MRELAY_TMP/relay-drops.stats" 'j["total"]["rx_packets"]')
drops=$(json_get "$MRELAY_TMP/relay-drops.stats" 'j["total"]["kernel_drops"]')
expect_eq "kernel drops: rx_packets + kernel_drops" "$((rx + drops))" "$gen_sent"
expect_ge "kernel drops: kernel_drops" "$drops" "$((gen_sent - 64))"
mrelay_log "kernel drops: sent $gen_sent, relay read $rx, kernel dropped $drops"

# --- SIGKILL: nothing runs on the way out, the kernel ends the link with its fd -----------
start_relay relay-kill "$relay" rin0 239.1.1.1 --ingress xdp \
  --in rin0:239.1.1.1:5000 --out rout0:239.2.0.1:6000
xdp_attached "$relay" rin0 || mrelay_fail "SIGKILL case: no prog/xdp on rin0 while running"
kill -KILL "$RELAY_PID"
wait_pid "$RELAY_PID" 5 || true
expect_detached "after SIGKILL" "$relay" rin0

# --- refusals: several receive queues, an MTU no UMEM frame holds -------------------------
ip -n "$relay" link add xq0 numrxqueues 2 type veth peer name xq1 numrxqueues 2
ip -n "$relay" link add xm0 mtu 9000 type veth peer name xm1 mtu 9000
ip -n "$relay" link set xq0 up
ip -n "$relay" link set xm0 up
for refusal in "xq0:receive queues" "xm0:MTU 9000"; do
  iface=${refusal%%:*}
  reason=${refusal#*:}
  status=0
  ip netns exec "$relay" timeout 10 "$MRELAY_BIN_DIR/mrelay" --ingress xdp \
    --in "$iface:239.1.1.1:5000" --out rout0:239.2.0.1:6000 \
    >"$MRELAY_TMP/refuse-$iface.out" 2>"$MRELAY_TMP/refuse-$iface.err" || status=$?
  [[ $status -ne 0 && $status -ne 124 ]] || mrelay_fail "$iface: mrelay --ingress xdp exited $status"
  grep -q "interface $iface.*$reason" "$MRELAY_TMP/refuse-$iface.err" || {
    cat "$MRELAY_TMP/refuse-$iface.err" >&2
    mrelay_fail "$iface: the error does not name the interface and '$reason'"
  }
  mrelay_log "refused $iface: $(grep -o "interface ${iface}[^:]*" "$MRELAY_TMP/refuse-$iface.err" | head -1)"
  expect_detached "refused $iface" "$relay" "$iface"
done

# --- AF_XDP refused (here: no CAP_NET_RAW, as a kernel without it refuses too): one error ---
if command -v setpriv >/dev/null && getent passwd nobody >/dev/null; then
  status=0
  ip netns exec "$relay" setpriv --reuid "$(id -u nobody)" --regid "$(id -g nobody)" \
    --clear-groups --inh-caps=-all timeout 10 "$MRELAY_BIN_DIR/mrelay" --ingress xdp \
    --in rin0:239.1.1.1:5000 --out rout0:239.2.0.1:6000 \
    >"$MRELAY_TMP/refuse-caps.out" 2>"$MRELAY_TMP/refuse-caps.err" || status=$?
  [[ $status -ne 0 && $status -ne 124 ]] || mrelay_fail "unprivileged --ingress xdp exited $status"
  for words in "--ingress xdp: socket(AF_XDP)" "use --ingress packet" "Operation not permitted"; do
    grep -qF -- "$words" "$MRELAY_TMP/refuse-caps.err" || {
      cat "$MRELAY_TMP/refuse-caps.err" >&2
      mrelay_fail "unprivileged --ingress xdp: the error does not say '$words'"
    }
  done
  mrelay_log "refused without privileges: $(grep -o -- '--ingress xdp: socket(AF_XDP)[^;]*' "$MRELAY_TMP/refuse-caps.err" | head -1 | cut -c1-80)..."
  expect_detached "refused without privileges" "$relay" rin0
else
  mrelay_log "setpriv or user nobody missing: the unprivileged refusal is not checked"
fi

# --- fanout 4 -----------------------------------------------------------------------------
mrelay_topology_down
mrelay_topology_up "fanout:$FANOUT"
src=$(topo_get 'j["sources"][0]["ns"]')
relay=$(topo_get 'j["relays"][0]["ns"]')
sink=$(topo_get 'j["sinks"][0]["ns"]')
sink_ifaces=$(topo_get '" ".join(j["sinks"][0]["interfaces"])')
outs=()
for iface in $(topo_get '" ".join(j["relays"][0]["egress"])'); do
  outs+=(--out "$iface:239.2.0.1:6000")
done
label="fanout:$FANOUT xdp/gso"
start_sink sink-fan "$sink" "$sink_ifaces" 239.2.0.1:6000 0
sink_pid=$SINK_PID
start_relay relay-fan "$relay" rin0 239.1.1.1 --ingress xdp --egress gso \
  --in rin0:239.1.1.1:5000 "${outs[@]}"
relay_pid=$RELAY_PID
run_gen gen-fan "$src" gen0 239.1.1.1:5000 --rate "$RATE_PPS" --count "$COUNT" \
  --warmup "$WARMUP_S" --size 512
wait_sink sink-fan "$sink_pid"
stop_relay relay-fan "$relay_pid"
check_delivery "$label" gen-fan sink-fan "$FANOUT"
gen_sent=$(json_get "$MRELAY_TMP/gen-fan.out" 'j["sent"]')
check_relay_counters "$label" relay-fan "$gen_sent" "$FANOUT" sink-fan
expect_detached "fanout, after SIGTERM" "$relay" rin0
echo "PASS relay_xdp_test: hop, kernel traffic beside XDP, detach on SIGTERM and SIGKILL, refusals, fanout $FANOUT"
