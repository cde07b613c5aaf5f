#!/bin/bash
# test.sh - the whole mxgate test suite (README's second command; .ci/run).
#
#   scripts/test.sh
#
# 1. scripts/deps.sh (apt-get; idempotent)
# 2. builds   build       release (what runs in production and in integration tests)
#             build-asan  debug + ASan/UBSan: unit tests
#             build-fuzz  clang + libFuzzer + ASan/UBSan: fuzz targets
# 3. unit tests      meson test -C build-asan --suite unit
# 4. integration     pytest tests/integration against build (as root), then
#                    again against build-asan (clean shutdown under LSan)
#                    and the benchmarks' smoke run (perf/run.py --smoke)
# 5. fuzzing         scripts/fuzz.sh build-fuzz (60 s per target, two at a time)
#
# Every unit test, pytest test and fuzz target counts as one test; a build
# that fails counts as one failed test and skips what needs it. The last line
# is exactly "N passed, N failed" (skips, if any, on the line before);
# the exit status is non-zero on any failure. Logs go to $MXG_TEST_LOGS
# (default: a temp dir, printed at the end).
#
# Works from any clone: paths derive from this script. The shared corpus
# (<repo>/../shared/corpus, or $MXG_SHARED) is optional; tests that need it
# skip with a message when it is absent.
set -u
set -o pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
cd "$repo" || exit 1
PY=/usr/bin/python3
logs=${MXG_TEST_LOGS:-$(mktemp -d "${TMPDIR:-/tmp}/mxg-test.XXXXXX")}
mkdir -p "$logs"
jobs=$(nproc 2>/dev/null || echo 2)

pass=0
fail=0
skip=0
failed_names=""
t_start=$SECONDS

note() { printf '\n=== %s (%ds)\n' "$*" $((SECONDS - t_start)); }
count_fail() {  # name
	fail=$((fail + 1))
	failed_names="$failed_names
  $1"
}
summary() {
	note "summary"
	echo "logs: $logs"
	[ -n "$failed_names" ] && printf 'failed:%s\n' "$failed_names"
	[ "$skip" -gt 0 ] && echo "$skip skipped"
	# The last line, exactly "N passed, N failed": what CI reads.
	echo "$pass passed, $fail failed"
	[ "$fail" -eq 0 ]
}
trap 'echo "test.sh: interrupted" >&2; summary; exit 130' INT
trap 'echo "test.sh: terminated" >&2; summary; exit 143' TERM

if [ "$(id -u)" -ne 0 ]; then
	echo "test.sh: run as root (deps.sh installs packages; integration tests create" \
	     "namespaces and DPDK ports)" >&2
	count_fail "not root"
	summary
	exit 1
fi

shared=${MXG_SHARED:-$repo/../shared/corpus}
if [ -d "$shared" ]; then
	echo "test.sh: shared corpus at $shared"
else
	echo "test.sh: no shared corpus ($shared): tests that need it skip"
fi

# --- 1. dependencies -------------------------------------------------------
note "dependencies (scripts/deps.sh)"
if ! sh "$repo/scripts/deps.sh" 2>&1 | tee "$logs/deps.log"; then
	count_fail "scripts/deps.sh"
	summary
	exit 1
fi

# --- 2. builds ----------------------------------------------------------------
# setup_build DIR COMPILER -Dopt...: configures DIR once (reconfigures an
# existing one with the given options; wipes it if it was made with another
# compiler or its configuration cannot be reused), then builds it.
setup_build() {
	local dir=$1 cc=$2 log
	shift 2
	log=$logs/build-${dir##*/}.log
	note "build $dir ($cc $*)"
	# CC only counts at first setup: a fuzz build made with gcc cannot
	# become clang by reconfiguring.
	if [ "$cc" = clang ] && [ -f "$dir/meson-logs/meson-log.txt" ] &&
	   ! grep -q "C compiler for the host machine: clang" "$dir/meson-logs/meson-log.txt"; then
		echo "test.sh: $dir was configured with another compiler: wiping it"
		rm -rf "$dir"
	fi
	{
		if [ -f "$dir/meson-private/coredata.dat" ]; then
			CC=$cc meson setup --reconfigure "$dir" "$@" ||
				CC=$cc meson setup --wipe "$dir" "$@"
		else
			CC=$cc meson setup "$dir" "$@"
		fi && ninja -C "$dir" -j "$jobs"
	} 2>&1 | tee "$log" | grep -E '^(FAILED|ninja: |ERROR|.*error:|.*warning:)|Build targets' 
	local rc=${PIPESTATUS[0]}
	if [ "$rc" -ne 0 ]; then
		echo "test.sh: build of $dir failed (log $log):"
		tail -n 40 "$log"
		count_fail "build $dir"
		return 1
	fi
	return 0
}

build_ok=0; asan_ok=0; fuzz_ok=0
setup_build build gcc -Dbuildtype=release && build_ok=1
setup_build build-asan gcc -Dbuildtype=debug -Db_sanitize=address,undefined \
	-Db_lundef=false && asan_ok=1
setup_build build-fuzz clang -Dfuzz=true -Dbuildtype=debugoptimized \
	-Db_sanitize=address,undefined -Db_lundef=false -Ddataplane=disabled \
	-Dbpf=disabled && fuzz_ok=1

# --- 3. unit tests --------------------------------------------------------------
if [ $asan_ok = 1 ]; then
	note "unit tests (meson test -C build-asan --suite unit)"
	rm -f build-asan/meson-logs/testlog.json
	meson test -C build-asan --suite unit --print-errorlogs --num-processes "$jobs" 2>&1 |
		tee "$logs/unit.log"
	rc=${PIPESTATUS[0]}
	read -r p f s <<<"$($PY - build-asan/meson-logs/testlog.json <<'PYEOF'
import json, sys
p = f = s = 0
try:
    for line in open(sys.argv[1]):
        r = json.loads(line).get("result")
        if r in ("OK", "EXPECTEDFAIL"):
            p += 1
        elif r == "SKIP":
            s += 1
        else:
            f += 1
except FileNotFoundError:
    pass
print(p, f, s)
PYEOF
)"
	pass=$((pass + p)); skip=$((skip + s))
	if [ "$f" -gt 0 ]; then
		fail=$((fail + f)); failed_names="$failed_names
  $f unit test(s), see $logs/unit.log"
	elif [ "$rc" -ne 0 ]; then
		count_fail "meson test (exit $rc, no per-test result)"
	fi
	echo "unit: $p passed, $f failed, $s skipped"
