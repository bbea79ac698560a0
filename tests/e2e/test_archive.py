"""test_archive.py: `kiln compile --emit archive` and `kiln verify`.

The release archive of samples/fraud-detection/fraud.onnx: the same bytes
whatever -o path or working directory; SHA256SUMS, manifest.json and the
CycloneDX SBOM agree with the files; the deploy YAML parses and locks the
container down; the binary from the archive answers `info` and `predict`;
`kiln verify` passes it and names each member of a tampered copy.
"""
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kiln_e2e import Suite, describe, parse_args, require, run  # noqa: E402

args = parse_args(__doc__)
suite = Suite("archive")
EPOCH = "1700000000"
ENV = dict(os.environ, SOURCE_DATE_EPOCH=EPOCH)
MODEL = os.path.join(args.source_dir, "samples", "fraud-detection", "fraud.onnx")
REQUEST = os.path.join(args.source_dir, "samples", "fraud-detection", "request.json")
TOP = "fraud-1"
MEMBERS = ["README.md", "SHA256SUMS", "bin/fraud", "deploy/kserve.yaml",
           "deploy/kubernetes.yaml", "manifest.json", "sbom.cdx.json"]
state = {}


def sha256(b):
    return hashlib.sha256(b).hexdigest()


def members(path):
    """{name: bytes} of every regular file in the tarball at path."""
    with tarfile.open(path, "r:gz") as t:
        return {m.name: t.extractfile(m).read() for m in t.getmembers() if m.isfile()}


def repack(src, dst, change):
    """Copies tarball src to dst with change(name, data) -> data or None (drop)
    applied to every regular file, and `change.extra` {name: data} added."""
    with tarfile.open(src, "r:gz") as t, tarfile.open(dst, "w:gz") as out:
        for m in t.getmembers():
            data = t.extractfile(m).read() if m.isfile() else None
            if data is not None:
                data = change(m.name, data)
                if data is None:
                    continue
                m.size = len(data)
            out.addfile(m, io.BytesIO(data) if data is not None else None)
        for name, data in getattr(change, "extra", {}).items():
            m = tarfile.TarInfo(name)
            m.size = len(data)
            out.addfile(m, io.BytesIO(data))
    return dst


def verify(path):
    return run([args.kiln, "verify", path], timeout=60)


def check_build_twice():
    """two builds with other -o paths and working directories give the same bytes"""
    a, b = os.path.join(suite.tmp, "a"), os.path.join(suite.tmp, "b", "deeper")
    os.makedirs(a)
    os.makedirs(b)
    shutil.copy(MODEL, os.path.join(b, "fraud.onnx"))
    out_a = os.path.join(a, "fraud.tar.gz")
    rc, out, err = run([args.kiln, "compile", MODEL, "-o", out_a, "--emit", "archive"],
                       timeout=300, env=ENV, cwd=a)
    require(rc == 0, "kiln compile --emit archive: " + describe(rc, out, err))
    rc, out, err = run([args.kiln, "compile", "fraud.onnx", "--emit", "archive", "-o",
                        "../other-name.tgz"], timeout=300, env=ENV, cwd=b)
    require(rc == 0, "kiln compile --emit archive (second): " + describe(rc, out, err))
    with open(out_a, "rb") as f1, open(os.path.join(b, "..", "other-name.tgz"), "rb") as f2:
        x, y = f1.read(), f2.read()
    require(x[:2] == b"\x1f\x8b", "the archive is not gzip")
    require(x == y, f"two builds differ: {len(x)} and {len(y)} bytes")
    print(f"        archive: {len(x)} bytes")
    state["archive"] = out_a
    state["files"] = members(out_a)


def check_layout():
    """the archive holds NAME-VERSION/ with the binary, manifest, SBOM, deploy files, README"""
    files = state["files"]
    require(sorted(files) == [f"{TOP}/{m}" for m in MEMBERS], f"members: {sorted(files)}")
    with tarfile.open(state["archive"], "r:gz") as t:
        for m in t.getmembers():
            require(m.uid == 0 and m.gid == 0 and m.uname == "" and m.mtime == int(EPOCH),
                    f"{m.name}: uid {m.uid} gid {m.gid} uname {m.uname!r} mtime {m.mtime}")
            if m.name.endswith("bin/fraud"):
                require(m.mode == 0o755, f"{m.name}: mode {oct(m.mode)}")
    binary = files[f"{TOP}/bin/fraud"]
    for bad in (suite.tmp.encode(), b"/tmp/kiln-", os.getcwd().encode()):
        require(bad not in binary, f"the binary contains the build path {bad!r}")


