"""kiln_e2e.py: what the end-to-end scripts share.

tests/e2e/test_*.py, tests/golden/run_golden.py and tests/conformance/run.py
import it (the last two after putting tests/e2e on sys.path). The HTTP
side is v2client.py, written from the protocol documents; this module is
the harness around it:

    args = parse_args(__doc__)                   # --kiln --build-dir --source-dir
    suite = Suite("fraud")                       # a temp dir, PASS/FAIL lines, the totals
    @suite.check("kiln compile builds the binary")
    def _():
        rc, out, err = run([args.kiln, "compile", model, "-o", exe], timeout=300)
        require(rc == 0, "kiln compile: " + describe(rc, out, err))
    sys.exit(suite.finish())                     # "N passed, M failed"; 1 if any failed

A check fails by raising CheckFailed (require() does); any other exception
fails it too, with a traceback. Every subprocess runs in its own process
group with a timeout, and only that group is killed when it overruns.
Suite.finish() removes the temporary directory unless KILN_E2E_KEEP=1.
"""
import argparse
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback

import numpy as np

HOST = "127.0.0.1"


class CheckFailed(Exception):
    pass


def require(cond, msg):
    if not cond:
        raise CheckFailed(msg)


def parse_args(doc, build_dir=True):
    """The options CMake passes every script: --kiln, --source-dir and
    (unless build_dir=False) --build-dir. Paths come back absolute."""
    ap = argparse.ArgumentParser(description=(doc or "").strip().split("\n")[0])
    ap.add_argument("--kiln", required=True)
    if build_dir:
        ap.add_argument("--build-dir", required=True)
    ap.add_argument("--source-dir", required=True)
    args = ap.parse_args()
    args.kiln = os.path.abspath(args.kiln)
    args.source_dir = os.path.abspath(args.source_dir)
    if build_dir:
        args.build_dir = os.path.abspath(args.build_dir)
    return args


# --- running commands -------------------------------------------------------------------


def run_capped(cmd, timeout, cwd=None, env=None, stdin=None, capture_stdout=True):
    """Runs cmd in its own process group; if it overruns `timeout` seconds the
    group (the command and anything it started, e.g. nbconvert's kernel) is
    killed. Returns (returncode, stdout, stderr) as text; returncode is None
    after a timeout, and stdout is "" when not captured. OSError if cmd
    cannot be started."""
    p = subprocess.Popen(cmd, cwd=cwd, env=env,
                         stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                         stdout=subprocess.PIPE if capture_stdout else subprocess.DEVNULL,
                         stderr=subprocess.PIPE, start_new_session=True)
    data = stdin.encode() if isinstance(stdin, str) else stdin
    try:
        out, err = p.communicate(data, timeout=max(timeout, 0.1))
        rc = p.returncode
    except subprocess.TimeoutExpired:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        out, err = p.communicate()
        rc = None
    dec = lambda b: (b or b"").decode("utf-8", "replace")
    return rc, dec(out), dec(err)


class Result(tuple):
    """(rc, stdout, stderr); also .returncode, .stdout, .stderr."""
    returncode = property(lambda self: self[0])
    stdout = property(lambda self: self[1])
    stderr = property(lambda self: self[2])


def run(cmd, timeout=120, env=None, cwd=None, stdin=None, echo=True):
    """run_capped() for a check: prints the command and its exit status
    (unless echo=False) and raises CheckFailed if it cannot start or times out."""
    t0 = time.time()
    try:
        rc, out, err = run_capped(cmd, timeout, cwd=cwd, env=env, stdin=stdin)
    except OSError as e:
        raise CheckFailed(f"cannot run {cmd[0]}: {e}")
    if rc is None:
        raise CheckFailed(f"timed out after {timeout} s: {' '.join(cmd)}\nstderr: {err[-2000:]}")
    if echo:
        print(f"        $ {' '.join(cmd)}  -> exit {rc} ({time.time() - t0:.1f} s)")
    return Result((rc, out, err))


def describe(rc, out, err):
    return f"exit {rc}\n        stdout: {out[-1500:].strip()}\n        stderr: {err[-1500:].strip()}"


def kiln_compile(kiln, model, exe, timeout=300, env=None):
    """`kiln compile MODEL -o EXE`; fails the check unless it exits 0 and EXE is executable."""
    rc, out, err = run([kiln, "compile", model, "-o", exe], timeout=timeout, env=env)
    require(rc == 0, "kiln compile: " + describe(rc, out, err))
    require(os.path.isfile(exe) and os.access(exe, os.X_OK),
            f"kiln compile exited 0 but {exe} is not an executable")
    return exe


