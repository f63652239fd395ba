#!/usr/bin/env bash
# Installs the build tree into a temporary prefix, then configures, builds
# and runs tests/install/consumer against it with find_package(portcullis),
# and checks that pkg-config finds portcullis.pc there.
set -euo pipefail
build=$1
src=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
cmake -S "$src/consumer" -B "$tmp/consumer" -DCMAKE_PREFIX_PATH="$tmp/prefix" \
  -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$tmp/consumer" >/dev/null
"$tmp/consumer/consumer"
grep -q 'HAVE_STORES' "$tmp/consumer/CMakeFiles/consumer.dir/flags.make" \
  || echo "note: the optional store targets were not installed"
PKG_CONFIG_PATH="$tmp/prefix/lib/pkgconfig" pkg-config --exists portcullis
echo "install tree OK"
