# Throw-away Redis, Redis Cluster and PostgreSQL servers on loopback, in one
# temporary folder, for the tests. Never the system's services.
# shellcheck shell=bash

SERVICES_DIR=""
SERVICE_PIDS=()

# A free TCP port on 127.0.0.1, between 20000 and 40000 so that a Redis
# Cluster node's bus port (the port + 10000) is free and valid too.
free_port() {
  python3 - <<'PY'
import random, socket
def free(p):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p)); return True
    except OSError:
        return False
    finally:
        s.close()
while True:
    p = random.randint(20000, 40000)
    if free(p) and free(p + 10000):
        print(p); break
PY
}

wait_for() {  # description, command...
  local what=$1; shift
  for _ in $(seq 1 100); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  log "timed out waiting for $what"
  return 1
}

services_init() {
  SERVICES_DIR=$(mktemp -d /tmp/portcullis-services.XXXXXX)
  chmod 755 "$SERVICES_DIR"
  trap services_stop EXIT INT TERM
}

services_stop() {
  local rc=$?
  trap - EXIT INT TERM
  if [ -n "${PG_DATA:-}" ] && [ -d "$PG_DATA" ]; then
    runuser -u "$PG_USER" -- "$PG_BIN/pg_ctl" -D "$PG_DATA" -m immediate stop >/dev/null 2>&1 || true
  fi
  for pid in "${SERVICE_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${SERVICE_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  [ -n "$SERVICES_DIR" ] && rm -rf "$SERVICES_DIR"
  exit "$rc"
}

start_redis() {
  local port; port=$(free_port)
  mkdir -p "$SERVICES_DIR/redis"
  redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no \
    --dir "$SERVICES_DIR/redis" --enable-debug-command local \
    >"$SERVICES_DIR/redis/log" 2>&1 &
  SERVICE_PIDS+=($!)
  wait_for "redis on $port" redis-cli -p "$port" ping
  export PORTCULLIS_REDIS_URL="redis://127.0.0.1:$port"
  log "redis: $PORTCULLIS_REDIS_URL"
}

start_redis_cluster() {
  local nodes=()
  for i in 1 2 3; do
    local port; port=$(free_port)
    local dir="$SERVICES_DIR/cluster-$i"
    mkdir -p "$dir"
    redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no --dir "$dir" \
      --cluster-enabled yes --cluster-config-file "$dir/nodes.conf" \
      --cluster-node-timeout 2000 --enable-debug-command local >"$dir/log" 2>&1 &
    SERVICE_PIDS+=($!)
    wait_for "cluster node on $port" redis-cli -p "$port" ping
    nodes+=("127.0.0.1:$port")
  done
  redis-cli --cluster create "${nodes[@]}" --cluster-replicas 0 --cluster-yes >/dev/null
  wait_for "cluster state ok" bash -c \
    "redis-cli -p ${nodes[0]##*:} cluster info | grep -q cluster_state:ok"
  PORTCULLIS_REDIS_CLUSTER=$(IFS=,; echo "${nodes[*]}")
  export PORTCULLIS_REDIS_CLUSTER
  log "redis cluster: $PORTCULLIS_REDIS_CLUSTER"
}

# PostgreSQL refuses to run as root: the cluster belongs to an unprivileged
# user (the 'postgres' system user that Debian's package creates, or nobody).
start_postgres() {
  PG_BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
  PG_USER=postgres
  id "$PG_USER" >/dev/null 2>&1 || PG_USER=nobody
  PG_DATA="$SERVICES_DIR/pg"
  local port; port=$(free_port)
  mkdir -p "$PG_DATA" && chown "$PG_USER" "$PG_DATA"
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u "$PG_USER" -- "$PG_BIN/initdb" -D "$PG_DATA" -U portcullis -A trust \
      --no-sync >/dev/null
    runuser -u "$PG_USER" -- "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_DATA/log" -w \
      -o "-h 127.0.0.1 -p $port -k $PG_DATA -c fsync=off -c max_connections=200" start >/dev/null
  else
    PG_USER=$(id -un)
    "$PG_BIN/initdb" -D "$PG_DATA" -U portcullis -A trust --no-sync >/dev/null
    "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_DATA/log" -w \
      -o "-h 127.0.0.1 -p $port -k $PG_DATA -c fsync=off -c max_connections=200" start >/dev/null
  fi
  "$PG_BIN/createdb" -h 127.0.0.1 -p "$port" -U portcullis portcullis
  export PORTCULLIS_PG_URL="postgresql://portcullis@127.0.0.1:$port/portcullis"
  export PORTCULLIS_PG_BIN="$PG_BIN" PORTCULLIS_PG_USER="$PG_USER"
  log "postgres: $PORTCULLIS_PG_URL"
}
