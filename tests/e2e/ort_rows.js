// ort_rows.js: runs an ONNX model once with ONNX Runtime (onnxruntime-node),
// for tests that compare kiln with ORT.
// usage: node ort_rows.js MODEL.onnx INPUT_NAME ROWS COLS IN.f32 OUT_PREFIX
// IN.f32 holds ROWS*COLS little-endian float32 values; each output NAME is
// written to OUT_PREFIX.NAME.bin (raw, little-endian) with its type and
// dims in OUT_PREFIX.json.
const fs = require('fs');
const ort = require('onnxruntime-node');

async function main() {
  const [model, name, rowsS, colsS, inPath, prefix] = process.argv.slice(2);
  const rows = parseInt(rowsS), cols = parseInt(colsS);
  const buf = fs.readFileSync(inPath);
  const data = new Float32Array(buf.buffer, buf.byteOffset, rows * cols);
  const session = await ort.InferenceSession.create(model, {intraOpNumThreads: 1});
  const out = await session.run({[name]: new ort.Tensor('float32', data, [rows, cols])});
  const meta = {};
  for (const [k, t] of Object.entries(out)) {
    meta[k] = {type: t.type, dims: t.dims};
    fs.writeFileSync(`${prefix}.${k}.bin`, Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength));
  }
  fs.writeFileSync(`${prefix}.json`, JSON.stringify(meta));
}
main().catch(e => { console.error(e.message || e); process.exit(1); });
