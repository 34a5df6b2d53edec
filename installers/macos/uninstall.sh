#!/bin/sh
# Removes the PhantomMesh helper from a Mac: `sudo sh uninstall.sh` (the app itself goes to the Trash
# like any app). The helper undoes its routes, DNS and pf anchor as it stops; the anchor is emptied
# here too in case it was not running. `--purge` also deletes the stored tunnels (with their keys),
# the settings and the logs, and the phantommesh group.
set -eu
LABEL=net.phantommesh.helper
[ "$(id -u)" = 0 ] || { echo "run it as root: sudo sh $0 [--purge]" >&2; exit 1; }

launchctl bootout "system/$LABEL" 2>/dev/null || true
rm -f "/Library/LaunchDaemons/$LABEL.plist"
rm -rf "/Library/PrivilegedHelperTools/$LABEL"
[ -L /usr/local/bin/phantommesh ] && rm -f /usr/local/bin/phantommesh
pfctl -a com.phantommesh -F rules 2>/dev/null || true
rm -rf /var/run/phantommesh
pkgutil --forget net.phantommesh.desktop >/dev/null 2>&1 || true

if [ "${1:-}" = --purge ]; then
  rm -rf "/Library/Application Support/PhantomMesh" /Library/Logs/PhantomMesh
  dseditgroup -o delete phantommesh 2>/dev/null || true
fi
echo "PhantomMesh helper removed."
