// ort_bench.js: the same measurement as kiln_bench.c, with ONNX Runtime.
// usage: node ort_bench.js MODEL.onnx BATCH ITERS THREADS [NAME=DIMS...]
// Inputs: deterministic values in [-1, 1), the same generator as kiln_bench;
// int64 inputs get integers in [0, 1000) (kiln_bench_shapes.c does the same).
// Without NAME=DIMS every dynamic dim is BATCH; NAME=DIMS (like tokens=8x128)
// gives input NAME that shape.
const ort = require('onnxruntime-node');

async function main() {
  const [model, batchS, itersS, threadsS, ...shapeArgs] = process.argv.slice(2);
  const given = {};
  for (const a of shapeArgs) {
    const eq = a.indexOf('=');
    given[a.slice(0, eq)] = a.slice(eq + 1).split('x').map(Number);
  }
  const batch = parseInt(batchS), iters = parseInt(itersS), threads = parseInt(threadsS);
  const session = await ort.InferenceSession.create(model, {
    intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: 'all',
    executionMode: 'sequential',
  });
  const feeds = {};
  let seed = 12345;
  for (const name of session.inputNames) {
    const meta = session.inputMetadata.find ? session.inputMetadata.find(m => m.name === name) : null;
    let dims = meta && meta.shape ? meta.shape.map(d => (typeof d === 'number' && d > 0 ? d : batch)) : [batch];
    if (given[name]) dims = given[name];
    const n = dims.reduce((a, b) => a * b, 1);
    const int64 = meta && meta.type === 'int64';
    const data = int64 ? new BigInt64Array(n) : new Float32Array(n);
    for (let k = 0; k < n; k++) {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      const r = (seed >>> 8) & 0xffff;
      data[k] = int64 ? BigInt(r % 1000) : r / 32768.0 - 1.0;
    }
    feeds[name] = new ort.Tensor(int64 ? 'int64' : 'float32', data, dims);
  }
  for (let i = 0; i < 10; i++) await session.run(feeds);
  const t = [];
  for (let i = 0; i < iters; i++) {
    const t0 = process.hrtime.bigint();
    await session.run(feeds);
    t.push(Number(process.hrtime.bigint() - t0) / 1000);
  }
  t.sort((a, b) => a - b);
  const med = t[Math.floor(iters / 2)], p99 = t[Math.floor(iters * 0.99)];
  console.log(JSON.stringify({median_us: med, p99_us: p99, inferences_per_s: batch * 1e6 / med}));
}
main().catch(e => { console.error(e); process.exit(1); });
