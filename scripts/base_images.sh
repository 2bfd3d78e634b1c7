#!/usr/bin/env bash
# Local stand-ins for the base images Dockerfile and docker-compose.yml name, for machines that
# reach Debian's mirrors but no container registry. Each is built from Debian packages:
# debootstrap (minbase) -> `podman import` -> `podman build` of a folder of
# scripts/base_images/. Rootfs tarballs and images are kept, so a second run takes a second;
# a changed folder rebuilds its image.
#
#   scripts/base_images.sh build   # build whatever is missing (needs root: debootstrap, podman)
#   scripts/base_images.sh env     # the variables that point the build and compose at them
#   scripts/base_images.sh remove  # remove the stand-in images (the rootfs cache stays)
#
#   stand-in                                     for              Debian
#   localhost/csms-standin/python:3.11-bookworm  PYTHON_IMAGE     bookworm python3 (3.11)
#   localhost/csms-standin/postgres:15-bookworm  postgres         bookworm postgresql (15)
#   localhost/csms-standin/rabbitmq:4.3-sid      rabbitmq         sid rabbitmq-server (4.3)
#   localhost/csms-standin/nginx:sid             nginx            sid nginx (>= 1.27.3: `resolve`)
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
export CONTAINERS_CONF=${CONTAINERS_CONF:-$ROOT/deploy/compose/containers.conf}
CACHE=${CSMS_BASE_IMAGE_CACHE:-/var/cache/csms-images}
MIRROR=${CSMS_DEBIAN_MIRROR:-http://deb.debian.org/debian}
PREFIX=localhost/csms-standin
LOCAL_CA=${CSMS_LOCAL_CA_DIR:-/usr/local/share/ca-certificates}

# name:tag  suite  folder of scripts/base_images/
STANDINS=(
  "python:3.11-bookworm bookworm python"
  "postgres:15-bookworm bookworm postgres"
  "rabbitmq:4.3-sid sid rabbitmq"
  "nginx:sid sid nginx"
)

log() { echo "base_images: $*" >&2; }
die() {
  log "$*"
  exit 1
}

have_image() { podman image exists "$1"; }

# A Debian minbase tree of `suite` as image $PREFIX/debian:<suite>, its tarball cached.
debian_image() {
  local suite=$1 image=$PREFIX/debian:$1 tarball=$CACHE/rootfs-$1.tar tree
  have_image "$image" && return
  mkdir -p "$CACHE"
  if [[ ! -s $tarball ]]; then
    command -v debootstrap >/dev/null || die "debootstrap is missing (apt-get install debootstrap)"
    tree=$(mktemp -d "$CACHE/rootfs-$suite.XXXXXX")
    log "debootstrap $suite (a few minutes, once)"
    debootstrap --variant=minbase "$suite" "$tree" "$MIRROR" >"$CACHE/debootstrap-$suite.log" 2>&1 ||
      die "debootstrap $suite failed: see $CACHE/debootstrap-$suite.log"
    # apt inside builds: no Valid-Until check (sid's Release may look stale to a fast clock),
    # no recommends, and nothing left in the package cache.
    echo 'Acquire::Check-Valid-Until "false";' >"$tree/etc/apt/apt.conf.d/99csms"
    echo 'APT::Install-Recommends "false";' >>"$tree/etc/apt/apt.conf.d/99csms"
    rm -rf "$tree"/var/lib/apt/lists/* "$tree"/var/cache/apt/archives/*.deb
    tar -C "$tree" --numeric-owner -cf "$tarball.part" .
    mv "$tarball.part" "$tarball"
    rm -rf "$tree"
  fi
  log "importing $tarball as $image"
  podman import --quiet "$tarball" "$image" >/dev/null
}

# The stand-in's recipe: a hash of its folder (and the host's extra CAs for python), kept as
# an image label, so a changed Containerfile or script rebuilds that one image.
recipe() {
  local dir=$HERE/base_images/$1
  {
    (cd "$dir" && find . -type f -print0 | sort -z | xargs -0 sha256sum)
    if [[ $1 == python ]] && compgen -G "$LOCAL_CA/*.crt" >/dev/null; then
      cat "$LOCAL_CA"/*.crt
    fi
  } | sha256sum | cut -c1-16
}

built_from() { podman image inspect --format '{{index .Labels "csms.standin.recipe"}}' "$1" 2>/dev/null; }

build() {
  [[ $(id -u) == 0 ]] || die "needs root (debootstrap, rootful podman)"
  local line name suite dir hash context
  for line in "${STANDINS[@]}"; do
    read -r name suite dir <<<"$line"
    hash=$(recipe "$dir")
    [[ $(built_from "$PREFIX/$name") == "$hash" ]] && continue
    debian_image "$suite"
    # The context: the stand-in's folder and, for the Python one, the certificate authorities
    # this host trusts beyond Debian's (a TLS-inspecting egress proxy's, say), so that pip
    # and uv in image builds reach PyPI from where the host does.
    context=$(mktemp -d)
    cp -a "$HERE/base_images/$dir/." "$context/"
    if [[ $dir == python ]]; then
      mkdir "$context/local-ca"
      if compgen -G "$LOCAL_CA/*.crt" >/dev/null; then
        cp "$LOCAL_CA"/*.crt "$context/local-ca/"
      fi
    fi
    log "building $PREFIX/$name from base_images/$dir"
    podman build --quiet --format docker --build-arg "BASE=$PREFIX/debian:$suite" \
      --label "csms.standin.recipe=$hash" -t "$PREFIX/$name" "$context" >/dev/null ||
      die "podman build of $PREFIX/$name failed"
    rm -rf "$context"
  done
  log "stand-ins ready"
}

env_lines() {
  echo "export CSMS_PYTHON_IMAGE=$PREFIX/python:3.11-bookworm"
  echo "export CSMS_POSTGRES_IMAGE=$PREFIX/postgres:15-bookworm"
  echo "export CSMS_RABBITMQ_IMAGE=$PREFIX/rabbitmq:4.3-sid"
  echo "export CSMS_NGINX_IMAGE=$PREFIX/nginx:sid"
}

remove() {
  local line name
  for line in "${STANDINS[@]}"; do
    read -r name _ <<<"$line"
    podman rmi --ignore "$PREFIX/$name" >/dev/null
  done
  podman rmi --ignore "$PREFIX/debian:bookworm" "$PREFIX/debian:sid" >/dev/null
}

case ${1:-} in
build) build ;;
env) env_lines ;;
remove) remove ;;
*)
  sed -n '2,9s/^# \{0,1\}//p' "$0"
  exit 2
  ;;
esac
