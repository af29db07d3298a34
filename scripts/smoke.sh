#!/usr/bin/env bash
# Replays the lab's telnet sessions (shared/seed) against a running server and compares every
# reply byte for byte. Pure bash: the connections are /dev/tcp file descriptors.
#
# Usage: scripts/smoke.sh [HOST [PORT]]   (default 127.0.0.1 6379)
# Prints one line per check, then "N passed, M failed"; exits 1 if any check failed, 2 if the
# server cannot be reached.
#
# Keys get a per-run prefix so reruns pass and nothing else in the server is touched; the keys
# are deleted at the end.

set -u
export LC_ALL=C

HOST=${1:-127.0.0.1}
PORT=${2:-6379}
TIMEOUT=5
RUN="smoke:$$:$RANDOM"

passed=0
failed=0

# Shows a reply with CR and LF made visible.
show() {
    local s=${1//$'\r'/\\r}
    printf '%s' "${s//$'\n'/\\n}"
}

# read_reply FD: reads one whole RESP reply from FD into $REPLY_BYTES (raw, CRLFs included).
# Returns non-zero on timeout, EOF or a malformed reply.
read_reply() {
    local fd=$1 line body n i
    REPLY_BYTES=
    IFS= read -r -t "$TIMEOUT" -u "$fd" line || return 1
    [[ $line == *$'\r' ]] || { REPLY_BYTES=$line; return 1; }
    REPLY_BYTES=$line$'\n'
    case $line in
        '$'*)
            n=${line:1:${#line}-2}
            [[ $n =~ ^-?[0-9]+$ ]] || return 1
            if ((n >= 0)); then
                # The body plus its CRLF, read as exactly n+2 bytes (LC_ALL=C).
                IFS= read -r -N $((n + 2)) -t "$TIMEOUT" -u "$fd" body || return 1
                REPLY_BYTES+=$body
            fi
            ;;
        '*'*)
            n=${line:1:${#line}-2}
            [[ $n =~ ^-?[0-9]+$ ]] || return 1
            local acc=$REPLY_BYTES
            for ((i = 0; i < n; i++)); do
                read_reply "$fd" || { REPLY_BYTES=$acc$REPLY_BYTES; return 1; }
                acc+=$REPLY_BYTES
            done
            REPLY_BYTES=$acc
            ;;
    esac
    return 0
}

# check FD LABEL COMMAND EXPECTED: sends COMMAND as an inline line (as telnet does) and compares
# the whole reply with EXPECTED (given with \r\n written out, as printf %b understands it).
check() {
    local fd=$1 label=$2 cmd=$3 expected got
    printf -v expected '%b' "$4"
    if ! printf '%s\r\n' "$cmd" >&"$fd" 2>/dev/null; then
        echo "FAIL $label: $cmd -> (write failed)"
        failed=$((failed + 1))
        return
    fi
    read_reply "$fd"
    got=$REPLY_BYTES
    if [[ $got == "$expected" ]]; then
        echo "ok   $label: $cmd -> $(show "$got")"
        passed=$((passed + 1))
    else
        echo "FAIL $label: $cmd -> expected $(show "$expected"), got $(show "$got")"
        failed=$((failed + 1))
    fi
}

K1="$RUN:key1"
UNKNOWN="$RUN:unknown"
U1="$RUN:user1"
U2="$RUN:user2"

# --- Lab 1 transcript, one telnet session ---------------------------------------------------
{ exec 3<>"/dev/tcp/$HOST/$PORT"; } 2>/dev/null || {
    echo "FAIL cannot connect to $HOST:$PORT"
    echo "0 passed, 1 failed"
    exit 2
}
check 3 "ping" "PING" '+PONG\r\n'
check 3 "set" "SET $K1 hello" '+OK\r\n'
check 3 "get" "GET $K1" '$5\r\nhello\r\n'
check 3 "get missing" "GET $UNKNOWN" '$-1\r\n'
check 3 "unknown command" "HELLO" "-ERR unknown command 'HELLO'\\r\\n"
check 3 "arity" "SET onlykey" "-ERR wrong number of arguments for 'SET'\\r\\n"

# --- Two telnet terminals sharing the store -------------------------------------------------
{ exec 4<>"/dev/tcp/$HOST/$PORT"; } 2>/dev/null || {
    echo "FAIL cannot open a second connection to $HOST:$PORT"
    echo "$passed passed, $((failed + 1)) failed"
    exit 2
}
check 3 "client 1" "SET $U1 Alice" '+OK\r\n'
check 3 "client 1" "GET $U1" '$5\r\nAlice\r\n'
check 4 "client 2" "SET $U2 Bob" '+OK\r\n'
check 4 "client 2" "GET $U2" '$3\r\nBob\r\n'
check 4 "client 2" "GET $U1" '$5\r\nAlice\r\n'

# Clean up this run's keys (not a check), then hang up.
printf '%s\r\n' "DEL $K1 $U1 $U2" >&3 2>/dev/null && read_reply 3
exec 3>&- 4>&-

echo "$passed passed, $failed failed"
((failed == 0))
