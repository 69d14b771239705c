#!/usr/bin/env bash
# Installs what the podman route of Docker/ needs on Debian, only where it is missing: podman with
# its recommendations (buildah for `podman build`, netavark and aardvark-dns for networks with
# service-name DNS), runc (Docker/podman/containers.conf's runtime), debootstrap
# (local-images.sh) and docker-compose 1.29 (the Docker API client that runs the compose files
# through podman's socket). Called by .ci/install-deps; safe to run repeatedly.
set -euo pipefail
missing=()
command -v podman >/dev/null 2>&1 || missing+=(podman)
command -v runc >/dev/null 2>&1 || [ -x /usr/sbin/runc ] || missing+=(runc)
command -v debootstrap >/dev/null 2>&1 || [ -x /usr/sbin/debootstrap ] || missing+=(debootstrap)
command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
[ ${#missing[@]} -eq 0 ] && exit 0
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-podman: missing ${missing[*]} and no apt-get here; install them by hand" >&2
  exit 1
fi
echo "install-podman: installing ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq \
  "${missing[@]}" >/dev/null
