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
python3-onnx python3-numpy python3-torch python3-torchvision python3-sklearn python3-yaml
jupyter-nbconvert python3-ipykernel python3-nbformat
curl wrk
skopeo umoci
qemu-user
"

missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
        missing="$missing $p"
done

if [ -z "$missing" ]; then
    echo "install-deps: all packages present"
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: missing packages:$missing" >&2
    echo "  hint: run this script as root (sudo scripts/install-deps.sh)" >&2
    exit 3
fi

echo "install-deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing
