#!/usr/bin/python3
"""End to end for `OUT serve`: the fraud sample compiled with kiln, served
on 127.0.0.1 with a free port, and spoken to with tests/e2e/v2client.py
(a client written from the Open Inference Protocol spec).

    /usr/bin/python3 tests/e2e/test_service.py --kiln BUILD/kiln \
        --build-dir BUILD --source-dir SRC

Every check prints PASS/FAIL; the last line is "N passed, M failed" and
the exit status is 1 if any failed. Only processes this script started
are ended, by PID, always in `finally`. Every wait is bounded.
"""
import json
import os
import signal
import socket
import subprocess
import sys
import time
import traceback
from concurrent.futures import ThreadPoolExecutor

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kiln_e2e import HOST, CheckFailed, Server, Suite, compare, parse_args, require, run  # noqa: E402
from v2client import V2Client  # noqa: E402

RTOL, ATOL = 1e-4, 1e-5
MODEL, INPUT, OUTPUT = "fraud", "transaction", "probabilities"
MAX_BODY = 1 << 20      # the server under test takes 1 MiB bodies
TIMEOUT_MS = 2000       # and closes a connection idle this long
MAX_CONNS = 48

args = parse_args(__doc__)
KILN = args.kiln
SAMPLE = os.path.join(args.source_dir, "samples", "fraud-detection")
suite = Suite("service")
check = suite.check
TMP = suite.tmp
EXE = os.path.join(TMP, "fraud")
X256 = np.load(os.path.join(SAMPLE, "ref_input_b256.npy")).astype(np.float32)
Y256 = np.load(os.path.join(SAMPLE, "ref_output_b256.npy")).astype(np.float32)


def serve(*extra):
    """`OUT serve` on a free port with the limits above."""
    return Server(EXE, "--workers", "2", "--timeout-ms", str(TIMEOUT_MS), "--max-body-bytes",
                  str(MAX_BODY), "--max-connections", str(MAX_CONNS), *extra)


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def close_enough(got, want, what):
    compare(what, got, want, RTOL, ATOL)


def error_of(r, status, *words):
    """r must be `status` with a JSON {"error"} naming every word."""
    require(r.status == status, f"status {r.status}, expected {status}: {r.body[:200]!r}")
    try:
        msg = r.json()["error"]
    except Exception:
        raise CheckFailed(f"body is not {{\"error\": ...}}: {r.body[:200]!r}")
    for w in words:
        require(w in msg, f"error {msg!r} does not mention {w!r}")
    return msg