def is_static_elf(path):
    """An ELF without PT_INTERP is statically linked (for when file(1) is missing)."""
    with open(path, "rb") as f:
        h = f.read(64)
        if h[:4] != b"\x7fELF" or h[4] != 2 or h[5] != 1:
            return False
        phoff, = struct.unpack_from("<Q", h, 0x20)
        phentsize, phnum = struct.unpack_from("<HH", h, 0x36)
        f.seek(phoff)
        ph = f.read(phentsize * phnum)
    return all(struct.unpack_from("<I", ph, i * phentsize)[0] != 3 for i in range(phnum))


def static_link(exe):
    """(is statically linked, what says so): file(1) if installed, else the ELF headers."""
    if shutil.which("file"):
        rc, out, err = run(["file", exe], timeout=30)
        return "statically linked" in out, out.strip()
    ok = is_static_elf(exe)
    return ok, ("(file(1) not installed: checked the ELF program headers instead) "
                + ("statically linked" if ok else "has a PT_INTERP program header: dynamically linked"))


def run_notebook(nb, out_dir, tmp, timeout=600):
    """Executes notebook nb headless with KILN_SAMPLE_OUT=out_dir (where the
    sample notebooks write their artifacts); Jupyter's state stays in tmp."""
    os.makedirs(out_dir)
    env = dict(os.environ, KILN_SAMPLE_OUT=out_dir,
               JUPYTER_RUNTIME_DIR=os.path.join(tmp, "jupyter-runtime"),
               IPYTHONDIR=os.path.join(tmp, "ipython"),
               PYDEVD_DISABLE_FILE_VALIDATION="1")
    return run([sys.executable, "-m", "nbconvert", "--to", "notebook", "--execute",
                "--ExecutePreprocessor.timeout=300", "--output-dir", out_dir, nb],
               timeout=timeout, env=env, cwd=tmp)


# --- comparing ----------------------------------------------------------------------------


def compare(what, got, want, rtol, atol):
    """Fails unless got and want have one shape and agree within rtol/atol
    (np.allclose); prints and returns the max abs error."""
    got, want = np.asarray(got), np.asarray(want)
    require(got.shape == want.shape, f"{what}: shape {list(got.shape)}, expected {list(want.shape)}")
    err = float(np.abs(got.astype(np.float64) - want.astype(np.float64)).max()) if got.size else 0.0
    if not np.allclose(got, want, rtol=rtol, atol=atol):
        bad = np.argwhere(~np.isclose(got, want, rtol=rtol, atol=atol))
        i = tuple(bad[0])
        raise CheckFailed(f"{what}: {len(bad)} of {got.size} values differ (rtol {rtol}, atol {atol}); "
                          f"max abs err {err:.3g}; first at {list(i)}: got {got[i]!r}, expected {want[i]!r}")
    print(f"        {what}: max abs err {err:.3g}")
    return err


# --- v2 requests through `OUT predict` ----------------------------------------------------


def v2_request(x, rid, name):
    x = np.asarray(x, dtype=np.float32)
    # float(v) of a float32 is exact in a double, so the JSON text reads back as the same float32.
    return {"id": rid, "inputs": [{"name": name, "shape": list(x.shape), "datatype": "FP32",
                                   "data": [float(v) for v in x.ravel()]}]}


def predict_threads(exe, request, counts=(1, 2), timeout=120):
    """`exe predict --input request --threads-per-request N` for each N in
    counts: {N: the first output as a float32 array}."""
    outs = {}
    for n in counts:
        rc, out, err = run([exe, "predict", "--input", request, "--threads-per-request", str(n)],
                           timeout=timeout)
        require(rc == 0, f"predict --threads-per-request {n}: " + describe(rc, out, err))
        o = json.loads(out)["outputs"][0]
        outs[n] = np.array(o["data"], np.float32).reshape(o["shape"])
    return outs


def write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f)
    return path


def parse_v2_response(text, what, output=None):
    """(response, outputs[0] as a float32 array) of a v2 JSON response;
    outputs[0] must be FP32, consistent, and named `output` if given."""
    try:
        resp = json.loads(text)
    except ValueError as e:
        raise CheckFailed(f"{what}: stdout is not JSON ({e}): {text[:500]!r}")
    outs = resp.get("outputs") if isinstance(resp, dict) else None
    require(isinstance(outs, list) and outs, f"{what}: no \"outputs\" array in {text[:500]!r}")
    out = outs[0]
    if output is not None:
        require(out.get("name") == output, f"{what}: output name {out.get('name')!r}, expected {output!r}")
    require(out.get("datatype") == "FP32", f"{what}: outputs[0].datatype {out.get('datatype')!r}, expected FP32")
    shape, data = out.get("shape"), out.get("data")
    require(isinstance(shape, list) and isinstance(data, list),
            f"{what}: outputs[0] needs \"shape\" and \"data\" arrays")
    require(int(np.prod(shape)) == len(data),
            f"{what}: outputs[0].shape {shape} holds {int(np.prod(shape))} values, data has {len(data)}")
    return resp, np.array(data, dtype=np.float32).reshape(shape)


