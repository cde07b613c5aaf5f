#!/bin/bash
# fuzz.sh - runs every libFuzzer target of a fuzz build for a bounded time.
#
#   scripts/fuzz.sh [BUILD_DIR]          (default: <repo>/build-fuzz)
#
# Each executable named fuzz_* under BUILD_DIR runs for FUZZ_SECONDS
# (default 60: what issues 2, 4 and 5 ask of every parser and decoder),
# FUZZ_JOBS targets at a time (default: the number of CPUs; each target is
# one single-threaded libFuzzer process). Seeds come from, when present:
#   tests/fuzz/<name>/seeds, tests/fuzz/*/seeds_<target>, tests/fuzz/<name>/corpus,
#   tests/fuzz/corpus/<target>,
#   and <repo>/../shared/corpus/<name> (or $MXG_SHARED/<name>)
# where <target> is e.g. fuzz_net and <name> is net. New inputs go to a
# temporary corpus; crash/leak/timeout artifacts go to $FUZZ_ARTIFACTS
# (default: a temp dir, kept and printed on failure).
# Targets named in FUZZ_REQUIRED (default "fuzz_net") must exist.
#
# Prints "PASS <target>" / "FAIL <target>" per target as each finishes and
# a last line "N passed, N failed"; exits 1 if any target failed.
set -u

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
build=${1:-$repo/build-fuzz}
secs=${FUZZ_SECONDS:-60}
jobs=${FUZZ_JOBS:-$(nproc 2>/dev/null || echo 1)}
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

# run_target PATH: one libFuzzer run; prints its PASS/FAIL block and
# leaves $work/<target>.rc (0 passed, 1 failed).
run_target() {
	local t=$1 name short corpus seeds d log rc found execs out
	name=$(basename "$t")
	short=${name#fuzz_}
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
	echo "fuzz.sh: $name for ${secs}s (seeds:${seeds:- none})"
	# -max_total_time bounds the run; the outer timeout catches a hang in
	# the harness itself. Leak detection stays on (LeakSanitizer).
	# shellcheck disable=SC2086
	timeout -k 10 $((secs + 120)) "$t" -max_total_time="$secs" -timeout=25 -rss_limit_mb=2048 \
		-print_final_stats=1 -artifact_prefix="$arts/$name/" \
		"$corpus" $seeds >"$log" 2>&1
	rc=$?
	found=$(find "$arts/$name" -type f | head -n 1)
	if [ $rc -eq 0 ] && [ -z "$found" ]; then
		execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
		echo "PASS $name (${execs:-?} runs)"
		echo 0 >"$work/$name.rc"
	else
		# one block, so that parallel targets' reports do not interleave
		out="FAIL $name (exit $rc); log $log; artifacts $arts/$name:
$(ls -l "$arts/$name" 2>/dev/null)
$(grep -E 'ERROR|SUMMARY|runtime error|Test unit written' "$log" | head -n 20)"
		echo "$out"
		echo 1 >"$work/$name.rc"
	fi
}

running=0
for t in $targets; do
	if [ "$running" -ge "$jobs" ]; then
		wait -n
		running=$((running - 1))
	fi
	run_target "$t" &
	running=$((running + 1))
done
wait

for t in $targets; do
	name=$(basename "$t")
	if [ "$(cat "$work/$name.rc" 2>/dev/null)" = 0 ]; then
		pass=$((pass + 1))
	else
		[ -f "$work/$name.rc" ] || echo "FAIL $name (no result)"
		keep=1
		fail=$((fail + 1))
	fi
done

[ -z "$targets" ] && echo "fuzz.sh: no fuzz_* executable under $build"
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
