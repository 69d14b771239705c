#!/usr/bin/env bash
# Serves the Docker API from podman, so that docker-compose (1.29) and the docker CLI drive podman
# (Docker/README.md, "With podman"):
#
#   Docker/podman-service.sh start DIR    # socket DIR/podman.sock; prints the DOCKER_HOST to export
#   Docker/podman-service.sh stop DIR     # stops what start started (the containers keep running)
#
# start runs `podman system service --time=0 unix://DIR/podman.sock` in the background, and beside
# it a health ticker: podman schedules HEALTHCHECKs with systemd timers, and a machine without
# systemd as PID 1 (these) never runs them, so the broker would stay "starting" forever and
# `depends_on: condition: service_healthy` would never let the other services start. The ticker
# runs `podman healthcheck run` on every running container that has a healthcheck, every
# HYPERLOOM_HEALTH_TICK seconds (default 5, the compose file's broker interval). Both write their
# pids and logs in DIR.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
. "$here/podman-env.sh"
usage() { echo "usage: podman-service.sh start|stop DIR" >&2; exit 2; }
[ $# -eq 2 ] || usage
action="$1"
dir="$2"
tick="${HYPERLOOM_HEALTH_TICK:-5}"
case "$tick" in ''|*[!0-9]*) echo "podman-service.sh: HYPERLOOM_HEALTH_TICK must be whole seconds, got '$tick'" >&2; exit 2 ;; esac

stop_pid() {
  local file="$1" pid
  [ -f "$file" ] || return 0
  pid="$(cat "$file")"
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$file"
}

case "$action" in
  start)
    command -v podman >/dev/null 2>&1 || { echo "podman-service.sh: podman is not installed (Docker/install-podman.sh)" >&2; exit 1; }
    mkdir -p "$dir"
    dir="$(cd "$dir" && pwd)"
    socket="$dir/podman.sock"
    if [ -f "$dir/service.pid" ] && kill -0 "$(cat "$dir/service.pid")" 2>/dev/null; then
      echo "podman-service.sh: already serving $socket (pid $(cat "$dir/service.pid"))" >&2
      exit 1
    fi
    rm -f "$socket"
    podman system service --time=0 "unix://$socket" >"$dir/service.log" 2>&1 &
    echo $! >"$dir/service.pid"
    for _ in $(seq 1 100); do [ -S "$socket" ] && break; sleep 0.1; done
    if [ ! -S "$socket" ]; then
      tail -n 20 "$dir/service.log" >&2
      stop_pid "$dir/service.pid"
      echo "podman-service.sh: podman system service did not create $socket within 10 s" >&2
      exit 1
    fi
    service_pid="$(cat "$dir/service.pid")"
    (
      # Ends with the service, or when stopped.
      while kill -0 "$service_pid" 2>/dev/null; do
        for id in $(podman ps -q --filter health=starting --filter health=healthy --filter health=unhealthy 2>/dev/null); do
          podman healthcheck run "$id" >/dev/null 2>&1 || true
        done
        sleep "$tick"
      done
    ) </dev/null >"$dir/health.log" 2>&1 &
    echo $! >"$dir/health.pid"
    echo "export DOCKER_HOST=unix://$socket"
    ;;
  stop)
    dir="$(cd "$dir" 2>/dev/null && pwd)" || exit 0
    stop_pid "$dir/health.pid"
    stop_pid "$dir/service.pid"
    rm -f "$dir/podman.sock"
    ;;
  *) usage ;;
esac
