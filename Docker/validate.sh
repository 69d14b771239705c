#!/usr/bin/env bash
# Validates the container files without a Docker engine:
#   1. Docker/docker-compose.yml with `docker-compose config -q` (schema, interpolation, build
#      context), with default and overridden variables, then its structure (scalable workers,
#      health-gated start, grace periods, the broker's --insecure);
#   1b. the security override Docker/docker-compose.secure.yml merged over it: `config -q`, then
#      its structure against a throwaway keys directory laid out as Docker/keys/README.md says
#      (the broker's --keys, each service's secrets and key variables, every secret file present,
#      the allowlist holding each peer's public key in its role's directory), .gitignore keeping
#      Docker/keys/*.key out of git, and, with a built hyperloom, a broker started on those keys
#      on loopback answering the healthcheck's `hyperloom ping` with the healthcheck key and not
#      without a key;
#   2. Docker/Dockerfile structurally (stages, dependency layer, exec-form ENTRYPOINT, non-root
#      USER, HEALTHCHECK, ports), plus hadolint when it is installed;
#   3. the root .dockerignore;
#   4. the example trial the image ships (Configs/examples/train.py): one epoch, a checkpoint,
#      exit code 2 on a bad configuration;
#   5. the healthcheck's contract, when a built hyperloom is at hand ($HYPERLOOM_BIN or
#      .build/{debug,release}/hyperloom): `hyperloom ping` must fail when no broker answers.
# HYPERLOOM_KEYS_DIR is ignored: the checks make their own throwaway keys.
# docker-compose is installed with apt-get when it is missing and we are root.
# Exits 0 when everything holds; otherwise names each failure and exits 1.
set -euo pipefail
cd "$(dirname "$0")/.."

COMPOSE_FILE=Docker/docker-compose.yml
SECURE_FILE=Docker/docker-compose.secure.yml
DOCKERFILE=Docker/Dockerfile
failures=0
fail() { echo "validate: FAIL: $*" >&2; failures=$((failures + 1)); }
ok() { echo "validate: ok: $*"; }
note() { echo "validate: note: $*"; }

# Scratch space, and the broker that check 1b may start: both gone when the script exits.
scratch=$(mktemp -d)
broker_pid=
cleanup() {
  if [ -n "$broker_pid" ]; then kill "$broker_pid" 2>/dev/null || true; wait "$broker_pid" 2>/dev/null || true; fi
  rm -rf "$scratch"
}
trap cleanup EXIT

# A built hyperloom, if any: checks 1b and 5 use it.
bin="${HYPERLOOM_BIN:-}"
if [ -z "$bin" ]; then
  for candidate in .build/debug/hyperloom .build/release/hyperloom; do
    [ -x "$candidate" ] && { bin=$candidate; break; }
  done
fi
# N distinct free TCP ports on 127.0.0.1 (all bound at once, so none repeats).
free_ports() {
  python3 -c 'import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))' "$1"
}

# --- 1. compose file --------------------------------------------------------------------------
compose=()
if command -v docker-compose >/dev/null 2>&1; then
  compose=(docker-compose)
elif docker compose version >/dev/null 2>&1; then
  compose=(docker compose)
