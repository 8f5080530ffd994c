#!/usr/bin/env bash
# fetch-ort.sh — provisions the ONNX Runtime shared library sgnas loads.
#
# Fetches the npm package onnxruntime-node@1.24.3 with `npm pack` (a plain
# download: no install scripts run), checks the tarball's sha256 and sha512
# against the values recorded below, and installs the host's
# libonnxruntime.so.1 (linux x64 or arm64) with ONNX Runtime's licence into
#   ${XDG_CACHE_HOME:-$HOME/.cache}/sgnas/onnxruntime/1.24.3/
# where sgnas finds it without flags. Idempotent: when the library is already
# there and its checksum matches, nothing is downloaded.
#
# Environment:
#   SGNAS_ORT_DIR      install here instead of the cache directory
#   SGNAS_ORT_TARBALL  use this already-downloaded onnxruntime-node-1.24.3.tgz
#                      (offline machines); it is verified like a download
# Options:
#   --force            re-fetch and re-install even when present
#   --print-path       only print where the library is (or would be) installed
set -euo pipefail

ORT_VERSION=1.24.3
PKG="onnxruntime-node@${ORT_VERSION}"
TARBALL_NAME="onnxruntime-node-${ORT_VERSION}.tgz"
REGISTRY_URL="https://registry.npmjs.org/onnxruntime-node/-/${TARBALL_NAME}"
# Recorded from the npm registry (npm pack --json "integrity") and sha256sum.
TARBALL_SHA256=aa1bb5fa261ea68de05dd53efbba210cd7adf2d2850f4c3a201054c74cc78040
TARBALL_SHA512_B64='JH7+czbc8ALA819vlTgcV+Q214/+VjGeBHDjX81+ZCD0PCVCIFGFNtT0V4sXG/1JXypKPgScQcB3ij/hk3YnTg=='
LIB_SHA256_x64=92ba8e44d31b80a34f5e805076a044122c3be1fffe0d88ed790de7267b0b2682
LIB_SHA256_arm64=33032cb5b91c12edbf028d7c69fa40a31848d66c0095448758af237d5e0b07db

die() { echo "fetch-ort: $*" >&2; exit 1; }

force=0 print_only=0
for a in "$@"; do
	case "$a" in
	--force) force=1 ;;
	--print-path) print_only=1 ;;
	-h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) die "unknown option $a (see --help)" ;;
	esac
done

[ "$(uname -s)" = Linux ] || die "only Linux is supported by this script (found $(uname -s)); pass --ort-lib to sgnas with your own ONNX Runtime ${ORT_VERSION}+ library"
case "$(uname -m)" in
x86_64|amd64) arch=x64 ;;
aarch64|arm64) arch=arm64 ;;
*) die "no prebuilt ONNX Runtime in ${PKG} for $(uname -m); build ONNX Runtime ${ORT_VERSION}+ and pass --ort-lib" ;;
esac
lib_sha_var="LIB_SHA256_${arch}"
LIB_SHA256="${!lib_sha_var}"

DEST="${SGNAS_ORT_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/sgnas/onnxruntime/${ORT_VERSION}}"
LIB="${DEST}/libonnxruntime.so.1"
if [ "$print_only" = 1 ]; then echo "$LIB"; exit 0; fi

sha256() {
	if command -v sha256sum >/dev/null; then sha256sum "$1" | cut -d' ' -f1
	else shasum -a 256 "$1" | cut -d' ' -f1; fi
}
sha512_b64() {
	if command -v openssl >/dev/null; then openssl dgst -sha512 -binary "$1" | base64 | tr -d '\n'
	elif command -v sha512sum >/dev/null; then sha512sum "$1" | cut -d' ' -f1 | xxd -r -p | base64 | tr -d '\n'
	else echo skip; fi
}

if [ "$force" = 0 ] && [ -f "$LIB" ] && [ -f "$DEST/LICENSE" ] && [ "$(sha256 "$LIB")" = "$LIB_SHA256" ]; then
	echo "fetch-ort: ONNX Runtime ${ORT_VERSION} (linux-${arch}) already installed and verified: $LIB"
	exit 0
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

