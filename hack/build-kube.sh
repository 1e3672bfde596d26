#!/usr/bin/env bash
# Builds kube-apiserver, kube-controller-manager, kube-scheduler and kubectl from the Go
# module proxy at one pinned release, into a cache outside git keyed by the version.
# A second run with the binaries present does nothing.
#
#   hack/build-kube.sh <version> <dest-dir>      e.g. hack/build-kube.sh v1.36.3 ~/.cache/kubetune/kube-v1.36.3
#   hack/build-kube.sh <version> <dest-dir> <component>...   other commands of the release,
#                                            e.g. kubelet kube-proxy for a real node
set -euo pipefail
version=${1:?kubernetes version, e.g. v1.36.3}
dest=${2:?destination directory}
components=("${@:3}")
((${#components[@]})) || components=(kube-apiserver kube-controller-manager kube-scheduler kubectl)

missing=0
for c in "${components[@]}"; do [[ -x "$dest/$c" ]] || missing=1; done
if (( ! missing )); then exit 0; fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
echo "building Kubernetes $version (${components[*]}) into $dest; about 8.5 min on 2 idle cores with an empty Go cache" >&2

# k8s.io/kubernetes replaces every k8s.io/<staging repo> with ./staging/src/..., which
# is not part of the module zip; map each one to its published v0.X.Y twin instead.
gomod=$(go mod download -json "k8s.io/kubernetes@$version" | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')
staging_version="v0.${version#v1.}"
{
  echo "module kubetune.local/kubebuild"
  echo
  grep -E '^go [0-9.]+' "$gomod"
  echo
  echo "require k8s.io/kubernetes $version"
  echo
  grep -oE '^\s*k8s\.io/[a-z0-9-]+ => \./staging/src/k8s\.io/[a-z0-9-]+' "$gomod" \
    | awk -v v="$staging_version" '{print "replace " $1 " => " $1 " " v}'
} > go.mod

GOFLAGS=-mod=mod go mod download k8s.io/kubernetes
# Resolve the full module graph for the main packages we build.
pkgs=()
for c in "${components[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$c"); done
GOFLAGS=-mod=mod go list "${pkgs[@]}" >/dev/null

# Stamp the version so the API server reports it (kubectl warns on unknown skew).
pkg=k8s.io/component-base/version
ldflags="-s -w -X $pkg.gitVersion=$version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$(cut -d. -f2 <<<"$version") -X $pkg.gitTreeState=clean"
mkdir -p "$dest.tmp"
CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -ldflags "$ldflags" -o "$dest.tmp/" "${pkgs[@]}"
rm -rf "$dest" && mv "$dest.tmp" "$dest"
echo "built into $dest" >&2
