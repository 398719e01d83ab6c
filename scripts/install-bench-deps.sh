#!/bin/sh
# Installs what `drp-bench` (tests/src/bin/drp-bench.rs) needs besides the Rust toolchain:
# etcd 3.4 from Debian's `etcd-server` (the peer it is measured against) and `etcd-client`
# (etcdctl, handy for poking at it), plus git (the fan-out workload commits to a repo), and the
# peers of the boot-service workloads.
# Idempotent: does nothing when they are already installed. The benchmark starts its own etcd
# processes on loopback; the packaged system service is not started (and not needed).
#
#   scripts/install-bench-deps.sh
#   cargo run --release -p tests --bin drp-bench -- --quick
set -eu

missing=""
command -v etcd >/dev/null 2>&1 || [ -x /usr/bin/etcd ] || missing="$missing etcd-server"
command -v etcdctl >/dev/null 2>&1 || missing="$missing etcd-client"
command -v git >/dev/null 2>&1 || missing="$missing git"
# The boot-service workloads: perfdhcp (kea-admin) and dnsmasq for `drp-bench dhcp`,
# busybox httpd and curl for `drp-bench boot-files`.
command -v perfdhcp >/dev/null 2>&1 || [ -x /usr/sbin/perfdhcp ] || missing="$missing kea-admin"
command -v dnsmasq >/dev/null 2>&1 || [ -x /usr/sbin/dnsmasq ] || missing="$missing dnsmasq-base"
command -v busybox >/dev/null 2>&1 || missing="$missing busybox-static"
command -v curl >/dev/null 2>&1 || missing="$missing curl"

if [ -z "$missing" ]; then
    echo "bench deps present: $(etcd --version 2>/dev/null | head -n 1)"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi
echo "installing:$missing"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
# shellcheck disable=SC2086
$SUDO apt-get install -y -q --no-install-recommends $missing
# Debian enables the etcd service on install; the bench does not use it. Stop it when it runs so
# that it does not take CPU from the measurement (ignored where there is no systemd).
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet etcd 2>/dev/null; then
    $SUDO systemctl stop etcd || true
fi
echo "bench deps installed: $(etcd --version | head -n 1)"
