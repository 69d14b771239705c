#!/usr/bin/env bash
# The compose topology for real, through podman's Docker API, at a small size (issue 20; run by
# `make test`, Docker/README.md "With podman"):
#
#   1. builds the image's `prebuilt` target (Docker/Dockerfile) around the hyperloom binary the
#      test run built (HYPERLOOM_BIN, default .build/debug/hyperloom) on the local Debian image;
#   2. serves podman's Docker API on a socket of its own (Docker/podman-service.sh) and runs
#      `docker-compose -f Docker/docker-compose.yml -f Docker/docker-compose.monitoring.yml up -d
#      --scale worker=3` (every service but grafana, which has no local image) under a project
#      name of its own, with the ports published on 127.0.0.1 ports nobody uses;
#   3. checks the broker turns healthy and that Prometheus (Debian's package on the local Debian
#      image: Docker/local-images.sh prometheus) scrapes the broker, the optimizer and the 3
#      workers (each target `up` in its HTTP API); submits a study from the host, kills one worker
#      container mid-study (SIGKILL), and checks the study still finishes every trial, with the
#      killed attempts retried and resumed from their checkpoints, and that Prometheus answers a
#      query of the jobs finished and the workers' trial exits;
#   4. brings the killed worker back (`up` again), then `docker-compose stop`: every container
#      exits 0, each worker stops with nothing unacknowledged, and the feed logger's file on its
#      volume holds every event of the feed exactly once;
#   5. the secure variant (docker-compose.secure.yml, fresh keys as secrets): healthy, a study
#      (Docker/study-logreg.yaml) submitted with a client key runs to the end, a client without a
#      key is refused, and the dashboard, with a viewer key, lists the study with its metric (read
#      from the optimizer) and its 40 finished trials.
#
# COMPOSE_TEST_IMAGE=IMAGE runs the same checks on an image built before, e.g. the release image
# of `make docker` (localhost/hyperloom:latest), instead of building the prebuilt target.
#
# Prints "compose-test: SKIPPED: <reason>" and exits 0 where podman cannot run containers (not
# root, podman or docker-compose missing, no local base image can be made); any check that fails
# exits 1. Everything it starts is removed on exit: containers, volumes, networks, the image tag,
# the podman service. Waits are bounded (COMPOSE_TEST_TIMEOUT seconds each, default 180).
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$repo"
say() { echo "compose-test: $*"; }
skip() { say "SKIPPED: $*"; exit 0; }
fail() { say "FAILED: $*"; exit 1; }
limit="${COMPOSE_TEST_TIMEOUT:-180}"
started=$SECONDS

[ "$(id -u)" -eq 0 ] || skip "needs root (rootful podman, debootstrap)"
command -v podman >/dev/null 2>&1 || skip "podman is not installed (Docker/install-podman.sh installs it)"
command -v docker-compose >/dev/null 2>&1 || skip "docker-compose is not installed (Docker/install-podman.sh installs it)"
command -v debootstrap >/dev/null 2>&1 || [ -x /usr/sbin/debootstrap ] || skip "debootstrap is not installed (Docker/install-podman.sh installs it)"
bin="${HYPERLOOM_BIN:-$repo/.build/debug/hyperloom}"
[ -x "$bin" ] || fail "no hyperloom binary at $bin (swift build --product hyperloom, or set HYPERLOOM_BIN)"
. "$repo/Docker/podman-env.sh"
unset HYPERLOOM_BROKER HYPERLOOM_FEED HYPERLOOM_KEY HYPERLOOM_BROKER_KEY DOCKER_HOST COMPOSE_FILE

