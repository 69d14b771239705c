#!/usr/bin/env bash
# What scraping the broker's /metrics every second costs the broker (Docs/benchmarks.md,
# "Metrics scrape cost"): a broker on loopback with --metrics-port and one idle worker; the
# broker's CPU time (utime + stime from /proc/PID/stat) over SECONDS without scrapes, then over
# SECONDS with one GET /metrics per second. Prints both and the difference in % of one core.
#   Tests/bench-metrics-scrape.sh [SECONDS]      (HYPERLOOM_BIN: the binary, default .build/debug/hyperloom)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${HYPERLOOM_BIN:-.build/debug/hyperloom}
seconds=${1:-30}
scratch=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; rm -rf "$scratch"; }
trap cleanup EXIT
"$bin" broker --endpoint tcp://127.0.0.1:0 --feed tcp://127.0.0.1:0 --feed-replay tcp://127.0.0.1:0 \
  --feed-journal "$scratch/feed.journal" --metrics-port 0 >"$scratch/broker.log" 2>&1 &
broker=$!; pids+=("$broker")
for _ in $(seq 100); do grep -q "broker listening on" "$scratch/broker.log" && break; sleep 0.1; done
endpoint=$(grep -o 'broker listening on tcp://[0-9.:]*' "$scratch/broker.log" | awk '{print $4}')
url=$(grep -o 'http://[^ ]*/metrics' "$scratch/broker.log")
"$bin" worker --broker "$endpoint" --slots 4 --work-dir "$scratch/w" >"$scratch/worker.log" 2>&1 &
pids+=("$!")
sleep 3
ticks() { awk '{print $14 + $15}' "/proc/$broker/stat"; }
hz=$(getconf CLK_TCK)
t0=$(date +%s.%N); a=$(ticks); sleep "$seconds"; b=$(ticks); t1=$(date +%s.%N)
# One scraper process, one GET at the start of every second (as Prometheus at scrape_interval 1s).
python3 - "$url" "$seconds" <<'PY'
import sys, time, urllib.request
url, n = sys.argv[1], int(sys.argv[2])
start = time.monotonic()
for i in range(n):
    urllib.request.urlopen(url, timeout=5).read()
    time.sleep(max(0.0, start + i + 1 - time.monotonic()))
PY
c=$(ticks); t2=$(date +%s.%N)
bytes=$(python3 -c 'import sys,urllib.request; print(len(urllib.request.urlopen(sys.argv[1], timeout=5).read()))' "$url")
python3 - "$a" "$b" "$c" "$hz" "$t0" "$t1" "$t2" "$bytes" <<'PY'
import sys
a, b, c, hz, t0, t1, t2, size = map(float, sys.argv[1:])
idle = (b - a) / hz / (t1 - t0) * 100
scraped = (c - b) / hz / (t2 - t1) * 100
print(f"broker CPU without scrapes: {idle:.2f}% of a core over {t1 - t0:.1f} s; scraped about once a second: {scraped:.2f}% over {t2 - t1:.1f} s")
print(f"cost of the scrapes: {scraped - idle:.2f}% of a core; /metrics is {size:.0f} bytes")
PY
