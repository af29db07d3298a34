#!/usr/bin/env bash
# Runs units of the Redis 7.0 Tcl test suite against Spindle.
#
# Usage: scripts/redis-suite.sh [--floors FILE] [REDIS_SRC_DIR] [UNIT ...]
#   REDIS_SRC_DIR  a checkout of the Redis source (the directory holding ./runtest and tests/).
#                  Optional: taken from $REDIS_SRC_DIR, else ../redis-7.0.15 next to this project
#                  (scripts/redis-src.sh fetches one).
#   UNIT           test units as runtest names them (default: the units of FILE with --floors,
#                  else unit/type/string unit/type/incr unit/keyspace unit/expire).
#   --floors FILE  lines "UNIT MIN_PASSED" (# comments): CI mode. The run fails only if a unit
#                  passes fewer tests than its floor (a landing must never lose a test that
#                  passed before); failures above the floor are listed but do not fail it.
#                  A unit below its floor runs once more on a fresh server, and the second run
#                  counts (see the loop below: races between connections in a few tests).
#   --skip FILE    test names not to run (one a line, # comments; the option may be given
#                  more than once): tests that need a family
#                  Spindle does not have yet, whose failure would leave blocked clients or
#                  data behind and fail later tests that have nothing to do with it.
#   --binary       the suite's normal mode: Spindle is the tree's src/redis-server and the
#                  harness starts its own servers with per-test configs (redis-cli,
#                  redis-benchmark, redis-check-aof and redis-check-rdb come from Debian's
#                  redis-tools). Tags -needs:repl -repl. Without it: external mode against one
#                  Spindle (--host/--port, --ignore-encoding --ignore-digest, tags
#                  -needs:repl -needs:debug).
#
# Nothing from the Redis checkout is built: against an external server (--host) the harness spawns
# no redis-server, and these units call no compiled helper (redis-cli, redis-benchmark). Only tclsh
# (8.5 or newer) is needed.
#
# Environment:
#   SPINDLE_BIN     server binary to test (default: target/release/spindle, built with cargo first)
#   TEST_TIMEOUT    seconds the harness waits without any progress before it reports a hang
#                   (runtest --timeout; default 60; the slowest test here takes about 6 s)
#   UNIT_TIMEOUT    hard limit in seconds for one runtest invocation (default 1200)
#   RUNTEST_ARGS    extra runtest arguments, split on spaces (e.g. "--only /GETEX")
#   SUITE_LOG_DIR   keep runtest's raw output here (default: a temporary directory, removed)
#   VERBOSE=1       print the whole failure report (assertion and Tcl stack), not just its first line
#
# Per unit it prints the counts and every failure; then a final "N passed, M failed" line. Exits 0
# if nothing failed, 1 if something failed, 2 on a setup problem.
#
# With --durable the harness turns an error inside a test into an [err] and goes on, and an error
# in a start_server block outside any test into an [err] (no test name) that ends that block. A unit
# still stops early on:
#   - a [TIMEOUT]: no progress for TEST_TIMEOUT seconds. The test in progress is counted as failed
#     ("hung"), the server is restarted, and the unit is run again from the start with that test
#     given to --skipfile (from the start, because later tests build on the data of earlier ones);
#     this repeats while each run finds a new hung test;
#   - an [exception]: an error outside both (e.g. a CONFIG SET of a start_server override failing)
#     killed the test client. It would recur on a rerun, so the unit is reported as aborted;
#   - runtest killed after UNIT_TIMEOUT seconds: reported as aborted.
# The counts of a unit are those of its last run, plus its hung tests.

set -uo pipefail
export LC_ALL=C
export TERM=dumb # the harness colours its output when TERM is an xterm

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

floors=
skiplist=
binary=0
while [ $# -gt 0 ]; do
    case "$1" in
        --binary)
            binary=1
            shift
            ;;
        --floors)
            floors=${2:?--floors needs a file}
            shift 2
            [ -r "$floors" ] || { echo "redis-suite: cannot read $floors" >&2; exit 2; }
            ;;
        --skip)
            [ -r "${2:?--skip needs a file}" ] || { echo "redis-suite: cannot read $2" >&2; exit 2; }
            skiplist="$skiplist $2"
            shift 2
            ;;
        *) break ;;
    esac
done
floor_of() { awk -v u="$1" '$1 == u { print $2 }' "$floors"; }

