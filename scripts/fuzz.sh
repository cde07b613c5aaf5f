#!/bin/sh
# fuzz.sh - runs every libFuzzer target of a fuzz build for a bounded time.
#
#   scripts/fuzz.sh [BUILD_DIR]          (default: <repo>/build-fuzz)
#
# Each executable named fuzz_* under BUILD_DIR runs for FUZZ_SECONDS
# (default 30) seconds; fuzz_net, fuzz_smtp_srv and fuzz_smtp_cli for
# FUZZ_NET_SECONDS (default 60, what issues 2 and 4 ask of the parsers that
# face the network). Seeds come from, when present:
#   tests/fuzz/<name>/seeds, tests/fuzz/*/seeds_<target>, tests/fuzz/<name>/corpus,
#   tests/fuzz/corpus/<target>,
#   and <repo>/../shared/corpus/<name> (or $MXG_SHARED/<name>)
# where <target> is e.g. fuzz_net and <name> is net. New inputs go to a
# temporary corpus; crash/leak/timeout artifacts go to $FUZZ_ARTIFACTS
# (default: a temp dir, kept and printed on failure).
# Targets named in FUZZ_REQUIRED (default "fuzz_net") must exist.
#
# Prints "PASS <target>" / "FAIL <target>" per target and a last line
# "N passed, N failed"; exits 1 if any target failed.
set -u

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
build=${1:-$repo/build-fuzz}
secs=${FUZZ_SECONDS:-30}
net_secs=${FUZZ_NET_SECONDS:-60}
required=${FUZZ_REQUIRED-fuzz_net}
shared=${MXG_SHARED:-$repo/../shared/corpus}
work=$(mktemp -d "${TMPDIR:-/tmp}/mxg-fuzz.XXXXXX")
arts=${FUZZ_ARTIFACTS:-$work/artifacts}
mkdir -p "$arts"
keep=0
trap 'rm -rf "$work/corpus"; [ $keep = 1 ] || rm -rf "$work"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [ ! -d "$build" ]; then
	echo "fuzz.sh: no build directory $build (CC=clang meson setup $build -Dfuzz=true)" >&2
	echo "0 passed, 1 failed"
	exit 1
fi

pass=0
fail=0
targets=$(find "$build" -type f -name 'fuzz_*' -perm -u+x ! -name '*.p' 2>/dev/null | sort)

for req in $required; do
	if ! printf '%s\n' "$targets" | grep -q "/$req\$"; then
		echo "FAIL $req (required target not built)"
		fail=$((fail + 1))
	fi
done

for t in $targets; do
	name=$(basename "$t")
	short=${name#fuzz_}
	dur=$secs
	# The parsers facing the network get the longer run (issues 2 and 4).
	case $name in fuzz_net|fuzz_smtp_srv|fuzz_smtp_cli) dur=$net_secs ;; esac
	corpus=$work/corpus/$name
	mkdir -p "$corpus" "$arts/$name"
	seeds=""
	# Module folders name per-target seed sets seeds_<target> or seeds_<short>
	# (tests/fuzz/smtp/seeds_fuzz_smtp_srv, tests/fuzz/scan/seeds_mime).
	for d in "$repo/tests/fuzz/$short/seeds" "$repo/tests/fuzz/$short/corpus" \
		 "$repo"/tests/fuzz/*/seeds_"$name" "$repo"/tests/fuzz/*/seeds_"$short" \
		 "$repo/tests/fuzz/corpus/$name" "$repo/tests/fuzz/corpus/$short" "$shared/$short"; do
		[ -d "$d" ] && seeds="$seeds $d"
	done
	log=$work/$name.log
	echo "fuzz.sh: $name for ${dur}s (seeds:${seeds:- none})"
	# -max_total_time bounds the run; the outer timeout catches a hang in
	# the harness itself. Leak detection stays on (LeakSanitizer).
	# shellcheck disable=SC2086
	timeout -k 10 $((dur + 120)) "$t" -max_total_time="$dur" -timeout=25 -rss_limit_mb=2048 \
		-print_final_stats=1 -artifact_prefix="$arts/$name/" \
		"$corpus" $seeds >"$log" 2>&1
	rc=$?
	found=$(find "$arts/$name" -type f | head -n 1)
	if [ $rc -eq 0 ] && [ -z "$found" ]; then
		execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
		echo "PASS $name (${execs:-?} runs)"
		pass=$((pass + 1))
	else
		keep=1
		echo "FAIL $name (exit $rc); log $log; artifacts $arts/$name:"
		ls -l "$arts/$name" 2>/dev/null
		grep -E 'ERROR|SUMMARY|runtime error|Test unit written' "$log" | head -n 20
		fail=$((fail + 1))
	fi
done

[ -z "$targets" ] && echo "fuzz.sh: no fuzz_* executable under $build"
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
