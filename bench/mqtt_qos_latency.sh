#!/bin/bash
# QoS 1 against QoS 0 on loopback, with the broker's Nagle on (mosquitto's default) and off
# (set_tcp_nodelay true): for each of the four runs a fresh mosquitto, the motion-detection app
# (`spry run`) and motion_replay over the same seeded trace; prints the replay's percentiles and
# the ratio QoS 1 p50 / QoS 0 p50 per broker setting. Every process it starts is stopped by its
# PID. Usage: bench/mqtt_qos_latency.sh [BUILD_DIR] [TRACE_SECONDS] [PROTOCOL]
# PROTOCOL (3.1.1, the default, or 5) is what the gateway speaks to the broker (mqtt.protocol);
# the replay tool (the devices) speaks 3.1.1 either way. NODELAY="true" runs only the broker
# setting with Nagle off (default: "false true", both).
set -euo pipefail
build=$(cd "${1:-build}" && pwd)
duration=${2:-1200}
protocol=${3:-3.1.1}
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

run_one() { # nodelay qos -> prints the p50
  local nodelay=$1 qos=$2 port
  port=$(free_port)
  printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\nset_tcp_nodelay %s\n' \
    "$port" "$nodelay" > "$work/mosquitto.conf"
  mosquitto -c "$work/mosquitto.conf" > "$work/mosquitto.log" 2>&1 & local mpid=$!
  pids+=("$mpid")
  for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null && break; sleep 0.05; done
  # The example app, pointed at this broker, on a free HTTP port, at this QoS.
  sed -e "s#^transport: .*#transport: local#" -e "s#127.0.0.1:8080#127.0.0.1:0#" \
      -e "s#qos: 1#qos: $qos#" -e "s#reply_qos: 1#reply_qos: $qos#" \
      -e "s#^  client_id: \(.*\)#  client_id: \1\n  protocol: $protocol#" \
      -e "s#libspry_motion.so#$build/examples/motion-detection/libspry_motion.so#" \
      -e "s#\.\./\.\./adapters/#$build/adapters/#" \
      "$build/examples/motion-detection/motion.yaml" > "$work/motion.yaml"
  "$build/spry" run "$work/motion.yaml" --mqtt-broker "tcp://127.0.0.1:$port" --log-level warn \
    > "$work/spry.out" 2> "$work/spry.log" & local spid=$!
  pids+=("$spid")
  for _ in $(seq 200); do grep -q "listening on" "$work/spry.out" 2>/dev/null && break; sleep 0.05; done
  sleep 0.5 # the MQTT connection and subscription
  local out
  out=$("$build/examples/motion-detection/motion_replay" --broker "tcp://127.0.0.1:$port" \
          --speedup 60 --duration "$duration" --qos "$qos" --seed 3)
  echo "MQTT $protocol, set_tcp_nodelay $nodelay, QoS $qos: $(echo "$out" | tail -2 | tr '\n' ' ')" >&2
  kill "$spid"; wait "$spid" 2>/dev/null || true
  kill "$mpid"; wait "$mpid" 2>/dev/null || true
  echo "$out" | sed -n 's/.*p50 \([0-9.]*\).*/\1/p'
}

for nodelay in ${NODELAY:-false true}; do
  q0=$(run_one "$nodelay" 0)
  q1=$(run_one "$nodelay" 1)
  echo "MQTT $protocol, set_tcp_nodelay $nodelay: QoS 1 p50 / QoS 0 p50 = $q1 / $q0 = $(python3 -c "print(round($q1/$q0, 2))")"
done
