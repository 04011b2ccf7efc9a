#!/bin/bash
# The SPRIGHT motion-detection experiment (SIGCOMM 2022, IoT workloads), reproduced on one
# machine: the intermittent motion trace (examples/motion-detection, motion_replay) replayed
# through a real mosquitto into the motion-detection chain (sensor -> actuator, 1 ms of CPU each)
# in three deployments:
#   shm-warm      shm-skmsg, one warm instance per function (event-driven: idle costs ~0 CPU)
#   tcp-zero      tcp baseline (queue-proxy sidecar per instance, broker hop per step), KPA with
#                 scale to zero after the 30 s grace (Knative's defaults)
#   tcp-prewarm   the same tcp deployment, with a warm-up event published --prewarm-lead trace
#                 seconds before every burst that follows --prewarm-gap quiet trace seconds
#                 (default 60: the KPA scales to zero after a stable window of 60 s without
#                 traffic plus the 30 s grace, so every burst that can find the chain at zero
#                 is pre-warmed)
#                 (motion_replay --prewarm-lead): spry's control plane has no pre-warm schedule
#                 or admin endpoint, so the load generator, who knows the trace, starts the
#                 instances ahead of the burst, as pre-warmed Knative has its pods up in time
# For each: end-to-end latency percentiles of every event (publish on sensors/<room>/motion ->
# answer on lights/<room>), cold starts (the gateway's spry_cold_start_seconds_count), and CPU
# seconds of the gateway and every process under it (instances, sidecars), read from /proc
# (utime+stime of the live processes plus cutime+cstime of the ones they reaped) just before and
# just after the replay. One Markdown table and one gnuplot plot (latency over trace time).
#
# Time compression: the trace (published run: 700 s) is replayed --compression times faster,
# and the autoscaler's clocks are compressed by the same factor (KPA interval 2 s, stable window
# 60 s and scale-to-zero grace 30 s are divided by it), so the deployments scale at the same
# points of the trace as uncompressed. What cannot be compressed: a cold start (process start to
# ready) and the functions' 1 ms of CPU, so a compressed run makes cold starts relatively
# cheaper in trace time, never more expensive. --compression 1 is the uncompressed run.
#
# Every process it starts (mosquitto, spry) is stopped by its PID; every server binds 127.0.0.1.
# shm-skmsg needs root (its eBPF program); without root that deployment is skipped, and said so.
#
# Usage: bench/motion_experiment.sh [--build DIR] [--out DIR] [--duration TRACE_S]
#          [--compression X] [--seed N] [--rooms N] [--prewarm-lead TRACE_S]
#          [--prewarm-gap TRACE_S] [--qos 0|1]
#          [--deployments "shm-warm tcp-zero tcp-prewarm"] [--no-sidecar]
set -euo pipefail

build=build
out=motion-experiment
duration=700
compression=7
seed=3
rooms=4
prewarm_lead=10
prewarm_gap=60
qos=1
deployments="shm-warm tcp-zero tcp-prewarm"
sidecar=true
while [ $# -gt 0 ]; do
  case "$1" in
    --build) build=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --compression) compression=$2; shift 2 ;;
    --seed) seed=$2; shift 2 ;;
    --rooms) rooms=$2; shift 2 ;;
    --prewarm-lead) prewarm_lead=$2; shift 2 ;;
    --prewarm-gap) prewarm_gap=$2; shift 2 ;;
    --qos) qos=$2; shift 2 ;;
    --deployments) deployments=$2; shift 2 ;;
    --no-sidecar) sidecar=false; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
    *) echo "motion_experiment.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
build=$(cd "$build" && pwd)
mkdir -p "$out"
out=$(cd "$out" && pwd)
for f in "$build/spry" "$build/examples/motion-detection/motion_replay" \
         "$build/examples/motion-detection/libspry_motion.so" \
         "$build/adapters/libspry_adapter_mqtt_json.so"; do
  [ -e "$f" ] || { echo "motion_experiment.sh: $f is missing; build spry, motion_replay," \
                        "spry_motion and spry_adapter_mqtt_json first" >&2; exit 2; }
done
command -v mosquitto > /dev/null || [ -x /usr/sbin/mosquitto ] ||
  { echo "motion_experiment.sh: mosquitto is not installed (scripts/setup installs it)" >&2; exit 2; }
mosquitto_bin=$(command -v mosquitto || echo /usr/sbin/mosquitto)

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# Trace seconds divided by the compression, as a YAML duration in milliseconds.
compressed_ms() { python3 -c "print(max(1, round($1 * 1000 / $compression)))"; }
compressed_s() { python3 -c "print(round($1 / $compression, 4))"; }

