#!/usr/bin/python3
"""End to end for `kiln compile --emit oci`: the fraud sample becomes an OCI
image layout tarball (plus Docker's manifest.json), which is checked by
reading it with Python, by skopeo and by umoci, and whose binary is run.

    /usr/bin/python3 tests/e2e/test_oci.py --kiln BUILD/kiln \
        --build-dir BUILD --source-dir SRC

Checks (each prints PASS/FAIL; the last line is "N passed, M failed"):

  1. two builds with the same flags and SOURCE_DATE_EPOCH, from different
     directories to different -o paths, are byte-for-byte identical;
  2. the outer tarball: oci-layout, index.json, manifest.json, blobs/sha256/
     only; every blob is named by its sha256; every digest and size in
     index.json and the manifest matches its blob; Docker's manifest.json
     names the same config and layer and the tag fraud:1; all entries are
     owned by 0:0 and dated SOURCE_DATE_EPOCH;
  3. the config: amd64/linux, created = SOURCE_DATE_EPOCH in RFC 3339, user
     65532:65532, entrypoint [/bin/fraud, serve], port 8080, labels with the
     model's sha256, name, version and kiln's version; diff_ids = sha256 of
     the uncompressed layer;
  4. the layer holds bin/ and the static binary bin/fraud (0755) alone;
  5. `skopeo inspect oci-archive:PATH:1` shows the labels, arch and os, and
     its --config the user, entrypoint and ports; `skopeo copy` verifies
     every blob against its digest;
  6. `umoci unpack --rootless` gives a bundle whose rootfs/bin/fraud serves
     /v2/health/ready and answers the sample's request.json (and, as root,
     runs as uid 65532 through setpriv);
  7. without SOURCE_DATE_EPOCH the image is dated 1970-01-01 and still
     reproducible;
  8. a tag that is not a valid image tag and a bad SOURCE_DATE_EPOCH exit 2
     naming the flag, and leave no output file.

skopeo and umoci come from Debian (scripts/install-deps.sh). If either is
missing, checks 5 and 6 print SKIP, unless $CI is set: then they fail.
"""
import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kiln_e2e import (Server, Suite, describe, parse_args, require,  # noqa: E402
                      run, static_link)

EPOCH = 1700000000
CREATED = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(EPOCH))
TAG = "1"

args = parse_args(__doc__)
KILN = args.kiln
suite = Suite("oci")
TMP = suite.tmp
SAMPLE = os.path.join(args.source_dir, "samples", "fraud-detection")
MODEL = os.path.join(SAMPLE, "fraud.onnx")
IMAGE = os.path.join(TMP, "a", "fraud-oci.tar")


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def compile_oci(out, cwd, epoch=EPOCH, extra=(), expect=0):
    env = dict(os.environ)
    env.pop("SOURCE_DATE_EPOCH", None)
    if epoch is not None:
        env["SOURCE_DATE_EPOCH"] = str(epoch)
    os.makedirs(cwd, exist_ok=True)
    r = run([KILN, "compile", MODEL, "-o", out, "--emit", "oci", *extra], env=env, cwd=cwd,
            timeout=300)
    require(r.returncode == expect, f"kiln compile --emit oci: expected exit {expect}, "
            + describe(*r))
    return r


def read_image(path):
    """{name: TarInfo} and {name: bytes} of the outer tarball."""
    with tarfile.open(path, "r:") as t:
        infos = {m.name: m for m in t.getmembers()}
        data = {m.name: t.extractfile(m).read() for m in t.getmembers() if m.isfile()}
    return infos, data


def blob(data, digest):
    require(digest.startswith("sha256:"), f"digest {digest!r} is not sha256")
    name = "blobs/sha256/" + digest[7:]
    require(name in data, f"{name} is not in the image")
    return data[name]


def check_descriptor(data, desc, media_type, what):
    require(desc.get("mediaType") == media_type,
            f"{what}: mediaType {desc.get('mediaType')!r}, expected {media_type!r}")
    b = blob(data, desc["digest"])
    require(desc.get("size") == len(b), f"{what}: size {desc.get('size')}, blob has {len(b)} bytes")
    return b


def image_parts(path):
    """(infos, data, index, manifest, config, layer gz bytes)."""
    infos, data = read_image(path)
    index = json.loads(data["index.json"])
    require(len(index.get("manifests", [])) == 1, f"index.json: {index}")
    mdesc = index["manifests"][0]
    manifest = json.loads(check_descriptor(data, mdesc, "application/vnd.oci.image.manifest.v1+json",
                                           "index.json manifests[0]"))
    config = json.loads(check_descriptor(data, manifest["config"],
                                         "application/vnd.oci.image.config.v1+json",
                                         "manifest config"))
    require(len(manifest.get("layers", [])) == 1, f"manifest layers: {manifest.get('layers')}")
    layer = check_descriptor(data, manifest["layers"][0],
                             "application/vnd.oci.image.layer.v1.tar+gzip", "manifest layers[0]")
    return infos, data, index, manifest, config, layer