def predict(exe, x, rid, request_path, what, input_name, output=None, timeout=60):
    """`EXE predict --input REQUEST` on x; the response must echo id rid.
    Returns (response, outputs[0])."""
    write_json(request_path, v2_request(x, rid, input_name))
    rc, out, err = run([exe, "predict", "--input", request_path], timeout=timeout)
    require(rc == 0, f"{what}: " + describe(rc, out, err))
    resp, got = parse_v2_response(out, what, output)
    require(resp.get("id") == rid, f"{what}: response id {resp.get('id')!r}, expected {rid!r}")
    return resp, got


# --- torchvision nets ----------------------------------------------------------------------

# In one child process: torch is slow to import, and its exporter's
# warnings should not mix with the checks' output.
_TORCHVISION_EXPORT = r'''
import sys, warnings
import numpy as np, torch, torchvision
warnings.filterwarnings("ignore")
out, dynamic, names = sys.argv[1], sys.argv[2] == "1", sys.argv[3:]
for name in names:
    torch.manual_seed(0)
    m = getattr(torchvision.models, name)(weights=None).eval()
    x = torch.randn(1, 3, 224, 224)
    axes = {"image": {0: "N"}, "logits": {0: "N"}} if dynamic else None
    torch.onnx.export(m, x, f"{out}/{name}.onnx", opset_version=13, input_names=["image"],
                      output_names=["logits"], dynamic_axes=axes)
    # Reference FLOPs per image, from torch's own layers: 2 per multiply-add
    # of every Conv2d (out elems * in_channels / groups * kernel taps) and
    # Linear (in * out), plus their bias adds.
    flops = [0]
    def count(mod, inp, outp):
        n = outp.numel() // outp.shape[0]
        if isinstance(mod, torch.nn.Conv2d):
            taps = mod.in_channels // mod.groups * mod.kernel_size[0] * mod.kernel_size[1]
        else:
            taps = mod.in_features
        flops[0] += 2 * n * taps + (n if mod.bias is not None else 0)
    for mod in m.modules():
        if isinstance(mod, (torch.nn.Conv2d, torch.nn.Linear)):
            mod.register_forward_hook(count)
    with torch.no_grad():
        y = m(x)
    np.save(f"{out}/{name}_x.npy", x.numpy())
    np.save(f"{out}/{name}_y.npy", y.numpy())
    with open(f"{out}/{name}_flops.txt", "w") as f:
        f.write(str(flops[0]))
'''


def export_torchvision(tmp, names, dynamic_batch=False, timeout=300):
    """Exports torchvision nets (Debian's python3-torchvision, seeded random
    weights, eval mode, opset 13, input "image" [1, 3, 224, 224] with a
    dynamic batch if asked, output "logits") into tmp as NAME.onnx, with
    NAME_x.npy (a seeded input), NAME_y.npy (torch's logits for it) and
    NAME_flops.txt (torch's conv and linear layers' FLOPs per image)."""
    script = os.path.join(tmp, "export_torchvision.py")
    with open(script, "w") as f:
        f.write(_TORCHVISION_EXPORT)
    rc, out, err = run(["/usr/bin/python3", script, tmp, "1" if dynamic_batch else "0", *names],
                       timeout=timeout, echo=False)
    require(rc == 0, "torchvision export: " + describe(rc, out, err))


# --- a sample's notebook and its artifacts -------------------------------------------------


