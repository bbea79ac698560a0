// ort_run.js: runs an ONNX model with ONNX Runtime on .npy inputs, as a
// reference kiln did not produce (tests/e2e/dynamic_models.py uses it).
//
//   node tests/e2e/ort_run.js MODEL.onnx OUT_DIR NAME=FILE.npy...
//   node tests/e2e/ort_run.js MODEL.onnx OUT_DIR NAME=FILE.npy... -- OUT_DIR2 NAME=FILE.npy...
//
// One thread (intraOpNumThreads 1), one session for every run (each `--`
// starts another run of the same model). Writes OUT_DIR/<output name>.npy
// for every output and prints {"outputs": [names]} on stdout. onnxruntime-node
// comes from bench/node_modules (bench/package.json). Exit 1 on any error.
// The .npy reader and writer handle what the tests need: little-endian
// float32, float64, int64, int32, bool, C order.
'use strict';
const fs = require('fs');
const path = require('path');

function loadOrt() {
  const local = path.join(__dirname, '..', '..', 'bench', 'node_modules', 'onnxruntime-node');
  try {
    return require(local);
  } catch (e) {
    return require('onnxruntime-node');
  }
}

const DTYPES = {
  '<f4': ['float32', Float32Array], '<f8': ['float64', Float64Array],
  '<i8': ['int64', BigInt64Array], '<i4': ['int32', Int32Array], '|b1': ['bool', Uint8Array],
};

function readNpy(file) {
  const buf = fs.readFileSync(file);
  if (buf.length < 10 || buf.toString('latin1', 0, 6) !== '\x93NUMPY') throw new Error(`${file}: not a .npy file`);
  const major = buf[6];
  const hlen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const start = major === 1 ? 10 : 12;
  const header = buf.toString('latin1', start, start + hlen);
  const descr = /'descr':\s*'([^']+)'/.exec(header);
  const order = /'fortran_order':\s*(True|False)/.exec(header);
  const shape = /'shape':\s*\(([^)]*)\)/.exec(header);
  if (!descr || !order || !shape) throw new Error(`${file}: cannot read the header ${header}`);
  if (order[1] === 'True') throw new Error(`${file}: Fortran order is not supported`);
  const dt = DTYPES[descr[1]];
  if (!dt) throw new Error(`${file}: dtype ${descr[1]} is not supported`);
  const dims = shape[1].split(',').map(s => s.trim()).filter(s => s.length).map(Number);
  const n = dims.reduce((a, b) => a * b, 1);
  const off = start + hlen;
  const bytes = buf.subarray(off, off + n * dt[1].BYTES_PER_ELEMENT);
  if (bytes.length !== n * dt[1].BYTES_PER_ELEMENT) throw new Error(`${file}: truncated data`);
  const copy = new Uint8Array(bytes); // aligned copy
  let data = new dt[1](copy.buffer, 0, n);
  if (dt[0] === 'bool') data = Uint8Array.from(data); // ort takes bool as Uint8Array
  return { type: dt[0], data, dims };
}

function writeNpy(file, tensor) {
  const types = { float32: '<f4', float64: '<f8', int64: '<i8', int32: '<i4', bool: '|b1' };
  const descr = types[tensor.type];
  if (!descr) throw new Error(`output type ${tensor.type} is not supported`);
  const dims = tensor.dims.map(Number);
  const shape = dims.length === 1 ? `(${dims[0]},)` : `(${dims.join(', ')})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shape}, }`;
  const total = 10 + header.length + 1;
  header += ' '.repeat((64 - (total % 64)) % 64) + '\n';
  const head = Buffer.alloc(10);
  head.write('\x93NUMPY', 0, 'latin1');
  head[6] = 1;
  head[7] = 0;
  head.writeUInt16LE(header.length, 8);
  const d = tensor.data;
  const body = Buffer.from(d.buffer, d.byteOffset, d.byteLength);
  fs.writeFileSync(file, Buffer.concat([head, Buffer.from(header, 'latin1'), body]));
}

async function main() {
  const [model, ...rest] = process.argv.slice(2);
  const runs = [[]];
  for (const a of rest) {
    if (a === '--') runs.push([]);
    else runs[runs.length - 1].push(a);
  }
  if (!model || runs.some(r => r.length === 0)) {
    throw new Error('usage: node ort_run.js MODEL.onnx OUT_DIR NAME=FILE.npy... [-- OUT_DIR NAME=FILE.npy...]');
  }
  const ort = loadOrt();
  const session = await ort.InferenceSession.create(model, {
    intraOpNumThreads: 1, interOpNumThreads: 1, graphOptimizationLevel: 'all',
    executionMode: 'sequential',
  });
  for (const [outDir, ...pairs] of runs) {
    const feeds = {};
    for (const p of pairs) {
      const eq = p.indexOf('=');
      if (eq <= 0) throw new Error(`'${p}' is not NAME=FILE.npy`);
      const t = readNpy(p.slice(eq + 1));
      feeds[p.slice(0, eq)] = new ort.Tensor(t.type, t.data, t.dims);
    }
    const res = await session.run(feeds);
    fs.mkdirSync(outDir, { recursive: true });
    for (const name of session.outputNames) writeNpy(path.join(outDir, `${name}.npy`), res[name]);
  }
  console.log(JSON.stringify({ outputs: session.outputNames }));
}

main().catch(e => { console.error(`ort_run.js: ${e.message || e}`); process.exit(1); });
