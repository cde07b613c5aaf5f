#!/bin/bash
# run.sh - install, build and run the gateway on the embedded default
# configuration (README's first command). Root, Debian 12.
#
#   scripts/run.sh [CONFIG]            (default: etc/mxgate.conf)
#
# Installs dependencies (scripts/deps.sh), builds `build` (release), starts
# mxgate-dataplane in the foreground in this network namespace, waits for
# "mxgate-dataplane: ready", gives the kernel side of the tap (mxg0)
# 198.18.0.2/24 and 2001:db8:18::2/64, starts a demo downstream MTA on
# 198.18.0.2:10026 (Postfix's smtp-sink, one file per message under
# /var/lib/mxgate/demo-mail) and mxgate-control (its internal PostgreSQL
# under /var/lib/mxgate), prints how to reach the gateway and runs until
# Ctrl-C or SIGTERM, which it forwards; it then stops everything it
# started and removes the DPDK runtime directory.
#
# Environment: MXG_READY_TIMEOUT (seconds, default 60), MXG_SKIP_DEPS=1 and
# MXG_SKIP_BUILD=1 to skip those steps.
set -eu
set -o pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
conf=${1:-$repo/etc/mxgate.conf}
build=$repo/build
bin=$build/dataplane/mxgate-dataplane
tap=mxg0
kaddr4=198.18.0.2/24
kaddr6=2001:db8:18::2/64
gw4=198.18.0.1
gw6=2001:db8:18::1
ready_timeout=${MXG_READY_TIMEOUT:-60}

