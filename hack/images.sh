#!/usr/bin/env bash
# Builds the project's container images with podman (through hack/podman), without a
# registry:
#
#   kubetune/operator:<appVersion>          operator.Dockerfile, context: the repository root
#   kubetune/mxnet-trainer:<appVersion>-cpu trainer-image/cpu.Dockerfile, context: trainer-image/
#
# Both start FROM python:3.11.13-slim-bookworm. Where that image is not in local storage
# (no registry here), a stand-in is made from Debian's archive: `mmdebstrap` of bookworm
# with Debian's python3 and pip, imported with `podman import` and tagged under the name
# the Dockerfiles' FROM uses; builds run with --pull=never. On a machine with a registry
# the same Dockerfiles build with plain `docker build` (see the README).
#
# Cached by content: the stand-in's root filesystem is kept in $cache/images keyed by a
# hash of its recipe, and podman's layer cache (storage in $cache/containers, see
# hack/podman) skips every build step whose inputs did not change, so a second run only
# hashes the build contexts. Installs podman, runc and mmdebstrap with apt-get when missing.
#
#   hack/images.sh            build (or reuse) every image
#   hack/images.sh --tags     print the image names, one a line
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
podman=$root/hack/podman
cache=${KUBETUNE_CACHE_DIR:-$HOME/.cache/kubetune}

version=$(sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' "$root/charts/kubetune/Chart.yaml")
base=docker.io/library/python:3.11.13-slim-bookworm
operator_image=localhost/kubetune/operator:$version
trainer_cpu_image=localhost/kubetune/mxnet-trainer:$version-cpu

if [[ ${1:-} == --tags ]]; then
  printf '%s\n' "$operator_image" "$trainer_cpu_image"
  exit 0
fi

log() { echo "images: $*" >&2; }

install_tools() {
  local missing=()
  command -v podman >/dev/null || missing+=(podman)
  command -v runc >/dev/null || missing+=(runc)
  command -v mmdebstrap >/dev/null || missing+=(mmdebstrap)
  ((${#missing[@]})) || return 0
  if ((EUID != 0)); then
    echo "images: ${missing[*]} missing; install them (apt-get install ${missing[*]}) or run as root" >&2
    exit 1
  fi
  log "installing ${missing[*]} with apt-get"
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
}

# The stand-in for python:3.11.13-slim-bookworm: Debian bookworm's python3 (3.11) and pip
# as `python` and `python -m pip`, like the official image. Debian marks its Python as
# externally managed (PEP 668); the official image does not, so the marker is removed.
mmdebstrap_args=(
  --variant=minbase
  --format=tar
  --aptopt='APT::Install-Recommends "false"'
  --include=python3,python3-pip,python-is-python3,ca-certificates,passwd
  --customize-hook='rm -f "$1"/usr/lib/python3*/EXTERNALLY-MANAGED'
  --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin'
  bookworm
)
mmdebstrap_mirrors=(
  "deb http://deb.debian.org/debian bookworm main"
  "deb http://deb.debian.org/debian bookworm-updates main"
  "deb http://deb.debian.org/debian-security bookworm-security main"
)

make_base() {
  if "$podman" image exists "$base"; then
    return 0
  fi
  local recipe key tarball
  recipe=$(printf '%s\n' "${mmdebstrap_args[@]}" "${mmdebstrap_mirrors[@]}")
  key=$(sha256sum <<<"$recipe" | cut -c1-16)
  tarball=$cache/images/debian-bookworm-python3-$key.tar
  if [[ ! -s $tarball ]]; then
    log "making the stand-in for $base from Debian's archive (mmdebstrap, about a minute)"
    mkdir -p "$cache/images"
    nice -n 19 mmdebstrap --quiet "${mmdebstrap_args[@]}" "$tarball.tmp" "${mmdebstrap_mirrors[@]}"
    mv "$tarball.tmp" "$tarball"
  fi
  log "importing $tarball as $base"
  "$podman" import \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["python3"]' \
    --change "LABEL io.kubetune.stand-in=mmdebstrap-bookworm-python3 io.kubetune.recipe=$key" \
    "$tarball" "$base" >/dev/null
}

# build TAG DOCKERFILE CONTEXT [IGNOREFILE]
build() {
  local tag=$1 dockerfile=$2 context=$3 ignorefile=${4:-}
  local args=(
    build --pull=never --network=host --layers
    --tag "$tag" --file "$dockerfile"
    # pip inside the build reaches PyPI through this machine's TLS proxy: trust the
    # machine's CA bundle (Debian's pip reads the system bundle) for the build only.
    --volume /etc/ssl/certs/ca-certificates.crt:/etc/ssl/certs/ca-certificates.crt:ro
  )
  [[ -z $ignorefile ]] || args+=(--ignorefile "$ignorefile")
  log "building $tag from ${dockerfile#"$root"/}"
  nice -n 19 "$podman" "${args[@]}" "$context" >&2
}

install_tools
make_base
build "$operator_image" "$root/operator.Dockerfile" "$root" "$root/operator.Dockerfile.dockerignore"
build "$trainer_cpu_image" "$root/trainer-image/cpu.Dockerfile" "$root/trainer-image"
"$podman" images --filter reference='localhost/kubetune/*' >&2
