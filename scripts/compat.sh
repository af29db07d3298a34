#!/usr/bin/env bash
# Compatibility suite: Spindle against a real redis-server 7.0 (`make compat`).
#
#   scripts/compat.sh                 build spindle (release), start redis-server and spindle on
#                                     free ports, run every suite, stop both
#   scripts/compat.sh --self-check    the same suites with redis-server in Spindle's place (the
#                                     case runner compares two redis-server instances): checks
#                                     that the case files and client checks are deterministic
#   scripts/compat.sh [--self-check] compat/cases/strings.txt ...
#                                     only these case files (and no client suites)
#
# Suites, each printing its own `N passed, M failed`, summed into the last line:
#   compat/runner.py        compat/cases/*.txt, byte-for-byte replies vs redis-server
#   compat/clients.sh       redis-cli --pipe / stdin / -x, redis-benchmark
#   compat/test_redispy.py  with the newest redis-py (protocol=2 and 3) and with redis-py 5.x
#   compat/test_dump.py     DUMP payloads of every type and encoding restored across servers
#   compat/test_rdb.py      dump.rdb files crossing between redis-server and Spindle both ways
#   compat/bullmq/          BullMQ (npm; Lua scripts by EVALSHA) runs jobs end to end
# Needs redis-server/redis-cli/redis-benchmark and node/npm (installed with apt-get when
# missing), python3 with venv, cargo. Python packages go into target/compat-venv*, pinned by
# compat/requirements-*.txt; node packages into compat/bullmq/node_modules, pinned by
# compat/bullmq/package-lock.json. Exits non-zero if anything failed.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

self_check=0
cases=()
for arg in "$@"; do
  case "$arg" in
    --self-check) self_check=1 ;;
    -h | --help) sed -n '2,20p' "$0"; exit 0 ;;
    *) cases+=("$arg") ;;
  esac
done