servers = []
try:
    # --- build ------------------------------------------------------------
    @check("kiln compile links a static service binary")
    def _():
        rc, out, err = run([KILN, "compile", os.path.join(SAMPLE, "fraud.onnx"), "-o", EXE],
                           timeout=300)
        if rc != 0:
            # Keep testing the runtime with the libraries the server needs
            # added by a cc wrapper, but report the link failure.
            wrap = os.path.join(TMP, "cc-wrap.sh")
            with open(wrap, "w") as f:
                f.write('#!/bin/sh\nexec cc "$@" -levent_extra -levent_pthreads -levent_core '
                        '-ljansson -lm -lpthread\n')
            os.chmod(wrap, 0o755)
            env = dict(os.environ, KILN_CC=wrap)
            run([KILN, "compile", os.path.join(SAMPLE, "fraud.onnx"), "-o", EXE], timeout=300,
                env=env)
            raise CheckFailed("kiln compile failed (compiler/driver/link.c must link -levent_extra "
                              "-levent_pthreads -levent_core): " + err.strip()[-300:])
        require(os.path.exists(EXE), "no binary")

    if not os.path.exists(EXE):
        raise CheckFailed("no service binary: cannot go on")

    srv = serve()
    servers.append(srv)
    c = srv.client
    print(f"NOTE exec to ready: {srv.ready_s * 1000:.1f} ms", flush=True)

    # --- endpoints ----------------------------------------------------------
    @check("health, server and model metadata, config, metrics answer 200")
    def _():
        require(c.get("/v2/health/live").status == 200, "live")
        require(c.get("/v2/health/ready").status == 200, "ready")
        r = c.get("/v2")
        require(r.status == 200 and "binary_tensor_data" in r.json()["extensions"], f"/v2 {r.body!r}")
        for path in (f"/v2/models/{MODEL}", f"/v2/models/{MODEL}/versions/1"):
            m = c.get(path)
            require(m.status == 200, f"{path}: {m.status}")
            m = m.json()
            require(m["name"] == MODEL and m["inputs"][0]["name"] == INPUT, f"metadata {m}")
            require(m["inputs"][0]["datatype"] == "FP32" and m["inputs"][0]["shape"] == [-1, 30],
                    f"input {m['inputs'][0]}")
        for path in (f"/v2/models/{MODEL}/ready", f"/v2/models/{MODEL}/versions/1/ready"):
            require(c.get(path).status == 200, path)
        cfg = c.get(f"/v2/models/{MODEL}/config").json()
        # The batch symbol's bound (kiln's default, 4096), if the body limit allows it.
        require(cfg["max_batch_size"] == min(4096, MAX_BODY // 120),
                f"max_batch_size {cfg['max_batch_size']}")
        require(cfg["input"][0]["dims"] == [30] and cfg["output"][0]["dims"] == [2], f"{cfg}")
        r = c.get("/metrics")
        require(r.status == 200 and r.headers["content-type"].startswith("text/plain"), "metrics")
        require(c.request("HEAD", "/v2/health/ready").status == 200, "HEAD ready")

    @check("JSON infer, batch 256, flat data, matches torch")
    def _():
        r, out = c.infer(MODEL, {INPUT: X256}, request_id="batch-256")
        require(r.status == 200, f"status {r.status}: {r.body[:200]!r}")
        require(r.doc["id"] == "batch-256" and r.doc["model_name"] == MODEL, f"{r.doc.keys()}")
        close_enough(out[OUTPUT], Y256, "probabilities")

    @check("JSON infer with nested data, versions path, outputs selection, parameters")
    def _():
        r, out = c.infer(MODEL, {INPUT: X256[:3]}, outputs=[OUTPUT], nested=True, version="1")
        require(r.status == 200, f"status {r.status}: {r.body[:200]!r}")
        close_enough(out[OUTPUT], Y256[:3], "nested")
        req = {"id": "p", "parameters": {"priority": 1},
               "inputs": [{"name": INPUT, "shape": [1, 30], "datatype": "FP32",
                           "data": X256[0].tolist(), "parameters": {}}]}
        r = c.post_json(f"/v2/models/{MODEL}/infer", req)
        require(r.status == 200, f"with parameters: {r.status} {r.body[:200]!r}")

    @check("binary tensor extension in both directions, and mixed")
    def _():
        r, out = c.infer(MODEL, {INPUT: X256}, binary=True)
        require(r.status == 200, f"status {r.status}: {r.body[:200]!r}")
        require(r.headers["content-type"] == "application/octet-stream", r.headers["content-type"])
        require("inference-header-content-length" in r.headers, "no Inference-Header-Content-Length")
        close_enough(out[OUTPUT], Y256, "binary both ways")
        r, out = c.infer(MODEL, {INPUT: X256[:7]}, binary_inputs=True, binary_outputs=False)
        require(r.status == 200 and "inference-header-content-length" not in r.headers, "JSON out")
        close_enough(out[OUTPUT], Y256[:7], "binary in, JSON out")
        r, out = c.infer(MODEL, {INPUT: X256[:5]}, outputs=[OUTPUT], binary_inputs=False,
                         binary_outputs=True)
        require(r.status == 200, f"status {r.status}")
        close_enough(out[OUTPUT], Y256[:5], "JSON in, binary out")

    # --- errors ---------------------------------------------------------------
    path = f"/v2/models/{MODEL}/infer"

    def body(shape=(1, 30), datatype="FP32", data=None, name=INPUT):
        d = X256[:1].reshape(-1).tolist() if data is None else data
        return {"inputs": [{"name": name, "shape": list(shape), "datatype": datatype, "data": d}]}

    @check("malformed requests are 400 and name the input")
    def _():
        raw = lambda b, h=None: c.request("POST", path, b, h or {"Content-Type": "application/json"})
        error_of(raw(b"{not json"), 400, "JSON")
        error_of(raw(b'{"inputs":[{"name":"transaction","shape":[1,30],"datatype":"FP32",'
                     b'"data":[NaN' + b",0" * 29 + b"]}]}"), 400, "JSON")
        error_of(c.post_json(path, body(datatype="INT64", data=[0] * 30)), 400, INPUT, "FP32")
        error_of(c.post_json(path, body(shape=(1, 29), data=[0.0] * 29)), 400, INPUT, "30")
        error_of(c.post_json(path, body(shape=(-1, 30))), 400, INPUT, "shape")
        error_of(c.post_json(path, body(shape=(2 ** 62, 30))), 400, INPUT)
        error_of(c.post_json(path, body(shape=(2 ** 70, 30))), 400)
        error_of(c.post_json(path, body(shape=(2, 30))), 400, INPUT, "60")
        error_of(c.post_json(path, body(name="amount")), 400, "amount", INPUT)
        error_of(c.post_json(path, {"inputs": []}), 400, "missing", INPUT)
        error_of(raw(b"[" * 100000 + b"]" * 100000), 400)
        deep = {"inputs": [{"name": INPUT, "shape": [1, 30], "datatype": "FP32",
                            "data": [[[x] for x in X256[0].tolist()]]}]}
        error_of(c.post_json(path, deep), 400, INPUT)

    @check("malformed binary requests are 400")
    def _():
        head = json.dumps({"inputs": [{"name": INPUT, "shape": [2, 30], "datatype": "FP32",
                                       "parameters": {"binary_data_size": 240}}]}).encode()
        h = {"Inference-Header-Content-Length": str(len(head))}
        error_of(c.request("POST", path, head + b"\0" * 100, h), 400, INPUT, "240")
        error_of(c.request("POST", path, head + b"\0" * 300, h), 400, "bytes")
        error_of(c.request("POST", path, head, {"Inference-Header-Content-Length": "999999"}),
                 400, "Inference-Header-Content-Length")
        error_of(c.request("POST", path, head, {"Inference-Header-Content-Length": "-5"}), 400)
        bad = json.dumps({"inputs": [{"name": INPUT, "shape": [2, 30], "datatype": "FP32",
                                      "parameters": {"binary_data_size": 2 ** 62}}]}).encode()
        error_of(c.request("POST", path, bad, {"Inference-Header-Content-Length": str(len(bad))}),
                 400, INPUT)

    @check("404 unknown model, version or path; 405 with Allow")
    def _():
        error_of(c.post_json("/v2/models/nope/infer", body()), 404, "nope", MODEL)
        error_of(c.post_json(f"/v2/models/{MODEL}/versions/9/infer", body()), 404, "9")
        error_of(c.get("/v2/models/nope"), 404, "nope")
        error_of(c.get("/v3/whatever"), 404)
        r = c.get(path)
        error_of(r, 405)
        require(r.headers.get("allow") == "POST", f"Allow: {r.headers.get('allow')}")
        r = c.request("DELETE", "/v2/health/ready")
        error_of(r, 405)
        require("GET" in r.headers.get("allow", ""), "Allow on DELETE")

    @check("413 over --max-body-bytes and for a huge Content-Length")
    def _():
        r = c.request("POST", path, b" " * (MAX_BODY + 1), {"Content-Type": "application/json"})
        require(r.status == 413, f"oversize body: {r.status}")
        # A huge Content-Length is refused before any body byte is stored:
        # libevent drains what is sent (so real clients read the 413) and
        # the connection is closed when the sender stalls.
        rss0 = rss_kib(srv.proc.pid)
        s = socket.create_connection((HOST, srv.port), timeout=TIMEOUT_MS / 1000 + 5)
        s.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999\r\n\r\n"
                  .encode() + b"{" * 100000)
        t0 = time.time()
        try:
            head = s.recv(4096)
        except ConnectionResetError:
            head = b""
        s.close()
        require(not head.startswith(b"HTTP/1.1 2"), f"huge Content-Length: {head[:60]!r}")
        require(time.time() - t0 < TIMEOUT_MS / 1000 + 3, "not closed after the timeout")
        require(rss_kib(srv.proc.pid) - rss0 < 20000, "memory grew with the claimed length")
        s = socket.create_connection((HOST, srv.port), timeout=5)
        s.sendall(b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70000 + b"\r\n\r\n")
        try:
            head = s.recv(4096)
        except ConnectionResetError:
            head = b""
        s.close()
        require(not head.startswith(b"HTTP/1.1 200"), "70 KB of headers accepted")

    @check("X-Request-Id is echoed; log lines are JSON without tensor data")
    def _():
        r, _ = c.infer(MODEL, {INPUT: X256[:1]}, headers={"X-Request-Id": "abc-123"})
        require(r.headers.get("x-request-id") == "abc-123", f"{r.headers}")
        time.sleep(0.2)
        log = [e for e in srv.log() if e.get("event") == "request"]
        require(log, "no request log lines")
        for k in ("method", "path", "status", "duration_us", "request_id"):
            require(k in log[-1], f"log line has no {k}: {log[-1]}")
        text = "\n".join(srv.lines)
        require(f"{X256[0][0]:.6f}"[:7] not in text, "tensor data in the log")
        require(any(e.get("request_id") == "batch-256" for e in log), "request id from the body")

    @check("32 clients x 20 requests at once, every answer right")
    def _():
        def one(i):
            cl = V2Client(HOST, srv.port)
            for j in range(20):
                n = 1 + (i * 20 + j) % 16
                lo = (i + j) % (256 - n)
                r, out = cl.infer(MODEL, {INPUT: X256[lo:lo + n]}, binary=(j % 2 == 1))
                if r.status != 200:
                    return f"client {i} request {j}: {r.status}"
                if not np.allclose(out[OUTPUT], Y256[lo:lo + n], rtol=RTOL, atol=ATOL):
                    return f"client {i} request {j}: wrong answer"
            return None
        with ThreadPoolExecutor(32) as ex:
            errs = [e for e in ex.map(one, range(32)) if e]
        require(not errs, "; ".join(errs[:3]))

    @check("a stalled client blocks nobody and is timed out")
    def _():
        s = socket.create_connection((HOST, srv.port), timeout=10)
        s.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{{\"inp".encode())
        t0 = time.time()
        for _ in range(20):
            require(c.get("/v2/health/ready").status == 200, "ready while stalled")
        r, out = c.infer(MODEL, {INPUT: X256[:2]})
        require(r.status == 200, "infer while stalled")
        require(time.time() - t0 < 2, "other clients were slowed down")
        s.settimeout(TIMEOUT_MS / 1000 + 5)
        try:
            data = s.recv(4096)
        except ConnectionResetError:
            data = b""
        waited = time.time() - t0
        s.close()
        require(not data.startswith(b"HTTP/1.1 200"), f"stalled request answered: {data[:40]!r}")
        require(waited < TIMEOUT_MS / 1000 + 3, f"closed after {waited:.1f} s")

    @check("connections over --max-connections are closed; the server recovers")
    def _():
        socks = []
        try:
            for _ in range(MAX_CONNS + 16):
                socks.append(socket.create_connection((HOST, srv.port), timeout=5))
            time.sleep(1.5)  # over the bound, a silent connection is kept 1 s for a health probe
            closed = 0
            for s in socks:
                s.setblocking(False)
                try:
                    if s.recv(1) == b"":
                        closed += 1
                except BlockingIOError:
                    pass
                except ConnectionResetError:
                    closed += 1
            require(closed >= 16, f"only {closed} of {len(socks)} connections closed")
        finally:
            for s in socks:
                s.close()
        time.sleep(0.3)
        r, out = c.infer(MODEL, {INPUT: X256[:1]})
        require(r.status == 200, f"after the flood: {r.status}")

    @check("/metrics: counters by reason, histograms, in-flight, build info with sha256")
    def _():
        text = c.get("/metrics").body.decode()
        rc, info, _ = run([EXE, "info"], timeout=60)
        sha = [line.split()[1] for line in info.splitlines() if line.startswith("sha256:")][0]
        want = ['kiln_requests_total{endpoint="infer",reason="ok"}',
                'kiln_requests_total{endpoint="infer",reason="bad_request"}',
                "kiln_inferences_total", "kiln_request_duration_us_bucket",
                "kiln_queue_duration_us_count", "kiln_compute_duration_us_sum",
                "kiln_in_flight_requests", "kiln_connections_rejected_total",
                f'sha256="{sha}"']
        for w in want:
            require(w in text, f"no {w}")
        metrics = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                k, v = line.rsplit(" ", 1)
                metrics[k] = float(v)
        require(metrics['kiln_requests_total{endpoint="infer",reason="ok"}'] >= 640, "infer ok count")
        require(metrics['kiln_requests_total{endpoint="infer",reason="bad_request"}'] >= 10, "400s")
        require(metrics["kiln_connections_rejected_total"] >= 16, "rejected connections")
        require(metrics["kiln_inferences_total"] >= 640, "inference count")

    @check("SIGTERM: readiness goes false, then exit 0")
    def _():
        srv.proc.send_signal(signal.SIGTERM)
        t0 = time.time()
        # Probes sent before the server has handled the signal may still get
        # 200; once it answers 503 (or stops listening) it must never be
        # ready again.
        seen = []
        while time.time() - t0 < 5 and srv.proc.poll() is None:
            try:
                seen.append(c.get("/v2/health/ready").status)
                if seen[-1] == 503:
                    break
            except OSError:
                seen.append("refused")
                break
            time.sleep(0.005)
        try:
            rc = srv.proc.wait(timeout=TIMEOUT_MS / 1000 + 5)
        except subprocess.TimeoutExpired:
            raise CheckFailed("still running 7 s after SIGTERM")
        require(rc == 0, f"exit {rc}")
        events = [e.get("event") for e in srv.log()]
        require("draining" in events and "stopped" in events, f"events {events[-4:]}")
        after = seen[next((i for i, x in enumerate(seen) if x != 200), len(seen)):]
        require(all(x in (503, "refused") for x in after), f"ready answered {seen} while draining")

    # --- token auth -----------------------------------------------------------
    @check("--token-file: 401 with WWW-Authenticate on models, health and metrics open")
    def _():
        token = "s3cret-" + os.urandom(8).hex()
        tf = os.path.join(TMP, "token")
        with open(tf, "w") as f:
            f.write(f"  {token}\n")
        s2 = serve("--token-file", tf)
        servers.append(s2)
        anon = V2Client(HOST, s2.port)
        wrong = V2Client(HOST, s2.port, token="s3cret-nope")
        good = V2Client(HOST, s2.port, token=token)
        require(anon.get("/v2/health/live").status == 200, "live needs no token")
        require(anon.get("/v2/health/ready").status == 200, "ready needs no token")
        require(anon.get("/metrics").status == 200, "metrics need no token")
        for cl in (anon, wrong):
            for r in (cl.get("/v2"), cl.get(f"/v2/models/{MODEL}"),
                      cl.infer(MODEL, {INPUT: X256[:1]})[0]):
                error_of(r, 401, "Bearer")
                require(r.headers.get("www-authenticate", "").startswith("Bearer"), "WWW-Authenticate")
        r, out = good.infer(MODEL, {INPUT: X256[:4]})
        require(r.status == 200, f"with the token: {r.status}")
        close_enough(out[OUTPUT], Y256[:4], "with the token")
        require(good.get(f"/v2/models/{MODEL}/config").status == 200, "config with the token")
        time.sleep(0.2)
        require(token not in "\n".join(s2.lines), "the token is in the log")
        s2.proc.send_signal(signal.SIGINT)
        require(s2.proc.wait(timeout=10) == 0, "SIGINT exit status")

    @check("--token-file empty exits 2, unreadable exits 3")
    def _():
        empty = os.path.join(TMP, "empty")
        open(empty, "w").write(" \n")
        rc, _, err = run([EXE, "serve", "--port", "0", "--token-file", empty], timeout=10)
        require(rc == 2 and "empty" in err, f"empty: {rc} {err}")
        rc, _, err = run([EXE, "serve", "--port", "0", "--token-file", os.path.join(TMP, "no")],
                         timeout=10)
        require(rc == 3, f"unreadable: {rc} {err}")
        rc, _, err = run([EXE, "serve", "--host", "example.com", "--port", "0"], timeout=10)
        require(rc == 2 and "IP address" in err, f"bad host: {rc} {err}")

    # --- batch commands ---------------------------------------------------------
    @check("predict --jsonl: one response line per request line")
    def _():
        def line(rows):
            return json.dumps({"id": f"r{rows}", "inputs": [
                {"name": INPUT, "shape": [rows, 30], "datatype": "FP32",
                 "data": X256[:rows].reshape(-1).tolist()}]})
        bad = json.dumps({"inputs": [{"name": INPUT, "shape": [1, 29], "datatype": "FP32",
                                      "data": [0.0] * 29}]})
        rc, out, err = run([EXE, "predict", "--jsonl"], stdin="\n".join([line(3), bad, line(5)]) + "\n",
                           timeout=60)
        lines = out.splitlines()
        require(len(lines) == 3, f"{len(lines)} lines")
        require(rc == 1 and INPUT in err, f"exit {rc}")
        a, b, d = (json.loads(x) for x in lines)
        require("error" in b and INPUT in b["error"], f"line 2: {b}")
        close_enough(np.array(a["outputs"][0]["data"], np.float32).reshape(3, 2), Y256[:3], "line 1")
        close_enough(np.array(d["outputs"][0]["data"], np.float32).reshape(5, 2), Y256[:5], "line 3")

    @check("bench prints median_us, p99_us, inferences_per_s")
    def _():
        rc, out, err = run([EXE, "bench", "--batch", "64", "--iters", "200"], timeout=60)
        require(rc == 0, f"exit {rc}: {err}")
        b = json.loads(out)
        for k in ("median_us", "p99_us", "inferences_per_s"):
            require(isinstance(b.get(k), (int, float)) and b[k] > 0, f"{k}: {b.get(k)}")
        require(b["batch"] == 64 and b["iters"] == 200, f"{b}")

except CheckFailed as e:
    suite.record("setup", False, str(e))
except Exception:
    suite.record("setup", False, traceback.format_exc())
finally:
    for s in servers:
        s.stop()

sys.exit(suite.finish())