elif [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "validate: installing docker-compose with apt-get"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose >/dev/null
  compose=(docker-compose)
fi

if [ ${#compose[@]} -eq 0 ]; then
  fail "neither docker-compose nor 'docker compose' is installed (Debian/Ubuntu: apt-get install docker-compose)"
else
  # Only the variables this file reads, so the caller's shell cannot change the verdict.
  clean_env=(env -u HYPERLOOM_BROKER -u HYPERLOOM_FEED -u HYPERLOOM_BROKER_PORT -u HYPERLOOM_FEED_PORT
             -u HYPERLOOM_WORKER_SLOTS -u HYPERLOOM_LOG_LEVEL -u HYPERLOOM_IMAGE -u HYPERLOOM_KEYS_DIR)
  if out=$("${clean_env[@]}" "${compose[@]}" -f "$COMPOSE_FILE" config -q 2>&1); then
    ok "$COMPOSE_FILE: '${compose[*]} config -q' accepts it ($("${compose[@]}" version --short 2>/dev/null || echo '?'))"
  else
    fail "$COMPOSE_FILE: '${compose[*]} config -q' rejects it:"$'\n'"$out"
  fi

  overrides=(HYPERLOOM_BROKER=tcp://10.1.2.3:5555 HYPERLOOM_WORKER_SLOTS=8
             HYPERLOOM_BROKER_PORT=127.0.0.1:15555 HYPERLOOM_FEED_PORT=15556 HYPERLOOM_LOG_LEVEL=debug)
  if rendered=$("${clean_env[@]}" "${overrides[@]}" "${compose[@]}" -f "$COMPOSE_FILE" config 2>&1) &&
     defaults=$("${clean_env[@]}" "${compose[@]}" -f "$COMPOSE_FILE" config 2>&1); then
    if python3 -c 'import yaml' 2>/dev/null; then
      if out=$(DEFAULTS="$defaults" OVERRIDDEN="$rendered" python3 - <<'PY' 2>&1
import os, re, sys, yaml

problems = []
def check(condition, message):
    if not condition:
        problems.append(message)

def seconds(text):
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m|h)", str(text))
    return float(m.group(1)) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[m.group(2)] if m else None

def compose_seconds(text):
    total, rest = 0.0, str(text)
    for value, unit in re.findall(r"(\d+(?:\.\d+)?)(ms|us|h|m|s)", rest):
        total += float(value) * {"us": 1e-6, "ms": 0.001, "s": 1, "m": 60, "h": 3600}[unit]
    return total

defaults = yaml.safe_load(os.environ["DEFAULTS"])
overridden = yaml.safe_load(os.environ["OVERRIDDEN"])
services = defaults.get("services", {})
for name in ("broker", "worker", "feed-logger"):
    check(name in services, "service %r is missing" % name)
if not problems:
    broker, worker, logger = services["broker"], services["worker"], services["feed-logger"]
    for name, service in services.items():
        build = service.get("build", {})
        check(os.path.samefile(build.get("context", "/nonexistent"), "."),
              "%s: build context must be the repository root" % name)
        check(build.get("dockerfile") == "Docker/Dockerfile", "%s: dockerfile must be Docker/Dockerfile" % name)
        check(service.get("stop_grace_period"), "%s: no stop_grace_period" % name)
    # broker
    check(broker.get("command", [])[:1] == ["broker"], "broker: command must start with 'broker'")
    # It binds tcp://* without keys, which the broker refuses unless told --insecure; keys come
    # only with the secure override (check 1b).
    check("--insecure" in broker.get("command", []),
          "broker: binding tcp://* without keys needs --insecure in docker-compose.yml")
    check("--keys" not in broker.get("command", []),
          "broker: --keys belongs in docker-compose.secure.yml, not in docker-compose.yml")
    targets = {p.get("target") for p in broker.get("ports", [])}
    check({5555, 5556} <= targets, "broker: ports 5555 and 5556 must be published")
    test = broker.get("healthcheck", {}).get("test", [])
    check("ping" in test, "broker: healthcheck must run 'hyperloom ping'")
    # worker: scalable, health-gated, graceful
    check("container_name" not in worker, "worker: container_name prevents --scale")
    check(not worker.get("ports"), "worker: published ports prevent --scale")
    check(worker.get("command", [])[:1] == ["worker"], "worker: command must start with 'worker'")
    check(worker.get("depends_on", {}).get("broker", {}).get("condition") == "service_healthy",
          "worker: must depend on broker with condition service_healthy")
    check(worker.get("environment", {}).get("HYPERLOOM_BROKER") == "tcp://broker:5555",
          "worker: HYPERLOOM_BROKER must default to tcp://broker:5555")
    def disabled(service):  # Compose v1 renders `disable: true` as test [NONE]; v2 keeps it
        health = service.get("healthcheck", {})
        return health.get("disable") is True or health.get("test") == ["NONE"]
    check(disabled(worker), "worker: must disable the image's broker healthcheck")
    check(disabled(logger), "feed-logger: must disable the image's broker healthcheck")
    check(worker.get("volumes"), "worker: needs a volume for its work dir")
    command = worker.get("command", [])
    kill_grace = seconds(command[command.index("--kill-grace") + 1]) if "--kill-grace" in command else 5.0
    check(compose_seconds(worker.get("stop_grace_period", "0s")) > kill_grace + 5,
          "worker: stop_grace_period must exceed --kill-grace (%gs) with room to say goodbye" % kill_grace)
    # feed logger
    check(logger.get("command", [])[:1] == ["logger"] and "--out" in logger.get("command", []),
          "feed-logger: must run 'hyperloom logger ... --out FILE'")
    check(not logger.get("entrypoint"), "feed-logger: must keep the image's exec-form entrypoint so SIGTERM reaches hyperloom")
    check(5557 in targets, "broker: the feed's replay port 5557 must be published")
    check("--feed-journal" in broker.get("command", []) and broker.get("volumes"),
          "broker: the feed journal must live on a volume")
    check(logger.get("volumes"), "feed-logger: needs a volume for its log")
    # the variables reach the services
    o = overridden["services"]
    check(o["worker"]["environment"].get("HYPERLOOM_BROKER") == "tcp://10.1.2.3:5555",
          "HYPERLOOM_BROKER does not override the worker's broker")
    check("8" in o["worker"]["command"], "HYPERLOOM_WORKER_SLOTS does not reach --slots")
    def host_side(port):  # long syntax (dict) or short syntax ("IP:PUBLISHED:TARGET")
        if isinstance(port, dict):
            return "%s:%s" % (port.get("host_ip", ""), port.get("published"))
        return str(port).rsplit(":", 1)[0]
    check("127.0.0.1:15555" in [host_side(p) for p in o["broker"]["ports"]],
          "HYPERLOOM_BROKER_PORT does not set the broker's host port")
    check("debug" in o["broker"]["command"], "HYPERLOOM_LOG_LEVEL does not reach --log-level")
print("\n".join(problems))
sys.exit(1 if problems else 0)
PY
      ); then
        ok "$COMPOSE_FILE: structure (scalable workers, service_healthy, grace periods, variables, broker --insecure)"
      else
        fail "$COMPOSE_FILE: structure:"$'\n'"$out"
      fi
    else
      note "python3 has no yaml module: structural compose checks reduced to grep"
      grep -q 'container_name' "$COMPOSE_FILE" && fail "$COMPOSE_FILE: container_name prevents --scale"
      grep -q 'condition: service_healthy' "$COMPOSE_FILE" || fail "$COMPOSE_FILE: no service_healthy condition"
      grep -q '"--insecure"' "$COMPOSE_FILE" || fail "$COMPOSE_FILE: the broker binds tcp://* without keys: needs --insecure"
    fi
  else
    fail "$COMPOSE_FILE: '${compose[*]} config' with overridden variables failed:"$'\n'"$rendered"
  fi
fi

# --- 1b. the security override -------------------------------------------------------------------
# A throwaway keys directory laid out as Docker/keys/README.md says: real keys when a built
# hyperloom is at hand, placeholder files otherwise (compose itself only needs the paths).
keys="$scratch/keys"
secure_peers=(broker healthcheck optimizer worker feed-logger dashboard)
secure_allowlist=(clients/healthcheck optimizers/optimizer workers/worker subscribers/feed-logger viewers/dashboard)
real_keys=false
mkdir -p "$keys"
keygen_help=
if [ -n "$bin" ] && [ -x "$bin" ]; then keygen_help=$("$bin" keygen --help 2>&1 || true); fi
if [ -n "$bin" ] && [ -x "$bin" ] && ! grep -q -- '--out' <<<"$keygen_help"; then
  note "$bin has no 'keygen --out' (a build older than the security work?): placeholder keys instead"
elif [ -n "$bin" ] && [ -x "$bin" ]; then
  real_keys=true
  for name in "${secure_peers[@]}"; do
    if ! "$bin" keygen "$name" --out "$keys" >/dev/null 2>"$scratch/keygen.err"; then
      fail "$bin keygen $name --out DIR: $(cat "$scratch/keygen.err")"
      real_keys=false
      break
    fi
  done
fi
if [ "$real_keys" = false ]; then
  rm -rf "$keys" && mkdir -p "$keys"
  for name in "${secure_peers[@]}"; do
    (umask 077 && echo "placeholder secret key $name" >"$keys/$name.key")
    echo "placeholder public key $name" >"$keys/$name.pub"
  done
fi
for entry in "${secure_allowlist[@]}"; do
  mkdir -p "$keys/${entry%%/*}"
  cp "$keys/${entry##*/}.pub" "$keys/$entry.pub"
done

if [ ${#compose[@]} -ne 0 ]; then
  if out=$("${clean_env[@]}" "${compose[@]}" -f "$COMPOSE_FILE" -f "$SECURE_FILE" config -q 2>&1); then
    ok "$SECURE_FILE: '${compose[*]} -f $COMPOSE_FILE -f $SECURE_FILE config -q' accepts the merge"
  else
    fail "$SECURE_FILE: '${compose[*]} config -q' rejects the merge:"$'\n'"$out"
  fi
  if secure=$("${clean_env[@]}" HYPERLOOM_KEYS_DIR="$keys" "${compose[@]}" -f "$COMPOSE_FILE" -f "$SECURE_FILE" config 2>&1); then
    if python3 -c 'import yaml' 2>/dev/null; then
      if out=$(SECURE="$secure" KEYS="$keys" python3 - <<'PY' 2>&1
import os, sys, yaml

problems = []
def check(condition, message):
    if not condition:
        problems.append(message)

keys = os.environ["KEYS"]
merged = yaml.safe_load(os.environ["SECURE"])
services = merged.get("services", {})
secrets = merged.get("secrets") or {}

def mounts(service):
    """Container path -> host path of every secret the service mounts."""
    out = {}
    for item in service.get("secrets") or []:
        source = item if isinstance(item, str) else item.get("source")
        target = (None if isinstance(item, str) else item.get("target")) or source
        out[target if target.startswith("/") else "/run/secrets/" + target] = (secrets.get(source) or {}).get("file")
    return out

def host_path(service, path):
    """The host file behind `path` inside the service's container, through its secret mounts."""
    for target, host in mounts(service).items():
        if host and path == target:
            return host
        if host and path.startswith(target + "/"):
            return os.path.join(host, path[len(target) + 1:])
    return None

def same(a, b):
    return a is not None and os.path.exists(a) and os.path.exists(b) and os.path.samefile(a, b)

def read(path):
    with open(path, "rb") as f:
        return f.read()

def allowlisted(secret_key, role_dir):
    """Whether the public key next to `secret_key` is in the allowlist directory `role_dir`."""
    public, directory = secret_key[:-len(".key")] + ".pub", os.path.join(keys, role_dir)
    if not os.path.isfile(public) or not os.path.isdir(directory):
        return False
    return any(read(os.path.join(directory, f)) == read(public) for f in os.listdir(directory) if f.endswith(".pub"))

for name, secret in secrets.items():
    check(secret.get("file") and os.path.exists(secret["file"]),
          "secret %s: %s is not in the Docker/keys layout" % (name, secret.get("file")))
missing = [name for name in ("broker", "optimizer", "worker", "feed-logger", "dashboard") if name not in services]
check(not missing, "services missing: %s" % missing)
if not missing:
    # The broker: --keys instead of --insecure, on the mounted keys directory, still on every interface.
    broker = services["broker"]
    command = broker.get("command", [])
    check(command[:1] == ["broker"], "broker: command must start with 'broker'")
    check("--insecure" not in command, "broker: --insecure must be gone in the secure configuration")
    check("tcp://*:5555" in command and "tcp://*:5556" in command, "broker: must still bind tcp://*:5555 and tcp://*:5556")
    if "--keys" in command and command.index("--keys") + 1 < len(command):
        directory = host_path(broker, command[command.index("--keys") + 1])
        check(same(directory, keys), "broker: --keys must name the mounted keys directory, got %s" % directory)
        check(os.path.isfile(os.path.join(keys, "broker.key")), "broker: no broker.key in the keys directory")
    else:
        check(False, "broker: the secure configuration must pass --keys DIR")
    # Its healthcheck and `exec broker hyperloom status` connect as a client.
    env = broker.get("environment") or {}
    health_key = host_path(broker, env.get("HYPERLOOM_KEY", ""))
    check(health_key and os.path.isfile(health_key), "broker: HYPERLOOM_KEY must name a secret key in the mounted keys directory (the healthcheck is a client)")
    check(health_key and allowlisted(health_key, "clients"), "broker: the healthcheck's public key must be in clients/")
    check(same(host_path(broker, env.get("HYPERLOOM_BROKER_KEY", "")), os.path.join(keys, "broker.pub")),
          "broker: HYPERLOOM_BROKER_KEY must name broker.pub")
    check("ping" in (broker.get("healthcheck") or {}).get("test", []), "broker: healthcheck must run 'hyperloom ping'")
    # The peers: their own secret key and broker.pub, nothing else; their public key in their role's directory.
    peers = {
        "optimizer": ("HYPERLOOM_OPTIMIZER_KEY", "HYPERLOOM_OPTIMIZER_BROKER_KEY", "optimizers"),
        "worker": ("HYPERLOOM_WORKER_KEY", "HYPERLOOM_WORKER_BROKER_KEY", "workers"),
        "feed-logger": ("HYPERLOOM_KEY", "HYPERLOOM_BROKER_KEY", "subscribers"),
        # Read-only: the viewer role, never a client key (which could submit trials).
        "dashboard": ("HYPERLOOM_KEY", "HYPERLOOM_BROKER_KEY", "viewers"),
    }
    for name, (key_variable, broker_variable, role_dir) in peers.items():
        service = services[name]
        env = service.get("environment") or {}
        key = host_path(service, env.get(key_variable, ""))
        public = host_path(service, env.get(broker_variable, ""))
        check(key and key.endswith(".key") and os.path.isfile(key),
              "%s: %s must name its secret key file, mounted as a secret" % (name, key_variable))
        check(same(public, os.path.join(keys, "broker.pub")), "%s: %s must name broker.pub, mounted as a secret" % (name, broker_variable))
        check(key and allowlisted(key, role_dir), "%s: its public key must be in %s/" % (name, role_dir))
        extra = [host for host in mounts(service).values() if host not in (key, public)]
        check(not extra, "%s: mounts more than its own key and broker.pub: %s" % (name, extra))
    # The base file's settings survive the merge.
    worker = services["worker"]
    check("container_name" not in worker and not worker.get("ports"), "worker: must stay scalable")
    check((worker.get("environment") or {}).get("HYPERLOOM_BROKER") == "tcp://broker:5555",
          "worker: HYPERLOOM_BROKER lost in the merge")
    check((services["feed-logger"].get("environment") or {}).get("HYPERLOOM_FEED") == "tcp://broker:5556",
          "feed-logger: HYPERLOOM_FEED lost in the merge")
print("\n".join(problems))
sys.exit(1 if problems else 0)
PY
      ); then
        ok "$SECURE_FILE: structure (broker --keys on the mounted keys directory, each service its own key and broker.pub, allowlist by role)"
      else
        fail "$SECURE_FILE: structure:"$'\n'"$out"
      fi
    else
      note "python3 has no yaml module: structural checks of $SECURE_FILE reduced to grep"
      grep -q '"--keys"' "$SECURE_FILE" || fail "$SECURE_FILE: the broker must get --keys"
      grep -q 'insecure' <(grep -v '^[[:space:]]*#' "$SECURE_FILE") && fail "$SECURE_FILE: must not pass --insecure"
    fi
  else
    fail "$SECURE_FILE: '${compose[*]} config' of the merge with HYPERLOOM_KEYS_DIR failed:"$'\n'"$secure"
  fi
fi

# Secret keys never go into git.
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  if git check-ignore -q Docker/keys/broker.key; then
    ok ".gitignore keeps Docker/keys/*.key out of git"
  else
    fail ".gitignore must ignore Docker/keys/*.key (the secure stack's secret keys)"
  fi
elif grep -qxF 'Docker/keys/*.key' .gitignore 2>/dev/null; then
  ok ".gitignore lists Docker/keys/*.key"
else
  fail ".gitignore must list Docker/keys/*.key (the secure stack's secret keys)"
fi

# The layout works: a broker on those keys answers the healthcheck's ping with the healthcheck
# key, and only with a key.
if [ "$real_keys" = true ]; then
  read -r router feed < <(free_ports 2)
  "$bin" broker --endpoint "tcp://127.0.0.1:$router" --feed "tcp://127.0.0.1:$feed" --keys "$keys" \
    >"$scratch/broker.log" 2>&1 &
  broker_pid=$!
  answered=false
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    if timeout 20 env HYPERLOOM_KEY="$keys/healthcheck.key" HYPERLOOM_BROKER_KEY="$keys/broker.pub" \
         "$bin" ping --broker "tcp://127.0.0.1:$router" --count 1 --timeout 1s >/dev/null 2>&1; then
      answered=true
      break
    fi
    kill -0 "$broker_pid" 2>/dev/null || break
    sleep 0.2
  done
  if [ "$answered" = true ]; then
    ok "$bin broker --keys (Docker/keys layout) answers hyperloom ping with the healthcheck key"
  else
    fail "$bin broker --keys on the Docker/keys layout does not answer ping with the healthcheck key:"$'\n'"$(cat "$scratch/broker.log")"
  fi
  status=0
  timeout 20 env -u HYPERLOOM_KEY -u HYPERLOOM_BROKER_KEY \
    "$bin" ping --broker "tcp://127.0.0.1:$router" --count 1 --timeout 500ms >/dev/null 2>&1 || status=$?
  if [ "$status" -ne 0 ] && [ "$status" -ne 124 ]; then
    ok "$bin broker --keys does not answer a ping without a key"
  else
    fail "$bin broker --keys: a ping without a key exited $status (expected a failure)"
  fi
  kill "$broker_pid" 2>/dev/null || true
  wait "$broker_pid" 2>/dev/null || true
  broker_pid=
else
  note "no hyperloom with keygen: the secure layout was checked with placeholder files, no broker started"
fi

# --- 2. Dockerfile ------------------------------------------------------------------------------
# One instruction per line: continuation lines joined, comments dropped.
instructions=$(sed -e 's/^[[:space:]]*#.*$//' "$DOCKERFILE" | awk '
  /\\[[:space:]]*$/ { sub(/\\[[:space:]]*$/, ""); line = line $0 " "; next }
  { line = line $0; if (line ~ /[^[:space:]]/) print line; line = "" }')
# The runtime stages: from the stage on RUNTIME_IMAGE to the end (the prebuilt and release stages
# only add the binary to it).
final=$(printf '%s\n' "$instructions" | awk 'toupper($1) == "FROM" && $2 == "${RUNTIME_IMAGE}" { on = 1 } on')
last=$(printf '%s\n' "$instructions" | awk 'toupper($1) == "FROM" { buf = "" } { buf = buf $0 "\n" } END { printf "%s", buf }')
has() { printf '%s\n' "$1" | grep -Eq "$2"; }
line_of() { printf '%s\n' "$instructions" | grep -En "$1" | head -1 | cut -d: -f1; }

stages=$(printf '%s\n' "$instructions" | grep -Ec '^FROM[[:space:]]')
if [ "$stages" -ge 2 ]; then
  ok "$DOCKERFILE: $stages stages"
else
  fail "$DOCKERFILE: expected a multi-stage build, found $stages FROM"
fi
if has "$instructions" '^ARG SWIFT_IMAGE=swift:6\.[0-9.]+-bookworm$'; then
  ok "$DOCKERFILE: builder from $(printf '%s\n' "$instructions" | sed -n 's/^ARG SWIFT_IMAGE=//p')"
else
  fail "$DOCKERFILE: the builder must default to an official swift:6.x-bookworm image (ARG SWIFT_IMAGE)"
fi
has "$instructions" '^ARG RUNTIME_IMAGE=debian:bookworm-slim$' ||
  fail "$DOCKERFILE: the runtime stage must be debian:bookworm-slim (ARG RUNTIME_IMAGE)"
has "$instructions" 'apt-get .*install .*libzmq3-dev' || fail "$DOCKERFILE: the builder must install libzmq3-dev"
resolve=$(line_of '^RUN swift package resolve')
sources=$(line_of '^COPY Sources ')
manifest=$(line_of '^COPY Package\.swift ')
if [ -n "$resolve" ] && [ -n "$sources" ] && [ -n "$manifest" ] && [ "$manifest" -lt "$resolve" ] && [ "$resolve" -lt "$sources" ]; then
  ok "$DOCKERFILE: dependencies resolved in their own layer before the sources are copied"
else
  fail "$DOCKERFILE: expected COPY Package.swift, then RUN swift package resolve, then COPY Sources"
fi
has "$instructions" '^RUN swift build -c release --product hyperloom --static-swift-stdlib' ||
  fail "$DOCKERFILE: expected 'swift build -c release --product hyperloom --static-swift-stdlib'"
if has "$last" '^COPY --from=builder /staging/hyperloom /usr/local/bin/hyperloom$'; then
  ok "$DOCKERFILE: the last stage (the default target) takes the binary from the builder stage"
else
  fail "$DOCKERFILE: the last stage must COPY --from=builder /staging/hyperloom (a build without --target)"
fi
has "$instructions" '^FROM runtime AS prebuilt$' && has "$instructions" '^COPY --from=prebuilt-binaries hyperloom ' ||
  fail "$DOCKERFILE: expected the prebuilt target (FROM runtime AS prebuilt, COPY --from=prebuilt-binaries) the compose test builds"
has "$instructions" '^COPY Tests ' ||
  fail "$DOCKERFILE: Package.swift declares test targets; their directories must be copied for swift build"

has "$final" 'apt-get .*install .*libzmq5' || fail "$DOCKERFILE: the runtime stage must install libzmq5"
has "$final" 'apt-get .*install .*python3' || fail "$DOCKERFILE: the runtime stage must install python3 (trials)"
has "$final" 'apt-get .*install .*-dev( |$)' && fail "$DOCKERFILE: the runtime stage installs a -dev package"
user=$(printf '%s\n' "$final" | sed -n 's/^USER[[:space:]]\{1,\}//p' | tail -1)
case "${user%%:*}" in
  "") fail "$DOCKERFILE: the runtime stage has no USER (it would run as root)" ;;
  root|0) fail "$DOCKERFILE: USER is $user (root)" ;;
  *) ok "$DOCKERFILE: runs as USER $user" ;;
esac
has "$final" '^(RUN|.*&&) *(groupadd|useradd).*10001' || fail "$DOCKERFILE: the hyperloom user must have the fixed uid/gid 10001"
entrypoints=$(printf '%s\n' "$final" | grep -Ec '^ENTRYPOINT[[:space:]]')
entrypoint=$(printf '%s\n' "$final" | grep -E '^ENTRYPOINT[[:space:]]' | tail -1)
if [ "$entrypoints" -eq 1 ] && has "$entrypoint" '^ENTRYPOINT \[".*hyperloom"\]$'; then
  ok "$DOCKERFILE: exec-form $entrypoint"
else
  fail "$DOCKERFILE: expected one exec-form ENTRYPOINT [...] ending in hyperloom (shell form would keep SIGTERM from hyperloom), got: ${entrypoint:-none}"
fi
has "$final" '^CMD \[' || fail "$DOCKERFILE: CMD must be in exec form"
if has "$final" '^HEALTHCHECK .*CMD \["hyperloom", "ping"'; then
  ok "$DOCKERFILE: HEALTHCHECK runs hyperloom ping (exec form)"
else
  fail "$DOCKERFILE: expected an exec-form HEALTHCHECK running 'hyperloom ping'"
fi
{ has "$final" '^EXPOSE .*5555' && has "$final" '^EXPOSE .*5556'; } || fail "$DOCKERFILE: EXPOSE 5555 5556 missing"
has "$final" '^WORKDIR /data$' || fail "$DOCKERFILE: WORKDIR /data missing"
has "$instructions" '^FROM [^$]*:latest' && fail "$DOCKERFILE: a base image uses :latest"
has "$instructions" '^ADD ' && fail "$DOCKERFILE: use COPY, not ADD"
# Every COPY from the build context must exist and not be excluded by .dockerignore.
while read -r src; do
  [ -e "$src" ] || fail "$DOCKERFILE: COPY source $src does not exist in the build context"
  if grep -Eqx "/?${src%%/*}/?" .dockerignore 2>/dev/null; then
    fail "$DOCKERFILE: COPY source $src is excluded by .dockerignore"
  fi
done < <(printf '%s\n' "$instructions" | awk '$1 == "COPY" && $2 !~ /^--from/ { for (i = 2; i < NF; i++) if ($i !~ /^--/ && $i !~ /\*/) print $i }')
if command -v hadolint >/dev/null 2>&1; then
  # DL3008 (pin apt package versions) is deliberate: bookworm's security updates should land.
  if hadolint --ignore DL3008 --failure-threshold warning "$DOCKERFILE"; then
    ok "$DOCKERFILE: hadolint"
  else
    fail "$DOCKERFILE: hadolint findings above"
  fi
else
  note "hadolint not installed: structural checks only"
fi

# --- 3. .dockerignore ---------------------------------------------------------------------------
if [ -f .dockerignore ]; then
  missing=()
  for entry in .build .git hyperloom-data; do grep -Eqx "/?$entry/?" .dockerignore || missing+=("$entry"); done
  if [ ${#missing[@]} -eq 0 ]; then
    ok ".dockerignore excludes .build .git hyperloom-data"
  else
    fail ".dockerignore does not exclude: ${missing[*]}"
  fi
else
  fail ".dockerignore missing at the repository root (the build context)"
fi

# --- 4. the example trial -----------------------------------------------------------------------
trial=Configs/examples/train.py
if python3 -c 'import sys; compile(open(sys.argv[1]).read(), sys.argv[1], "exec")' "$trial" 2>"$scratch/err" &&
   HYPERLOOM_CONFIG='{"lr": 0.1, "epochs": 1}' HYPERLOOM_CHECKPOINT_DIR="$scratch/ck" \
     python3 "$trial" >"$scratch/out" 2>>"$scratch/err" &&
   grep -Eq '^@hyperloom \{"epoch": 1, "loss": [0-9.]+, "accuracy": [0-9.]+.*"checkpoint": true\}$' "$scratch/out" &&
   [ -f "$scratch/ck/state.json" ]; then
  ok "$trial: one epoch, a metric line and a checkpoint"
else
  fail "$trial: smoke run failed: $(cat "$scratch/out" "$scratch/err")"
fi
status=0
HYPERLOOM_CONFIG='{"lr": -1}' python3 "$trial" >/dev/null 2>&1 || status=$?
if [ "$status" -eq 2 ]; then
  ok "$trial: exit code 2 on an invalid configuration"
else
  fail "$trial: expected exit code 2 for lr < 0, got $status"
fi

# --- 5. the healthcheck's contract --------------------------------------------------------------
if [ -n "$bin" ] && [ -x "$bin" ]; then
  port=$(free_ports 1)
  status=0
  timeout 20 "$bin" ping --broker "tcp://127.0.0.1:$port" --count 1 --timeout 500ms >/dev/null 2>&1 || status=$?
  if [ "$status" -ne 0 ] && [ "$status" -ne 124 ]; then
    ok "$bin ping exits $status when no broker answers (the HEALTHCHECK can report unhealthy)"
  elif [ "$status" -eq 124 ]; then
    fail "$bin ping --timeout 500ms did not return within 20s: the HEALTHCHECK would hang"
  else
    fail "$bin ping exits 0 when no broker answers: the broker's HEALTHCHECK would always pass"
  fi
else
  note "no built hyperloom (set HYPERLOOM_BIN or build first): healthcheck contract not checked"
fi

# --- 6. monitoring: the Prometheus config and the metrics ports -------------------------------
if command -v promtool >/dev/null 2>&1; then
  if promtool check config Docker/prometheus/prometheus.yml >"$scratch/promtool.log" 2>&1; then
    ok "promtool check config Docker/prometheus/prometheus.yml"
  else
    fail "promtool check config Docker/prometheus/prometheus.yml: $(cat "$scratch/promtool.log")"
  fi
else
  note "promtool missing (apt-get install prometheus): Docker/prometheus/prometheus.yml not checked"
fi
for pair in broker:9101 optimizer:9102 worker:9103; do
  service=${pair%%:*} port=${pair##*:}
  if grep -q "\"--metrics-port\", \"$port\"" "$COMPOSE_FILE" && grep -q "\"$service:$port\"\|port: $port" Docker/prometheus/prometheus.yml; then
    ok "$service serves metrics on :$port and Prometheus scrapes it there"
  else
    fail "$service: --metrics-port $port in $COMPOSE_FILE and its target in Docker/prometheus/prometheus.yml must agree"
  fi
done
# The Grafana dashboard (no local Grafana image to load it in): JSON, and every metric its queries
# name is one the services export (Sources/LoomMetrics/MetricCatalogue.swift).
if out=$(python3 - Docker/grafana/hyperloom.json Sources/LoomMetrics/MetricCatalogue.swift <<'PY' 2>&1
import json, re, sys
dashboard = json.load(open(sys.argv[1]))
exported = set(re.findall(r'Entry\("(hyperloom_[a-z_]+)"', open(sys.argv[2]).read()))
exprs = []
def walk(o):
    if isinstance(o, dict):
        for k, v in o.items():
            exprs.append(v) if k == "expr" else walk(v)
    elif isinstance(o, list):
        for v in o: walk(v)
walk(dashboard)
names = {re.sub(r"_(bucket|sum|count)$", "", n) for e in exprs for n in re.findall(r"hyperloom_[a-z_]+", e)}
unknown = sorted(names - exported)
if not exprs or unknown:
    sys.exit("%d queries; metrics not exported: %s" % (len(exprs), unknown))
print("%d queries over %d metrics" % (len(exprs), len(names)))
PY
); then
  ok "Docker/grafana/hyperloom.json: JSON, $out, each one exported"
else
  fail "Docker/grafana/hyperloom.json: $out"
fi
if [ ${#compose[@]} -ne 0 ]; then
  if out=$("${clean_env[@]}" "${compose[@]}" -f "$COMPOSE_FILE" -f Docker/docker-compose.monitoring.yml config -q 2>&1); then
    ok "Docker/docker-compose.monitoring.yml: '${compose[*]} config -q' accepts the merge"
  else
    fail "Docker/docker-compose.monitoring.yml: '${compose[*]} config -q' rejects the merge:"$'\n'"$out"
  fi
fi

if [ "$failures" -gt 0 ]; then
  echo "validate: $failures check(s) failed" >&2
  exit 1
fi
echo "validate: all checks passed"
