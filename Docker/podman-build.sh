#!/usr/bin/env bash
# Builds the image from Docker/Dockerfile with podman, from the local base images, where no
# registry can be reached (`make docker`; Docker/README.md, "With podman"):
#
#   Docker/podman-build.sh [PODMAN BUILD OPTIONS...]
#
# Makes the base images first if they are missing (local-images.sh), passes them as SWIFT_IMAGE
# and RUNTIME_IMAGE, and mounts the machine's Swift package copies into the build's containers
# (read-only, at the same path, so git's url.insteadOf in the builder image finds them; they never
# enter a layer). The image is tagged $HYPERLOOM_IMAGE (default localhost/hyperloom:latest, which
# docker-compose.yml's default hyperloom:latest names). Prints the build time and the image size.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/.." && pwd)"
. "$here/podman-env.sh"
image="${HYPERLOOM_IMAGE:-localhost/hyperloom:latest}"

"$here/local-images.sh"

mounts=()
if [ -n "$HYPERLOOM_SWIFT_PACKAGES" ]; then
  [ -d "$HYPERLOOM_SWIFT_PACKAGES" ] \
    || { echo "podman-build.sh: no package copies at $HYPERLOOM_SWIFT_PACKAGES (HYPERLOOM_SWIFT_PACKAGES='' clones from GitHub)" >&2; exit 1; }
  mounts=(--volume "$HYPERLOOM_SWIFT_PACKAGES:$HYPERLOOM_SWIFT_PACKAGES:ro")
fi

start=$SECONDS
# --format docker: the OCI image format has no HEALTHCHECK, and podman drops it without a word.
podman build --format docker -f "$here/Dockerfile" \
  --build-arg SWIFT_IMAGE="$HYPERLOOM_SWIFT_IMAGE" --build-arg RUNTIME_IMAGE="$HYPERLOOM_SLIM_IMAGE" \
  "${mounts[@]}" -t "$image" "$@" "$repo"
seconds=$((SECONDS - start))
size="$(podman image inspect --format '{{.Size}}' "$image")"
echo "podman-build.sh: $image built in ${seconds} s; $((size / 1000000)) MB ($size bytes)"