def check_sha256sums():
    """tar extracts it and `sha256sum -c SHA256SUMS` passes"""
    dest = os.path.join(suite.tmp, "x")
    os.makedirs(dest)
    rc, out, err = run(["tar", "xzf", state["archive"], "-C", dest], timeout=60)
    require(rc == 0, "tar xzf: " + describe(rc, out, err))
    state["dir"] = os.path.join(dest, TOP)
    rc, out, err = run(["sha256sum", "-c", "SHA256SUMS"], timeout=60, cwd=state["dir"])
    require(rc == 0, "sha256sum -c: " + describe(rc, out, err))
    listed = sorted(line for line in out.splitlines() if line.endswith(": OK"))
    require(listed == [m + ": OK" for m in MEMBERS if m != "SHA256SUMS"], f"checked: {listed}")


def check_manifest():
    """manifest.json names the model, its digest, the signature, opsets, target and build time"""
    files = state["files"]
    m = json.loads(files[f"{TOP}/manifest.json"])
    with open(MODEL, "rb") as f:
        model = f.read()
    require(m["name"] == "fraud" and m["version"] == "1", f"name/version {m['name']} {m['version']}")
    require(m["model"] == {"file": "fraud.onnx", "sha256": sha256(model), "size": len(model)},
            f"model: {m['model']}")
    binary = files[f"{TOP}/bin/fraud"]
    require(m["binary"] == {"path": "bin/fraud", "sha256": sha256(binary), "size": len(binary)},
            f"binary: {m['binary']}")
    require(m["inputs"] == [{"name": "transaction", "dtype": "float", "shape": [-1, 30]}],
            f"inputs: {m['inputs']}")
    require(m["outputs"] == [{"name": "probabilities", "dtype": "float", "shape": [-1, 2]}],
            f"outputs: {m['outputs']}")
    require(isinstance(m["opsets"].get("ai.onnx"), int), f"opsets: {m['opsets']}")
    require(m["command"] == ["kiln", "compile", "fraud.onnx", "--emit", "archive"],
            f"command: {m['command']}")
    require(m["target"]["triple"].startswith("x86_64") and m["target"]["cpus"],
            f"target: {m['target']}")
    require(m["build"] == {"time": "2023-11-14T22:13:20Z", "source_date_epoch": int(EPOCH)},
            f"build: {m['build']}")
    require(m["kiln_version"], "no kiln_version")


def check_sbom():
    """sbom.cdx.json is CycloneDX 1.5: the binary, the model and the Debian libraries"""
    files = state["files"]
    s = json.loads(files[f"{TOP}/sbom.cdx.json"])
    require(s["bomFormat"] == "CycloneDX" and s["specVersion"] == "1.5", "bomFormat/specVersion")
    require(s["serialNumber"].startswith("urn:uuid:") and s["serialNumber"][23] == "5",
            f"serialNumber {s['serialNumber']}")
    require(s["metadata"]["timestamp"] == "2023-11-14T22:13:20Z", "metadata.timestamp")
    app = s["metadata"]["component"]
    require(app["type"] == "application" and app["name"] == "fraud", f"component: {app}")
    require(app["hashes"] == [{"alg": "SHA-256", "content": sha256(files[f"{TOP}/bin/fraud"])}],
            f"component hashes: {app['hashes']}")
    comps = {c["bom-ref"]: c for c in s["components"]}
    with open(MODEL, "rb") as f:
        model_sha = sha256(f.read())
    ml = [c for c in s["components"] if c["type"] == "machine-learning-model"]
    require(len(ml) == 1 and ml[0]["hashes"][0]["content"] == model_sha, f"model component: {ml}")
    debs = {c["name"]: c for c in s["components"] if c.get("purl", "").startswith("pkg:deb/")}
    for pkg in ("libevent-dev", "libjansson-dev", "libc6-dev"):
        require(pkg in debs, f"no component for {pkg}: {sorted(debs)}")
        want = subprocess.run(["dpkg-query", "-W", "-f=${Version}\\n", pkg + ":amd64"],
                              capture_output=True, text=True).stdout.split("\n")[0]
        if not want:
            want = subprocess.run(["dpkg-query", "-W", "-f=${Version}\\n", pkg],
                                  capture_output=True, text=True).stdout.split("\n")[0]
        c = debs[pkg]
        require(c["version"] == want, f"{pkg}: version {c['version']}, dpkg says {want}")
        require(c["purl"] == f"pkg:deb/debian/{pkg}@{want}?arch=amd64", f"purl {c['purl']}")
    require(any(n.startswith("libgcc") for n in debs), f"no libgcc component: {sorted(debs)}")
    require("kiln-runtime" in comps, "no kiln-runtime component")
    deps = {d["ref"]: d["dependsOn"] for d in s["dependencies"]}
    require(sorted(deps["service"]) == sorted(comps), f"dependencies: {deps['service']}")


