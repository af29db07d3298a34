# Spindle: `make run` to serve on 127.0.0.1:6379, `make test` to check everything.
PORT ?= 6379
CARGO ?= cargo

.PHONY: run build release test unit smoke lint fmt compat redis-suite redis-suite-binary bench crash-test clean

run: release
	./target/release/spindle --port $(PORT)

build:
	$(CARGO) build

release:
	$(CARGO) build --release

## Spindle vs redis-server with redis-benchmark: a table of medians and ratios.
bench: release
	bash scripts/bench.sh

## Unit and integration tests, then the shell smoke tests against a live server.
test: unit smoke

unit:
	$(CARGO) test

smoke: build
	scripts/with-server.sh ./target/debug/spindle scripts/smoke.sh HOST PORT

## Spindle and redis-server 7.0 side by side, byte for byte (installs redis-server/redis-tools
## with apt-get when missing), plus redis-cli, redis-benchmark and redis-py against Spindle.
compat:
	bash scripts/compat.sh

## Redis's own Tcl tests (7.0.15) against Spindle, each unit held to its floor in
## .ci/redis-suite-floors; the suite is fetched from Debian's source package when absent.
redis-suite: release
	SPINDLE_BIN=./target/release/spindle bash scripts/redis-suite.sh --floors .ci/redis-suite-floors --skip .ci/redis-suite-skip \
		$${REDIS_SRC:-$$(bash scripts/redis-src.sh)}

## The same suite in its normal mode, with Spindle as src/redis-server: the harness starts its
## own servers from per-test config files (units and floors in .ci/redis-suite-binary-floors).
redis-suite-binary: release
	SPINDLE_BIN=./target/release/spindle bash scripts/redis-suite.sh --binary \
		--floors .ci/redis-suite-binary-floors --skip .ci/redis-suite-skip --skip .ci/redis-suite-binary-skip \
		$${REDIS_SRC:-$$(bash scripts/redis-src.sh)}

## The AOF under kill -9: writers, random kills and restarts, every acknowledged write checked.
crash-test: release
	python3 scripts/crash-test.py --spindle ./target/release/spindle

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

clean:
	$(CARGO) clean
