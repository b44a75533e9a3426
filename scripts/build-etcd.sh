#!/usr/bin/env bash
# Builds a current etcd server from the Go module proxy into the user's cache,
# once per version, and prints the binary's path. etcd's own go.mod has replace
# directives, so `go install` cannot build it; a throwaway tools module can.
set -euo pipefail
version=${ETCD_VERSION:-v3.7.3}
cache=${XDG_CACHE_HOME:-$HOME/.cache}/zkrecipes/etcd-$version
bin=$cache/etcd
if [ -x "$bin" ]; then
  echo "$bin"
  exit 0
fi
mkdir -p "$cache/src"
cd "$cache/src"
if [ ! -f go.mod ]; then
  go mod init zkrecipes.local/etcdbuild >/dev/null 2>&1
fi
GOFLAGS=-mod=mod go get -tool "go.etcd.io/etcd/server/v3@$version" >&2
go build -o "$bin.tmp" go.etcd.io/etcd/server/v3 >&2
mv "$bin.tmp" "$bin"
echo "$bin"
