#!/usr/bin/python3
"""The ONNX conformance suite: every node test (and 'simple' model test) of
Debian's python3-onnx, run through `kiln run` and compared with onnx's
reference outputs.

    run.py --kiln BUILD/kiln --work-dir DIR [--filter REGEX] [--jobs N]
           [--update-expected] [--status-md PATH] [--list FILE] [--timeout S] [-v]

1. Generates the tests into DIR/tests with generate.py, unless DIR/tests is
   up to date (DIR/tests/.stamp names the onnx and numpy versions and the
   generator's hash).
2. Runs `kiln run model.onnx --input NAME=FILE... --out-dir OUT` for each
   data set of each test (cwd = the test's folder, so diagnostics name
   model.onnx the same way on every machine), N jobs at a time, each test
   with a 60 s budget.
3. Compares each output with the reference: same shape and dtype; floats
   within rtol 1e-3, atol 1e-7 as np.testing.assert_allclose checks them
   (|got - want| <= atol + rtol * |want|, NaN where NaN is, equal infs),
   everything else exactly. These are the tolerances of onnx's own runner.
   Tests of random ops (RANDOM_TESTS) hold one draw of numpy's generator,
   which no other implementation reproduces: their outputs are checked for
   shape, dtype and that every value is one the op can give (0 or 1).
4. Prints the pass table by op, writes it to STATUS.md (--status-md,
   default DIR/STATUS.md), and checks the outcome against the expected
   failures (--list, default expected_failures.txt beside this script).

A failing test gets one outcome:
    unsupported  kiln exit 1: it rejects the model or the input (first line
                 of its diagnostic)
    mismatch     kiln ran, but an output differs (max abs / rel error)
    error        kiln exit 2 (usage) or 3 (environment)
    crash        a signal or any other exit code: always a kiln bug
    timeout      the test's 60 s ran out

The exit code is 1 when a test not on the list fails, a listed test passes,
or a listed test does not exist; each is printed. The last line is
`N passed, M failed, K skipped`: M counts those unexpected outcomes, K the
expected failures. --update-expected rewrites the list from this run
instead of checking it (see expected_failures.txt's header).
"""
import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))
from kiln_e2e import run_capped  # noqa: E402
RTOL, ATOL = 1e-3, 1e-7
# Bernoulli's outputs are 0 or 1 in the output's type, whatever the seed.
RANDOM_TESTS = re.compile(r"^test_bernoulli")
GENERATE_TIMEOUT = 900.0
REASON_MAX = 120
TRAINING_REASON = "out of scope: training mode"
# Reasons the runner writes itself; --update-expected refreshes these and
# keeps any other (hand-written) reason.
AUTO_PREFIXES = ("unsupported:", "mismatch:", "error:", "crash:", "timeout:", TRAINING_REASON)

LIST_HEADER = """\
# Expected failures of the ONNX conformance suite (tests/conformance/run.py).
#
# One test a line, sorted: `test_name  # one-line reason`. CI fails when a
# test that is not listed fails, when a listed test passes (so the list only
# shrinks) and when a listed test does not exist.
#
# Regenerate after adding ops (one command, from the repository root):
#   /usr/bin/python3 tests/conformance/run.py --kiln build/kiln \\
#       --work-dir /tmp/kiln-conformance --update-expected \\
#       --status-md tests/conformance/STATUS.md
# It keeps a reason written by hand; reasons starting with unsupported:,
# mismatch:, error:, crash:, timeout: or "out of scope: training mode" are
# the runner's own and are rewritten from the run.
"""


# --- generation -------------------------------------------------------------------------


def expected_stamp():
    sys.path.insert(0, HERE)
    import generate  # onnx and the numpy aliases come with it

    return generate.generator_stamp()


def ensure_generated(tests_dir):
    """Regenerates tests_dir unless its stamp matches this onnx, numpy and
    generator. Returns True if it generated."""
    want = expected_stamp()
    try:
        with open(os.path.join(tests_dir, ".stamp")) as f:
            if json.load(f) == want:
                return False
    except (OSError, ValueError):
        pass
    print(f"conformance: generating the tests into {tests_dir}", flush=True)
    r = subprocess.run([sys.executable, os.path.join(HERE, "generate.py"), tests_dir],
                       capture_output=True, text=True, timeout=GENERATE_TIMEOUT)
    if r.returncode != 0:
        sys.stderr.write(r.stdout + r.stderr)
        raise SystemExit("conformance: generate.py failed")
    return True