id="hlct$$$RANDOM"
tmp="$(mktemp -d "/tmp/hyperloom-compose-test.XXXXXX")"
image="${COMPOSE_TEST_IMAGE:-localhost/hyperloom-compose-test:$id}"
projects=()
declare -A project_files=()
files=(-f Docker/docker-compose.yml)
cleanup() {
  local status=$?
  set +e
  for project in "${projects[@]}"; do
    # shellcheck disable=SC2086
    timeout 120 docker-compose -p "$project" ${project_files[$project]} down -v -t 5 >"$tmp/down-$project.log" 2>&1 \
      || { say "cleanup: docker-compose down failed for $project:"; tail -n 5 "$tmp/down-$project.log"; }
  done
  [ -n "${COMPOSE_TEST_IMAGE:-}" ] || podman rmi -f "$image" >/dev/null 2>&1
  "$repo/Docker/podman-service.sh" stop "$tmp/service" >/dev/null 2>&1
  if [ "$status" -ne 0 ] && [ -z "${COMPOSE_TEST_KEEP:-}" ]; then
    say "logs of the failed run were in $tmp (set COMPOSE_TEST_KEEP=1 to keep them)"
  fi
  [ -n "${COMPOSE_TEST_KEEP:-}" ] || rm -rf "$tmp"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- 1. the image --------------------------------------------------------------------------------
if ! timeout 900 "$repo/Docker/local-images.sh" slim >"$tmp/local-images.log" 2>&1; then
  tail -n 20 "$tmp/local-images.log"
  skip "the local Debian base image could not be made (above)"
fi
if ! timeout 600 "$repo/Docker/local-images.sh" prometheus >"$tmp/local-images-prometheus.log" 2>&1; then
  tail -n 20 "$tmp/local-images-prometheus.log"
  skip "the local Prometheus image (Debian's package) could not be made (above)"
fi
if ! timeout 60 podman run --rm "$HYPERLOOM_SLIM_IMAGE" true >"$tmp/probe.log" 2>&1; then
  tail -n 5 "$tmp/probe.log"
  skip "podman cannot run a container here (above)"
fi
if [ -n "${COMPOSE_TEST_IMAGE:-}" ]; then
  podman image exists "$image" || fail "no image $image (COMPOSE_TEST_IMAGE)"
  say "ok: using image $image (COMPOSE_TEST_IMAGE)"
else
  # The binary, its backtracer and the Swift runtime libraries it links (a debug build links them
  # dynamically from the toolchain; the image has libzmq5, libsqlite3-0 and libstdc++ of its own).
  stage="$tmp/binaries"
  mkdir -p "$stage/lib"
  cp "$bin" "$stage/hyperloom"
  toolchain="$(dirname "$(dirname "$(readlink -f "$(command -v swift)")")")"
  cp "$toolchain/libexec/swift/linux/swift-backtrace-static" "$stage/" \
    || fail "no swift-backtrace-static in $toolchain/libexec/swift/linux"
  ldd "$bin" | awk -v tc="$toolchain/" 'index($3, tc) == 1 { print $3 }' | while read -r lib; do cp "$lib" "$stage/lib/"; done
  build_start=$SECONDS
  if ! timeout 900 podman build --format docker -f Docker/Dockerfile --target prebuilt --build-context "prebuilt-binaries=$stage" \
       --build-arg RUNTIME_IMAGE="$HYPERLOOM_SLIM_IMAGE" -t "$image" . >"$tmp/build.log" 2>&1; then
    tail -n 30 "$tmp/build.log"
    fail "podman build --target prebuilt failed (above)"
  fi
  say "ok: image $image (target prebuilt) built in $((SECONDS - build_start)) s"
fi
timeout 60 podman run --rm "$image" --version >"$tmp/version.log" 2>&1 \
  || { cat "$tmp/version.log"; fail "the image does not run hyperloom --version"; }

# --- 2. podman's Docker API and the stack ---------------------------------------------------------
"$repo/Docker/podman-service.sh" start "$tmp/service" >"$tmp/service.env" \
  || fail "podman-service.sh start failed"
export DOCKER_HOST="unix://$tmp/service/podman.sock"
read -r router feed replay dashboard prometheus < <(python3 - <<'PY'
import socket
socks = [socket.socket() for _ in range(5)]
for s in socks: s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))
for s in socks: s.close()
PY
)
export HYPERLOOM_IMAGE="$image" HYPERLOOM_LOG_LEVEL=info HYPERLOOM_WORKER_SLOTS=2 \
  HYPERLOOM_BROKER_PORT="127.0.0.1:$router" HYPERLOOM_FEED_PORT="127.0.0.1:$feed" \
  HYPERLOOM_FEED_REPLAY_PORT="127.0.0.1:$replay" HYPERLOOM_DASHBOARD_PORT="127.0.0.1:$dashboard" \
  HYPERLOOM_PROMETHEUS_PORT="127.0.0.1:$prometheus"
