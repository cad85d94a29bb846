// Runs an original TF.js graph model on raw input tensors with TF.js's pure-JS CPU backend, the
// reference the ONNX conversion is checked against (unpose_core/pose/bundled.py, tests).
// No tfjs-node: its install downloads a native binary, which fails offline.
//
//   node scripts/tfjs_reference.cjs JOB.json
// JOB.json: {"modules": dir holding node_modules, "model": ".../model.json",
//            "inputs": [{"file": "x.bin", "shape": [1, 256, 256, 3], "dtype": "int32"}, ...]}
// For each input, writes <file>.out.bin: the first output as little-endian float32, and prints
// one JSON line per input: {"file", "shape", "ms"}.
'use strict';
const fs = require('fs');
const path = require('path');

const job = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const req = (name) => require(require.resolve(name, { paths: [job.modules] }));
const tf = req('@tensorflow/tfjs-core');
req('@tensorflow/tfjs-backend-cpu');
const converter = req('@tensorflow/tfjs-converter');

function handler(modelPath) {
  return {
    load: async () => {
      const m = JSON.parse(fs.readFileSync(modelPath, 'utf8'));
      const dir = path.dirname(modelPath);
      const specs = [];
      const buffers = [];
      for (const group of m.weightsManifest) {
        specs.push(...group.weights);
        for (const p of group.paths) buffers.push(fs.readFileSync(path.join(dir, p)));
      }
      const all = Buffer.concat(buffers);
      const weightData = all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength);
      return { modelTopology: m.modelTopology, weightSpecs: specs, weightData, format: m.format,
        generatedBy: m.generatedBy, convertedBy: m.convertedBy, signature: m.signature };
    },
  };
}

(async () => {
  await tf.setBackend('cpu');
  const model = await converter.loadGraphModel(handler(job.model));
  for (const inp of job.inputs) {
    const raw = fs.readFileSync(inp.file);
    const Arr = inp.dtype === 'int32' ? Int32Array : Float32Array;
    const data = new Arr(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
    const x = tf.tensor(data, inp.shape, inp.dtype);
    const t0 = Date.now();
    let y = await model.executeAsync(x);
    if (Array.isArray(y)) y = y[0];
    const out = await y.data();
    const ms = Date.now() - t0;
    fs.writeFileSync(`${inp.file}.out.bin`, Buffer.from(new Float32Array(out).buffer));
    console.log(JSON.stringify({ file: inp.file, shape: y.shape, ms }));
    tf.dispose([x, y]);
  }
})().catch((e) => { console.error(e.stack || String(e)); process.exit(1); });
