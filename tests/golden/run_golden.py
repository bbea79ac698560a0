#!/usr/bin/python3
"""Golden tests: what kiln says about bad models, and the IR it makes of
good ones.

For every tests/golden/NAME.onnx, `kiln check NAME.onnx` runs in
tests/golden/ (so messages name the file as a user typed it); its exit code
and stderr must equal NAME.exit and NAME.stderr. For every sample model
samples/*/*.onnx, the IR after the whole pipeline must equal
tests/golden/SAMPLE.ir. With UPDATE_GOLDEN=1 the files are rewritten
instead: review the diff like code.
"""
import argparse
import glob
import os
import subprocess
import sys

ap = argparse.ArgumentParser()
ap.add_argument("--kiln", required=True)
ap.add_argument("--source-dir", required=True)
args = ap.parse_args()
args.kiln = os.path.abspath(args.kiln)

golden = os.path.join(args.source_dir, "tests", "golden")
update = os.environ.get("UPDATE_GOLDEN") == "1"
passed = failed = 0


def compare(path, got):
    global passed, failed
    if update:
        with open(path, "w") as f:
            f.write(got)
        print(f"updated {os.path.relpath(path, args.source_dir)}")
        passed += 1
        return
    want = open(path).read() if os.path.exists(path) else None
    if want == got:
        passed += 1
        print(f"ok      {os.path.relpath(path, args.source_dir)}")
    else:
        failed += 1
        print(f"FAIL    {os.path.relpath(path, args.source_dir)}")
        print("--- expected\n" + (want if want is not None else "(missing file)"))
        print("--- got\n" + got)


for model in sorted(glob.glob(os.path.join(golden, "*.onnx"))):
    name = os.path.basename(model)
    stem = name[:-5]
    r = subprocess.run([args.kiln, "check", name], cwd=golden, capture_output=True,
                       text=True, timeout=120)
    if r.returncode < 0:
        failed += 1
        print(f"FAIL    {name}: killed by signal {-r.returncode}")
        continue
    compare(os.path.join(golden, stem + ".stderr"), r.stderr)
    compare(os.path.join(golden, stem + ".exit"), f"{r.returncode}\n")

for model in sorted(glob.glob(os.path.join(args.source_dir, "samples", "*", "*.onnx"))):
    stem = os.path.basename(model)[:-5]
    rel = os.path.relpath(model, args.source_dir)
    r = subprocess.run([args.kiln, "compile", rel, "--emit", "llvm", "-o", os.devnull,
                        "--dump-after", "plan-memory"], cwd=args.source_dir,
                       capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        failed += 1
        print(f"FAIL    {rel}: kiln exited {r.returncode}\n{r.stderr}")
        continue
    compare(os.path.join(golden, stem + ".ir"), r.stdout)

print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