# The plain stack with the monitoring file: every service but grafana (no Debian package, so no
# local image; its dashboard JSON is checked by Docker/validate.sh).
files=(-f Docker/docker-compose.yml -f Docker/docker-compose.monitoring.yml)
services=(broker optimizer worker feed-logger dashboard prometheus)
project="${id}plain"
projects+=("$project")
project_files[$project]="${files[*]}"
compose() { timeout "$limit" docker-compose -p "$project" "${files[@]}" "$@"; }
container() { echo "${project}_$1_$2"; }   # docker-compose 1.29's names: PROJECT_SERVICE_N

up_start=$SECONDS
compose up -d --no-build --scale worker=3 "${services[@]}" >"$tmp/up.log" 2>&1 \
  || { tail -n 30 "$tmp/up.log"; fail "docker-compose up failed (above)"; }
say "ok: docker-compose up -d --scale worker=3 (with Prometheus) in $((SECONDS - up_start)) s"
running=$(podman ps --filter "label=com.docker.compose.project=$project" --format '{{.Names}}' | sort)
expected=$(printf '%s\n' "$(container broker 1)" "$(container dashboard 1)" "$(container feed-logger 1)" \
  "$(container optimizer 1)" "$(container prometheus 1)" "$(container worker 1)" "$(container worker 2)" \
  "$(container worker 3)" | sort)
[ "$running" = "$expected" ] || fail "expected running: $(echo $expected); got: $(echo $running)"
health=$(podman inspect --format '{{.State.Health.Status}}' "$(container broker 1)")
[ "$health" = healthy ] || fail "the broker's healthcheck says '$health', not healthy"
say "ok: broker healthy; optimizer, 3 workers, the feed logger, the dashboard and Prometheus running"

# Prometheus' HTTP API from the host: every target of Docker/prometheus/prometheus.yml up (the
# first scrape of each comes within its 15 s interval).
prom="http://127.0.0.1:$prometheus"
deadline=$((SECONDS + 60))
until python3 - "$prom" >"$tmp/targets.txt" 2>&1 <<'PY'
import collections, json, sys, urllib.request
targets = json.load(urllib.request.urlopen(sys.argv[1] + "/api/v1/targets?state=active", timeout=5))["data"]["activeTargets"]
up = collections.Counter(t["labels"]["job"] for t in targets if t["health"] == "up")
print("up:", dict(up), "all:", [(t["labels"]["job"], t["scrapeUrl"], t["health"], t.get("lastError", "")) for t in targets])
want = {"hyperloom-broker": 1, "hyperloom-optimizer": 1, "hyperloom-worker": 3}
sys.exit(0 if all(up[job] == n for job, n in want.items()) and len(targets) == 5 else 1)
PY
do
  [ $SECONDS -lt $deadline ] || { cat "$tmp/targets.txt"; fail "Prometheus: not every target up within 60 s (above)"; }
  sleep 2
done
say "ok: Prometheus scrapes the broker, the optimizer and the 3 workers: every target up"

export HYPERLOOM_BROKER="tcp://127.0.0.1:$router"
# Trials of about 3 s (6 epochs of 0.5 s) that checkpoint every epoch, in the workers' image.
cat >"$tmp/study.yaml" <<'SPEC'
name: compose-test
metric: loss
mode: min
space:
  lr: {loguniform: [0.01, 0.5]}
  l2: {loguniform: [1.0e-5, 0.01]}
  epochs: 6
  epoch_seconds: 0.5
