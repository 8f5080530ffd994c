# ort-common.sh — functions shared by fetch-ort.sh and fetch-ort-cuda.sh
# (sourced, not run).

sha256() {
	if command -v sha256sum >/dev/null; then sha256sum "$1" | cut -d' ' -f1
	else shasum -a 256 "$1" | cut -d' ' -f1; fi
}

sha512_b64() {
	if command -v openssl >/dev/null; then openssl dgst -sha512 -binary "$1" | base64 | tr -d '\n'
	elif command -v sha512sum >/dev/null; then sha512sum "$1" | cut -d' ' -f1 | xxd -r -p | base64 | tr -d '\n'
	else echo skip; fi
}

# fetch_tarball PKG TARBALL_NAME URL DIR OFFLINE_FILE SIZE_TEXT: puts the npm
# tarball of PKG into DIR/TARBALL_NAME: the OFFLINE_FILE when given, else
# `npm pack` (no install scripts run), else curl.
fetch_tarball() {
	local pkg=$1 name=$2 url=$3 dir=$4 offline=$5 size=$6
	if [ -n "$offline" ]; then
		[ -f "$offline" ] || die "$offline does not exist"
		cp "$offline" "$dir/$name"
	elif command -v npm >/dev/null; then
		echo "$(basename "$0" .sh): npm pack ${pkg} (${size})..."
		(cd "$dir" && npm pack "$pkg" --ignore-scripts --silent >/dev/null) ||
			die "npm pack ${pkg} failed (no network or registry access?); download ${url} by hand and rerun with the offline variable (see --help)"
	elif command -v curl >/dev/null; then
		echo "$(basename "$0" .sh): npm not found; downloading ${url} with curl..."
		curl -fsSL -o "$dir/$name" "$url" || die "download of ${url} failed"
	else
		die "need npm or curl to fetch ${pkg}"
	fi
	[ -f "$dir/$name" ] || die "expected ${name} after npm pack, not found"
}

# verify_tarball FILE SHA256 SHA512_B64: refuses a corrupt or tampered download.
verify_tarball() {
	local f=$1 want256=$2 want512=$3 got got512
	got="$(sha256 "$f")"
	[ "$got" = "$want256" ] || die "checksum mismatch for $(basename "$f"): sha256 $got, want $want256 (corrupt or tampered download; nothing installed)"
	got512="$(sha512_b64 "$f")"
	[ "$got512" = skip ] || [ "$got512" = "$want512" ] || die "checksum mismatch for $(basename "$f"): sha512 $got512, want $want512"
}

# write_ort_license FILE: ONNX Runtime's MIT licence (the npm package
# onnxruntime-node carries none; package.json says "license": "MIT").
write_ort_license() {
	cat >"$1" <<'LICENSE_EOF'
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
}

# install_last SRC DEST: installs a library through a rename, so an
# interrupted run never leaves a half-written file a later run would take
# for a good one.
install_last() {
	install -m 0755 "$1" "$(dirname "$2")/.$(basename "$2").tmp"
	mv -f "$(dirname "$2")/.$(basename "$2").tmp" "$2"
}
