#!/usr/bin/env python3
"""CPU an instance spends to start, in a chain warming up from zero (instances.start fork).

Runs `spry run` with a chain of --length functions on shm-skmsg (every function at zero, KPA
with a short grace period), and --rounds times: waits until the app is at zero, sends one
request, then sums the CPU of every thread of each instance process (/proc/PID/task/*/schedstat,
nanoseconds on CPU). A spare's CPU before it was given its instance is subtracted: that was
spent off the start path. CPU time, unlike latency, hardly moves with the load of a shared
machine, so two builds compare in one run of each.

  sudo bench/cold_start_cpu.py --spry build/spry --library build/examples/hello/libspry_hello.so
"""
import argparse
import os
import re
import statistics
import subprocess
import tempfile
import time
import urllib.request


def children(parent):
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            stat = open(f"/proc/{d}/stat").read()
            comm = open(f"/proc/{d}/comm").read().strip()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        if int(fields[1]) == parent and fields[0] != "Z":
            out.append((int(d), comm))
    return out


def cpu_ns(pid):
    total = 0
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            total += int(open(f"/proc/{pid}/task/{task}/schedstat").read().split()[0])
    except OSError:
        pass
    return total


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--spry", default="build/spry")
    ap.add_argument("--library", default="build/examples/hello/libspry_hello.so")
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--length", type=int, default=4)
    ap.add_argument("--instances", default="start: fork", help="the app's instances: settings")
    args = ap.parse_args()
    names = [f"upper{i}" for i in range(args.length)]
    yaml = (f"app: cold\ntransport: shm-skmsg\nlibraries: [{os.path.abspath(args.library)}]\n"
            f"gateway: {{listen: '127.0.0.1:0'}}\ninstances: {{{args.instances}}}\n"
            "policies:\n  autoscaler: { name: kpa, interval: 100ms, params: "
            "{ stable_window_s: 1, scale_to_zero_grace_s: 0.3 } }\nfunctions:\n" +
            "".join(f"  - {{ name: {n}, handler: hello.uppercase, min_instances: 0, "
                    "max_instances: 1 }\n" for n in names) +
            f"chains:\n  - {{ name: up, http: {{ path: /up }}, functions: [{', '.join(names)}] }}\n")
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as f:
        f.write(yaml)
        f.flush()
        p = subprocess.Popen([args.spry, "run", f.name, "--log-level", "warn"],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            port = None
            for line in p.stdout:
                m = re.search(r"listening on http://127\.0\.0\.1:(\d+)", line)
                if m:
                    port = int(m.group(1))
                    break
            if port is None:
                raise SystemExit("spry did not start")
            helpers = ("spry-template", "spry-spare")
            per, totals, first = [], [], []
            for _ in range(args.rounds):
                time.sleep(1.5)  # the grace period, then the drain
                for _ in range(100):
                    if not [c for c in children(p.pid) if c[1] not in helpers]:
                        break
                    time.sleep(0.05)
                time.sleep(0.3)  # spares refilled
                before = {pid: cpu_ns(pid) for pid, comm in children(p.pid) if comm == "spry-spare"}
                t0 = time.monotonic()
                urllib.request.urlopen(urllib.request.Request(
                    f"http://127.0.0.1:{port}/up", data=b"cold"), timeout=30).read()
                first.append((time.monotonic() - t0) * 1e3)
                used = [(cpu_ns(pid) - before.get(pid, 0)) / 1e6
                        for pid, comm in children(p.pid) if comm not in helpers]
                per += used
                totals.append(sum(used))
        finally:
            p.terminate()
            p.wait()
    print(f"CPU per instance until served p50 {statistics.median(per):.2f} ms "
          f"(n={len(per)}); all {args.length} instances p50 {statistics.median(totals):.2f} ms; "
          f"first request p50 {statistics.median(first):.1f} ms")


if __name__ == "__main__":
    main()