searcher: {type: random, seed: 3}
trial:
  command: [python3, /opt/hyperloom/Configs/examples/train.py]
  cwd: /data
  timeout: 2m
  max_retries: 2
  checkpointing: true
budget:
  max_trials: 12
  max_concurrent: 6
SPEC
ask() { timeout 30 "$bin" "$@" --timeout 10s; }
# Waits (bounded) until study $1 has ended; its state in $state.
wait_study() {
  local deadline=$((SECONDS + limit))
  while :; do
    ask status "$1" --json >"$tmp/status.json" 2>"$tmp/status.err" || true
    state=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("state",""))' "$tmp/status.json" 2>/dev/null || true)
    case "$state" in complete|cancelled|failed) return 0 ;; esac
    [ $SECONDS -lt $deadline ] || { cat "$tmp/status.json" "$tmp/status.err"; fail "study $1 did not end within ${limit} s"; }
    sleep 1
  done
}
study=$(ask submit "$tmp/study.yaml") || fail "hyperloom submit failed: $study"
study=$(printf '%s\n' "$study" | tail -n 1 | awk '{print $NF}')
say "ok: submitted study $study from the host through 127.0.0.1:$router"

# Kill the worker container that first runs a trial whose checkpoints have reached the optimizer:
# two checkpoint reports from the trial's current attempt (the first one's blob is stored by then).
declare -A worker_of_host=()
for n in 1 2 3; do
  worker_of_host[$(podman inspect --format '{{.Config.Hostname}}' "$(container worker $n)")]="$(container worker $n)"
done
deadline=$((SECONDS + limit))
victim=""
while [ -z "$victim" ]; do
  if [ $SECONDS -ge $deadline ]; then
    ask status "$study" || true
    fail "no attempt checkpointed twice within ${limit} s"
  fi
  ask export "$study" --format jsonl >"$tmp/progress.jsonl" 2>/dev/null || true
  host=$(python3 - "$tmp/progress.jsonl" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    row = json.loads(line)
    attempt = int(row.get("attempts", 1))
    checkpoints = [r for r in row.get("reports", []) if r.get("kind") == "checkpoint" and r.get("attempt") == attempt]
    if row.get("state") == "running" and len(checkpoints) >= 2 and "-" in str(row.get("worker", "")):
        print(str(row["worker"]).rsplit("-", 1)[0])   # worker ids are <container hostname>-<pid>
        break
PY
  ) || true
  [ -n "$host" ] && victim="${worker_of_host[$host]:-}"
  [ -n "$victim" ] || sleep 0.3
done
podman kill --signal KILL "$victim" >/dev/null || fail "podman kill $victim failed"
say "ok: killed $victim (SIGKILL) mid-study"

wait_study "$study"
[ "$state" = complete ] || { cat "$tmp/status.json"; fail "study $study ended '$state', not complete"; }
ask export "$study" --format jsonl >"$tmp/trials.jsonl" || fail "hyperloom export failed"
# Every trial complete; the ones whose attempt died with the worker ran again.
retried=$(python3 - "$tmp/trials.jsonl" <<'PY'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
bad = [(r.get("number"), r.get("state")) for r in rows if r.get("state") != "complete"]
if len(rows) != 12 or bad:
    sys.exit("compose-test: expected 12 complete trials, got %d rows; not complete: %s" % (len(rows), bad))
print(" ".join(str(r["number"]) for r in rows if int(r.get("attempts", 1)) > 1))
PY
) || fail "the study's trials (above)"
[ -n "$retried" ] || fail "no trial needed a second attempt: the kill hit no running attempt"
resumed=0
for trial in $retried; do
  attempts=$(python3 -c 'import json,sys; print(next(int(r["attempts"]) for r in map(json.loads, open(sys.argv[1])) if str(r["number"]) == sys.argv[2]))' "$tmp/trials.jsonl" "$trial")
  ask logs "$study" "$trial" --attempt "$attempts" --stream stderr >"$tmp/logs-$trial.txt" 2>&1 || true
  grep -q 'resumed from' "$tmp/logs-$trial.txt" && resumed=$((resumed + 1))
