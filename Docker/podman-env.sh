# Sourced by the podman scripts in Docker/: the settings every podman command here needs.
# Not a program; `. Docker/podman-env.sh` in a shell gives you the same environment.
#
#   CONTAINERS_CONF       Docker/podman/containers.conf unless already set (why: that file)
#   HYPERLOOM_SLIM_IMAGE  the local Debian base image (RUNTIME_IMAGE of the Dockerfile)
#   HYPERLOOM_SWIFT_IMAGE the local Swift builder image (SWIFT_IMAGE of the Dockerfile)
#   HYPERLOOM_PROMETHEUS_IMAGE  the local Prometheus image (Docker/prometheus/Containerfile)
#   HYPERLOOM_SWIFT_TOOLCHAIN  the toolchain copied into the builder image (/opt/swift)
#   HYPERLOOM_SWIFT_PACKAGES   package copies mounted while building ('' for none: GitHub)
hyperloom_docker_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export CONTAINERS_CONF="${CONTAINERS_CONF:-$hyperloom_docker_dir/podman/containers.conf}"
export HYPERLOOM_SWIFT_TOOLCHAIN="${HYPERLOOM_SWIFT_TOOLCHAIN:-/opt/swift}"
export HYPERLOOM_SWIFT_PACKAGES="${HYPERLOOM_SWIFT_PACKAGES-/opt/swift-packages}"
export HYPERLOOM_SLIM_IMAGE="${HYPERLOOM_SLIM_IMAGE:-localhost/hyperloom-bookworm-slim:latest}"
export HYPERLOOM_PROMETHEUS_IMAGE="${HYPERLOOM_PROMETHEUS_IMAGE:-localhost/hyperloom-prometheus:latest}"
if [ -z "${HYPERLOOM_SWIFT_IMAGE:-}" ]; then
  # Tagged with the toolchain's version, like the official swift:6.3.1-bookworm.
  hyperloom_swift_version="$("$HYPERLOOM_SWIFT_TOOLCHAIN/usr/bin/swift" --version 2>/dev/null \
    | sed -n 's/.*Swift version \([0-9][0-9.]*\).*/\1/p' | head -n 1)"
  export HYPERLOOM_SWIFT_IMAGE="localhost/hyperloom-swift:${hyperloom_swift_version:-unknown}-bookworm"
fi
