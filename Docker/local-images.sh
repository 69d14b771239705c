#!/usr/bin/env bash
# Makes the local base images Docker/Dockerfile builds from on machines that cannot pull from a
# registry (podman, as root; Docker/README.md, "With podman"):
#
#   $HYPERLOOM_SLIM_IMAGE   localhost/hyperloom-bookworm-slim:latest, for RUNTIME_IMAGE: Debian 12
#                           (bookworm) from `debootstrap --variant=minbase`, imported with
#                           `podman import`; the same release as this machine, whose toolchain
#                           and libzmq the binaries are built with
#   $HYPERLOOM_SWIFT_IMAGE  localhost/hyperloom-swift:<version>-bookworm, for SWIFT_IMAGE: that
#                           image, the toolchain's system packages, and a copy of the Swift
#                           toolchain at $HYPERLOOM_SWIFT_TOOLCHAIN (/opt/swift)
#   $HYPERLOOM_PROMETHEUS_IMAGE  localhost/hyperloom-prometheus:latest, for the monitoring compose
#                           file: the Debian image and Debian's `prometheus` package
#                           (Docker/prometheus/Containerfile)
#
# Usage: Docker/local-images.sh [--force] [all|slim|prometheus]
#   an image that exists is kept unless --force; `slim` makes only the Debian image (enough for
#   the Dockerfile's prebuilt target, which the compose test builds); `prometheus` the Debian
#   image and the Prometheus image (the compose test's monitoring check); `all` the Debian and
#   Swift images
# Environment: DEBIAN_MIRROR (default http://deb.debian.org/debian), and Docker/podman-env.sh's.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
. "$here/podman-env.sh"
force=0
which=all
for arg in "$@"; do
  case "$arg" in
    --force) force=1 ;;
    all|slim|prometheus) which="$arg" ;;
    *) echo "local-images.sh: unknown argument '$arg' (usage: local-images.sh [--force] [all|slim|prometheus])" >&2; exit 2 ;;
  esac
done
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
release=bookworm

for tool in podman debootstrap tar; do
  command -v "$tool" >/dev/null 2>&1 \
    || { echo "local-images.sh: $tool is not installed (Docker/install-podman.sh installs it)" >&2; exit 1; }
done
[ "$(id -u)" -eq 0 ] || { echo "local-images.sh: debootstrap and podman import need root" >&2; exit 1; }
[ "$which" != all ] || [ -x "$HYPERLOOM_SWIFT_TOOLCHAIN/usr/bin/swift" ] \
  || { echo "local-images.sh: no Swift toolchain at $HYPERLOOM_SWIFT_TOOLCHAIN (set HYPERLOOM_SWIFT_TOOLCHAIN)" >&2; exit 1; }
if [ -r /etc/os-release ] && ! grep -q "^VERSION_CODENAME=$release$" /etc/os-release; then
  echo "local-images.sh: warning: this machine is not Debian $release; the toolchain copied from it" \
       "may not run on $release" >&2
fi

exists() { podman image exists "$1"; }

if [ "$force" -eq 1 ] || ! exists "$HYPERLOOM_SLIM_IMAGE"; then
  work="$(mktemp -d /tmp/hyperloom-rootfs.XXXXXX)"
  trap 'rm -rf "$work"' EXIT
  start=$SECONDS
  echo "local-images.sh: debootstrap --variant=minbase $release from $mirror"
  debootstrap --variant=minbase "$release" "$work/rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 \
    || { tail -n 20 "$work/debootstrap.log" >&2; echo "local-images.sh: debootstrap failed" >&2; exit 1; }
  # Like the official debian image: updates and security fixes, no package caches or lists.
  cat >"$work/rootfs/etc/apt/sources.list" <<SOURCES
deb $mirror $release main
deb $mirror $release-updates main
deb ${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security} $release-security main
SOURCES
  rm -rf "$work/rootfs"/var/cache/apt/archives/*.deb "$work/rootfs"/var/lib/apt/lists/*_* \
         "$work/rootfs"/var/log/bootstrap.log
  tar --numeric-owner -C "$work/rootfs" -c . \
    | podman import --quiet --change 'CMD ["bash"]' --message "debootstrap --variant=minbase $release" \
        - "$HYPERLOOM_SLIM_IMAGE" >/dev/null
  rm -rf "$work"
  trap - EXIT
  echo "local-images.sh: $HYPERLOOM_SLIM_IMAGE made in $((SECONDS - start)) s"
else
  echo "local-images.sh: $HYPERLOOM_SLIM_IMAGE exists (--force makes it again)"
fi

if [ "$which" = prometheus ]; then
  if [ "$force" -eq 1 ] || ! exists "$HYPERLOOM_PROMETHEUS_IMAGE"; then
    start=$SECONDS
    echo "local-images.sh: $HYPERLOOM_PROMETHEUS_IMAGE from $HYPERLOOM_SLIM_IMAGE and Debian's prometheus package"
    podman build --quiet -f "$here/prometheus/Containerfile" --build-arg BASE_IMAGE="$HYPERLOOM_SLIM_IMAGE" \
      -t "$HYPERLOOM_PROMETHEUS_IMAGE" "$here/prometheus" >/dev/null
    echo "local-images.sh: $HYPERLOOM_PROMETHEUS_IMAGE made in $((SECONDS - start)) s"
  else
    echo "local-images.sh: $HYPERLOOM_PROMETHEUS_IMAGE exists (--force makes it again)"
  fi
elif [ "$which" = slim ]; then
  :
elif [ "$force" -eq 1 ] || ! exists "$HYPERLOOM_SWIFT_IMAGE"; then
  start=$SECONDS
  echo "local-images.sh: $HYPERLOOM_SWIFT_IMAGE from $HYPERLOOM_SLIM_IMAGE and $HYPERLOOM_SWIFT_TOOLCHAIN"
  podman build --quiet -f "$here/swift-builder.Containerfile" \
    --build-arg BASE_IMAGE="$HYPERLOOM_SLIM_IMAGE" -t "$HYPERLOOM_SWIFT_IMAGE" \
    "$HYPERLOOM_SWIFT_TOOLCHAIN" >/dev/null
  echo "local-images.sh: $HYPERLOOM_SWIFT_IMAGE made in $((SECONDS - start)) s"
else
  echo "local-images.sh: $HYPERLOOM_SWIFT_IMAGE exists (--force makes it again)"
fi
podman images --format '{{.Repository}}:{{.Tag}} {{.Size}}' \
  | grep -E "^(${HYPERLOOM_SLIM_IMAGE}|${HYPERLOOM_SWIFT_IMAGE}|${HYPERLOOM_PROMETHEUS_IMAGE})( |$)" || true
