#!/bin/sh
# End-to-end on a Mac (the macos-latest runner; as root): the pkg installed, its LaunchDaemon up, a
# tunnel to wireguard-go (Homebrew's) on this same Mac connected through the helper, `wg show` on
# both sides, the kill switch's pf anchor loaded and taken away, DNS put back, the uninstall.
# Usage: sudo sh installers/macos/e2e.sh release/PhantomMesh-VERSION.pkg
set -eu
PKG=$1
WORK=$(mktemp -d)
SERVER_NAME_FILE=$WORK/server.name
PM=/usr/local/bin/phantommesh
step() { printf '\n== %s\n' "$*"; }
cleanup() {
  set +e
  [ -f "$WORK/wg-go.pid" ] && kill "$(cat "$WORK/wg-go.pid")" 2>/dev/null
  "$PM" down e2e 2>/dev/null
  "$PM" kill-switch off 2>/dev/null
}
trap cleanup EXIT

step "install $PKG"
installer -pkg "$PKG" -target /
launchctl print system/net.phantommesh.helper | grep -E 'state =|pid ='
test -S /var/run/phantommesh/helper.sock

step "wireguard-go as the server"
SERVER_KEY=$(wg genkey)
CLIENT_KEY=$(wg genkey)
SERVER_PUB=$(printf '%s' "$SERVER_KEY" | wg pubkey)
CLIENT_PUB=$(printf '%s' "$CLIENT_KEY" | wg pubkey)
WG_TUN_NAME_FILE=$SERVER_NAME_FILE wireguard-go -f utun >"$WORK/wg-go.log" 2>&1 &
echo $! >"$WORK/wg-go.pid"
for _ in 1 2 3 4 5 6 7 8 9 10; do [ -s "$SERVER_NAME_FILE" ] && break; sleep 1; done
SERVER_IF=$(cat "$SERVER_NAME_FILE")
printf '%s' "$SERVER_KEY" >"$WORK/server.key"
wg set "$SERVER_IF" private-key "$WORK/server.key" listen-port 51820 peer "$CLIENT_PUB" allowed-ips 10.99.0.2/32
ifconfig "$SERVER_IF" inet 10.99.0.1/32 10.99.0.1 alias
ifconfig "$SERVER_IF" up
# The helper's sockets are bound to the default interface: the endpoint is this Mac's address there.
DEFAULT_IF=$(route -n get default | awk '/interface:/ { print $2 }')
ENDPOINT=$(ipconfig getifaddr "$DEFAULT_IF")

step "a tunnel through the helper (endpoint $ENDPOINT:51820 on $DEFAULT_IF)"
cat >"$WORK/e2e.conf" <<CONF
[Interface]
PrivateKey = $CLIENT_KEY
Address = 10.99.0.2/32
DNS = 10.99.0.1

[Peer]
PublicKey = $SERVER_PUB
Endpoint = $ENDPOINT:51820
AllowedIPs = 10.99.0.1/32
PersistentKeepalive = 5
CONF
scutil --dns | grep -m3 nameserver | tee "$WORK/dns-before"
"$PM" import "$WORK/e2e.conf"
"$PM" up e2e --timeout 30
"$PM" status
wg show "$SERVER_IF" latest-handshakes | awk '{ exit !($2 > 0) }'
wg show e2e
cat /var/run/wireguard/e2e.name
scutil --dns | grep -q 'nameserver\[0\] : 10.99.0.1'

step "the kill switch: the pf anchor loaded, pf enabled, then taken away"
"$PM" kill-switch on
pfctl -s info | grep -q 'Status: Enabled'
pfctl -sr | grep -q 'anchor "com.phantommesh" all'
pfctl -a com.phantommesh -sr | tee "$WORK/anchor"
grep -q 'block drop quick all' "$WORK/anchor"
"$PM" kill-switch off
test -z "$(pfctl -a com.phantommesh -sr 2>/dev/null)"

step "down: DNS as before"
"$PM" down e2e
scutil --dns | grep -m3 nameserver | diff "$WORK/dns-before" -

step "uninstall"
sh "$(dirname "$0")/uninstall.sh" --purge
! launchctl print system/net.phantommesh.helper >/dev/null 2>&1
echo "macOS end-to-end: passed"