def tools_missing(*tools):
    """The tools not on PATH, and a message saying how to install them."""
    missing = [t for t in tools if not shutil.which(t)]
    return missing, (f"{', '.join(missing)} not installed (apt-get install {' '.join(missing)}; "
                     "scripts/install-deps.sh installs them)")


def check_reproducible():
    """two builds from different directories to different -o paths are identical"""
    os.makedirs(os.path.dirname(IMAGE))
    compile_oci(IMAGE, os.path.join(TMP, "cwd1"))
    other = os.path.join(TMP, "b", "other.tar")
    os.makedirs(os.path.dirname(other))
    compile_oci("../b/other.tar", os.path.join(TMP, "cwd2"))
    with open(IMAGE, "rb") as f1, open(other, "rb") as f2:
        a, b = f1.read(), f2.read()
    require(a == b, f"the two images differ ({len(a)} and {len(b)} bytes)")
    print(f"        image {len(a)} bytes, sha256 {sha256(a)}")


def check_layout():
    """the layout's digests and sizes match its blobs, Docker's manifest.json agrees"""
    infos, data, index, manifest, config, layer = image_parts(IMAGE)
    names = sorted(infos)
    require(names[:2] == ["blobs", "blobs/sha256"] and names[-3:] ==
            ["index.json", "manifest.json", "oci-layout"] and len(names) == 8,
            f"unexpected entries: {names}")
    for name, b in data.items():
        if name.startswith("blobs/sha256/"):
            require(name[13:] == sha256(b), f"{name} holds content with sha256 {sha256(b)}")
    for m in infos.values():
        require(m.uid == 0 and m.gid == 0 and m.uname == "" and m.gname == "",
                f"{m.name}: owner {m.uid}:{m.gid} ({m.uname!r}:{m.gname!r}), expected 0:0 unnamed")
        require(m.mtime == EPOCH, f"{m.name}: mtime {m.mtime}, expected {EPOCH}")
    require(json.loads(data["oci-layout"]) == {"imageLayoutVersion": "1.0.0"},
            f"oci-layout: {data['oci-layout']!r}")
    require(index.get("schemaVersion") == 2 and
            index.get("mediaType") == "application/vnd.oci.image.index.v1+json", f"index: {index}")
    ann = index["manifests"][0].get("annotations", {})
    require(ann.get("org.opencontainers.image.ref.name") == TAG, f"index annotations: {ann}")
    require(manifest.get("schemaVersion") == 2 and
            manifest.get("mediaType") == "application/vnd.oci.image.manifest.v1+json",
            f"manifest: {manifest}")
    docker = json.loads(data["manifest.json"])
    require(len(docker) == 1, f"manifest.json: {docker}")
    d = docker[0]
    require(d.get("RepoTags") == [f"fraud:{TAG}"], f"manifest.json RepoTags: {d.get('RepoTags')}")
    require(d.get("Config") == "blobs/sha256/" + manifest["config"]["digest"][7:],
            f"manifest.json Config {d.get('Config')!r} is not the OCI manifest's config")
    require(d.get("Layers") == ["blobs/sha256/" + manifest["layers"][0]["digest"][7:]],
            f"manifest.json Layers {d.get('Layers')!r} are not the OCI manifest's layers")
    for text in (data["index.json"], data["manifest.json"], data["oci-layout"]):
        require(json.dumps(json.loads(text), sort_keys=True, separators=(",", ":")).encode() == text,
                f"not compact JSON with sorted keys: {text[:200]!r}")


