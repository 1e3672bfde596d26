#!/usr/bin/env bash
# Builds helm from the Go module proxy at one pinned release, into a cache outside git
# keyed by the version. A second run with the binary present does nothing.
#
#   hack/build-helm.sh <version> <dest-dir>      e.g. hack/build-helm.sh v4.3.1 ~/.cache/kubetune/helm-v4.3.1
set -euo pipefail
version=${1:?helm version, e.g. v4.3.1}
dest=${2:?destination directory}
if [[ -x "$dest/helm" ]]; then exit 0; fi

major=${version%%.*}                     # v4.3.1 -> v4
module="helm.sh/helm/$major"
echo "building helm $version into $dest; ~3 min on 2 cores with an empty Go cache" >&2

# `go install pkg@version` builds in module mode from the proxy, with helm's own go.mod
# (and go.sum) as the module graph: nothing to resolve by hand.
gobin=$(mktemp -d)
trap 'rm -rf "$gobin"' EXIT
# Stamp the version so `helm version` reports it rather than "v4.x-dev".
ldflags="-s -w -X $module/internal/version.version=$version -X $module/internal/version.gitTreeState=clean"
CGO_ENABLED=0 GOBIN="$gobin" go install -trimpath -ldflags "$ldflags" "$module/cmd/helm@$version"
mkdir -p "$dest.tmp"
mv "$gobin/helm" "$dest.tmp/helm"
rm -rf "$dest" && mv "$dest.tmp" "$dest"
echo "built into $dest" >&2