done
[ "$resumed" -gt 0 ] || { cat "$tmp"/logs-*.txt; fail "no retried trial resumed from its checkpoint (trials $retried)"; }
say "ok: study $study complete, 12/12 trials; retried after the kill: trials $retried, $resumed resumed from a checkpoint"
# Prometheus has the study's figures once a scrape came after them (every 15 s).
deadline=$((SECONDS + 45))
until python3 - "$prom" >"$tmp/query.txt" 2>&1 <<'PY'
import json, sys, urllib.parse, urllib.request
def value(expr):
    url = sys.argv[1] + "/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    result = json.load(urllib.request.urlopen(url, timeout=5))["data"]["result"]
    return float(result[0]["value"][1]) if result else None
finished = value("sum(hyperloom_broker_jobs_finished_total)")
exits = value('sum(hyperloom_worker_trial_exits_total{outcome="completed"})')
print("jobs finished", finished, "worker trial exits (completed)", exits)
sys.exit(0 if finished is not None and finished >= 12 and exits is not None and exits >= 1 else 1)
PY
do
  [ $SECONDS -lt $deadline ] || { cat "$tmp/query.txt"; fail "Prometheus: no figures of the study within 45 s (above)"; }
  sleep 2
done
say "ok: Prometheus answers: $(cat "$tmp/query.txt")"

# The killed container stays exited (137): podman's restart policy does not restart a container
# killed through the API, as Docker's does not after `docker kill`. up brings it back.
victim_code=$(podman inspect --format '{{.State.ExitCode}}' "$victim")
compose up -d --no-build --scale worker=3 "${services[@]}" >"$tmp/up2.log" 2>&1 \
  || { tail -n 30 "$tmp/up2.log"; fail "docker-compose up (again) failed"; }
running=$(podman ps --filter "label=com.docker.compose.project=$project" --format '{{.Names}}' | sort)
[ "$running" = "$expected" ] || fail "after up again, expected running: $(echo $expected); got: $(echo $running)"
say "ok: $victim had exited $victim_code; docker-compose up -d --scale worker=3 started it again"

# --- 3. graceful stop -----------------------------------------------------------------------------
stop_start=$SECONDS
compose stop >"$tmp/stop.log" 2>&1 || { tail -n 20 "$tmp/stop.log"; fail "docker-compose stop failed"; }
say "ok: docker-compose stop in $((SECONDS - stop_start)) s"
codes=""
bad_exit=""
for name in $expected; do
  code=$(podman inspect --format '{{.State.ExitCode}}' "$name")
  codes="$codes $name=$code"
  [ "$code" = 0 ] || bad_exit="$bad_exit $name=$code"
done
[ -z "$bad_exit" ] || { compose logs --tail 20 >"$tmp/logs.txt" 2>&1; tail -n 60 "$tmp/logs.txt"; fail "non-zero exit codes:$bad_exit"; }
say "ok: every container exited 0"
compose logs --no-color worker >"$tmp/worker-logs.txt" 2>&1 || true
# Each worker's last words: stopped, with every result acknowledged by the broker.
stopped=$(grep -c 'worker.unacknowledged=0 .*worker stopped' "$tmp/worker-logs.txt" || true)
[ "$stopped" -ge 3 ] || { tail -n 40 "$tmp/worker-logs.txt"; fail "expected 'worker stopped' with worker.unacknowledged=0 from each of the 3 workers, found $stopped"; }
say "ok: the 3 workers stopped with nothing unacknowledged"
# The feed logger's file, read from its volume: every sequence number once, none missing.
volume=$(podman volume inspect --format '{{.Mountpoint}}' "${project}_feed-log") || fail "no feed-log volume"
cp "$volume/feed.jsonl" "$tmp/feed.jsonl" || fail "no feed.jsonl on the feed-log volume"
python3 - "$tmp/feed.jsonl" "$study" <<'PY' || fail "the feed log (above)"
import json, re, sys
seqs, topics = [], []
for line in open(sys.argv[1]):
    json.loads(line)
    # The feed's sequence number is the one each line starts with, {"seq":N,... (what the logger
    # resumes from); a report's body has a "seq" of its own (its number within the attempt) later
    # in the same object, which json.loads would return instead.
    head = re.match(r'\{"seq":(\d+),"topic":"([^"]*)"', line)
    if not head:
        sys.exit("compose-test: feed.jsonl: a line does not start with seq and topic: %s" % line[:120])
    seqs.append(int(head.group(1)))
    topics.append(head.group(2))
