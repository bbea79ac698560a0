#!/usr/bin/python3
"""Hostile clients against `OUT serve`: slowloris, malformed HTTP, bytes
that are not UTF-8, probing without a token, a busy port. The fraud sample
is compiled with kiln and served on 127.0.0.1 with a free port; the slow
and malformed clients are raw sockets.

    /usr/bin/python3 tests/e2e/test_service_hostile.py --kiln BUILD/kiln \
        --build-dir BUILD --source-dir SRC

Every check prints PASS/FAIL; the last line is "N passed, M failed" and
the exit status is 1 if any failed. Only processes this script started
are ended, by PID, always in `finally`. Every socket has a timeout and
every loop a bound, so no check can hang.
"""
import json
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kiln_e2e import (HOST, CheckFailed, Server, Suite, kiln_compile, parse_args,  # noqa: E402
                      require, run)

MODEL, INPUT = "fraud", "transaction"
MAX_BODY = 4096
MAX_CONNS = 8
REQUEST_TIMEOUT_MS = 1500

args = parse_args(__doc__)
suite = Suite("service-hostile")
check = suite.check
TMP = suite.tmp
EXE = os.path.join(TMP, "fraud")
INFER = f"/v2/models/{MODEL}/infer"


def RawServer(*extra, timeout=10):
    """`EXE serve` whose stderr lines are kept as bytes (kiln_e2e.Server)."""
    return Server(EXE, *extra, ready_timeout=timeout, raw=True)


def connect(port, timeout=5):
    return socket.create_connection((HOST, port), timeout=timeout)