def check_config():
    """the config: arch, os, created, numeric non-root user, entrypoint, labels, diff_ids"""
    _, _, _, manifest, config, layer = image_parts(IMAGE)
    with open(MODEL, "rb") as f:
        model_sha = sha256(f.read())
    require(config.get("architecture") == "amd64" and config.get("os") == "linux",
            f"architecture/os: {config.get('architecture')}/{config.get('os')}")
    require(config.get("created") == CREATED, f"created {config.get('created')!r}, expected {CREATED}")
    c = config.get("config", {})
    user = c.get("User", "")
    uid, _, gid = user.partition(":")
    require(uid.isdigit() and gid.isdigit() and int(uid) != 0 and int(gid) != 0,
            f"User {user!r}: expected numeric non-root uid:gid")
    require(user == "65532:65532", f"User {user!r}, expected 65532:65532")
    require(c.get("Entrypoint") == ["/bin/fraud", "serve"], f"Entrypoint {c.get('Entrypoint')}")
    require(c.get("Cmd") == ["--port", "8080"], f"Cmd {c.get('Cmd')}")
    require(c.get("ExposedPorts") == {"8080/tcp": {}}, f"ExposedPorts {c.get('ExposedPorts')}")
    labels = c.get("Labels", {})
    want = {"dev.kiln.model.sha256": model_sha, "dev.kiln.model.name": "fraud",
            "dev.kiln.model.version": TAG, "org.opencontainers.image.title": "fraud",
            "org.opencontainers.image.version": TAG, "org.opencontainers.image.created": CREATED}
    for k, v in want.items():
        require(labels.get(k) == v, f"label {k}: {labels.get(k)!r}, expected {v!r}")
    r = run([KILN, "--version"])
    require(labels.get("dev.kiln.version", "?") in r.stdout,
            f"label dev.kiln.version {labels.get('dev.kiln.version')!r} vs {r.stdout.strip()!r}")
    ann = manifest.get("annotations", {})
    require(ann.get("org.opencontainers.image.created") == CREATED, f"manifest annotations: {ann}")
    diff = "sha256:" + sha256(gzip.decompress(layer))
    require(config.get("rootfs") == {"type": "layers", "diff_ids": [diff]},
            f"rootfs {config.get('rootfs')}, expected diff_ids [{diff}]")
    hist = config.get("history", [])
    require(len(hist) == 1 and hist[0].get("created") == CREATED, f"history {hist}")


def check_layer():
    """the layer holds bin/fraud (0755, static, root-owned) and nothing else"""
    _, _, _, _, _, layer = image_parts(IMAGE)
    with tarfile.open(fileobj=io.BytesIO(layer), mode="r:gz") as t:
        members = t.getmembers()
        names = [m.name for m in members]
        require(names == ["bin", "bin/fraud"], f"layer entries {names}, expected bin/ and bin/fraud")
        m = members[1]
        require(m.isfile() and m.mode == 0o755 and m.uid == 0 and m.gid == 0 and m.mtime == EPOCH,
                f"bin/fraud: mode {oct(m.mode)}, owner {m.uid}:{m.gid}, mtime {m.mtime}")
        exe = os.path.join(TMP, "layer-fraud")
        with open(exe, "wb") as f:
            f.write(t.extractfile(m).read())
    os.chmod(exe, 0o755)
    ok, what = static_link(exe)
    require(ok, f"bin/fraud is not statically linked: {what}")
    r = run([exe, "info", "--json"])
    require(r.returncode == 0, "bin/fraud info --json: " + describe(*r))
    build = json.loads(r.stdout)["build"]
    require(build["build_time"] == EPOCH, f"build_time {build['build_time']}, expected {EPOCH}")
    require(not any(TMP in f for f in build["flags"]),
            f"the binary records a path of the build: {build['flags']}")


def check_skopeo():
    """skopeo inspect oci-archive:PATH:1 shows labels, arch, user and entrypoint"""
    missing, msg = tools_missing("skopeo")
    require(not missing, msg)
    ref = f"oci-archive:{IMAGE}:{TAG}"
    r = run(["skopeo", "inspect", ref], timeout=60)
    require(r.returncode == 0, "skopeo inspect: " + describe(*r))
    info = json.loads(r.stdout)
    require(info.get("Architecture") == "amd64" and info.get("Os") == "linux",
            f"skopeo: Architecture {info.get('Architecture')!r}, Os {info.get('Os')!r}")
    labels = info.get("Labels") or {}
    for k in ("dev.kiln.model.sha256", "dev.kiln.model.name", "dev.kiln.model.version",
              "dev.kiln.version", "org.opencontainers.image.version"):
        require(k in labels, f"skopeo: label {k} missing from {labels}")
    require(info.get("Created") == CREATED, f"skopeo: Created {info.get('Created')!r}")
    r = run(["skopeo", "inspect", "--config", ref], timeout=60)
    require(r.returncode == 0, "skopeo inspect --config: " + describe(*r))
    c = json.loads(r.stdout)["config"]
    require(c.get("User") == "65532:65532" and c.get("Entrypoint") == ["/bin/fraud", "serve"],
            f"skopeo --config: User {c.get('User')!r}, Entrypoint {c.get('Entrypoint')}")
    require("8080/tcp" in (c.get("ExposedPorts") or {}), f"skopeo --config: {c.get('ExposedPorts')}")
    # A copy reads every blob and checks it against its digest.
    r = run(["skopeo", "copy", "--quiet", ref, "dir:" + os.path.join(TMP, "skopeo-dir")],
            timeout=60)
    require(r.returncode == 0, "skopeo copy: " + describe(*r))