# CPU seconds of process $1 and everything under it, from /proc: utime+stime+cutime+cstime of
# each live process in the tree (cutime/cstime hold the instances that exited and were reaped).
tree_cpu() {
  python3 - "$1" <<'PY'
import os, sys
root = int(sys.argv[1])
procs = {}
for d in os.listdir('/proc'):
    if not d.isdigit():
        continue
    try:
        st = open(f'/proc/{d}/stat').read()
    except OSError:
        continue
    rest = st[st.rindex(')') + 2:].split()
    procs[int(d)] = (int(rest[1]), sum(int(x) for x in rest[11:15]))
tree, grew = {root}, True
while grew:
    grew = False
    for p, (pp, _) in procs.items():
        if pp in tree and p not in tree:
            tree.add(p)
            grew = True
print(sum(procs[p][1] for p in tree if p in procs) / os.sysconf('SC_CLK_TCK'))
PY
}

app_yaml() { # deployment broker_port -> the app file on stdout
  local d=$1 broker=$2 transport autoscaler min
  case "$d" in
    shm-warm) transport=shm-skmsg; autoscaler="{ name: fixed }"; min=1 ;;
    tcp-zero|tcp-prewarm)
      transport=tcp; min=0
      autoscaler="{ name: kpa, interval: $(compressed_ms 2)ms, params: { stable_window_s: $(compressed_s 60), scale_to_zero_grace_s: $(compressed_s 30) } }" ;;
  esac
  cat <<EOF
app: motion-$d
transport: $transport
libraries: [$build/examples/motion-detection/libspry_motion.so]
adapters:
  - { name: mqtt-json, library: $build/adapters/libspry_adapter_mqtt_json.so }
gateway: { listen: '127.0.0.1:0' }
$( [ "$transport" = tcp ] && echo "tcp: { sidecar: $sidecar }" )
policies:
  autoscaler: $autoscaler
mqtt:
  broker: tcp://127.0.0.1:$broker
  client_id: spry-motion-experiment-$d
  persistent_session: false
  subscriptions:
    - { filter: sensors/+/motion, chain: motion, qos: $qos, adapter: mqtt-json,
        reply_topic: "{topic}", reply_qos: $qos }
functions:
  - { name: sensor, handler: motion.sensor, min_instances: $min, max_instances: 2 }
  - { name: actuator, handler: motion.actuator, min_instances: $min, max_instances: 2 }
chains:
  - { name: motion, functions: [sensor, actuator], pool: { buffers: 256, buffer_size: 4KiB },
      timeout: 30s }
EOF
}

metric_sum() { # port series-prefix -> sum of every sample of that series
  curl -s "http://127.0.0.1:$1/metrics" | awk -v s="$2" 'index($0, s) == 1 { n += $NF } END { print n + 0 }'
}

results="$out/motion_experiment.tsv"
printf 'deployment\tsent\tanswered\tp50\tp90\tp99\tmax\tmean\tcpu_s\tcold_starts\twarmups\n' > "$results"
echo "trace: $duration s, seed $seed, $rooms rooms, compressed ${compression}x" \
     "(~$(python3 -c "print(round($duration / $compression))") s per deployment), QoS $qos" >&2

for d in $deployments; do
  if [ "$d" = shm-warm ] && [ "$(id -u)" != 0 ]; then
    echo "SKIPPED shm-warm: shm-skmsg needs root to load its eBPF program" >&2
    continue
  fi
  port=$(free_port)
  printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\nset_tcp_nodelay true\n' \
    "$port" > "$work/mosquitto.conf"
  "$mosquitto_bin" -c "$work/mosquitto.conf" > "$work/mosquitto-$d.log" 2>&1 & mpid=$!
  pids+=("$mpid")
  for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null && break; sleep 0.05; done
  app_yaml "$d" "$port" > "$work/$d.yaml"
  "$build/spry" run "$work/$d.yaml" --log-level info > "$work/spry-$d.out" 2> "$out/spry-$d.log" & spid=$!
  pids+=("$spid")
  http=""
  for _ in $(seq 400); do
    http=$(sed -n 's#.*listening on http://127.0.0.1:\([0-9]*\).*#\1#p' "$work/spry-$d.out" 2>/dev/null)
    [ -n "$http" ] && break
    kill -0 "$spid" 2>/dev/null || break
    sleep 0.05
  done
  [ -n "$http" ] || { echo "spry did not start for $d:" >&2; cat "$out/spry-$d.log" >&2; exit 1; }
  for _ in $(seq 200); do
    [ "$(metric_sum "$http" spry_mqtt_connected)" = 1 ] && break; sleep 0.05
  done
  # tcp-*: let the KPA take the initial instances (if any) to zero, so both tcp runs start cold
  # like the trace's first burst would find them after an idle night.
  if [ "$d" != shm-warm ]; then
    sleep "$(python3 -c "print(round((60 + 30 + 4) / $compression + 1, 2))")"
  fi
  extra=()
  [ "$d" = tcp-prewarm ] && extra=(--prewarm-lead "$prewarm_lead" --prewarm-gap "$prewarm_gap")
  cpu0=$(tree_cpu "$spid")
  "$build/examples/motion-detection/motion_replay" --broker "tcp://127.0.0.1:$port" \
    --speedup "$compression" --duration "$duration" --seed "$seed" --rooms "$rooms" --qos "$qos" \
    --samples "$out/samples-$d.txt" "${extra[@]}" > "$out/replay-$d.txt" || true
  cpu1=$(tree_cpu "$spid")
  cold=$(metric_sum "$http" 'spry_cold_start_seconds_count')
  curl -s "http://127.0.0.1:$http/metrics" > "$out/metrics-$d.txt" # scaling events, for the record
  kill "$spid"; wait "$spid" 2>/dev/null || true
  kill "$mpid"; wait "$mpid" 2>/dev/null || true
  cat "$out/replay-$d.txt" >&2
  python3 - "$d" "$out/samples-$d.txt" "$cpu0" "$cpu1" "$cold" "$out/replay-$d.txt" >> "$results" <<'PY'
