#!/usr/bin/env bash
# Prints the path of a Redis 7.0.15 source tree (the one whose tests/ is Redis's Tcl suite),
# fetching it first if there is none.
#
# Usage: scripts/redis-src.sh
#
# Looks, in order, at $REDIS_SRC_DIR, ../redis-7.0.15 beside the project and
# target/redis-7.0.15. Otherwise it downloads Debian's source package of redis (the suite
# Debian ships is upstream's 7.0.15 tree): a deb-src entry is added for the same archive and
# suites as the machine's deb entry, then `apt-get source --download-only redis` fetches
# redis_7.0.15.orig.tar.gz, which is unpacked into target/. Needs root (or sudo) for apt.
# Nothing from Redis is committed to the project: it is fetched at test time.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
want=7.0.15

has_suite() { [ -n "${1:-}" ] && [ -e "$1/tests/test_helper.tcl" ]; }

for dir in "${REDIS_SRC_DIR:-}" "$here/../redis-$want" "$here/target/redis-$want"; do
    if has_suite "$dir"; then
        (cd "$dir" && pwd)
        exit 0
    fi
done

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

log() { echo "redis-src: $*" >&2; }

# A deb-src twin of every deb entry, in the same format (deb822 .sources or one-line .list).
src_list=/etc/apt/sources.list.d/spindle-deb-src
if ! grep -rqsE '^(deb-src|Types:.*deb-src)' /etc/apt/sources.list /etc/apt/sources.list.d/; then
    log "adding deb-src entries beside the machine's deb entries"
    shopt -s nullglob
    for f in /etc/apt/sources.list.d/*.sources; do
        sed -n '/^Types:.*\bdeb\b/,/^$/p' "$f" | sed 's/^Types:.*/Types: deb-src/'
        echo
    done | as_root tee "$src_list.sources" >/dev/null
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        if [ -e "$f" ]; then sed -n 's/^deb /deb-src /p' "$f"; fi
    done | as_root tee "$src_list.list" >/dev/null
    shopt -u nullglob
fi

log "apt-get update"
as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
log "apt-get source --download-only redis"
(cd "$work" && as_root apt-get source --download-only redis >/dev/null 2>&1) || {
    log "apt-get source redis failed"
    exit 2
}
tarball=$(ls "$work"/redis_*.orig.tar.gz 2>/dev/null | head -n1)
[ -n "$tarball" ] || { log "no redis_*.orig.tar.gz downloaded"; exit 2; }
case "$tarball" in
    *"redis_$want.orig.tar.gz") ;;
    *) log "expected redis $want, got $(basename "$tarball")"; exit 2 ;;
esac
mkdir -p "$here/target"
tar -xzf "$tarball" -C "$here/target"
has_suite "$here/target/redis-$want" || { log "the tarball has no tests/"; exit 2; }
echo "$here/target/redis-$want"