die() { echo "run.sh: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run as root (DPDK and the tap interface need it)"
[ -f "$conf" ] || die "no configuration $conf"

if [ "${MXG_SKIP_DEPS:-0}" != 1 ]; then
	sh "$repo/scripts/deps.sh"
fi
if [ "${MXG_SKIP_BUILD:-0}" != 1 ]; then
	if [ ! -f "$build/meson-private/coredata.dat" ]; then
		meson setup "$build" -Dbuildtype=release
	fi
	ninja -C "$build"
fi
[ -x "$bin" ] || die "$bin was not built (is libdpdk-dev installed? see meson setup output)"

# The runtime directory is /var/run/dpdk/<file_prefix>; read the prefix
# from the config ([dataplane] file_prefix, default mxgate).
prefix=$(sed -n '/^\[dataplane\]/,/^\[/{s/^[[:space:]]*file_prefix[[:space:]]*=[[:space:]]*\([^[:space:]#]*\).*/\1/p}' "$conf" | head -n 1)
prefix=${prefix:-mxgate}

work=$(mktemp -d "${TMPDIR:-/tmp}/mxg-run.XXXXXX")
fifo=$work/stdout
mkfifo "$fifo"
dp_pid=
drain_pid=
sink_pid=
ctl_pid=
mail_dir=/var/lib/mxgate/demo-mail
ctl_bin=$build/control/mxgate-control

# shellcheck disable=SC2317  # invoked through trap
stop_dp() {
	local sig=${1:-TERM}
	if [ -n "$dp_pid" ] && kill -0 "$dp_pid" 2>/dev/null; then
		echo "run.sh: stopping the dataplane (SIG$sig)" >&2
		kill -s "$sig" "$dp_pid" 2>/dev/null || true
	fi
}
# Whatever ends this script also stops the dataplane and removes its
# runtime directory.
# shellcheck disable=SC2317  # invoked through trap
cleanup() {
	set +e
	for p in $ctl_pid $sink_pid; do
		kill -TERM "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	if [ -n "$dp_pid" ]; then
		stop_dp TERM
		wait "$dp_pid" 2>/dev/null
		rm -rf "/var/run/dpdk/$prefix"
	fi
	rm -rf "$work"
}
# Ctrl-C reaches the dataplane directly too (same process group); SIGTERM
# is forwarded for a kill aimed at this script alone. The dataplane treats
# both the same way.
trap cleanup EXIT
trap 'stop_dp TERM' INT TERM

echo "run.sh: starting $bin --config $conf"
# stderr (logs) straight to the terminal; stdout through the fifo so the
# ready line is seen as soon as it is printed.
"$bin" --config "$conf" >"$fifo" &
dp_pid=$!
exec 3<"$fifo"

ready=0
deadline=$((SECONDS + ready_timeout))
while [ $SECONDS -lt $deadline ]; do
	if ! IFS= read -r -t $((deadline - SECONDS)) line <&3; then
		break       # timeout, or EOF: the dataplane exited
	fi
	printf '%s\n' "$line"
	if [ "$line" = "mxgate-dataplane: ready" ]; then
		ready=1
		break
	fi
done
if [ $ready != 1 ]; then
	if kill -0 "$dp_pid" 2>/dev/null; then
		echo "run.sh: no ready line within ${ready_timeout}s" >&2
		stop_dp TERM
	fi
	set +e
	wait "$dp_pid"
	rc=$?
	die "the dataplane did not become ready (exit status $rc)"
fi
# From here on a signal must not abort the script half-way (set -e would
# on a command it interrupts): wait for the dataplane instead.
set +e
# Keep showing (and draining) what the dataplane prints.
cat <&3 &
drain_pid=$!
exec 3<&-

if ip link show dev "$tap" >/dev/null 2>&1; then
	ip addr replace "$kaddr4" dev "$tap"
	ip -6 addr replace "$kaddr6" dev "$tap" nodad
	ip link set dev "$tap" up
	# The demo downstream: the gateway delivers scanned mail to it through
	# the tap. A real deployment points downstream_smtp_server_addr at its
	# MTA instead.
	if command -v smtp-sink >/dev/null && grep -q "^downstream_smtp_server_addr *= *${kaddr4%/*}" "$conf"; then
		mkdir -p "$mail_dir"
		chown postfix "$mail_dir" 2>/dev/null || true
		smtp-sink -u postfix -d "$mail_dir/%Y%m%d%H%M%S." "${kaddr4%/*}:10026" 64 &
		sink_pid=$!
	fi
	if [ -x "$ctl_bin" ] && grep -q '^\[control\]' "$conf"; then
		"$ctl_bin" --config "$conf" &
		ctl_pid=$!
	fi
	printf '%s\n' "
mxgate is running. The gateway answers on $gw4 and $gw6 through $tap
(kernel side: ${kaddr4%/*} and ${kaddr6%/*}):

    ping $gw4
    ping $gw6
    swaks --server $gw4 --from you@example.org --to postmaster@example.test
    ls $mail_dir                    # what the demo downstream received
    swaks --server $gw4 --from you@example.org --to postmaster@example.test \\
          --attach-type application/octet-stream --attach - <<< \\
          'X5O!P%@AP[4\\PZX54(P^)7CC)7}\$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!\$H+H*'
    $build/control/mxgatectl --config $conf quarantine list

The client's 250 comes only after the downstream accepted the message or
the quarantine committed it. Control plane API: https://127.0.0.1:8445
(token in /var/lib/mxgate/admin.token), e.g.
$build/control/mxgatectl --config $conf status

Counters (DPDK telemetry, /var/run/dpdk/$prefix/dpdk_telemetry.v2):

    $build/dataplane/mxgate-status --file-prefix $prefix     (if built)
    dpdk-telemetry.py -f $prefix    then    /mxgate/stats  /mxgate/ports

Ctrl-C stops it."
else
	echo "run.sh: no interface $tap (the configuration has no net_tap port named $tap):" \
	     "not configuring the kernel side" >&2
fi

# Wait for the dataplane; a trapped signal interrupts wait, so loop until it
# is really gone.
while :; do
	wait "$dp_pid"
	rc=$?
	kill -0 "$dp_pid" 2>/dev/null || break
done
wait "$drain_pid" 2>/dev/null
rm -rf "/var/run/dpdk/$prefix"
dp_pid=
echo "run.sh: the dataplane exited with status $rc"
exit "$rc"
