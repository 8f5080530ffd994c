#!/usr/bin/env bash
# fetch-ort-cuda.sh — provisions ONNX Runtime's CUDA execution provider for
# `sgnas … --ep cuda` (make deps-cuda).
#
# The CPU library of `make deps` (onnxruntime-node 1.24.3) has no CUDA
# provider, and a provider must pair with a core library of exactly its ONNX
# Runtime version. This script fetches, with `npm pack` (plain downloads, no
# install scripts run), two npm packages and checks their pinned checksums:
#   onnxruntime-node@1.29.0                         core libonnxruntime.so.1 (linux x64)
#   com.github.asus4.onnxruntime.linux-x64-gpu@0.4.9  libonnxruntime_providers_cuda.so and
#                                                   libonnxruntime_providers_shared.so
#                                                   (ONNX Runtime 1.29.0 GPU build, CUDA 13)
# and installs the three libraries with the licences into
#   ${XDG_CACHE_HOME:-$HOME/.cache}/sgnas/onnxruntime/1.29.0-cuda/
# where `--ep cuda` finds them without flags. The CUDA libraries themselves
# (libcudart.so.13, libcublas.so.13, libcublasLt.so.13, libcurand.so.10,
# cuDNN 9) and the NVIDIA driver (libcuda.so.1) are not fetched: sgnas finds
# them at run time (docs/infer.md, "CUDA execution provider"). Idempotent.
# About 290 MB are downloaded; 275 MB are installed.
#
# Environment:
#   SGNAS_ORT_CUDA_DIR       install here instead of the cache directory
#   SGNAS_ORT_CUDA_TARBALLS  a directory holding the two already-downloaded
#                            tarballs (offline machines); verified like downloads
# Options:
#   --force       re-fetch and re-install even when present
#   --print-path  only print where the core library is (or would be) installed
set -euo pipefail

ORT_VERSION=1.29.0
CORE_PKG="onnxruntime-node@${ORT_VERSION}"
CORE_TGZ="onnxruntime-node-${ORT_VERSION}.tgz"
CORE_URL="https://registry.npmjs.org/onnxruntime-node/-/${CORE_TGZ}"
CORE_SHA256=cfdfb45ec4044b1fdca43e5d2e180fb6817e649ff8ad1e0dfc90e18e51b67037
CORE_SHA512_B64='WjiVVB72riILz8HbYvxvmjKyE/WmkYoSfKY++axo5jAR609HQg8MwiG/HhShpTcJfmmAdzxxmB+MMST3A+SiPA=='
GPU_PKG="com.github.asus4.onnxruntime.linux-x64-gpu@0.4.9"
GPU_TGZ="com.github.asus4.onnxruntime.linux-x64-gpu-0.4.9.tgz"
GPU_URL="https://registry.npmjs.org/com.github.asus4.onnxruntime.linux-x64-gpu/-/${GPU_TGZ}"
GPU_SHA256=2b459e0c17f340c92970c10ed86de4f37a3009f93c14053e6ad4334cbb6be412
GPU_SHA512_B64='FopIhNE/Ng+v2X65wVc9clPCBCvhvA53Hxo2U0Kf5fGdVsC7iCA+mZ0KLWggcQAj7TIZ6pNidR4AC10g74Xo6w=='
# The installed libraries (sha256).
LIBS=(
	"package/bin/napi-v6/linux/x64/libonnxruntime.so.1 libonnxruntime.so.1 89688f5cf51c7e31befbb7b9101bc027799009b18d1baa9a5b1146a72e69538d"
	"package/Plugins/Linux/x64/libonnxruntime_providers_shared.so libonnxruntime_providers_shared.so c6a12593396095f5670160e284c35d1700b7708cf3037b7042e2a5200ccae772"
	"package/Plugins/Linux/x64/libonnxruntime_providers_cuda.so libonnxruntime_providers_cuda.so 56cf3254b118ad837ccc4ed8f6d1b23504bbf7ef91b34cbc0b289cb7f10b3037"
)

die() { echo "fetch-ort-cuda: $*" >&2; exit 1; }

force=0 print_only=0
for a in "$@"; do
	case "$a" in
	--force) force=1 ;;
	--print-path) print_only=1 ;;
	-h|--help) sed -n '2,28p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) die "unknown option $a (see --help)" ;;
	esac
done

