# Shared by the scripts in scripts/: package installation and the build.
# shellcheck shell=bash

PORTCULLIS_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

# Debian 12 packages the build and the tests need.
PORTCULLIS_BUILD_PACKAGES=(
  build-essential cmake pkg-config
  libboost1.81-dev libboost-url1.81-dev
  libhiredis-dev libpqxx-dev nlohmann-json3-dev libre2-dev libgumbo-dev
  libutf8proc-dev libssl-dev libargon2-dev zlib1g-dev
  libgtest-dev libgmock-dev libbenchmark-dev
)
PORTCULLIS_TEST_PACKAGES=(
  redis-server redis-tools postgresql postgresql-contrib
  chromium nodejs openssl wrk curl ca-certificates
)

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

sudo_if_needed() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# Installs the listed Debian packages that are not installed yet.
install_packages() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' \
      || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing: ${missing[*]}"
  sudo_if_needed apt-get update -qq
  sudo_if_needed env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# Node.js's npm: Debian's own package where no npm came with Node.js (a
# Node.js from another source often ships npm itself and conflicts with it).
install_npm() {
  command -v npm >/dev/null 2>&1 || install_packages npm
}

# npm, then the packages of the browser and peer suites from their lock
# files (scripts/test and scripts/check both run those suites).
install_node_packages() {
  install_npm
  local dir
  for dir in tests/browser bench/peers/express; do
    if [ -f "$PORTCULLIS_ROOT/$dir/package-lock.json" ] && [ ! -d "$PORTCULLIS_ROOT/$dir/node_modules" ]; then
      log "npm ci in $dir"
      (cd "$PORTCULLIS_ROOT/$dir" && npm ci --no-audit --no-fund --loglevel=error)
    fi
  done
}

# Configures and builds into $1 (default build/) with -j2.
build_tree() {
  local dir=${1:-$PORTCULLIS_ROOT/build}
  shift || true
  cmake -S "$PORTCULLIS_ROOT" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
  cmake --build "$dir" -j "${PORTCULLIS_JOBS:-2}"
}