def load_tests(tests_dir):
    tests = []
    for name in sorted(os.listdir(tests_dir)):
        meta_path = os.path.join(tests_dir, name, "meta.json")
        if os.path.isfile(meta_path):
            with open(meta_path) as f:
                meta = json.load(f)
            meta["dir"] = os.path.join(tests_dir, name)
            tests.append(meta)
    return tests


# --- reading values ---------------------------------------------------------------------


def load_value(path, kind):
    """A reference or kiln output: .npy, or a serialized ONNX proto."""
    if path.endswith(".npy"):
        return np.load(path, allow_pickle=False)
    import onnx
    from onnx import numpy_helper

    with open(path, "rb") as f:
        data = f.read()
    if kind == "sequence":
        proto = onnx.SequenceProto()
        proto.ParseFromString(data)
        return numpy_helper.to_list(proto)
    if kind == "optional":
        proto = onnx.OptionalProto()
        proto.ParseFromString(data)
        return numpy_helper.to_optional(proto)
    proto = onnx.TensorProto()
    proto.ParseFromString(data)
    return numpy_helper.to_array(proto)  # bfloat16 comes back as float32


def kiln_output_path(out_dir, name):
    """Where `kiln run` writes output NAME: driver.c's npy_path()."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", name)
    if safe in (".", ".."):
        safe = "_" + safe
    return os.path.join(out_dir, safe + ".npy")


# --- comparing --------------------------------------------------------------------------


def fmt(x):
    return format(complex(x), ".7g") if np.iscomplexobj(x) else format(float(x), ".7g")


def compare(name, got, want):
    """None if got matches want, else a one-line description."""
    if isinstance(want, list) or want is None:
        return f"output '{name}': the reference is a sequence or optional, kiln wrote a tensor"
    got, want = np.asarray(got), np.asarray(want)
    if want.dtype == object and got.dtype.kind == "S":
        # kiln writes strings as numpy bytes (|S<n>, UTF-8); onnx loads them as str objects.
        got = np.array([b.decode("utf-8") for b in got.ravel()], dtype=object).reshape(got.shape)
    if got.shape != want.shape:
        return f"output '{name}': shape {list(got.shape)}, expected {list(want.shape)}"
    if got.dtype != want.dtype:
        return f"output '{name}': dtype {got.dtype}, expected {want.dtype}"
    if want.dtype.kind in "fc":
        g = got.astype(np.complex128 if want.dtype.kind == "c" else np.float64)
        w = want.astype(g.dtype)
        ok = np.isclose(g, w, rtol=RTOL, atol=ATOL, equal_nan=True)
        if ok.all():
            return None
        bad = ~ok
        with np.errstate(all="ignore"):
            err = np.abs(g - w)
            rel = err / np.abs(w)
        finite = bad & np.isfinite(err)
        errs = (f"max abs err {err[finite].max():.3g}, max rel err {rel[finite].max():.3g}"
                if finite.any() else "NaN or inf values differ")
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        return (f"output '{name}': {int(bad.sum())} of {bad.size} values differ, {errs} "
                f"(at {list(first)}: got {fmt(got[first])}, expected {fmt(want[first])})")
    if np.array_equal(got, want):
        return None
    bad = got != want
    first = tuple(int(i) for i in np.argwhere(bad)[0])
    return (f"output '{name}': {int(bad.sum())} of {bad.size} values differ "
            f"(at {list(first)}: got {got[first]!r}, expected {want[first]!r})")


def compare_random(name, got, want):
    """compare() for a random op's output: shape, dtype and values in {0, 1}."""
    got, want = np.asarray(got), np.asarray(want)
    if got.shape != want.shape or got.dtype != want.dtype:
        return compare(name, got, want)  # says which of the two differs
    bad = ~np.isin(got.astype(np.float64), [0.0, 1.0])
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        return f"output '{name}': {int(bad.sum())} values are neither 0 nor 1 (at {list(first)}: {got[first]!r})"
    return None