if [ -n "${SGNAS_ORT_TARBALL:-}" ]; then
	[ -f "$SGNAS_ORT_TARBALL" ] || die "SGNAS_ORT_TARBALL=$SGNAS_ORT_TARBALL does not exist"
	cp "$SGNAS_ORT_TARBALL" "$tmp/$TARBALL_NAME"
elif command -v npm >/dev/null; then
	echo "fetch-ort: npm pack ${PKG} (~86 MB)..."
	(cd "$tmp" && npm pack "$PKG" --ignore-scripts --silent >/dev/null) || die "npm pack ${PKG} failed (no network or registry access?); download ${REGISTRY_URL} by hand and rerun with SGNAS_ORT_TARBALL=/path/to/${TARBALL_NAME}"
elif command -v curl >/dev/null; then
	echo "fetch-ort: npm not found; downloading ${REGISTRY_URL} with curl..."
	curl -fsSL -o "$tmp/$TARBALL_NAME" "$REGISTRY_URL" || die "download of ${REGISTRY_URL} failed"
else
	die "need npm or curl to fetch ${PKG} (or set SGNAS_ORT_TARBALL)"
fi
tgz="$tmp/$TARBALL_NAME"
[ -f "$tgz" ] || die "expected ${TARBALL_NAME} after npm pack, not found"

got="$(sha256 "$tgz")"
[ "$got" = "$TARBALL_SHA256" ] || die "checksum mismatch for ${TARBALL_NAME}: sha256 $got, want $TARBALL_SHA256 (corrupt or tampered download; nothing installed)"
got512="$(sha512_b64 "$tgz")"
[ "$got512" = skip ] || [ "$got512" = "$TARBALL_SHA512_B64" ] || die "checksum mismatch for ${TARBALL_NAME}: sha512 $got512, want $TARBALL_SHA512_B64"

member="package/bin/napi-v6/linux/${arch}/libonnxruntime.so.1"
tar -xzf "$tgz" -C "$tmp" "$member" package/package.json package/README.md || die "extracting $member from ${TARBALL_NAME} failed"
[ "$(sha256 "$tmp/$member")" = "$LIB_SHA256" ] || die "checksum mismatch for extracted $member"

mkdir -p "$DEST"
# The npm package carries no licence file (package.json: "license": "MIT"),
# so ONNX Runtime's MIT licence (github.com/microsoft/onnxruntime LICENSE) is
# installed beside the library, with the package metadata for provenance.
cat >"$tmp/LICENSE" <<'LICENSE_EOF'
MIT License

Copyright (c) 2018 - present Microsoft Corporation

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
LICENSE_EOF
cat >"$tmp/NOTICE" <<NOTICE_EOF
libonnxruntime.so.1 in this directory is ONNX Runtime ${ORT_VERSION} (linux-${arch}),
taken unmodified from the npm package ${PKG}
(${REGISTRY_URL}, sha256 ${TARBALL_SHA256}).
ONNX Runtime is (c) Microsoft Corporation, MIT licence: see LICENSE.
Third-party components bundled in ONNX Runtime are listed in
https://github.com/microsoft/onnxruntime/blob/v${ORT_VERSION}/ThirdPartyNotices.txt
NOTICE_EOF

install -m 0644 "$tmp/LICENSE" "$DEST/LICENSE"
install -m 0644 "$tmp/NOTICE" "$DEST/NOTICE"
install -m 0644 "$tmp/package/package.json" "$DEST/package.json"
install -m 0644 "$tmp/package/README.md" "$DEST/README.md"
# Library last, through a rename, so an interrupted run never leaves a
# half-written library that a later run would take for a good one.
install -m 0755 "$tmp/$member" "$DEST/.libonnxruntime.so.1.tmp"
mv -f "$DEST/.libonnxruntime.so.1.tmp" "$LIB"
ln -sfn libonnxruntime.so.1 "$DEST/libonnxruntime.so"
echo "fetch-ort: installed ONNX Runtime ${ORT_VERSION} (linux-${arch}): $LIB"
