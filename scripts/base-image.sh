#!/usr/bin/env bash
# Builds the Java 17 JRE base image of the service images from Debian's packages, as a Docker-save tarball
# that Jib reads as `tar://` (no registry, no Docker daemon). Called by the `images` Maven profile; cached.
#
#   scripts/base-image.sh [OUT.tar]        (default <repo>/target/base-image/jre17-bookworm.tar)
#
# Needs root, debootstrap and podman (apt-get install debootstrap podman runc). Skips all work when OUT exists.
# The image: Debian bookworm minbase + openjdk-17-jre-headless, a user `diffusion` (uid/gid 10001) that the
# services run as, no apt lists or docs. Environment:
#   DEBIAN_MIRROR   the Debian mirror (default: the first one this machine's apt sources name)
#   BASE_IMAGE_NAME the podman name it is imported under, then removed from podman's store (default
#                   localhost/diffusion-base:jre17-bookworm)
# Jib needs the Docker-save layout (manifest.json); podman's OCI archive is refused, hence --format docker-archive.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:-$root/target/base-image/jre17-bookworm.tar}"
name="${BASE_IMAGE_NAME:-localhost/diffusion-base:jre17-bookworm}"
log() { echo "base-image.sh: $*" >&2; }

if [[ -s "$out" ]]; then
  log "cached: $out"
  exit 0
fi
for tool in debootstrap podman; do
  command -v "$tool" >/dev/null || { log "$tool not found: apt-get install debootstrap podman runc"; exit 1; }
done
[[ "$(id -u)" == 0 ]] || { log "debootstrap needs root"; exit 1; }

mirror="${DEBIAN_MIRROR:-}"
if [[ -z "$mirror" ]]; then
  mirror="$(sed -n 's/^URIs:[[:space:]]*\([^[:space:]]*\/debian\)[[:space:]]*$/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -1)"
fi
if [[ -z "$mirror" ]]; then
  mirror="$(sed -n 's/^deb[[:space:]]\+\(http[^[:space:]]*\/debian\)[[:space:]]\+bookworm[[:space:]].*/\1/p' /etc/apt/sources.list 2>/dev/null | head -1)"
fi
[[ -n "$mirror" ]] || { log "no Debian mirror found in the apt sources: set DEBIAN_MIRROR"; exit 1; }

mkdir -p "$(dirname "$out")"
work="$(mktemp -d "$(dirname "$out")/rootfs.XXXXXX")"
# debootstrap mounts proc (and sys) inside the rootfs while it works: unmount anything left before deleting it
cleanup() {
  # (grep finds nothing when no mount is left: not an error, or set -e/pipefail would fail the whole script here)
  { grep -o " $work/rootfs/[^ ]*" /proc/mounts || true; } | sort -r | while read -r m; do umount -l "$m" || true; done
  rm -rf --one-file-system "$work"
}
trap cleanup EXIT
start=$SECONDS
log "debootstrap bookworm + openjdk-17-jre-headless from $mirror"
debootstrap --variant=minbase --include=openjdk-17-jre-headless bookworm "$work/rootfs" "$mirror" \
  > "$work/debootstrap.log" 2>&1 || { tail -n 30 "$work/debootstrap.log" >&2; exit 1; }
chroot "$work/rootfs" groupadd --gid 10001 diffusion
chroot "$work/rootfs" useradd --uid 10001 --gid 10001 --home-dir /home/diffusion --create-home \
  --shell /usr/sbin/nologin diffusion
rm -rf "$work/rootfs"/var/lib/apt/lists/* "$work/rootfs"/var/cache/apt/* "$work/rootfs"/usr/share/doc/* \
  "$work/rootfs"/usr/share/man/* "$work/rootfs"/usr/share/locale/* "$work/rootfs"/var/log/*
log "importing into podman as $name"
tar -C "$work/rootfs" -c . | podman import \
  --change 'ENV JAVA_HOME=/usr/lib/jvm/java-17-openjdk-amd64' \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' - "$name" >/dev/null
podman save --format docker-archive -o "$work/base.tar" "$name"
podman rmi "$name" >/dev/null || true
mv "$work/base.tar" "$out"
log "wrote $out ($(du -m "$out" | cut -f1) MiB) in $((SECONDS - start)) s"