# --- running ----------------------------------------------------------------------------


def run_kiln(cmd, cwd, timeout):
    """Runs kiln in its own process group, so a timeout kills kiln and
    anything it started, and nothing else. Returns (returncode or None on
    timeout, stderr)."""
    rc, _, err = run_capped(cmd, timeout, cwd=cwd, capture_stdout=False)
    return rc, err


def first_line(text):
    for line in text.splitlines():
        line = line.strip()
        if line:
            # Every diagnostic about the model starts with its path.
            return line[len("model.onnx: "):] if line.startswith("model.onnx: ") else line
    return "(no diagnostic)"


def signal_name(rc):
    try:
        return signal.Signals(-rc).name
    except ValueError:
        return f"signal {-rc}"


def run_test(test, kiln, out_root, timeout):
    """Returns (outcome, reason, stderr): outcome is 'pass' or a failure
    class from the module docstring."""
    deadline = time.monotonic() + timeout
    out_test = os.path.join(out_root, test["name"])
    shutil.rmtree(out_test, ignore_errors=True)
    for k, files in enumerate(test["data_sets"]):
        out_dir = os.path.join(out_test, f"data_{k}")
        os.makedirs(out_dir)  # kiln creates only the last level
        cmd = [kiln, "run", "model.onnx", "--out-dir", out_dir]
        for spec, path in zip(test["inputs"], files["inputs"]):
            cmd += ["--input", f"{spec['name']}={path}"]
        rc, err = run_kiln(cmd, test["dir"], deadline - time.monotonic())
        where = f"data set {k}: " if len(test["data_sets"]) > 1 else ""
        if rc is None:
            return "timeout", f"{where}kiln ran longer than {timeout:g} s", err
        if rc == 1:
            return "unsupported", first_line(err), err
        if rc in (2, 3):
            return "error", f"kiln exit {rc}: {first_line(err)}", err
        if rc != 0:
            how = signal_name(rc) if rc < 0 else f"exit code {rc}"
            return "crash", f"{where}kiln died: {how}", err
        for spec, path in zip(test["outputs"], files["outputs"]):
            want = load_value(os.path.join(test["dir"], path), spec["kind"])
            got_path = kiln_output_path(out_dir, spec["name"])
            if not os.path.exists(got_path) and os.path.exists(got_path[:-4] + ".pb"):
                got_path = got_path[:-4] + ".pb"
            if not os.path.exists(got_path):
                return "mismatch", f"{where}output '{spec['name']}' was not written", err
            try:
                got = load_value(got_path, "tensor")
            except Exception as e:  # a malformed output file is kiln's fault
                return "mismatch", f"{where}output '{spec['name']}' is unreadable: {e}", err
            if spec["kind"] == "bfloat16" and got.dtype == np.uint16:
                # numpy has no bfloat16: bit patterns in a .npy compare as the
                # float32 values the reference .pb loads as.
                got = (got.astype(np.uint32) << 16).view(np.float32)
            if RANDOM_TESTS.match(test["name"]):
                diff = compare_random(spec["name"], got, want)
            else:
                diff = compare(spec["name"], got, want)
            if diff:
                return "mismatch", where + diff, err
    return "pass", "", ""


def reason_of(test, outcome, detail):
    if test["training"]:
        return TRAINING_REASON
    text = f"{outcome}: {detail}"
    return text if len(text) <= REASON_MAX else text[: REASON_MAX - 3] + "..."


# --- expected failures ------------------------------------------------------------------


def read_list(path):
    """{test name: reason} from `name  # reason` lines."""
    listed = {}
    if not os.path.exists(path):
        return listed
    with open(path) as f:
        for n, line in enumerate(f, 1):
            body, _, reason = line.partition("#")
            body = body.strip()
            if not body:
                continue
            if len(body.split()) != 1:
                raise SystemExit(f"{path}:{n}: expected `test_name  # reason`, got: {line.strip()}")
            listed[body] = reason.strip()
    return listed


