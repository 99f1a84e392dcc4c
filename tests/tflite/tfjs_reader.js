// Real TensorFlow Lite as a second reader of the .tflite files reef writes
// (issue 17): npm's @tensorflow/tfjs-tflite ships TFLite's interpreter
// compiled to WebAssembly; this runs it under Node, no browser.
//
// usage: node tfjs_reader.js < JOBS
// One job a line: MODEL INPUTS.bin|- INSPECT.json|-
//   MODEL        a .tflite file; TFLite loads it (AllocateTensors included)
//   INPUTS.bin   N raw input tensors back to back: TFLite runs each and
//                prints "out V0 V1 ..." (output 0, int8 or uint8 values)
//   INSPECT.json `reef inspect --json` of MODEL: every tensor of TFLite's
//                interpreter is compared with reef's (type, shape, name,
//                scales, zero points, quantized dimension); each
//                difference prints "mismatch ..."
// Per job: "model MODEL", then "error MESSAGE" if TFLite refused it, else
// "tensors N compared D mismatches M", "out ..." lines; then "end".
// Exit 77 (CTest's skip code) with a SKIPPED line when the package is absent
// (scripts/deps.sh installs it into ~/.cache/reef, or $REEF_CACHE).
//
// The package's JavaScript API gives each input and output only its id,
// type, name, shape and data, not its scale or zero point. Those are read
// from the interpreter itself: its TfLiteTensor structs (tensorflow/lite/
// c/common.h, 64 bytes on wasm32) sit in one std::vector in the WebAssembly
// memory. The input's struct is the one whose data pointer is the input's
// buffer, whose dims are its shape and whose name is its name; the vector's
// {begin, end, capacity} words give the tensor count. Every field is checked
// for consistency (name pointer, dims, type) so a layout change fails loudly
// rather than comparing garbage.
'use strict';
const fs = require('fs');
const path = require('path');
const os = require('os');

const VERSION = '0.0.1-alpha.10';
const cache = process.env.REEF_CACHE ||
  path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'reef');
const pkg = process.env.REEF_TFJS_TFLITE ||
  path.join(cache, `tfjs-tflite-${VERSION}`, 'node_modules', '@tensorflow', 'tfjs-tflite');
const wasmJs = path.join(pkg, 'wasm', 'tflite_web_api_cc.js');
const wasmBin = path.join(pkg, 'wasm', 'tflite_web_api_cc.wasm');
if (!fs.existsSync(wasmJs) || !fs.existsSync(wasmBin)) {
  console.log(`[  SKIPPED ] @tensorflow/tfjs-tflite@${VERSION} is not installed in ${pkg}: scripts/deps.sh installs it`);
  process.exit(77);
}

const TENSOR_BYTES = 64;
// TfLiteType (tensorflow/lite/c/c_api_types.h) -> reef inspect's names
const TYPES = {1: 'float32', 2: 'int32', 3: 'uint8', 4: 'int64', 6: 'bool', 7: 'int16', 9: 'int8', 10: 'float16'};
const AFFINE = 1;  // kTfLiteAffineQuantization

function cString(M, at) {
  let end = at;
  while (M.HEAPU8[end]) end++;
  return Buffer.from(M.HEAPU8.subarray(at, end)).toString('utf8');
}

function intArray(M, at) {  // TfLiteIntArray {int size; int data[];}
  const n = M.HEAP32[at >> 2];
  return Array.from(M.HEAP32.subarray((at >> 2) + 1, (at >> 2) + 1 + n));
}

function floatArray(M, at) {
  const n = M.HEAP32[at >> 2];
  return Array.from(M.HEAPF32.subarray((at >> 2) + 1, (at >> 2) + 1 + n));
}

// The TfLiteTensor struct of TFLite's interpreter at byte address `at`.
function tensorAt(M, at) {
  const w = at >> 2, H = M.HEAP32;
  const t = {type: H[w], data: H[w + 1], dims: intArray(M, H[w + 2]), name: H[w + 8] ? cString(M, H[w + 8]) : '',
             scale: [], zero_point: [], quantized_dimension: 0};
  if (H[w + 12] === AFFINE && H[w + 13]) {
    const q = H[w + 13] >> 2;
    t.scale = floatArray(M, H[q]);
    t.zero_point = intArray(M, H[q + 1]);
    t.quantized_dimension = H[q + 2];
  } else if (M.HEAPF32[w + 3] !== 0) {  // per-tensor params only
    t.scale = [M.HEAPF32[w + 3]];
    t.zero_point = [H[w + 4]];
  }
  return t;
}