fi

# --- 4. integration tests ---------------------------------------------------
# run_pytest LABEL BUILD_DIR [pytest args...]
run_pytest() {
	local label=$1 bdir=$2 xml=$logs/pytest-$1.xml rc p f s
	shift 2
	note "integration tests, $label (pytest tests/integration, MXG_BUILD=$bdir)"
	rm -f "$xml"
	MXG_BUILD=$bdir timeout -k 30 30m \
		$PY -m pytest "$repo/tests/integration" --junitxml="$xml" \
		-o junit_family=xunit1 --continue-on-collection-errors "$@" 2>&1 |
		tee "$logs/integration-$label.log"
	rc=${PIPESTATUS[0]}
	read -r p f s <<<"$($PY - "$xml" <<'PYEOF'
import sys
import xml.etree.ElementTree as ET
p = f = s = 0
try:
    root = ET.parse(sys.argv[1]).getroot()
except (FileNotFoundError, ET.ParseError):
    print(0, 0, 0)
    sys.exit()
for tc in root.iter("testcase"):
    kinds = {c.tag for c in tc}
    if kinds & {"failure", "error"}:
        f += 1
    elif "skipped" in kinds:
        s += 1
    else:
        p += 1
print(p, f, s)
PYEOF
)"
	pass=$((pass + p)); skip=$((skip + s))
	if [ "$f" -gt 0 ]; then
		fail=$((fail + f)); failed_names="$failed_names
  $f integration test(s) [$label], see $logs/integration-$label.log"
	elif [ "$rc" -ne 0 ]; then
		count_fail "pytest [$label] (exit $rc, no per-test result)"
	fi
	echo "integration [$label]: $p passed, $f failed, $s skipped"
}

# The release dataplane is the product; the same suite against the ASan
# build proves it shuts down clean (LeakSanitizer) and survives the
# malformed frames without a memory error. The harness self-tests do not
# depend on the build and run once.
if [ $build_ok = 1 ]; then
	run_pytest release "$repo/build"
	# The benchmarks' short smoke run: proves they start, answer correctly
	# and write their JSON; timing never decides anything here.
	note "benchmark smoke run (perf/run.py --smoke)"
	if timeout -k 10 5m $PY "$repo/perf/run.py" --smoke --build "$repo/build" \
		>"$logs/perf-smoke.log" 2>&1; then
		pass=$((pass + 1))
		echo "perf smoke: passed"
	else
		count_fail "perf smoke run, see $logs/perf-smoke.log"
	fi
fi
# Under ASan the impaired TCP transfers are smaller (8 MiB each way, 4 MiB
# for the active opens): the release run above carries the issue's 64 MiB
# CI figure; this run looks for memory errors on the same code paths, and
# the userspace impairment bridge would otherwise make it the longest part
# of CI.
if [ $asan_ok = 1 ]; then
	MXG_TCP_NETEM_BYTES=$((8 << 20)) MXG_ACTIVE_BYTES=$((4 << 20)) \
		run_pytest asan "$repo/build-asan" --ignore="$repo/tests/integration/test_harness.py"
fi

# --- 5. fuzzing -------------------------------------------------------------------
if [ $fuzz_ok = 1 ]; then
	note "fuzzing (scripts/fuzz.sh build-fuzz)"
	FUZZ_ARTIFACTS=$logs/fuzz-artifacts "$repo/scripts/fuzz.sh" "$repo/build-fuzz" 2>&1 |
		tee "$logs/fuzz.log"
	rc=${PIPESTATUS[0]}
	p=$(grep -c '^PASS ' "$logs/fuzz.log")
	f=$(grep -c '^FAIL ' "$logs/fuzz.log")
	pass=$((pass + p))
	if [ "$f" -gt 0 ]; then
		fail=$((fail + f)); failed_names="$failed_names
$(grep '^FAIL ' "$logs/fuzz.log" | sed 's/^/  /')"
	elif [ "$rc" -ne 0 ]; then
		count_fail "fuzz.sh (exit $rc)"
	fi
fi

summary
