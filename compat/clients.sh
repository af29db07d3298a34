#!/usr/bin/env bash
# Usage: compat/clients.sh HOST PORT
# Drives a server with Redis's own command-line tools and checks the results:
#   redis-cli --pipe (100,000 SETs, then DBSIZE), redis-cli reading commands from stdin,
#   redis-cli -x, redis-benchmark -t ping,set,get,incr,mset.
# Prints one line per check and last `N passed, M failed`; exits 1 if anything failed.
# The server's databases are flushed (FLUSHALL) along the way.
set -uo pipefail

host=${1:?usage: clients.sh HOST PORT}
port=${2:?usage: clients.sh HOST PORT}
cli=(timeout 60 redis-cli -h "$host" -p "$port")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

passed=0
failed=0
pass() { passed=$((passed + 1)); echo "ok   [clients] $1"; }
fail() {
  failed=$((failed + 1))
  echo "FAIL [clients] $1"
  shift
  for line in "$@"; do printf '       %s\n' "$line"; done
}
# check NAME EXPECTED ACTUAL
check() {
  if [ "$2" == "$3" ]; then pass "$1"; else fail "$1" "expected: $(printf %q "$2")" "got:      $(printf %q "$3")"; fi
}

# ---- redis-cli --pipe: mass insert of 100,000 SET commands in RESP
"${cli[@]}" FLUSHALL >/dev/null 2>&1
n=100000
awk -v n=$n 'BEGIN {
  for (i = 0; i < n; i++) {
    k = "key:" i; v = "value:" i
    printf "*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n", length(k), k, length(v), v
  }
}' >"$tmp/mass.resp"
"${cli[@]}" --pipe <"$tmp/mass.resp" >"$tmp/pipe.out" 2>&1
rc=$?
summary=$(grep -a 'errors:' "$tmp/pipe.out" | tail -n1)
if [ $rc -eq 0 ] && [ "$summary" == "errors: 0, replies: $n" ]; then
  pass "redis-cli --pipe of $n SETs ($summary)"
else
  fail "redis-cli --pipe of $n SETs" "exit status $rc" "$(tail -n5 "$tmp/pipe.out")"
fi
check "DBSIZE after the mass insert" "$n" "$("${cli[@]}" DBSIZE 2>&1)"
check "GET of a mass-inserted key" "value:99999" "$("${cli[@]}" GET key:99999 2>&1)"
"${cli[@]}" FLUSHALL >/dev/null 2>&1

# ---- redis-cli reading commands from stdin (non-interactive REPL)
out=$(printf 'set a 1\nget a\n' | "${cli[@]}" 2>&1)
check "redis-cli commands from stdin print OK and 1" $'OK\n1' "$out"
out=$(printf 'set "sp ace" "quoted value"\nget "sp ace"\nget nosuchkey\nping\n' | "${cli[@]}" 2>&1)
check "redis-cli stdin with quoted arguments, nil and PONG" $'OK\nquoted value\n\nPONG' "$out"

# ---- redis-cli -x: last argument read from stdin
out=$(echo -n hello | "${cli[@]}" -x set k 2>&1)
check "redis-cli -x set k" "OK" "$out"
check "GET k after -x" "hello" "$("${cli[@]}" get k 2>&1)"
out=$(printf 'multi\nline\n' | "${cli[@]}" -x set k2 2>&1)
check "redis-cli -x with newlines" "OK" "$out"
check "GET k2 keeps the newlines (--no-raw shows them escaped)" '"multi\nline\n"' \
  "$("${cli[@]}" --no-raw get k2 2>&1)"

# ---- redis-cli one-shot commands: nil, integer, error formats (--no-raw, as on a terminal)
check "redis-cli --no-raw GET missing" "(nil)" "$("${cli[@]}" --no-raw get nosuchkey 2>&1)"
check "redis-cli --no-raw EXISTS" "(integer) 1" "$("${cli[@]}" --no-raw exists k 2>&1)"
check "redis-cli --no-raw wrong arity error" \
  "(error) ERR wrong number of arguments for 'get' command" "$("${cli[@]}" --no-raw get 2>&1)"
"${cli[@]}" FLUSHALL >/dev/null 2>&1

# ---- redis-benchmark on the commands that exist
# bench TESTS EXPECTED-FINAL-LINES: runs redis-benchmark -t TESTS and checks that every test
# completed without an error line.
bench() {
  local tests=$1 expected=$2 rc bad done_tests finals
  timeout 180 redis-benchmark -h "$host" -p "$port" -q -n 10000 -t "$tests" \
    >"$tmp/bench.out" 2>&1
  rc=$?
  tr '\r' '\n' <"$tmp/bench.out" | grep -a -v '^ *$' >"$tmp/bench.lines"
  bad=$(grep -a -i -E 'error|err |warn|refused|closed|timeout' "$tmp/bench.lines" | sort -u | head -n5)
  done_tests=$(grep -a -c 'requests per second' "$tmp/bench.lines")
  # One final line a test (progress lines have rps=).
  finals=$(grep -a 'requests per second' "$tmp/bench.lines" | grep -a -v 'rps=' | sed 's/:.*//' | tr -d ' ' | tr '\n' ' ')
  if [ $rc -eq 0 ] && [ -z "$bad" ] && [ "$finals" == "$expected" ]; then
    pass "redis-benchmark -q -n 10000 -t $tests"
  else
    fail "redis-benchmark -q -n 10000 -t $tests" "exit status $rc" \
      "completed: ${finals:-none} ($done_tests result lines)" "${bad:-no error lines}"
  fi
  "${cli[@]}" FLUSHALL >/dev/null 2>&1
}
bench ping,set,get,incr,mset "PING_INLINE PING_MBULK SET GET INCR MSET(10keys) "
bench lpush,rpush,lpop,rpop,hset,lrange_100,lrange_600 \
  "LPUSH RPUSH LPOP RPOP HSET LPUSH(neededtobenchmarkLRANGE) LRANGE_100(first100elements) LRANGE_600(first600elements) "
bench sadd,spop,zadd,zpopmin "SADD SPOP ZADD ZPOPMIN "

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
