#!/usr/bin/env bash
# Usage: scripts/with-server.sh BINARY COMMAND [ARGS...]
# Starts BINARY (spindle) on a free port, runs COMMAND with HOST and PORT in its environment
# (and "$HOST" "$PORT" substituted for the literal words HOST and PORT among ARGS), stops the
# server, and exits with COMMAND's status.
set -euo pipefail
bin=$1; shift
log=$(mktemp)
dir=$(mktemp -d)
"$bin" --any-port yes --save '' --dir "$dir" >"$log" 2>&1 &
pid=$!
cleanup() { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$log" "$dir"; }
trap cleanup EXIT
port=
for _ in $(seq 1 100); do
  port=$(sed -n 's/.*listening on [^ ]*:\([0-9]*\),.*/\1/p' "$log" | head -n1)
  [ -n "$port" ] && break
  kill -0 "$pid" 2>/dev/null || { cat "$log" >&2; exit 1; }
  sleep 0.1
done
[ -n "$port" ] || { echo "server did not start" >&2; cat "$log" >&2; exit 1; }
export HOST=127.0.0.1 PORT=$port
args=()
for a in "$@"; do
  case "$a" in HOST) args+=("$HOST") ;; PORT) args+=("$PORT") ;; *) args+=("$a") ;; esac
done
set +e
"${args[@]}"
status=$?
set -e
exit $status
