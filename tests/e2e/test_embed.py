#!/usr/bin/python3
"""kiln compile --emit obj|lib|llvm|asm: models embedded in C and C++ programs.

samples/embed/main.c is built with cc against `--emit lib` of the fraud
sample and must print ref_output_b1.npy for its compiled-in input (which
must be ref_input_b1.npy); the header must compile as C++; two models must
link into one program; the library must be reproducible; and every output
path, the unknown --emit and the missing ar must behave as documented.
"""
import os
import re
import shutil
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kiln_e2e  # noqa: E402
from kiln_e2e import Suite, parse_args  # noqa: E402

args = parse_args(__doc__)
SAMPLE = os.path.join(args.source_dir, "samples", "fraud-detection")
MODEL = os.path.join(SAMPLE, "fraud.onnx")
MAIN_C = os.path.join(args.source_dir, "samples", "embed", "main.c")
suite = Suite("embed")
tmp = suite.tmp
check = suite.expect
run = kiln_e2e.run
CC = os.environ.get("CC", "cc")
CFLAGS = ["-std=c11", "-Wall", "-Wextra", "-Werror", "-pedantic"]


def kiln(*a, **kw):
    return run([args.kiln, *a], timeout=300, **kw)


def subdir(name):
    d = os.path.join(tmp, name)
    os.mkdir(d)
    return d


def defined_globals(path):
    """The global symbols path defines (nm: upper-case type, not U)."""
    out = subprocess.run(["nm", path], capture_output=True, text=True).stdout
    return sorted(f[2] for f in (line.split() for line in out.splitlines())
                  if len(f) == 3 and f[1].isupper() and f[1] != "U")


# --- the sample: libfraud.a + libfraud.h + samples/embed/main.c ------------------------
# Build info holds the flags and SOURCE_DATE_EPOCH: the same relative -o and epoch give the
# same bytes.
EPOCH = dict(os.environ, SOURCE_DATE_EPOCH="1700000000")
lib_dir = subdir("lib")
lib = os.path.join(lib_dir, "libfraud.a")
r = kiln("compile", MODEL, "--emit", "lib", "-o", "libfraud.a", cwd=lib_dir, env=EPOCH)
check("--emit lib writes the library and its header next to it, nothing else",
      r.returncode == 0 and sorted(os.listdir(lib_dir)) == ["libfraud.a", "libfraud.h"], r.stderr)
members = subprocess.run(["ar", "tv", lib], capture_output=True, text=True).stdout
check("the library is deterministic (ar D: uid 0, time 0) and holds the model object",
      re.fullmatch(r"rw-r--r-- 0/0 +\d+ Jan  1 00:00 1970 model.o\n", members) is not None,
      members)
check("the library exports kiln_model_fraud alone (kernels internal, no kiln_model)",
      defined_globals(lib) == ["kiln_model_fraud"], defined_globals(lib))
undef = subprocess.run(["nm", "-u", lib], capture_output=True, text=True).stdout.split()
check("the library needs nothing but libc and libm",
      all(s in ("U", "model.o:") or s in ("memcpy", "memset", "memmove") or s.endswith("f")
          for s in undef), undef)

want_in = np.load(os.path.join(SAMPLE, "ref_input_b1.npy")).ravel()
want_out = np.load(os.path.join(SAMPLE, "ref_output_b1.npy")).ravel()
src = open(MAIN_C).read()
body = re.search(r"transaction\[[^]]*\] = \{([^}]*)\}", src).group(1)
got_in = np.array([float(v.strip().rstrip("f")) for v in body.split(",")], dtype=np.float32)
check("main.c's compiled-in transaction is ref_input_b1.npy",
      got_in.shape == want_in.shape and np.array_equal(got_in, want_in), got_in)

exe = os.path.join(tmp, "fraud-embed")
r = run([CC, *CFLAGS, "-I", lib_dir, MAIN_C, lib, "-lm", "-o", exe])
check("samples/embed/main.c builds with cc -Wall -Wextra -pedantic against the header",
      r.returncode == 0, r.stderr)
r = run([exe]) if os.path.exists(exe) else None
got = np.array([float(x) for x in re.findall(r"P\(\w+\) (\S+)", r.stdout)] if r else [])
check("main.c prints ref_output_b1.npy's probabilities (rtol 1e-5)",
      r is not None and r.returncode == 0 and got.shape == want_out.shape
      and np.allclose(got, want_out, rtol=1e-5, atol=0), r and r.stdout)

lib2 = os.path.join(subdir("lib2"), "libfraud.a")
r = kiln("compile", MODEL, "--emit", "lib", "-o", "libfraud.a", cwd=os.path.dirname(lib2),
         env=EPOCH)
same = r.returncode == 0 and all(
    open(a, "rb").read() == open(b, "rb").read()
    for a, b in ((lib, lib2), (lib[:-2] + ".h", lib2[:-2] + ".h")))
check("two compiles give byte-identical libraries and headers", same, r.stderr)

# --- the header in C++ ------------------------------------------------------------------
cc_src = os.path.join(tmp, "use.cc")
with open(cc_src, "w") as f:
    f.write('#include "libfraud.h"\n'
            "#include <cstdio>\n"
            "int main() {\n"
            "    const int64_t shape[] = KILN_FRAUD_INPUT_0_SHAPE;\n"
            "    const int64_t one[] = {1, shape[1]};\n"
            "    const int64_t *shapes[] = {one};\n"
            "    std::printf(\"%s %d %lld %zu\\n\", kiln_model_fraud.name, KILN_FRAUD_N_INPUTS,\n"
            "                (long long)shape[1], kiln_model_fraud.workspace_size(shapes));\n"
            "}\n")