import math, re, sys
d, samples, cpu0, cpu1, cold, replay = sys.argv[1:7]
lat = []
sent = 0
for line in open(samples):
    t, ms, room = line.split()
    sent += 1
    if float(ms) >= 0:
        lat.append(float(ms))
lat.sort()
def q(p):  # nearest rank, as motion_replay
    if not lat:
        return float('nan')
    return lat[min(len(lat) - 1, max(0, math.ceil(p * len(lat)) - 1))]
m = re.search(r'warm-up events: (\d+)', open(replay).read())
print('\t'.join([d, str(sent), str(len(lat))] +
                ['%.2f' % v for v in (q(.5), q(.9), q(.99), lat[-1] if lat else float('nan'),
                                      sum(lat) / len(lat) if lat else float('nan'))] +
                ['%.2f' % (float(cpu1) - float(cpu0)), cold, m.group(1) if m else '0']))
PY
done

# The table (and shm-warm against tcp-prewarm, the published comparison) ...
python3 - "$results" "$duration" "$compression" "$seed" "$rooms" "$qos" "$prewarm_lead" "$prewarm_gap" \
  > "$out/motion_experiment.md" <<'PY'
import sys
path, duration, compression, seed, rooms, qos, lead, gap = sys.argv[1:9]
rows = [l.rstrip('\n').split('\t') for l in open(path)][1:]
print(f'Motion detection, {duration} s trace (seed {seed}, {rooms} rooms) compressed {compression}x, '
      f'QoS {qos}; tcp-prewarm: a warm-up event {lead} trace s before every burst after {gap} s quiet.\n')
print('| deployment | events answered | p50 ms | p90 ms | p99 ms | max ms | mean ms | CPU s (gateway + instances) | cold starts | warm-up events |')
print('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |')
by = {}
for r in rows:
    by[r[0]] = r
    print(f'| {r[0]} | {r[2]}/{r[1]} | {r[3]} | {r[4]} | {r[5]} | {r[6]} | {r[7]} | {r[8]} | {r[9]} | {r[10]} |')
if 'shm-warm' in by and 'tcp-prewarm' in by:
    s, k = by['shm-warm'], by['tcp-prewarm']
    dm = (float(s[7]) / float(k[7]) - 1) * 100
    dc = (float(s[8]) / float(k[8]) - 1) * 100 if float(k[8]) > 0 else float('nan')
    print(f'\nshm-warm vs tcp-prewarm: mean latency {dm:+.0f} %, CPU {dc:+.0f} % '
          '(published, SPRIGHT vs pre-warmed Knative: -16 % response time, -41 % CPU).')
PY
cat "$out/motion_experiment.md"

# ... and the plot: every event's latency over trace time, one series per deployment.
{
  echo "set terminal pngcairo size 1000,560"
  echo "set output '$out/motion_experiment.png'"
  echo "set title 'Motion detection: end-to-end latency per event (${duration} s trace, compressed ${compression}x)'"
  echo "set xlabel 'trace time (s)'"
  echo "set ylabel 'latency (ms, log)'"
  echo "set logscale y"
  echo "set key top left"
  echo "set grid"
  plots=()
  for d in $deployments; do
    [ -s "$out/samples-$d.txt" ] && plots+=("'$out/samples-$d.txt' using 1:(\$2 >= 0 ? \$2 : 1/0) with points pt 7 ps 0.5 title '$d'")
  done
  (IFS=,; echo "plot ${plots[*]}")
} > "$out/motion_experiment.gp"
gnuplot "$out/motion_experiment.gp"
echo "table: $out/motion_experiment.md  plot: $out/motion_experiment.png" >&2
