#!/bin/sh
# quickstart.sh: from a fresh clone to a running model.
#
# Installs the Debian packages kiln needs, builds kiln, executes the fraud
# detection sample notebook headless (it trains a small PyTorch MLP and
# exports fraud.onnx), compiles that model into a static service binary,
# and answers the sample's Open Inference Protocol v2 request with it.
set -eu
cd "$(dirname "$0")/.."

scripts/install-deps.sh
scripts/build.sh build

out=build/sample
mkdir -p "$out"
echo "== executing samples/fraud-detection/fraud.ipynb (headless)"
KILN_SAMPLE_OUT="$PWD/$out" /usr/bin/python3 -m nbconvert --to notebook --execute \
    --output-dir "$out" samples/fraud-detection/fraud.ipynb

echo "== kiln compile $out/fraud.onnx -o build/fraud"
time -p build/kiln compile "$out/fraud.onnx" -o build/fraud
file build/fraud
ls -l build/fraud

echo "== request (samples/fraud-detection/request.json)"
cat samples/fraud-detection/request.json
echo
echo "== response (build/fraud predict)"
build/fraud predict --input samples/fraud-detection/request.json