dupes = len(seqs) - len(set(seqs))
missing = sorted(set(range(1, max(seqs) + 1)) - set(seqs)) if seqs else []
if not seqs or dupes or missing or seqs != sorted(seqs):
    sys.exit("compose-test: feed.jsonl: %d events, %d duplicates, missing %s, in order: %s"
             % (len(seqs), dupes, missing[:10], seqs == sorted(seqs)))
study_events = sum(1 for t in topics if sys.argv[2] in t)
if study_events == 0:
    sys.exit("compose-test: feed.jsonl has no event of study %s" % sys.argv[2])
print("compose-test: ok: feed.jsonl holds events 1..%d, each once (%d of study %s)" % (max(seqs), study_events, sys.argv[2]))
PY

# --- 4. the secure variant: CURVE keys as compose secrets ----------------------------------------
keys="$tmp/keys"
client="$tmp/client"
mkdir -p "$keys"/{clients,optimizers,workers,subscribers} "$client"
mkdir -p "$keys/viewers"
for name in broker healthcheck optimizer worker feed-logger dashboard; do
  "$bin" keygen "$name" --out "$keys" >/dev/null || fail "hyperloom keygen $name failed"
done
"$bin" keygen tester --out "$client" >/dev/null || fail "hyperloom keygen tester failed"
cp "$keys/healthcheck.pub" "$client/tester.pub" "$keys/clients/"
cp "$keys/optimizer.pub" "$keys/optimizers/"
cp "$keys/worker.pub" "$keys/workers/"
cp "$keys/feed-logger.pub" "$keys/subscribers/"
cp "$keys/dashboard.pub" "$keys/viewers/"
# As Docker/keys/README.md says: the containers' uid owns the secret keys (mode 0600); the
# directories must be readable by it (mktemp made them 0700).
chown 10001:10001 "$keys"/*.key
chmod 755 "$keys" "$keys"/*/
read -r router feed replay dashboard < <(python3 - <<'PY'
import socket
socks = [socket.socket() for _ in range(4)]
for s in socks: s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))
for s in socks: s.close()
PY
)
export HYPERLOOM_KEYS_DIR="$keys" HYPERLOOM_BROKER_PORT="127.0.0.1:$router" \
  HYPERLOOM_FEED_PORT="127.0.0.1:$feed" HYPERLOOM_FEED_REPLAY_PORT="127.0.0.1:$replay" \
  HYPERLOOM_DASHBOARD_PORT="127.0.0.1:$dashboard"
unset HYPERLOOM_BROKER
files=(-f Docker/docker-compose.yml -f Docker/docker-compose.secure.yml)
project="${id}secure"
projects+=("$project")
project_files[$project]="${files[*]}"
up_start=$SECONDS
compose up -d --no-build --scale worker=2 >"$tmp/up-secure.log" 2>&1 \
  || { tail -n 30 "$tmp/up-secure.log"; fail "docker-compose up (secure) failed"; }
expected=$(printf '%s\n' "$(container broker 1)" "$(container dashboard 1)" "$(container feed-logger 1)" \
  "$(container optimizer 1)" "$(container worker 1)" "$(container worker 2)" | sort)