def write_list(path, entries):
    # No column alignment: removing one line never rewrites the others.
    with open(path, "w") as f:
        f.write(LIST_HEADER + "\n")
        for name in sorted(entries):
            f.write(f"{name}  # {entries[name]}\n")


# --- the report -------------------------------------------------------------------------


def pass_table(tests, results):
    rows = {}
    for t in tests:
        r = rows.setdefault(t["op"], [0, 0, 0, 0])
        ok = results[t["name"]][0] == "pass"
        r[0] += 1
        r[1] += ok
        if t["expanded"]:
            r[2] += 1
            r[3] += ok
    return sorted(rows.items(), key=lambda kv: (kv[0].lower(), kv[0]))


def totals_line(tests, results, rows):
    n_pass = sum(results[t["name"]][0] == "pass" for t in tests)
    n_train = sum(1 for t in tests if t["training"] and results[t["name"]][0] != "pass")
    full = sum(1 for _, r in rows if r[0] == r[1])
    # The measure issue 12 names: node tests (not model tests), not in
    # training mode, whose inputs and outputs are all tensors (of numbers,
    # strings or bfloat16; not sequences, optionals or maps).
    tensor = [t for t in tests if t["kind"] == "node" and not t["training"] and
              all(v["kind"] in ("tensor", "string", "bfloat16") for v in t["inputs"] + t["outputs"])]
    n_tensor = sum(results[t["name"]][0] == "pass" for t in tensor)
    return (f"{n_pass} of {len(tests)} tests pass ({n_train} of the others are training-mode "
            f"tests, out of scope); {full} of {len(rows)} ops pass all their tests; "
            f"{n_tensor} of the {len(tensor)} tensor-only node tests outside training mode pass")


def table_lines(rows):
    lines = ["| op | tests | passed | expanded | expanded passed |",
             "| --- | ---: | ---: | ---: | ---: |"]
    for op, (n, ok, ne, oke) in rows:
        lines.append(f"| {op} | {n} | {ok} | {ne or ''} | {oke if ne else ''} |")
    tot = [sum(r[i] for _, r in rows) for i in range(4)]
    lines.append(f"| **total** | {tot[0]} | {tot[1]} | {tot[2]} | {tot[3]} |")
    return lines


