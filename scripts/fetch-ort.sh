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

. "$(dirname "$0")/ort-common.sh"

if [ "$force" = 0 ] && [ -f "$LIB" ] && [ -f "$DEST/LICENSE" ] && [ "$(sha256 "$LIB")" = "$LIB_SHA256" ]; then
	echo "fetch-ort: ONNX Runtime ${ORT_VERSION} (linux-${arch}) already installed and verified: $LIB"
	exit 0
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

fetch_tarball "$PKG" "$TARBALL_NAME" "$REGISTRY_URL" "$tmp" "${SGNAS_ORT_TARBALL:-}" "~86 MB"
tgz="$tmp/$TARBALL_NAME"
verify_tarball "$tgz" "$TARBALL_SHA256" "$TARBALL_SHA512_B64"

member="package/bin/napi-v6/linux/${arch}/libonnxruntime.so.1"
tar -xzf "$tgz" -C "$tmp" "$member" package/package.json package/README.md || die "extracting $member from ${TARBALL_NAME} failed"
[ "$(sha256 "$tmp/$member")" = "$LIB_SHA256" ] || die "checksum mismatch for extracted $member"

mkdir -p "$DEST"
# The npm package carries no licence file (package.json: "license": "MIT"),
# so ONNX Runtime's MIT licence (github.com/microsoft/onnxruntime LICENSE) is
# installed beside the library, with the package metadata for provenance.
write_ort_license "$tmp/LICENSE"
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
# Library last, through a rename (install_last).
install_last "$tmp/$member" "$LIB"
ln -sfn libonnxruntime.so.1 "$DEST/libonnxruntime.so"
echo "fetch-ort: installed ONNX Runtime ${ORT_VERSION} (linux-${arch}): $LIB"