running=$(podman ps --filter "label=com.docker.compose.project=$project" --format '{{.Names}}' | sort)
[ "$running" = "$expected" ] || fail "secure: expected running: $(echo $expected); got: $(echo $running)"
health=$(podman inspect --format '{{.State.Health.Status}}' "$(container broker 1)")
[ "$health" = healthy ] || fail "secure: the broker's healthcheck (with the healthcheck key) says '$health'"
say "ok: secure: up --scale worker=2 in $((SECONDS - up_start)) s, broker healthy"
export HYPERLOOM_BROKER="tcp://127.0.0.1:$router"
if timeout 30 "$bin" ping --count 1 --timeout 2s >"$tmp/ping-nokey.log" 2>&1; then
  fail "secure: the broker answered a ping without a key"
fi
export HYPERLOOM_KEY="$client/tester.key" HYPERLOOM_BROKER_KEY="$keys/broker.pub"
timeout 30 "$bin" ping --count 1 --timeout 5s >"$tmp/ping-key.log" 2>&1 \
  || { cat "$tmp/ping-key.log"; fail "secure: the broker did not answer the tester's key"; }
say "ok: secure: a client without a key gets no answer; the tester's key (clients/) does"
# The compose stack's example study as shipped (Docker/study-logreg.yaml): 40 trials.
study=$(ask submit Docker/study-logreg.yaml) || fail "secure: hyperloom submit failed: $study"
study=$(printf '%s\n' "$study" | tail -n 1 | awk '{print $NF}')
wait_study "$study"
[ "$state" = complete ] || { cat "$tmp/status.json"; fail "secure: study $study ended '$state'"; }
trials=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["counts"]["complete"])' "$tmp/status.json")
[ "$trials" = 40 ] || { cat "$tmp/status.json"; fail "secure: $trials of 40 trials complete"; }
say "ok: secure: study $study (Docker/study-logreg.yaml) complete, 40/40 trials"
# The dashboard (viewer key) from the host, with the token it wrote on its volume: the study with
# the metric only the optimizer's summary names, and every trial finished (from the feed).
volume=$(podman volume inspect --format '{{.Mountpoint}}' "${project}_dashboard-data") || fail "secure: no dashboard-data volume"
token=$(cat "$volume/dashboard.token" 2>/dev/null) || fail "secure: the dashboard wrote no token on its volume"
deadline=$((SECONDS + 30))
until python3 - "http://127.0.0.1:$dashboard" "$token" "$study" >"$tmp/dashboard.txt" 2>&1 <<'PY'
import json, sys, urllib.request
doc = json.load(urllib.request.urlopen(sys.argv[1] + "/api/studies?token=" + sys.argv[2], timeout=5))
study = next((s for s in doc["studies"] if s["id"] == sys.argv[3]), None)
print("dashboard:", json.dumps(study)[:300] if study else "no study %s in %s" % (sys.argv[3], [s["id"] for s in doc["studies"]]))
sys.exit(0 if study and study.get("metric") == "loss" and study.get("finished") == 40 and study.get("best") else 1)
PY
do
  [ $SECONDS -lt $deadline ] || { cat "$tmp/dashboard.txt"; compose logs --no-color --tail 20 dashboard 2>&1 | tail -n 20; fail "secure: the dashboard does not show the study (above)"; }
  sleep 1
done
say "ok: secure: the dashboard (viewer key) shows study $study: metric loss, 40 finished, a best trial"
compose stop >"$tmp/stop-secure.log" 2>&1 || { tail -n 20 "$tmp/stop-secure.log"; fail "secure: docker-compose stop failed"; }
bad_exit=""
for name in $expected; do
  code=$(podman inspect --format '{{.State.ExitCode}}' "$name")
  [ "$code" = 0 ] || bad_exit="$bad_exit $name=$code"
done
[ -z "$bad_exit" ] || { compose logs --no-color --tail 20 2>&1 | tail -n 60; fail "secure: non-zero exit codes:$bad_exit"; }
say "ok: secure: docker-compose stop, every container exited 0"
say "passed in $((SECONDS - started)) s"