def write_status(path, tests, results, rows, filt):
    import onnx

    out = ["# ONNX conformance status", "",
           "Written by `tests/conformance/run.py` (do not edit): the node tests and the",
           f"'simple' model tests of onnx {onnx.__version__} through `kiln run`, outputs",
           "compared within rtol 1e-3, atol 1e-7 (exact for integers and bools). A test",
           "counts under the op of its node; `_expanded` tests (the op's function body)",
           "count under the op they expand and also in the expanded columns.", ""]
    if filt:
        out += [f"Partial run: only tests matching `{filt}`.", ""]
    out += ["**" + totals_line(tests, results, rows) + ".**", ""]
    out += table_lines(rows)
    out += ["", "## Failing tests", ""]
    failing = [t for t in tests if results[t["name"]][0] != "pass"]
    if not failing:
        out.append("None.")
    for t in failing:
        outcome, detail, _ = results[t["name"]]
        out.append(f"- `{t['name']}` ({t['op']}): {reason_of(t, outcome, detail)}")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kiln", required=True, help="the kiln executable")
    ap.add_argument("--work-dir", required=True,
                    help="generated tests (DIR/tests) and kiln's outputs (DIR/out)")
    ap.add_argument("--filter", help="run only tests whose name matches this regex (re.search)")
    ap.add_argument("--jobs", type=int, default=2, help="tests run in parallel (default 2)")
    ap.add_argument("--update-expected", action="store_true",
                    help="rewrite the expected-failure list from this run instead of checking it")
    ap.add_argument("--status-md", help="where to write the status table (default DIR/STATUS.md)")
    ap.add_argument("--list", default=os.path.join(HERE, "expected_failures.txt"),
                    help="the expected-failure list (default: expected_failures.txt here)")
    ap.add_argument("--timeout", type=float, default=60.0,
                    help="seconds per test, all its data sets together (default 60)")
    ap.add_argument("--verbose", "-v", action="store_true", help="print every test's outcome")
    args = ap.parse_args()

    kiln = os.path.abspath(args.kiln)
    if not os.access(kiln, os.X_OK):
        print(f"conformance: {args.kiln} is not an executable", file=sys.stderr)
        return 2
    work = os.path.abspath(args.work_dir)
    tests_dir, out_root = os.path.join(work, "tests"), os.path.join(work, "out")
    os.makedirs(work, exist_ok=True)
    ensure_generated(tests_dir)
    all_tests = load_tests(tests_dir)
    all_names = {t["name"] for t in all_tests}
    filt = re.compile(args.filter) if args.filter else None
    tests = [t for t in all_tests if not filt or filt.search(t["name"])]
    if not tests:
        print(f"conformance: no test matches --filter {args.filter!r}", file=sys.stderr)
        return 2

    results = {}
    lock = threading.Lock()
    start = time.monotonic()

    def one(test):
        try:
            res = run_test(test, kiln, out_root, args.timeout)
        except Exception as e:  # a runner bug must not hide the other results
            res = ("error", f"runner: {type(e).__name__}: {e}", "")
        with lock:
            results[test["name"]] = res
            outcome, detail, err = res
            if outcome == "crash":
                tail = err[-2000:].rstrip()
                sys.stdout.write(f"!!! CRASH {test['name']}: {detail} -- a kiln bug\n"
                                 + (tail + "\n" if tail else ""))
            elif args.verbose:
                sys.stdout.write(f"{outcome:11} {test['name']}"
                                 + (f": {detail}" if detail else "") + "\n")
            sys.stdout.flush()

    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        list(pool.map(one, tests))
    elapsed = time.monotonic() - start

    rows = pass_table(tests, results)
    print("\n".join(table_lines(rows)))
    print(totals_line(tests, results, rows))
    status_path = args.status_md or os.path.join(work, "STATUS.md")
    write_status(status_path, tests, results, rows, args.filter)
    print(f"conformance: {len(tests)} tests in {elapsed:.1f} s with {args.jobs} jobs; "
          f"status in {status_path}")

    listed = read_list(args.list)
    failing = {t["name"]: t for t in tests if results[t["name"]][0] != "pass"}

    if args.update_expected:
        # Tests outside --filter keep their lines untouched.
        entries = {n: r for n, r in listed.items()
                   if n in all_names and filt and not filt.search(n)}
        for name, t in failing.items():
            old = listed.get(name, "")
            keep = old and not old.startswith(AUTO_PREFIXES)
            entries[name] = old if keep else reason_of(t, *results[name][:2])
        write_list(args.list, entries)
        dropped = sorted(n for n in listed if n not in entries)
        added = sorted(n for n in entries if n not in listed)
        print(f"conformance: wrote {len(entries)} expected failures to {args.list} "
              f"({len(added)} added, {len(dropped)} removed)")
        n_pass = len(tests) - len(failing)
        print(f"{n_pass} passed, 0 failed, {len(failing)} skipped")
        return 0

    in_scope = {n: r for n, r in listed.items() if not filt or filt.search(n)}
    regressions = sorted(n for n in failing if n not in listed)
    fixed = sorted(n for n in in_scope if n in results and results[n][0] == "pass")
    unknown = sorted(n for n in in_scope if n not in all_names)
    for n in regressions:
        outcome, detail, _ = results[n]
        print(f"FAIL (not in the expected-failure list) {n} ({failing[n]['op']}): "
              f"{outcome}: {detail}")
    for n in fixed:
        print(f"FAIL (listed as failing, but passes: remove it from the list) {n}")
    for n in unknown:
        print(f"FAIL (listed, but no such test) {n}")
    if regressions or fixed or unknown:
        print(f"conformance: {len(regressions)} unexpected failures, {len(fixed)} unexpected "
              f"passes, {len(unknown)} unknown listed tests; after a deliberate change run "
              f"with --update-expected (see {args.list})")
    n_fail = len(regressions) + len(fixed) + len(unknown)
    n_skip = len(failing) - len(regressions)
    n_pass = len(tests) - len(failing) - len(fixed)
    print(f"{n_pass} passed, {n_fail} failed, {n_skip} skipped")
    return 1 if n_fail else 0


if __name__ == "__main__":
    sys.exit(main())