class Reader:
    """Reads HTTP responses one after another from a socket, keeping the
    bytes of the next ones (pipelining)."""

    def __init__(self, s):
        self.s, self.buf = s, b""

    def _fill(self, deadline):
        if time.time() >= deadline:
            return False
        self.s.settimeout(max(deadline - time.time(), 0.01))
        try:
            chunk = self.s.recv(65536)
        except (ConnectionResetError, socket.timeout):
            return False
        self.buf += chunk
        return bool(chunk)

    def response(self, timeout=5):
        """(status, headers dict, body bytes), or (None, {}, bytes seen) if
        the server closed (or said nothing for `timeout` s) first."""
        deadline = time.time() + timeout
        while b"\r\n\r\n" not in self.buf:
            if not self._fill(deadline):
                return None, {}, self.buf
        head, rest = self.buf.split(b"\r\n\r\n", 1)
        lines = head.split(b"\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(b":")
            headers[k.strip().lower().decode()] = v.strip().decode("latin-1")
        n = int(headers.get("content-length", "0"))
        self.buf = rest
        while len(self.buf) < n and self._fill(deadline):
            pass
        body, self.buf = self.buf[:n], self.buf[n:]
        return status, headers, body


def read_response(s, timeout=5):
    """One HTTP response from s (see Reader.response)."""
    return Reader(s).response(timeout)


def exchange(port, raw, timeout=5):
    s = connect(port, timeout)
    try:
        try:
            s.sendall(raw)
        except (BrokenPipeError, ConnectionResetError):
            pass
        return read_response(s, timeout)
    finally:
        s.close()


def json_error(resp, status, *words):
    """resp must be `status`, application/json, {"error": ...} in valid
    UTF-8, naming every word."""
    st, headers, body = resp
    require(st == status, f"status {st}, expected {status}: {body[:200]!r}")
    require(headers.get("content-type") == "application/json",
            f"Content-Type {headers.get('content-type')!r}: {body[:200]!r}")
    try:
        msg = json.loads(body.decode("utf-8"))["error"]
    except Exception as e:
        raise CheckFailed(f"body is not UTF-8 {{\"error\": ...}} ({e}): {body[:200]!r}")
    for w in words:
        require(w in msg, f"error {msg!r} does not mention {w!r}")
    return msg


def log_lines_valid(srv):
    """Every log line is valid UTF-8 and one JSON object."""
    for line in list(srv.lines):
        try:
            json.loads(line.decode("utf-8"))
        except Exception as e:
            raise CheckFailed(f"log line is not UTF-8 JSON ({e}): {line[:200]!r}")


servers = []
try:
    @check("kiln compile builds the service binary")
    def _():
        kiln_compile(args.kiln, os.path.join(args.source_dir, "samples", "fraud-detection",
                                             "fraud.onnx"), EXE)

    try:
        srv = RawServer("--workers", "2", "--max-connections", str(MAX_CONNS), "--max-body-bytes",
                        str(MAX_BODY), "--timeout-ms", "5000", "--request-timeout-ms",
                        str(REQUEST_TIMEOUT_MS))
    except CheckFailed as e:
        suite.record("serve starts with --request-timeout-ms", False, str(e))
        raise SystemExit(suite.finish())
    servers.append(srv)
    P = srv.port

    # --- 1. slowloris --------------------------------------------------------------
    @check("slowloris: health answers while drippers hold every slot; they get 408; over the bound is 503")
    def _():
        socks = [connect(P) for _ in range(MAX_CONNS)]
        try:
            req = f"POST {INFER} HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n".encode()
            t0 = time.time()
            for i in range(3):  # every slot now drips: the idle timeout (5 s) never fires
                for s in socks:
                    s.sendall(req[i:i + 1])
                time.sleep(0.1)
            for path in ("/v2/health/live", "/v2/health/ready"):
                st, h, body = exchange(P, f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
                require(st == 200, f"{path} while full: {st} {body[:100]!r}")
            r = exchange(P, f"GET /v2/models/{MODEL} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            json_error(r, 503, "--max-connections")
            require(r[1].get("retry-after") == "1", f"Retry-After: {r[1]}")
            got = []
            for i in range(3, 40):  # drip on, a byte per 0.1 s, until just before the deadline
                if time.time() - t0 > REQUEST_TIMEOUT_MS / 1000 - 0.3:
                    break  # (a byte sent after the server closed would be answered by a reset)
                for s in socks:
                    try:
                        s.sendall(req[i:i + 1])
                    except (BrokenPipeError, ConnectionResetError):
                        pass
                time.sleep(0.1)
            for s in socks:
                got.append(read_response(s, 3))
            waited = time.time() - t0
            for r in got:
                json_error(r, 408, "--request-timeout-ms")
            require(waited < REQUEST_TIMEOUT_MS / 1000 + 4, f"answered after {waited:.1f} s")
        finally:
            for s in socks:
                s.close()
        time.sleep(0.3)
        st, _, _ = exchange(P, f"GET /v2/models/{MODEL} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        require(st == 200, f"after the drippers: {st}")

    @check("a connection that sends nothing is closed at the request deadline")
    def _():
        s = connect(P, 10)
        t0 = time.time()
        st, _, data = read_response(s, REQUEST_TIMEOUT_MS / 1000 + 3)
        s.close()
        require(st is None and data == b"", f"answered {st} {data[:80]!r}")
        waited = time.time() - t0
        require(waited < REQUEST_TIMEOUT_MS / 1000 + 1, f"closed after {waited:.1f} s")

    @check("past the health headroom a connection gets 503 JSON at once")
    def _():
        socks = []
        try:
            for _ in range(MAX_CONNS + 32):
                socks.append(connect(P))
            time.sleep(0.2)
            r = exchange(P, b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n")
            json_error(r, 503, "--max-connections")
            require(r[1].get("retry-after") == "1", f"Retry-After: {r[1]}")
        finally:
            for s in socks:
                s.close()
        time.sleep(0.3)
        st, _, _ = exchange(P, b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n")
        require(st == 200, f"after: {st}")

    # --- 2. libevent's own errors are JSON --------------------------------------------
    def post(headers, body=b""):
        return f"POST {INFER} HTTP/1.1\r\nHost: x\r\n{headers}\r\n".encode() + body

    cases = [
        ("body over --max-body-bytes", post(f"Content-Length: {MAX_BODY + 1}\r\n",
                                            b"{" * (MAX_BODY + 1)), 413, "--max-body-bytes"),
        ("Expect: 100-continue over the limit", post(
            f"Content-Length: {MAX_BODY * 10}\r\nExpect: 100-continue\r\n"), 413, "--max-body-bytes"),
        ("negative Content-Length", post("Content-Length: -5\r\n", b"{}"), 400, "Content-Length"),
        ("Content-Length not a number", post("Content-Length: 12abc\r\n", b"{}"), 400,
         "Content-Length"),
        ("20 KB of headers", b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20000
         + b"\r\n\r\n", 431, "16384"),
        ("100 KB of headers", b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100000
         + b"\r\n\r\n", 431, "16384"),
        ("a 20 KB request line", b"GET /" + b"a" * 20000 + b" HTTP/1.1\r\n\r\n", 431, "16384"),
        ("bad chunk size", post("Transfer-Encoding: chunked\r\n", b"zz\r\nabc\r\n0\r\n\r\n"), 400,
         "chunked"),
        ("chunked body over the limit", post(
            "Transfer-Encoding: chunked\r\n",
            (f"{MAX_BODY:x}\r\n".encode() + b"a" * MAX_BODY + b"\r\n") * 2 + b"0\r\n\r\n"), 413,
         "--max-body-bytes"),
        ("a request line without a path", b"GET\r\n\r\n", 400, "request line"),
        ("garbage for a request line", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n",
         400, "request line"),
        ("an unknown method", b"BREW /v2 HTTP/1.1\r\nHost: x\r\n\r\n", 501, "method"),
        ("a header line without a colon", b"GET /v2/health/live HTTP/1.1\r\nHost x\r\n\r\n", 400,
         "header"),
    ]
    for title, raw, status, word in cases:
        @check(f"{title}: {status} with a JSON error")
        def _(raw=raw, status=status, word=word):
            json_error(exchange(P, raw), status, word)

    @check("TRACE and CONNECT reach the router: 405 JSON with Allow")
    def _():
        for m in ("TRACE", "CONNECT"):
            r = exchange(P, f"{m} /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            json_error(r, 405, "GET")
            require("GET" in r[1].get("allow", ""), f"Allow: {r[1]}")

    @check("Expect: 100-continue within the limit still works")
    def _():
        s = connect(P)
        try:
            s.sendall(post("Content-Length: 2\r\nExpect: 100-continue\r\n"))
            rd = Reader(s)
            st, _, _ = rd.response()
            require(st == 100, f"interim status {st}")
            s.sendall(b"{}")
            json_error(rd.response(), 400)
        finally:
            s.close()

    # --- 3. bytes that are not UTF-8, and control characters ----------------------------
    @check("invalid UTF-8 and control bytes in the path: JSON errors and logs stay valid")
    def _():
        for raw in (b"GET /v2/\xff\xfe\xc3( HTTP/1.1\r\nHost: x\r\n\r\n",
                    b"GET /v2/models/\xc3\x28\xed\xa0\x80/ready HTTP/1.1\r\nHost: x\r\n\r\n",
                    b"GET /v2/a\x01\x7fb\x1b[31m HTTP/1.1\r\nHost: x\r\n\r\n",
                    b"GET /v2/models/\xe2\x82\xac HTTP/1.1\r\nHost: x\r\n\r\n"):
            st, h, body = exchange(P, raw)
            if st is None:  # libevent may refuse the request line; then nothing is echoed
                continue
            json_error((st, h, body), st)
            require(all(b >= 0x20 for b in body), f"raw control bytes in the body: {body!r}")
        r = exchange(P, b"GET /v2/models/\xe2\x82\xac HTTP/1.1\r\nHost: x\r\n\r\n")
        require("\u20ac" in json_error(r, 404), "valid UTF-8 is echoed as it is")
        exchange(P, b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\nX-Request-Id: mark-utf8\r\n\r\n")
        time.sleep(0.3)
        log_lines_valid(srv)
        require(any(b"mark-utf8" in line for line in srv.lines), "the marker line is not logged")

    @check("X-Request-Id is echoed as at most 64 printable ASCII bytes")
    def _():
        rid = b"id-\xff\x01\x7f" + b"x" * 1000
        st, h, _ = exchange(P, b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\nX-Request-Id: " + rid
                            + b"\r\n\r\n")
        require(st == 200, f"status {st}")
        echoed = h.get("x-request-id", "")
        require(0 < len(echoed) <= 64 and all(0x20 <= ord(ch) < 0x7f for ch in echoed),
                f"X-Request-Id echoed as {echoed!r}")

    # --- also: header count, pipelining, a short body -----------------------------------
    @check("1500 small headers are answered; 200 pipelined requests get 200 answers")
    def _():
        many = b"".join(b"X-%d: v\r\n" % i for i in range(1500))
        st, _, _ = exchange(P, b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\n" + many + b"\r\n")
        require(st == 200, f"1500 headers: {st}")
        s = connect(P, 10)
        try:
            s.sendall(b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n" * 200)
            n, rd = 0, Reader(s)
            for _ in range(200):
                st, _, body = rd.response(10)
                if st != 200:
                    break
                n += 1
            require(n == 200, f"{n} of 200 pipelined answers")
        finally:
            s.close()

    @check("Content-Length larger than the body, then close: the server carries on")
    def _():
        for _ in range(20):
            s = connect(P)
            s.sendall(post("Content-Length: 1000\r\n", b'{"inputs": ['))
            s.close()
        time.sleep(0.3)
        st, _, _ = exchange(P, b"GET /v2/health/ready HTTP/1.1\r\nHost: x\r\n\r\n")
        require(st == 200 and srv.proc.poll() is None, f"after: {st}")

    # --- 4. no token, no oracle ---------------------------------------------------------
    @check("with --token-file, every path, method and model name is 401 without the token")
    def _():
        tf = os.path.join(TMP, "token")
        with open(tf, "w") as f:
            f.write("s3cret-token\n")
        s2 = RawServer("--workers", "1", "--token-file", tf)
        servers.append(s2)
        for m, path in (("PUT", INFER), ("PUT", "/v2/models/other/infer"),
                        ("GET", "/v2/models/other"), ("GET", f"/v2/models/{MODEL}/versions/9"),
                        ("DELETE", "/v2"), ("GET", "/v3/nothing"), ("POST", "/v2/health")):
            r = exchange(s2.port, f"{m} {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            json_error(r, 401, "Bearer")
        for path in ("/v2/health/live", "/v2/health/ready", "/metrics"):
            st, _, _ = exchange(s2.port, f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            require(st == 200, f"{path} without a token: {st}")
        r = exchange(s2.port, b"PUT " + INFER.encode() +
                     b" HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer s3cret-token\r\n\r\n")
        json_error(r, 405)
        s2.stop()

    # --- 5. a token file over the limit -------------------------------------------------
    @check("a token file over 4096 bytes exits 2 naming the file and the limit")
    def _():
        for name, text in (("long", "A" * 5000), ("padded", " " * 100 + "A" * 4000 + "B" * 1000),
                           ("spaced", "A" * 4000 + " " * 97 + "XYZ"), ("exact", "A" * 4096)):
            tf = os.path.join(TMP, f"token-{name}")
            with open(tf, "w") as f:
                f.write(text)
            rc, _, err = run([EXE, "serve", "--port", "0", "--token-file", tf], timeout=10)
            require(rc == 2 and tf in err and "4095" in err, f"{name}: exit {rc}: {err}")
        tf = os.path.join(TMP, "token-ok")
        with open(tf, "w") as f:
            f.write("A" * 4095 + "\n")
        s3 = RawServer("--workers", "1", "--token-file", tf)
        servers.append(s3)
        s3.stop()

    # --- 6. a busy port ------------------------------------------------------------------
    @check("serve on a port in use exits 3 naming it; a later SO_REUSEPORT socket gets nothing")
    def _():
        other = socket.socket()
        other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        other.bind((HOST, 0))
        other.listen(8)
        port = other.getsockname()[1]
        try:
            for workers in ("1", "3"):
                rc, _, err = run([EXE, "serve", "--host", HOST, "--port", str(port), "--workers",
                                  workers], timeout=10)
                require(rc == 3 and str(port) in err and HOST in err and "in use" in err,
                        f"--workers {workers}: exit {rc}: {err}")
        finally:
            other.close()
        rc, _, err = run([EXE, "serve", "--host", HOST, "--port", str(P)], timeout=10)
        require(rc == 3 and str(P) in err, f"a second kiln server: exit {rc}: {err}")
        ready = [json.loads(line) for line in srv.lines if b'"event":"ready"' in line][0]
        require(ready.get("port_sealed") is True, f"ready line: {ready}")
        thief = socket.socket()
        thief.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        try:
            thief.bind((HOST, P))
            thief.listen(64)
        except OSError:
            thief.close()
            return  # the kernel refused it outright: better still
        try:
            thief.setblocking(False)
            for _ in range(40):
                st, _, _ = exchange(P, b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n", 3)
                require(st == 200, f"a connection went elsewhere: {st}")
            stolen = 0
            try:
                while stolen < 100:
                    thief.accept()[0].close()
                    stolen += 1
            except BlockingIOError:
                pass
            require(stolen == 0, f"{stolen} connections went to the other socket")
        finally:
            thief.close()

    @check("the server survived all of it; every log line is UTF-8 JSON")
    def _():
        require(srv.proc.poll() is None, f"exited {srv.proc.returncode}")
        st, _, _ = exchange(P, b"GET /v2/health/ready HTTP/1.1\r\nHost: x\r\n\r\n")
        require(st == 200, f"ready: {st}")
        log_lines_valid(srv)
        srv.proc.send_signal(2)  # SIGINT: drains, exits 0 (ASan reports leaks here)
        require(srv.proc.wait(timeout=15) == 0, f"exit status {srv.proc.returncode}")
finally:
    for s in servers:
        s.stop()

sys.exit(suite.finish())
