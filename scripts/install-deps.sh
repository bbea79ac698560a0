#!/bin/sh
# install-deps.sh: install every Debian package kiln needs to build, test
# and run its samples. Idempotent: packages already present are skipped by
# apt-get. Run as root on Debian 12 (bookworm; LLVM 19 comes from
# bookworm-updates).
set -eu

PKGS="
build-essential cmake pkg-config file
llvm-19-dev clang-19 lld-19
libonnx-dev libprotobuf-c-dev protobuf-c-compiler
libarchive-dev libevent-dev libjansson-dev nettle-dev
libcmocka-dev
libfuzzer-19-dev libclang-rt-19-dev
python3-onnx python3-numpy python3-torch python3-torchvision python3-sklearn python3-yaml python3-xgboost
jupyter-nbconvert python3-ipykernel python3-nbformat
curl wrk
skopeo umoci
qemu-user
"

# Cross target aarch64-linux-gnu (`kiln compile --target aarch64-linux-gnu`):
# the cross C toolchain and arm64 glibc, qemu-user to run the binaries in
# tests, and arm64 jansson through multiarch (it is Multi-Arch: same, so it
# sits beside the amd64 one). libevent-dev is not co-installable across
# architectures (its event-config.h differs), so its arm64 .deb is unpacked
# into a sysroot of its own instead (cross_sysroot below).
CROSS_PKGS="gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user libjansson-dev:arm64"
SYSROOT_AARCH64=/opt/kiln/sysroot-aarch64

cross_sysroot_missing() {
    [ ! -f "$SYSROOT_AARCH64/usr/lib/aarch64-linux-gnu/libevent_core.a" ] ||
        [ ! -f "$SYSROOT_AARCH64/kiln-versions" ]
}

# Unpacks libevent-dev:arm64 (headers and the static .a files: nothing else
# is needed for a static link) into $SYSROOT_AARCH64, atomically.
cross_sysroot_install() {
    work=$(mktemp -d)
    (cd "$work" && apt-get download -qq -o APT::Sandbox::User=root libevent-dev:arm64)
    mkdir -p "$(dirname "$SYSROOT_AARCH64")"
    rm -rf "$SYSROOT_AARCH64.tmp"
    for deb in "$work"/*.deb; do
        dpkg-deb -x "$deb" "$SYSROOT_AARCH64.tmp"
        # dpkg does not own these files: the SBOM reads their version here.
        printf '%s %s\n' "$(dpkg-deb -f "$deb" Package)" "$(dpkg-deb -f "$deb" Version)" \
            >>"$SYSROOT_AARCH64.tmp/kiln-versions"
    done
    rm -rf "$SYSROOT_AARCH64"
    mv "$SYSROOT_AARCH64.tmp" "$SYSROOT_AARCH64"
    rm -rf "$work"
    echo "install-deps: arm64 libevent unpacked into $SYSROOT_AARCH64"
}

missing=""
for p in $PKGS $CROSS_PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
        missing="$missing $p"
done

if [ -z "$missing" ] && ! cross_sysroot_missing; then
    echo "install-deps: all packages present"
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    [ -n "$missing" ] && echo "install-deps: missing packages:$missing" >&2
    cross_sysroot_missing && echo "install-deps: missing the arm64 sysroot $SYSROOT_AARCH64" >&2
    echo "  hint: run this script as root (sudo scripts/install-deps.sh)" >&2
    exit 3
fi

export DEBIAN_FRONTEND=noninteractive
dpkg --print-foreign-architectures | grep -qx arm64 || dpkg --add-architecture arm64
apt-get update -qq
if [ -n "$missing" ]; then
    echo "install-deps: installing$missing"
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $missing
fi
if cross_sysroot_missing; then
    cross_sysroot_install
fi