class Sample:
    """samples/NAME: its notebook, re-run into the suite's temp dir, and the
    artifacts the later checks use (the re-run's, or the committed ones if
    the re-run failed)."""

    def __init__(self, suite, sample_dir, notebook, artifacts):
        self.suite, self.dir, self.notebook, self.artifacts = suite, sample_dir, notebook, artifacts
        self.out = os.path.join(suite.tmp, "notebook")
        self.fresh = None

    def rerun(self, rtol, atol):
        """Runs the notebook and checks that it reproduces every committed
        artifact: the .npy files (float32) and request.json's data."""
        nb = os.path.join(self.dir, self.notebook)
        require(os.path.exists(nb), f"{nb} is missing")
        rc, out, err = run_notebook(nb, self.out, self.suite.tmp)
        require(rc == 0, "nbconvert --execute failed: " + describe(rc, out, err))
        missing = [a for a in self.artifacts if not os.path.exists(os.path.join(self.out, a))]
        require(not missing, f"the notebook did not write {missing} into KILN_SAMPLE_OUT={self.out}")
        self.fresh = self.out
        for a in self.artifacts:
            if not a.endswith(".npy"):
                continue
            got, want = np.load(os.path.join(self.out, a)), np.load(os.path.join(self.dir, a))
            require(got.dtype == np.float32 and want.dtype == np.float32,
                    f"{a}: dtype {got.dtype} (re-run) / {want.dtype} (committed), expected float32")
            compare(f"{a} re-run vs committed", got, want, rtol, atol)
        with open(os.path.join(self.out, "request.json")) as f1, \
                open(os.path.join(self.dir, "request.json")) as f2:
            r1, r2 = json.load(f1), json.load(f2)
        require(r1["inputs"][0]["shape"] == r2["inputs"][0]["shape"],
                "request.json: shape differs from committed")
        compare("request.json data re-run vs committed", np.float32(r1["inputs"][0]["data"]),
                np.float32(r2["inputs"][0]["data"]), rtol, atol)

    def art(self, name):
        """The path of artifact `name`."""
        if self.fresh is None:
            print(f"        (check 1 failed: using the committed artifacts in {self.dir})")
            self.fresh = self.dir
        return os.path.join(self.fresh, name)


# --- the suite -------------------------------------------------------------------------------


class Suite:
    """One script's checks: a temporary directory, a PASS/FAIL line per check
    and "N passed, M failed" at the end."""

    def __init__(self, name):
        self.tmp = tempfile.mkdtemp(prefix=f"kiln-e2e-{name}-")
        self.passed = self.failed = 0
        self.t0 = time.time()

    def record(self, title, ok, detail=""):
        if ok:
            self.passed += 1
            print(f"PASS  {title}", flush=True)
        else:
            self.failed += 1
            print(f"FAIL  {title}\n        {detail}", flush=True)

    def expect(self, title, ok, detail=""):
        """A check written as one condition; detail is printed if it is false."""
        self.record(title, bool(ok), detail)

    def check(self, title):
        """Decorator: runs the function now as the check `title`."""
        def wrap(fn):
            t0 = time.time()
            try:
                fn()
                self.record(f"{title} ({time.time() - t0:.2f} s)", True)
            except CheckFailed as e:
                self.record(title, False, str(e))
            except Exception:
                self.record(title, False, "unexpected error\n" + traceback.format_exc())
            return fn
        return wrap

    def run(self, checks):
        """Runs each function as a check titled by its docstring's first line."""
        for fn in checks:
            self.check(fn.__doc__.strip().split("\n")[0])(fn)

    def finish(self):
        """Removes the temp dir (unless KILN_E2E_KEEP=1), prints the totals
        and returns the exit status: 1 if any check failed."""
        if os.environ.get("KILN_E2E_KEEP") == "1":
            print(f"kept {self.tmp}")
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)
        print(f"        total {time.time() - self.t0:.1f} s")
        print(f"{self.passed} passed, {self.failed} failed", flush=True)
        return 1 if self.failed else 0


# --- `OUT serve` ---------------------------------------------------------------------------


class Server:
    """One `EXE serve --host 127.0.0.1 --port 0 ARGS...` process. The port
    comes from its "ready" log line; its stderr (JSON log lines) is
    collected by a thread into .lines. stop() kills it by PID."""

    def __init__(self, exe, *args, ready_timeout=10, raw=False):
        """raw: keep the stderr lines as bytes, so that a log line that is
        not UTF-8 is seen, not lost in decoding."""
        from v2client import V2Client
        self.lines, self.raw = [], raw
        self.proc = subprocess.Popen([exe, "serve", "--host", HOST, "--port", "0", *args],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     text=not raw)
        self.t_exec = time.time()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        self.port = None
        deadline = time.time() + ready_timeout
        while time.time() < deadline and self.port is None and self.proc.poll() is None:
            for line in list(self.lines):
                if line[:1] in ("{", b"{") and json.loads(line).get("event") == "ready":
                    self.port = json.loads(line)["port"]
            time.sleep(0.01)
        self.ready_s = time.time() - self.t_exec
        if self.port is None:
            self.stop()
            raise CheckFailed(f"no ready line within {ready_timeout} s; stderr: {self.lines[-5:]}")
        self.client = V2Client(HOST, self.port)

    def _read(self):
        for line in self.proc.stderr:
            self.lines.append(line.rstrip(b"\n" if self.raw else "\n"))

    def log(self):
        """The JSON log lines so far; once the process has exited, all of
        them (the reader thread is given time to reach the end of stderr)."""
        if self.proc.poll() is not None:
            self.reader.join(timeout=10)
        return [json.loads(line) for line in list(self.lines) if line[:1] in ("{", b"{")]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()  # our own child, by PID
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
