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
import glob
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
from kiln_e2e import parse_args, run_capped  # noqa: E402

args = parse_args(__doc__, build_dir=False)

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
    rc, out, err = run_capped([args.kiln, "check", name], 120, cwd=golden)
    if rc is None or rc < 0:
        failed += 1
        print(f"FAIL    {name}: " + ("timed out" if rc is None else f"killed by signal {-rc}"))
        continue
    compare(os.path.join(golden, stem + ".stderr"), err)
    compare(os.path.join(golden, stem + ".exit"), f"{rc}\n")

for model in sorted(glob.glob(os.path.join(args.source_dir, "samples", "*", "*.onnx"))):
    stem = os.path.basename(model)[:-5]
    rel = os.path.relpath(model, args.source_dir)
    rc, out, err = run_capped([args.kiln, "compile", rel, "--emit", "llvm", "-o", os.devnull,
                               "--dump-after", "plan-memory"], 300, cwd=args.source_dir)
    if rc != 0:
        failed += 1
        print(f"FAIL    {rel}: kiln exited {rc}\n{err}")
        continue
    compare(os.path.join(golden, stem + ".ir"), out)

print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