src=${REDIS_SRC_DIR:-}
if [ $# -gt 0 ] && [ -d "$1" ] && [ -e "$1/tests/test_helper.tcl" ]; then
    src=$1
    shift
fi
[ -n "$src" ] || src=$here/../redis-7.0.15
if [ ! -e "$src/tests/test_helper.tcl" ]; then
    echo "redis-suite: no Redis source at '$src' (give REDIS_SRC_DIR as first argument)" >&2
    echo "  e.g. git clone <redis repo> /work/redis-src && git -C /work/redis-src checkout 7.0.15" >&2
    exit 2
fi
src=$(cd "$src" && pwd)

units=("$@")
if [ ${#units[@]} -eq 0 ] && [ -n "$floors" ]; then
    read -r -a units <<<"$(sed 's/#.*//' "$floors" | awk 'NF { print $1 }' | tr '\n' ' ')"
fi
[ ${#units[@]} -gt 0 ] || units=(unit/type/string unit/type/incr unit/keyspace unit/expire)

test_timeout=${TEST_TIMEOUT:-60}
unit_timeout=${UNIT_TIMEOUT:-1200}
read -r -a extra_args <<<"${RUNTEST_ARGS:-}"

# tclsh: runtest itself only looks for tclsh8.5/8.6/8.7; fall back to running the helper directly.
tclsh=
for v in 8.5 8.6 8.7; do
    command -v "tclsh$v" >/dev/null 2>&1 && tclsh=tclsh$v
done
if [ -n "$tclsh" ]; then
    runtest=(./runtest)
elif command -v tclsh >/dev/null 2>&1; then
    runtest=(tclsh tests/test_helper.tcl)
else
    echo "redis-suite: tclsh (8.5 or newer) is needed" >&2
    exit 2
fi

# Server binary.
if [ -n "${SPINDLE_BIN:-}" ]; then
    bin=$SPINDLE_BIN
else
    (cd "$here" && cargo build --release --quiet) || { echo "redis-suite: build failed" >&2; exit 2; }
    bin=$here/target/release/spindle
fi
[ -x "$bin" ] || { echo "redis-suite: no server binary at $bin" >&2; exit 2; }

if [ -n "${SUITE_LOG_DIR:-}" ]; then
    logdir=$SUITE_LOG_DIR
    mkdir -p "$logdir"
    keep_logs=1
else
    logdir=$(mktemp -d)
    keep_logs=0
fi

# Normal mode: a tree of our own holding the suite, with Spindle as src/redis-server.
tree=$src
if [ "$binary" = 1 ]; then
    tree=$logdir/tree
    mkdir -p "$tree/src"
    cp -r "$src/tests" "$src/runtest" "$tree/"
    ln -sf "$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")" "$tree/src/redis-server"
    for t in redis-cli redis-benchmark redis-check-aof redis-check-rdb; do
        p=$(command -v "$t") || { echo "redis-suite: $t not found (apt-get install redis-tools)" >&2; exit 2; }
        ln -sf "$p" "$tree/src/$t"
    done
fi

pid=
cleanup() {
    stop_server
    [ "$keep_logs" = 1 ] || rm -rf "$logdir"
}
runner=
on_signal() {
    [ -n "$runner" ] && kill -TERM "$runner" 2>/dev/null && wait "$runner" 2>/dev/null
    exit 130
}
trap cleanup EXIT
trap on_signal INT TERM

start_server() {
    [ "$binary" = 1 ] && return 0
    mkdir -p "$logdir/data"
    "$bin" --any-port yes --dir "$logdir/data" >"$logdir/server.log" 2>&1 &
    pid=$!
    port=
    for _ in $(seq 1 100); do
        port=$(sed -n 's/.*listening on [^ ]*:\([0-9]*\),.*/\1/p' "$logdir/server.log" | head -n1)
        [ -n "$port" ] && return 0
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    echo "redis-suite: server did not start" >&2
    cat "$logdir/server.log" >&2
    exit 2
}

stop_server() {
    [ "$binary" = 1 ] && return 0
    [ -n "$pid" ] || return 0
    kill "$pid" 2>/dev/null
    for _ in $(seq 1 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    pid=
}

# The server is restarted if a unit kills it, so the next unit still gets one.
ensure_server() {
    [ "$binary" = 1 ] && return 0
    if [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; then
        if [ -n "$pid" ]; then
            echo "  (server died; log tail follows; restarting)"
            tail -n 5 "$logdir/server.log" | sed 's/^/    /'
            wait "$pid" 2>/dev/null
        fi
        start_server
    fi
}

start_server
if [ "$binary" = 1 ]; then
    echo "spindle: $bin as $tree/src/redis-server (the suite's normal mode); redis tests: $src"
    mode_args=(--tags "-needs:repl -repl")
else
    echo "spindle: $bin on 127.0.0.1:$port; redis tests: $src"
    # (--host/--port are added at each run: a restarted server has a new port.)
    mode_args=(--ignore-encoding --ignore-digest --tags "-needs:repl -needs:debug")
fi

total_pass=0
total_fail=0
below=()

# parse LOG: turns runtest's output into records on stdout, one per line, fields tab-separated:
#   ok NAME | err NAME FIRST-LINE-OF-MESSAGE | ignore TEXT | skip NAME | exception TEXT | hang NAME
# and writes each failure's whole report to LOG.err.N files.
parse() {
    awk -v errbase="$1.err" '
        # An [err] report is "[err]: NAME in tests/FILE.tcl", the assertion message and, for an
        # error that was not an assertion, the Tcl stack, whose first line is the whole message
        # (runtest cuts the first 10 characters off such a message).
        function end_err() {
            if (!inerr) return
            msg = l1
            if (l2 != "" && length(l2) > length(l1) && index(l2, l1) > 0) msg = l2
            if (noname) {
                msg = "(error outside any test: the rest of its start_server block was not run) " msg
            }
            print "err\t" ename "\t" msg "\t" n
            close(errfile); inerr = 0
        }
        /^\[ok\]: / { end_err(); s = substr($0, 7); sub(/ \([0-9]+ ms\)$/, "", s); print "ok\t" s; next }
        /^\[err\]: / {
            end_err(); n++; inerr = 1; nl = 0; l1 = ""; l2 = ""; errfile = errbase "." n
            print $0 > errfile
            ename = substr($0, 8); noname = 0
            if (!sub(/ in tests\/[^ ]*\.tcl$/, "", ename)) {
                # No test name: an error raised in a start_server block outside any test.
                noname = 1; l1 = ename; nl = 1; ename = "(start_server block)"
            }
            next
        }
        /^\[ignore\]: / { end_err(); print "ignore\t" substr($0, 11); next }
        /^\[skip\]: / { end_err(); print "skip\t" substr($0, 9); next }
        /^\[exception\]: / { end_err(); print "exception\t" substr($0, 14); next }
        /^\[TIMEOUT\]/ { end_err(); timeout = 1; next }
        timeout && /=> \(IN PROGRESS\) / { s = $0; sub(/.*=> \(IN PROGRESS\) /, "", s); print "hang\t" s; next }
        /^\[[0-9]+\/[0-9]+ done\]: / || /^ *The End$/ || /^Testing / || /^\[ready\]/ { end_err(); next }
        inerr {
            print $0 > errfile
            nl++
            if (nl == 1) l1 = $0; else if (nl == 2) l2 = $0
        }
        END { end_err() }
    ' "$1"
}

for unit in "${units[@]}"; do
  echo
  echo "== $unit"
  # With floors, a unit below its floor runs once more on a fresh server: a few tests send
  # from several connections without waiting for replies and assume the server serves them
  # in arrival order, which a thread per connection does not promise; such a race loses a
  # test now and then. A real regression fails both runs.
  for try in 1 2; do
    ensure_server
    tag=$(echo "$unit" | tr '/' '_')
    skipfile=$logdir/$tag.skip
    # runtest takes one skip file: the known-later tests, then any hung ones found below.
    if [ -n "$skiplist" ]; then
        # shellcheck disable=SC2086 # several files, none with a blank in its name
        cat $skiplist | grep -v '^#' | grep -v '^$' >"$skipfile" || :
    else
        : >"$skipfile"
    fi
    hung=()
    aborted=
    attempt=0
    while :; do
        attempt=$((attempt + 1))
        log=$logdir/$tag.$attempt.log
        skipargs=()
        [ -s "$skipfile" ] && skipargs=(--skipfile "$skipfile")
        # In the background so that a signal to this script is handled at once (see on_signal);
        # timeout runs runtest in a process group of its own and signals all of it.
        server_args=()
        [ "$binary" = 1 ] || server_args=(--host 127.0.0.1 --port "$port")
        unit_mode_args=("${mode_args[@]}")
        # unit/dump's MIGRATE tests start their target servers tagged repl; they need no
        # replication, so they run.
        [ "$binary" = 1 ] && [ "$unit" = unit/dump ] && unit_mode_args=(--tags "-needs:repl")
        (cd "$tree" && exec timeout -k 10 "$unit_timeout" "${runtest[@]}" \
            "${server_args[@]}" "${unit_mode_args[@]}" --single "$unit" \
            --clients 1 --timeout "$test_timeout" --durable \
            "${skipargs[@]}" "${extra_args[@]}") >"$log" 2>&1 </dev/null &
        runner=$!
        wait "$runner"
        rc=$?
        runner=
        pass=0 fail=0 nign=0 nskip=0 newhang= stopped=
        failures=()
        while IFS=$'\t' read -r kind name msg n; do
            case $kind in
                ok) pass=$((pass + 1)) ;;
                err)
                    fail=$((fail + 1))
                    failures+=("$name"$'\t'"$msg"$'\t'"$log.err.$n")
                    ;;
                hang)
                    stopped="harness TIMEOUT while running: $name"
                    grep -qxF -- "$name" "$skipfile" || newhang=$name
                    ;;
                ignore) nign=$((nign + 1)) ;;
                skip) grep -qxF -- "$name" "$skipfile" || nskip=$((nskip + 1)) ;;
                exception) stopped="exception: $name" ;;
            esac
        done < <(parse "$log")
        if [ -z "$stopped" ] && grep -q '^\[TIMEOUT\]' "$log"; then
            stopped="harness TIMEOUT outside any test"
        fi
        if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
            stopped="runtest killed after ${unit_timeout}s (UNIT_TIMEOUT)"
        elif [ -z "$stopped" ] && [ "$rc" != 0 ] && ! grep -q '^\[err\]' "$log"; then
            stopped="runtest exited $rc: $(tail -n 3 "$log" | tr '\n' ' ')"
        fi
        [ -z "$stopped" ] && break
        echo "  run $attempt stopped early: $stopped"
        sed -n '/^\[exception\]/,/^ *The End/p' "$log" | head -n 15 | sed 's/^/    /'
        if [ -n "$newhang" ]; then
            where=$(grep -nF -- "$newhang" "$tree/tests/$unit.tcl" 2>/dev/null | head -n1 | cut -d: -f1)
            hung+=("$newhang"$'\t'"hung: no progress for ${test_timeout}s (tests/$unit.tcl:${where:-?})")
            printf '%s\n' "$newhang" >>"$skipfile"
            # The server may be stuck too: give the rerun a fresh one.
            echo "  restarting the server and rerunning $unit without that test"
            stop_server
            start_server
            continue
        fi
        aborted=$stopped
        break
    done
    for h in "${hung[@]}"; do
        failures+=("$h"$'\t')
        fail=$((fail + 1))
    done
    if [ "$try" = 1 ] && [ -n "$floors" ]; then
        floor=$(floor_of "$unit")
        if [ -n "$floor" ] && [ "$pass" -lt "$floor" ]; then
            echo "  $pass passed, below the floor $floor: running $unit once more on a fresh server"
            stop_server
            start_server
            continue
        fi
    fi
    break
  done
    if [ -n "$aborted" ]; then
        failures+=("(unit aborted: tests after this point did not run)"$'\t'"$aborted"$'\t')
        fail=$((fail + 1))
    fi
    echo "$unit: $pass passed, $fail failed, $nign ignored, $nskip skipped"
    if [ -n "$floors" ]; then
        floor=$(floor_of "$unit")
        if [ -z "$floor" ]; then
            echo "  (no floor for $unit in $floors)"
        elif [ "$pass" -lt "$floor" ]; then
            echo "  BELOW FLOOR: $pass passed, the floor is $floor"
            below+=("$unit: $pass < $floor")
        else
            echo "  floor $floor: ok"
        fi
    fi
    for f in "${failures[@]}"; do
        IFS=$'\t' read -r name msg file <<<"$f"
        echo "  FAIL $name"
        if [ "${VERBOSE:-0}" = 1 ] && [ -n "$file" ] && [ -f "$file" ]; then
            tail -n +2 "$file" | sed 's/^/       /'
        elif [ -n "$msg" ]; then
            echo "       $msg"
        fi
    done
    total_pass=$((total_pass + pass))
    total_fail=$((total_fail + fail))
done

echo
[ "$keep_logs" = 1 ] && echo "runtest output kept in $logdir"
echo "$total_pass passed, $total_fail failed"
if [ -n "$floors" ]; then
    if [ ${#below[@]} -gt 0 ]; then
        echo "units below their floor (from $floors):"
        printf '  %s\n' "${below[@]}"
        exit 1
    fi
    echo "every unit at or above its floor ($floors)"
    exit 0
fi
[ "$total_fail" = 0 ]