log() { echo "== compat: $*"; }
die() { echo "compat: $*" >&2; echo "0 passed, 1 failed"; exit 1; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# ---- redis-server, redis-cli, redis-benchmark (Debian packages; never start the service)
if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null \
  || ! command -v redis-benchmark >/dev/null; then
  log "installing redis-server redis-tools with apt-get"
  # Debian's postinst would start the system redis-server: forbid service starts meanwhile.
  policy=/usr/sbin/policy-rc.d
  made_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | as_root tee "$policy" >/dev/null && as_root chmod +x "$policy" \
      && made_policy=1
  fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q redis-server redis-tools >/dev/null
  status=$?
  [ $made_policy -eq 1 ] && as_root rm -f "$policy"
  [ $status -eq 0 ] || die "apt-get install redis-server redis-tools failed"
fi
command -v redis-server >/dev/null || die "redis-server not found"
log "$(redis-server --version)"

# ---- python venvs (the runner itself needs only the standard library)
python=${PYTHON:-python3}
command -v "$python" >/dev/null || die "python3 not found"
# make_venv DIR REQUIREMENTS: create DIR and install REQUIREMENTS unless already done
make_venv() {
  local dir=$1 req=$2
  if [ ! -x "$dir/bin/python" ]; then
    "$python" -m venv "$dir" >/dev/null 2>&1 || {
      rm -rf "$dir"
      log "python3 -m venv failed: installing python3-venv"
      as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
      as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-venv >/dev/null
      "$python" -m venv "$dir" || return 1
    }
  fi
  if ! cmp -s "$req" "$dir/.installed-requirements"; then
    "$dir/bin/pip" install -q --disable-pip-version-check -r "$req" || return 1
    cp "$req" "$dir/.installed-requirements"
  fi
}
venv_new=$root/target/compat-venv
venv_5=$root/target/compat-venv-redis5
mkdir -p target
make_venv "$venv_new" compat/requirements-latest.txt || die "could not set up $venv_new"
make_venv "$venv_5" compat/requirements-redis5.txt || die "could not set up $venv_5"

# ---- node packages for the BullMQ suite (compat/bullmq/node_modules, from the lock file only)
if [ ${#cases[@]} -eq 0 ]; then
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    log "installing nodejs npm with apt-get"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q nodejs npm >/dev/null \
      || die "apt-get install nodejs npm failed"
  fi
  log "node $(node --version)"
  # npm ci empties node_modules first, so the marker is copied in after it succeeds; no
  # install scripts run (msgpackr's optional native addon is not needed: it falls back to JS).
  if ! cmp -s compat/bullmq/package-lock.json compat/bullmq/node_modules/.installed-package-lock.json; then
    (cd compat/bullmq && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error) \
      || die "npm ci in compat/bullmq failed"
    cp compat/bullmq/package-lock.json compat/bullmq/node_modules/.installed-package-lock.json
  fi
fi

# ---- spindle
if [ $self_check -eq 0 ]; then
  log "cargo build --release"
  cargo build --release --quiet || die "cargo build --release failed"
fi

# ---- servers
tmp=$(mktemp -d)
pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null; done
  rm -rf "$tmp"
}
trap cleanup EXIT

free_port() {
  "$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}
# wait_ping PORT PID NAME LOG
wait_ping() {
  local i
  for i in $(seq 1 100); do
    [ "$(redis-cli -p "$1" PING 2>/dev/null)" == "PONG" ] && return 0
    kill -0 "$2" 2>/dev/null || { cat "$4" >&2; die "$3 exited"; }
    sleep 0.1
  done
  cat "$4" >&2
  die "$3 does not answer PING on port $1"
}
# start_redis VARNAME: start a redis-server, put its port in VARNAME
start_redis() {
  local port dir
  port=$(free_port)
  dir=$(mktemp -d "$tmp/redis.XXXX")
  redis-server --port "$port" --save '' --appendonly no --daemonize no --enable-debug-command yes \
    --bind 127.0.0.1 --dir "$dir" --logfile "$dir/redis.log" >/dev/null 2>&1 &
  pids+=($!)
  wait_ping "$port" $! redis-server "$dir/redis.log"
  printf -v "$1" '%s' "$port"
}

start_redis redis_port
log "redis-server on port $redis_port"
if [ $self_check -eq 1 ]; then
  target_name=redis-server
  target_port=$redis_port
else
  : >"$tmp/spindle.log"
  mkdir -p "$tmp/spindle"
  RUST_LOG=info ./target/release/spindle --any-port yes --bind 127.0.0.1 --save '' --enable-debug-command yes --dir "$tmp/spindle" >"$tmp/spindle.log" 2>&1 &
  spindle_pid=$!
  pids+=($spindle_pid)
  target_port=
  for _ in $(seq 1 100); do
    target_port=$(sed -n 's/.*listening on [^ ]*:\([0-9]*\),.*/\1/p' "$tmp/spindle.log" | head -n1)
    [ -n "$target_port" ] && break
    kill -0 $spindle_pid 2>/dev/null || { cat "$tmp/spindle.log" >&2; die "spindle exited"; }
    sleep 0.1
  done
  [ -n "$target_port" ] || { cat "$tmp/spindle.log" >&2; die "spindle printed no banner"; }
  wait_ping "$target_port" $spindle_pid spindle "$tmp/spindle.log"
  target_name=spindle
  log "spindle on port $target_port"
fi

# ---- suites
total_passed=0
total_failed=0
summary=()
# suite NAME COMMAND...: run it, add up the last `N passed, M failed` it printed
suite() {
  local name=$1 out line p f
  shift
  log "$name"
  out=$tmp/suite.out
  "$@" 2>&1 | tee "$out"
  line=$(grep -a -E '^[0-9]+ passed, [0-9]+ failed$' "$out" | tail -n1)
  if [ -n "$line" ]; then
    p=${line%% passed*}
    f=${line#*passed, }
    f=${f%% failed*}
  else
    p=0
    f=1
    echo "compat: $name printed no result line: counted as 1 failure"
  fi
  total_passed=$((total_passed + p))
  total_failed=$((total_failed + f))
  summary+=("$(printf '%-28s %5d passed, %5d failed' "$name" "$p" "$f")")
}

if [ $self_check -eq 1 ]; then
  suite "cases (redis vs redis)" "$venv_new/bin/python" compat/runner.py --self-check "${cases[@]}"
else
  suite "cases (redis vs spindle)" "$venv_new/bin/python" compat/runner.py \
    --redis "127.0.0.1:$redis_port" --spindle "127.0.0.1:$target_port" "${cases[@]}"
fi
if [ ${#cases[@]} -eq 0 ]; then
  suite "redis-cli/redis-benchmark" bash compat/clients.sh 127.0.0.1 "$target_port"
  suite "redis-py (newest)" "$venv_new/bin/python" compat/test_redispy.py \
    --port "$target_port" --protocol 2 --protocol 3
  suite "redis-py 5.x" "$venv_5/bin/python" compat/test_redispy.py --port "$target_port"
  suite "DUMP/RESTORE interchange" "$venv_new/bin/python" compat/test_dump.py \
    --redis "127.0.0.1:$redis_port" --spindle "127.0.0.1:$target_port"
  if [ $self_check -eq 1 ]; then rdb_target=$(command -v redis-server); else rdb_target=target/release/spindle; fi
  suite "RDB interchange" timeout 300 "$venv_new/bin/python" compat/test_rdb.py --spindle "$rdb_target"
  suite "AOF interchange" timeout 300 "$venv_new/bin/python" compat/test_aof.py --spindle "$rdb_target"
  # The script bounds itself to 60 s; timeout is the backstop if node itself hangs.
  suite "bullmq" timeout 90 node compat/bullmq/test_bullmq.mjs 127.0.0.1 "$target_port"
fi
if [ $self_check -eq 0 ] && ! kill -0 "$spindle_pid" 2>/dev/null; then
  echo "compat: spindle is no longer running; its log:"
  tail -n 20 "$tmp/spindle.log"
  total_failed=$((total_failed + 1))
fi

echo
log "summary against $target_name"
for line in "${summary[@]}"; do echo "   $line"; done
echo "$total_passed passed, $total_failed failed"
[ "$total_failed" -eq 0 ]
