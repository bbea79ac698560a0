"""v2client.py: a small Open Inference Protocol (KServe v2) REST client.

Written from the protocol documents (kserve/open-inference-protocol
"REST" and Triton's "binary tensor data extension"), not from kiln's
server code, so the e2e tests check kiln against the protocol rather than
against itself. Standard library plus numpy; one HTTP/1.1 connection per
call, with a timeout on every socket operation.

    c = V2Client("127.0.0.1", port, token=None)
    status, body = c.get("/v2/health/ready")
    status, outputs, resp = c.infer("fraud", {"transaction": x})            # JSON tensors
    status, outputs, resp = c.infer("fraud", {"transaction": x}, binary=True)  # binary both ways
"""
import http.client
import json

import numpy as np

# v2 datatype <-> numpy dtype (little-endian, as the extension specifies)
DTYPES = {
    "BOOL": np.bool_, "UINT8": np.uint8, "UINT16": np.uint16, "UINT32": np.uint32,
    "UINT64": np.uint64, "INT8": np.int8, "INT16": np.int16, "INT32": np.int32,
    "INT64": np.int64, "FP16": np.float16, "FP32": np.float32, "FP64": np.float64,
}


def datatype_of(a):
    for name, dt in DTYPES.items():
        if np.dtype(dt) == a.dtype:
            return name
    raise ValueError(f"no v2 datatype for {a.dtype}")


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = {k.lower(): v for k, v in headers}
        self.body = body

    def json(self):
        return json.loads(self.body)


class V2Client:
    def __init__(self, host, port, token=None, timeout=10.0):
        self.host, self.port, self.token, self.timeout = host, port, token, timeout

    def request(self, method, path, body=None, headers=None):
        h = dict(headers or {})
        if self.token is not None and "Authorization" not in h:
            h["Authorization"] = f"Bearer {self.token}"
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            conn.request(method, path, body=body, headers=h)
            r = conn.getresponse()
            return Response(r.status, r.getheaders(), r.read())
        finally:
            conn.close()

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post_json(self, path, obj, headers=None):
        h = {"Content-Type": "application/json"}
        h.update(headers or {})
        return self.request("POST", path, json.dumps(obj).encode(), h)

    # --- inference ---------------------------------------------------------

    @staticmethod
    def infer_path(model, version=None):
        if version is None:
            return f"/v2/models/{model}/infer"
        return f"/v2/models/{model}/versions/{version}/infer"

    def infer(self, model, inputs, outputs=None, binary=False, binary_inputs=None,
              binary_outputs=None, request_id=None, version=None, nested=False, headers=None):
        """inputs: {name: ndarray}. binary: send inputs and ask outputs as
        binary (binary_inputs / binary_outputs override each direction).
        Returns (Response, {output name: ndarray} or None)."""
        bin_in = binary if binary_inputs is None else binary_inputs
        bin_out = binary if binary_outputs is None else binary_outputs
        req = {"inputs": []}
        if request_id is not None:
            req["id"] = request_id
        tail = b""
        for name, a in inputs.items():
            a = np.ascontiguousarray(a)
            t = {"name": name, "shape": list(a.shape), "datatype": datatype_of(a)}
            if bin_in:
                raw = a.astype(a.dtype.newbyteorder("<"), copy=False).tobytes()
                t["parameters"] = {"binary_data_size": len(raw)}
                tail += raw
            else:
                t["data"] = a.tolist() if nested else a.reshape(-1).tolist()
            req["inputs"].append(t)
        if outputs is not None or bin_out:
            names = outputs if outputs is not None else []
            if names:
                req["outputs"] = [{"name": n, "parameters": {"binary_data": bool(bin_out)}}
                                  for n in names]
            elif bin_out:
                req["parameters"] = {"binary_data_output": True}
        head = json.dumps(req).encode()
        h = {"Content-Type": "application/json"}
        if tail:
            h["Inference-Header-Content-Length"] = str(len(head))
            h["Content-Type"] = "application/octet-stream"
        h.update(headers or {})
        r = self.request("POST", self.infer_path(model, version), head + tail, h)
        if r.status != 200:
            return r, None
        return r, self.decode(r)

    @staticmethod
    def decode(r):
        """The outputs of a 200 infer response, JSON or binary."""
        n = r.headers.get("inference-header-content-length")
        head = r.body if n is None else r.body[:int(n)]
        doc = json.loads(head)
        r.doc = doc
        pos = 0 if n is None else int(n)
        out = {}
        for o in doc["outputs"]:
            dt = np.dtype(DTYPES[o["datatype"]]).newbyteorder("<")
            size = o.get("parameters", {}).get("binary_data_size")
            if size is not None:
                raw = r.body[pos:pos + size]
                if len(raw) != size:
                    raise ValueError(f"output {o['name']}: {len(raw)} of {size} bytes")
                pos += size
                out[o["name"]] = np.frombuffer(raw, dtype=dt).reshape(o["shape"])
            else:
                out[o["name"]] = np.array(o["data"], dtype=dt).reshape(o["shape"])
        if pos and pos != len(r.body):
            raise ValueError(f"{len(r.body) - pos} bytes after the last binary output")
        return out
