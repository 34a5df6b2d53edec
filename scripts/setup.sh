#!/bin/sh
# One-time set-up of a fresh Debian 12 (or Ubuntu) machine for the demo and the tests, run by the
# README's two commands and by .ci/run: installs the Debian packages they drive (with sudo when not
# root), then the npm dependencies (`npm ci`, which brings the pinned Node 24). Whatever is there
# already is left alone, so running it again costs a second.
set -eu

cd "$(dirname "$0")/.."

# The tools the demo and the tests drive: real WireGuard peers and tools, nftables, a browser for
# the renderer tests, Debian's packaging tools plus a bootable systemd for the package test, and
# for the relay's tests openssl (a test CA and certificates), nginx (TLS in front of the relay) and
# squid (the HTTP CONNECT proxy a client reaches the relay through).
packages="wireguard-go wireguard-tools iperf3 iputils-ping nftables iproute2 procps chromium
systemd-container debootstrap libxml2-utils lintian rpm zstd tcpdump tshark openssl nginx squid"
# npm only bootstraps: the pinned `node` devDependency (Node 24) runs everything after `npm ci`.
command -v npm >/dev/null || packages="$packages nodejs npm"

missing=""
for package in $packages; do
  if ! dpkg-query -W -f '${Status}\n' "$package" 2>/dev/null | grep -q '^install ok installed$'; then
    missing="$missing $package"
  fi
done

if [ -n "$missing" ]; then
  if [ "$(id -u)" -eq 0 ]; then
    as_root=""
  elif command -v sudo >/dev/null; then
    as_root="sudo"
  else
    echo "setup: these Debian packages are missing and this is not root (and there is no sudo):$missing" >&2
    exit 1
  fi
  echo "==> apt-get install$missing"
  log=$(mktemp)
  if ! { $as_root apt-get update -q && DEBIAN_FRONTEND=noninteractive $as_root apt-get install -y -q \
    --no-install-recommends $missing; } >"$log" 2>&1; then
    cat "$log" >&2
    rm -f "$log"
    echo "setup: apt-get failed (log above)" >&2
    exit 1
  fi
  rm -f "$log"
  # The relay's tests start their own nginx and squid inside network namespaces; the distribution's
  # services, which the packages start on ports 80 and 3128 of this machine, are not wanted (they
  # were not here before).
  for service in nginx squid; do
    case " $missing " in
    *" $service "*)
      if [ -d /run/systemd/system ]; then
        $as_root systemctl disable --now "$service.service" >/dev/null 2>&1 || true
      fi
      ;;
    esac
  done
fi

# npm ci when node_modules is missing or older than the lock file.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "==> npm ci"
  npm ci --no-audit --no-fund --loglevel=error </dev/null
fi