def check_umoci():
    """umoci unpacks the image and its rootfs/bin/fraud serves the sample request"""
    missing, msg = tools_missing("umoci")
    require(not missing, msg)
    layout, bundle = os.path.join(TMP, "layout"), os.path.join(TMP, "bundle")
    os.makedirs(layout)
    with tarfile.open(IMAGE, "r:") as t:
        t.extractall(layout)
    r = run(["umoci", "unpack", "--rootless", "--image", f"{layout}:{TAG}", bundle], timeout=60)
    require(r.returncode == 0, "umoci unpack: " + describe(*r))
    rootfs = os.path.join(bundle, "rootfs")
    found = sorted(os.path.relpath(os.path.join(d, f), rootfs)
                   for d, dirs, files in os.walk(rootfs) for f in files + dirs)
    require(found == ["bin", "bin/fraud"], f"rootfs holds {found}, expected bin/fraud alone")
    with open(os.path.join(bundle, "config.json")) as f:
        proc = json.load(f)["process"]
    require(proc["user"]["uid"] == 65532 and proc["user"]["gid"] == 65532,
            f"bundle process user {proc['user']}")
    require(proc["args"][:2] == ["/bin/fraud", "serve"], f"bundle process args {proc['args']}")
    exe = os.path.join(rootfs, "bin", "fraud")
    with open(os.path.join(SAMPLE, "request.json")) as f:
        req = json.load(f)
    srv = Server(exe)
    try:
        r = srv.client.get("/v2/health/ready")
        require(r.status == 200, f"/v2/health/ready: {r.status} {r.body[:300]!r}")
        r = srv.client.post_json("/v2/models/fraud/infer", req)
        require(r.status == 200, f"infer: {r.status} {r.body[:300]!r}")
        out = r.json()["outputs"][0]
        p = np.array(out["data"], dtype=np.float32).reshape(out["shape"])
        require(p.shape == (2, 2) and np.allclose(p.sum(axis=1), 1, atol=1e-5),
                f"probabilities {p.tolist()}: expected 2 rows summing to 1")
        print(f"        probabilities {p.tolist()}")
    finally:
        srv.stop()
    if os.geteuid() == 0 and shutil.which("setpriv"):
        r = run(["setpriv", "--reuid", "65532", "--regid", "65532", "--clear-groups",
                 exe, "info", "--json"], timeout=30)
        require(r.returncode == 0, "bin/fraud as uid 65532: " + describe(*r))


def check_no_epoch():
    """without SOURCE_DATE_EPOCH the image is dated 1970 and still reproducible"""
    a, b = os.path.join(TMP, "noepoch-a.tar"), os.path.join(TMP, "noepoch-b.tar")
    compile_oci(a, TMP, epoch=None)
    compile_oci(b, TMP, epoch=None)
    with open(a, "rb") as f1, open(b, "rb") as f2:
        require(f1.read() == f2.read(), "two builds without SOURCE_DATE_EPOCH differ")
    config = image_parts(a)[4]
    require(config["created"] == "1970-01-01T00:00:00Z", f"created {config['created']!r}")


def check_bad_usage():
    """a bad tag or SOURCE_DATE_EPOCH exits 2 naming the flag, writing nothing"""
    out = os.path.join(TMP, "bad.tar")
    r = compile_oci(out, TMP, extra=["--model-version", "1 beta"], expect=2)
    require("--model-version '1 beta'" in r.stderr and "tag" in r.stderr, f"stderr: {r.stderr}")
    r = compile_oci(out, TMP, epoch="yesterday", expect=2)
    require("SOURCE_DATE_EPOCH" in r.stderr, f"stderr: {r.stderr}")
    require(not os.path.exists(out), f"{out} was written")
    require(not [f for f in os.listdir(TMP) if "kiln-tmp" in f], "a temporary file was left")


checks = [check_reproducible, check_layout, check_config, check_layer, check_skopeo, check_umoci,
          check_no_epoch, check_bad_usage]
# Outside CI a missing skopeo or umoci skips its check; in CI ($CI set) it fails.
for fn, tool in ((check_skopeo, "skopeo"), (check_umoci, "umoci")):
    missing, msg = tools_missing(tool)
    if missing and not os.environ.get("CI"):
        print(f"SKIP  {fn.__doc__.strip()}: {msg}", flush=True)
        checks.remove(fn)
suite.run(checks)
sys.exit(suite.finish())