gxx = shutil.which("g++") or shutil.which("c++")
r = run([gxx, "-std=c++11", "-Wall", "-Wextra", "-Werror", "-pedantic", "-fsyntax-only",
         "-I", lib_dir, cc_src])
check("the header compiles as C++ (g++ -fsyntax-only -Wall -Wextra -pedantic)",
      r.returncode == 0, r.stderr)
cc_exe = os.path.join(tmp, "use-cc")
r = run([gxx, "-I", lib_dir, cc_src, lib, "-lm", "-o", cc_exe])
r = run([cc_exe]) if r.returncode == 0 else r
check("a C++ program links the library and reads the model (extern \"C\")",
      r.returncode == 0 and r.stdout.startswith("fraud 1 30 "), r.stdout + r.stderr)

# --- two models in one program ----------------------------------------------------------
two = subdir("two")
r1 = kiln("compile", MODEL, "--emit", "lib", "--name", "fraud-a", "-o",
          os.path.join(two, "liba.a"))
r2 = kiln("compile", MODEL, "--emit", "obj", "--name", "fraud.b", "-O1", "-o",
          os.path.join(two, "b.o"))
check("--emit obj writes the object and NAME.h next to it",
      r1.returncode == 0 and r2.returncode == 0
      and sorted(os.listdir(two)) == ["b.h", "b.o", "liba.a", "liba.h"], r1.stderr + r2.stderr)
check("the object exports kiln_model_<name as a C identifier> alone",
      defined_globals(os.path.join(two, "b.o")) == ["kiln_model_fraud_b"],
      defined_globals(os.path.join(two, "b.o")))
two_c = os.path.join(two, "two.c")
with open(two_c, "w") as f:
    f.write('#include <stdio.h>\n#include <stdlib.h>\n#include "liba.h"\n#include "b.h"\n'
            "static void run1(const KilnModel *m, const float *x) {\n"
            "    float y[KILN_FRAUD_B_OUTPUT_0_ITEM_NUMEL];\n"
            "    const int64_t shape[] = {1, KILN_FRAUD_A_INPUT_0_ITEM_NUMEL};\n"
            "    const int64_t *shapes[] = {shape};\n"
            "    const void *in[] = {x};\n    void *out[] = {y};\n"
            "    void *ws = aligned_alloc(64, (m->workspace_size(shapes) + 127) / 64 * 64);\n"
            "    int rc = m->run(in, shapes, out, NULL, ws, NULL);\n"
            "    printf(\"%s %d %.9g %.9g\\n\", m->name, rc, y[0], y[1]);\n    free(ws);\n}\n"
            "int main(void) {\n    float x[KILN_FRAUD_A_INPUT_0_ITEM_NUMEL] = {0};\n"
            "    run1(&kiln_model_fraud_a, x);\n    run1(&kiln_model_fraud_b, x);\n"
            "    return 0;\n}\n")
two_exe = os.path.join(two, "two")
r = run([CC, *CFLAGS, "-I", two, two_c, os.path.join(two, "liba.a"), os.path.join(two, "b.o"),
         "-lm", "-o", two_exe])
check("two models (a library and an object, both headers) link into one program",
      r.returncode == 0, r.stderr)
r = run([two_exe]) if r.returncode == 0 else r
lines = [ln.split() for ln in r.stdout.splitlines()]
ok = (r.returncode == 0 and [ln[:2] for ln in lines] == [["fraud-a", "0"], ["fraud.b", "0"]]
      and np.allclose([float(v) for v in lines[0][2:]], [float(v) for v in lines[1][2:]],
                      rtol=1e-5))
check("both models run in it and agree", ok, r.stdout + r.stderr)

# --- llvm and asm: exactly -o ------------------------------------------------------------
for emit, magic in (("llvm", b"; ModuleID"), ("asm", b"\t.text")):
    d = subdir("out-" + emit)
    out = os.path.join(d, "m.out")
    r = kiln("compile", MODEL, "--emit", emit, "-o", out)
    check(f"--emit {emit} writes exactly -o (no header, nothing else)",
          r.returncode == 0 and os.listdir(d) == ["m.out"]
          and open(out, "rb").read(4096).find(magic) >= 0, r.stderr)

# --- errors ------------------------------------------------------------------------------
r = kiln("compile", MODEL, "--emit", "so", "-o", os.path.join(tmp, "x"))
check("an unknown --emit is bad usage (2) listing the kinds",
      r.returncode == 2 and "'so'" in r.stderr
      and "exe, obj, lib, llvm, asm, archive, oci" in r.stderr, r.stderr)
d = subdir("clash")
r = kiln("compile", MODEL, "--emit", "obj", "-o", os.path.join(d, "m.h"))
check("--emit obj -o NAME.h is bad usage (2): the header would overwrite it",
      r.returncode == 2 and "m.h" in r.stderr and os.listdir(d) == [], r.stderr)
d = subdir("noar")
r = kiln("compile", MODEL, "--emit", "lib", "-o", os.path.join(d, "libm1.a"),
         env=dict(os.environ, KILN_AR="/nonexistent/ar"))
check("a missing ar is an environment fault (3) naming binutils, and writes nothing",
      r.returncode == 3 and "binutils" in r.stderr and os.listdir(d) == [], r.stderr)
r = kiln("compile", MODEL, "--emit", "lib", "-o", os.path.join(d, "libm1.a"),
         env=dict(os.environ, KILN_AR="false"))
check("a failing ar is an environment fault (3), and writes nothing",
      r.returncode == 3 and "libm1.a" in r.stderr and os.listdir(d) == [], r.stderr)
r = kiln("compile", "--help")
check("kiln compile --help documents lib and the header",
      r.returncode == 0 and "lib, a static library" in r.stdout and ".h" in r.stdout, r.stdout)

sys.exit(suite.finish())