// Every tensor of the interpreter, found from input 0's TensorInfo.
function interpreterTensors(M, info) {
  const data = info.data().byteOffset, shape = info.shape.split(',').map(Number);
  const H = M.HEAP32;
  let input = -1;
  for (let w = 1; w + 8 < H.length; w++) {
    if (H[w] !== data) continue;
    const at = (w - 1) * 4;
    try {
      const t = tensorAt(M, at);
      if (t.name === info.name && t.dims.join(',') === shape.join(',')) { input = at; break; }
    } catch (e) { /* not a tensor: a pointer out of range */ }
  }
  if (input < 0) throw new Error('cannot find the input tensor in the interpreter (TfLiteTensor layout changed?)');
  const base = input - info.id * TENSOR_BYTES;
  for (let w = 0; w + 2 < H.length; w++) {
    if (H[w] !== base) continue;
    const end = H[w + 1], cap = H[w + 2];
    if (end > base && (end - base) % TENSOR_BYTES === 0 && cap >= end && (end - base) / TENSOR_BYTES > info.id) {
      const n = (end - base) / TENSOR_BYTES, all = [];
      for (let i = 0; i < n; i++) all.push(tensorAt(M, base + i * TENSOR_BYTES));
      return all;
    }
  }
  throw new Error('cannot find the interpreter\'s tensor vector (layout changed?)');
}

function close(a, b) {
  return Math.abs(a - b) <= 1e-6 * Math.max(Math.abs(a), Math.abs(b), 1e-30);
}

// Compares TFLite's tensors with reef inspect --json's; returns the mismatches.
function compare(tfl, reef) {
  const bad = [];
  // TFLite appends its kernels' temporaries (im2col, scratch) after the
  // file's tensors: unnamed, they are not compared.
  if (tfl.length < reef.tensors.length) bad.push(`tensor count: TFLite ${tfl.length}, reef ${reef.tensors.length}`);
  tfl.slice(reef.tensors.length).forEach((t, k) => {
    if (t.name) bad.push(`tensor ${reef.tensors.length + k} ${t.name}: TFLite has it, reef does not`);
  });
  const n = Math.min(tfl.length, reef.tensors.length);
  for (let i = 0; i < n; i++) {
    const a = tfl[i], b = reef.tensors[i], say = (what, x, y) => bad.push(`tensor ${i} ${b.name}: ${what}: TFLite ${x}, reef ${y}`);
    if ((TYPES[a.type] || `type${a.type}`) !== b.type) say('type', TYPES[a.type] || a.type, b.type);
    if (a.dims.join(',') !== b.shape.join(',')) say('shape', `[${a.dims}]`, `[${b.shape}]`);
    if (a.name !== b.name) say('name', a.name, b.name);
    const bs = b.scale || [], bz = b.zero_point || [];
    if (a.scale.length !== bs.length || a.scale.some((s, k) => !close(s, bs[k]))) say('scales', `[${a.scale}]`, `[${bs}]`);
    if (a.zero_point.join(',') !== bz.join(',')) say('zero points', `[${a.zero_point}]`, `[${bz}]`);
    if (a.scale.length > 1 && b.quantized_dimension !== undefined && a.quantized_dimension !== b.quantized_dimension)
      say('quantized dimension', a.quantized_dimension, b.quantized_dimension);
  }
  return {compared: n, bad};
}

const tfliteSaid = [];

function runJob(M, line) {
  tfliteSaid.length = 0;
  const [model, inputs, inspect] = line.trim().split(/\s+/);
  console.log(`model ${model}`);
  const bytes = fs.readFileSync(model);
  const ptr = M._malloc(bytes.length);
  M.HEAPU8.set(bytes, ptr);
  const st = M.TFLiteWebModelRunner.CreateFromBufferAndOptions(ptr, bytes.length,
    {numThreads: 1, enableProfiling: false, maxProfilingBufferEntries: 1024});
  if (!st.ok()) {
    console.log(`error ${[st.errorMessage(), ...tfliteSaid].join(': ').replace(/\s+/g, ' ')}`);
    M._free(ptr);
    return;
  }
  const runner = st.value();
  const ins = runner.GetInputs(), outs = runner.GetOutputs();
  try {
    if (inspect && inspect !== '-') {
      const tensors = interpreterTensors(M, ins.get(0));
      const {compared, bad} = compare(tensors, JSON.parse(fs.readFileSync(inspect, 'utf8')));
      console.log(`tensors ${tensors.length} compared ${compared} mismatches ${bad.length}`);  // the rest: temporaries
      for (const b of bad) console.log(`mismatch ${b}`);
    }
    if (inputs && inputs !== '-') {
      const x = fs.readFileSync(inputs);
      const input = ins.get(0).data(), size = input.byteLength;
      const inBytes = new Uint8Array(input.buffer, input.byteOffset, size);
      for (let at = 0; at + size <= x.length; at += size) {
        inBytes.set(x.subarray(at, at + size));
        if (!runner.Infer()) { console.log('error TFLite Infer failed'); break; }
        console.log('out ' + Array.from(outs.get(0).data()).join(' '));
      }
    }
  } catch (e) {
    console.log(`error ${e.message}`);
  }
  runner.delete();
  M._free(ptr);
}

(async () => {
  const factory = require(wasmJs);
  // TFLite's own messages (why a model was refused) go into the error line
  const M = await factory({wasmBinary: fs.readFileSync(wasmBin), print: () => {},
                           printErr: (s) => { if (!/XNNPACK delegate for CPU/.test(s)) tfliteSaid.push(s); }});
  const jobs = fs.readFileSync(0, 'utf8').split('\n').filter((l) => l.trim());
  for (const job of jobs) {
    runJob(M, job);
    console.log('end');
  }
})().catch((e) => { console.error(`tfjs_reader: ${e.stack || e}`); process.exit(1); });