def container_ok(c, where):
    require(c["image"] == "fraud:1", f"{where}: image {c['image']}")
    # The OCI image (--emit oci) holds the binary at /bin/NAME.
    require(c["command"] == ["/bin/fraud", "serve"], f"{where}: command {c.get('command')}")
    require(c["args"] == ["--port", "8080"], f"{where}: args {c['args']}")
    require(c["livenessProbe"]["httpGet"] == {"path": "/v2/health/live", "port": 8080},
            f"{where}: livenessProbe {c['livenessProbe']}")
    require(c["readinessProbe"]["httpGet"] == {"path": "/v2/health/ready", "port": 8080},
            f"{where}: readinessProbe {c['readinessProbe']}")
    sc = c["securityContext"]
    require(sc["runAsNonRoot"] is True and sc["runAsUser"] == 65532, f"{where}: user {sc}")
    require(sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False,
            f"{where}: {sc}")
    require(sc["capabilities"] == {"drop": ["ALL"]}, f"{where}: capabilities {sc}")
    require(sc["seccompProfile"] == {"type": "RuntimeDefault"}, f"{where}: seccomp {sc}")
    require(set(c["resources"]) == {"requests", "limits"}, f"{where}: resources {c['resources']}")


def check_yaml():
    """deploy/*.yaml parse: Deployment, Service and InferenceService with probes and a locked-down user"""
    files = state["files"]
    docs = list(yaml.safe_load_all(files[f"{TOP}/deploy/kubernetes.yaml"]))
    kinds = [d["kind"] for d in docs]
    require(kinds == ["Deployment", "Service"], f"kubernetes.yaml kinds {kinds}")
    dep = docs[0]
    require(dep["spec"]["selector"]["matchLabels"].items()
            <= dep["spec"]["template"]["metadata"]["labels"].items(), "selector does not match")
    containers = dep["spec"]["template"]["spec"]["containers"]
    require(len(containers) == 1, f"{len(containers)} containers")
    container_ok(containers[0], "Deployment")
    require(docs[1]["spec"]["ports"][0]["targetPort"] == "http", "Service targetPort")
    isvc = yaml.safe_load(files[f"{TOP}/deploy/kserve.yaml"])
    require(isvc["apiVersion"] == "serving.kserve.io/v1beta1" and isvc["kind"] == "InferenceService",
            f"kserve.yaml: {isvc.get('apiVersion')} {isvc.get('kind')}")
    container_ok(isvc["spec"]["predictor"]["containers"][0], "InferenceService")


def check_binary_runs():
    """bin/fraud from the archive answers info --json and predict"""
    exe = os.path.join(state["dir"], "bin", "fraud")
    rc, out, err = run([exe, "info", "--json"], timeout=60)
    require(rc == 0, "info --json: " + describe(rc, out, err))
    info = json.loads(out)
    with open(MODEL, "rb") as f:
        require(info["sha256"] == sha256(f.read()), f"info sha256 {info['sha256']}")
    build = info["build"]
    require(build["build_time"] == int(EPOCH), f"build_time {build['build_time']}")
    require(build["flags"] == ["compile", "fraud.onnx", "--emit", "archive"],
            f"build flags {build['flags']}")
    rc, out, err = run([exe, "predict", "--input", REQUEST], timeout=60)
    require(rc == 0, "predict: " + describe(rc, out, err))
    resp = json.loads(out)
    require(resp["outputs"][0]["name"] == "probabilities" and resp["outputs"][0]["shape"] == [2, 2],
            f"predict: {out[:300]}")


def check_binary_is_portable():
    """bin/fraud carries x86-64-v2/v3/v4 code and answers as on this host under qemu's Nehalem and Haswell"""
    exe = os.path.join(state["dir"], "bin", "fraud")
    rc, out, err = run([exe, "info", "--json"], timeout=60)
    require(rc == 0, "info --json: " + describe(rc, out, err))
    levels = json.loads(out)["cpu"]["levels"]
    require(levels == ["x86-64-v2", "x86-64-v3", "x86-64-v4"], f"cpu levels {levels}")
    rc, native, err = run([exe, "predict", "--input", REQUEST], timeout=60)
    require(rc == 0, "predict: " + describe(rc, native, err))
    want = json.loads(native)["outputs"][0]["data"]
    qemu = shutil.which("qemu-x86_64")
    if not qemu:
        require(not os.environ.get("CI"), "qemu-x86_64 is missing (scripts/install-deps.sh)")
        print("SKIP: qemu-x86_64 is missing; scripts/install-deps.sh installs qemu-user")
        return
    for cpu in ("Nehalem", "Haswell"):
        rc, out, err = run([qemu, "-cpu", cpu, exe, "predict", "--input", REQUEST], timeout=120)
        require(rc == 0, f"under {cpu}: " + describe(rc, out, err))
        got = json.loads(out)["outputs"][0]["data"]
        require(all(abs(a - b) <= 1e-6 + 1e-5 * abs(b) for a, b in zip(got, want)),
                f"under {cpu}: {got} vs {want}")


