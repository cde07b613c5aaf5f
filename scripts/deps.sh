#!/bin/sh
# Installs every build, runtime and test dependency of mxgate with apt-get.
# Idempotent: packages already present are skipped; safe to run again.
# Debian 12 (bookworm). Must run as root.
set -eu

PKGS="
  build-essential meson ninja-build pkg-config git
  clang llvm lld libclang-rt-14-dev
  libdpdk-dev dpdk dpdk-dev
  libhyperscan-dev
  libbpf-dev bpftool libxdp-dev linux-libc-dev
  libjemalloc-dev libpq-dev libssl-dev openssl
  libarchive-dev libmagic-dev libpcre2-dev zlib1g-dev liblzma-dev
  libevent-dev libjansson-dev libc-ares-dev libldap-dev
  libcmocka-dev libpcap-dev libcurl4-openssl-dev
  postgresql
  python3 python3-pytest python3-matplotlib python3-scapy
  iproute2 iputils-ping ethtool procps psmisc kmod
  postfix swaks libnet-ssleay-perl unbound
  clamav
"

if [ "$(id -u)" -ne 0 ]; then
	echo "deps.sh: run as root (apt-get needs it)" >&2
	exit 1
fi

missing=""
for p in $PKGS; do
	st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
	[ "$st" = installed ] || missing="$missing $p"
done

if [ -z "$missing" ]; then
	echo "deps.sh: all dependencies present"
	exit 0
fi

echo "deps.sh: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
# Postfix (a test peer) asks questions at install time: answer them here.
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
apt-get update -q
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends $missing