DEST="${SGNAS_ORT_CUDA_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/sgnas/onnxruntime/${ORT_VERSION}-cuda}"
if [ "$print_only" = 1 ]; then echo "$DEST/libonnxruntime.so.1"; exit 0; fi
[ "$(uname -s)" = Linux ] && case "$(uname -m)" in x86_64|amd64) true ;; *) false ;; esac ||
	die "the ONNX Runtime CUDA build fetched here is for Linux x86-64 only (found $(uname -s) $(uname -m)); pass --ort-lib with an ONNX Runtime ${ORT_VERSION} GPU build for your platform"

. "$(dirname "$0")/ort-common.sh"

installed() {
	local l
	for l in "${LIBS[@]}"; do
		set -- $l
		[ -f "$DEST/$2" ] && [ "$(sha256 "$DEST/$2")" = "$3" ] || return 1
	done
	[ -f "$DEST/LICENSE" ]
}
if [ "$force" = 0 ] && installed; then
	echo "fetch-ort-cuda: ONNX Runtime ${ORT_VERSION} with the CUDA provider already installed and verified: $DEST"
	exit 0
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
off=""
[ -n "${SGNAS_ORT_CUDA_TARBALLS:-}" ] && off="${SGNAS_ORT_CUDA_TARBALLS}/"
fetch_tarball "$CORE_PKG" "$CORE_TGZ" "$CORE_URL" "$tmp" "${off:+$off$CORE_TGZ}" "~112 MB"
verify_tarball "$tmp/$CORE_TGZ" "$CORE_SHA256" "$CORE_SHA512_B64"
fetch_tarball "$GPU_PKG" "$GPU_TGZ" "$GPU_URL" "$tmp" "${off:+$off$GPU_TGZ}" "~180 MB"
verify_tarball "$tmp/$GPU_TGZ" "$GPU_SHA256" "$GPU_SHA512_B64"

mkdir -p "$tmp/core" "$tmp/gpu"
tar -xzf "$tmp/$CORE_TGZ" -C "$tmp/core" package/bin/napi-v6/linux/x64/libonnxruntime.so.1 ||
	die "extracting the core library from ${CORE_TGZ} failed"
tar -xzf "$tmp/$GPU_TGZ" -C "$tmp/gpu" package/Plugins/Linux/x64/libonnxruntime_providers_shared.so \
	package/Plugins/Linux/x64/libonnxruntime_providers_cuda.so package/LICENSE ||
	die "extracting the providers from ${GPU_TGZ} failed"
for l in "${LIBS[@]}"; do
	set -- $l
	src="$tmp/core/$1"
	[ -f "$src" ] || src="$tmp/gpu/$1"
	[ "$(sha256 "$src")" = "$3" ] || die "checksum mismatch for extracted $2"
done

mkdir -p "$DEST"
write_ort_license "$tmp/LICENSE"
cat >"$tmp/NOTICE" <<NOTICE_EOF
ONNX Runtime ${ORT_VERSION} (linux-x64) with its CUDA execution provider, taken unmodified from
  libonnxruntime.so.1                  npm ${CORE_PKG} (${CORE_URL}, sha256 ${CORE_SHA256})
  libonnxruntime_providers_*.so        npm ${GPU_PKG} (${GPU_URL}, sha256 ${GPU_SHA256}),
                                       a repackaging of the official ONNX Runtime GPU build (licence of
                                       the repackaging: LICENSE.unity-package, MIT)
ONNX Runtime is (c) Microsoft Corporation, MIT licence: see LICENSE.
Third-party components bundled in ONNX Runtime are listed in
https://github.com/microsoft/onnxruntime/blob/v${ORT_VERSION}/ThirdPartyNotices.txt
The CUDA and cuDNN libraries it needs are NVIDIA's and are not included.
NOTICE_EOF
install -m 0644 "$tmp/LICENSE" "$DEST/LICENSE"
install -m 0644 "$tmp/gpu/package/LICENSE" "$DEST/LICENSE.unity-package"
install -m 0644 "$tmp/NOTICE" "$DEST/NOTICE"
# Providers first, the core library last: the core is what sgnas looks for.
for i in 2 1 0; do
	set -- ${LIBS[$i]}
	src="$tmp/core/$1"
	[ -f "$src" ] || src="$tmp/gpu/$1"
	install_last "$src" "$DEST/$2"
done
ln -sfn libonnxruntime.so.1 "$DEST/libonnxruntime.so"
echo "fetch-ort-cuda: installed ONNX Runtime ${ORT_VERSION} with the CUDA provider: $DEST"