def check_verify_passes():
    """kiln verify passes the archive: "verified 6 files\""""
    rc, out, err = verify(state["archive"])
    require(rc == 0 and "verified 6 files" in out, "kiln verify: " + describe(rc, out, err))


def check_verify_catches_tampering():
    """kiln verify exits 1 naming a flipped binary byte, an edited manifest, extra and missing files"""
    src = state["archive"]

    def flip(name, data):
        if name.endswith("/bin/fraud"):
            data = bytearray(data)
            data[len(data) // 2] ^= 1
            return bytes(data)
        return data

    def edit_manifest(name, data):
        return data.replace(b'"version": "1"', b'"version": "2"') if name.endswith("manifest.json") else data

    def drop_readme(name, data):
        return None if name.endswith("README.md") else data

    def same(name, data):
        return data
    same.extra = {f"{TOP}/bin/backdoor": b"#!/bin/sh\n"}

    cases = [(flip, f"{TOP}/bin/fraud differs"), (edit_manifest, f"{TOP}/manifest.json differs"),
             (drop_readme, f"{TOP}/README.md is listed in SHA256SUMS but missing"),
             (same, f"{TOP}/bin/backdoor is not listed")]
    for i, (change, want) in enumerate(cases):
        bad = repack(src, os.path.join(suite.tmp, f"bad{i}.tar.gz"), change)
        rc, out, err = verify(bad)
        require(rc == 1 and want in err and bad in err, f"{change.__name__}: " + describe(rc, out, err))

    # A consistent forgery of SHA256SUMS still disagrees with the SBOM and the binary.
    def forge(name, data):
        if name.endswith("/bin/fraud"):
            return flip(name, data)
        if name.endswith("SHA256SUMS"):
            files = members(src)
            return data.replace(sha256(files[f"{TOP}/bin/fraud"]).encode(),
                                sha256(flip(f"{TOP}/bin/fraud", files[f"{TOP}/bin/fraud"])).encode())
        return data
    bad = repack(src, os.path.join(suite.tmp, "forged.tar.gz"), forge)
    rc, out, err = verify(bad)
    require(rc == 1 and "manifest.json: binary sha256" in err and "sbom.cdx.json" in err,
            "forged SHA256SUMS: " + describe(rc, out, err))


def check_verify_usage():
    """kiln verify: not an archive or missing -> exit 1 naming it; no argument -> exit 2; help lists it"""
    junk = os.path.join(suite.tmp, "junk.tar.gz")
    with open(junk, "w") as f:
        f.write("not a tarball\n")
    rc, out, err = verify(junk)
    require(rc == 1 and junk in err, "junk: " + describe(rc, out, err))
    missing = os.path.join(suite.tmp, "nope.tar.gz")
    rc, out, err = verify(missing)
    require(rc == 1 and missing in err, "missing: " + describe(rc, out, err))
    rc, out, err = run([args.kiln, "verify"], timeout=30)
    require(rc == 2 and "archive" in err, "no argument: " + describe(rc, out, err))
    rc, out, err = run([args.kiln, "help"], timeout=30)
    require(rc == 0 and "kiln verify ARCHIVE" in out, "kiln help: " + describe(rc, out, err))
    rc, out, err = run([args.kiln, "verify", "--help"], timeout=30)
    require(rc == 0 and out.startswith("usage: kiln verify"), "verify --help: " + describe(rc, out, err))
    rc, out, err = run([args.kiln, "compile", "--help"], timeout=30)
    require(rc == 0 and "archive" in out, "compile --help: " + describe(rc, out, err))


def check_bad_epoch():
    """SOURCE_DATE_EPOCH=garbage or a version with a / -> exit 2 naming it, and no archive written"""
    out_path = os.path.join(suite.tmp, "garbage.tar.gz")
    rc, out, err = run([args.kiln, "compile", MODEL, "-o", out_path, "--emit", "archive"],
                       timeout=120, env=dict(os.environ, SOURCE_DATE_EPOCH="garbage"))
    require(rc == 2 and "SOURCE_DATE_EPOCH" in err, describe(rc, out, err))
    require(not os.path.exists(out_path), f"{out_path} was written")
    rc, out, err = run([args.kiln, "compile", MODEL, "-o", out_path, "--emit", "archive",
                        "--model-version", "1/../x"], timeout=120, env=ENV)
    require(rc == 2 and "--model-version '1/../x'" in err, describe(rc, out, err))
    require(not os.path.exists(out_path), f"{out_path} was written")


suite.run([check_build_twice, check_layout, check_sha256sums, check_manifest, check_sbom,
           check_yaml, check_binary_runs, check_binary_is_portable, check_verify_passes, check_verify_catches_tampering,
           check_verify_usage, check_bad_epoch])
sys.exit(suite.finish())
