// Summarises a V8 .cpuprofile (from `node --cpu-prof`): the share of the
// sampled time spent in each script file and in each function, by self
// time. Used to see where an in-process pay's time goes (docs/PERFORMANCE.md,
// "Where jco's time goes").
//
//   node cpuprofile.mjs FILE.cpuprofile [--top N]

import { readFileSync } from 'node:fs';
import { basename } from 'node:path';

const [file, ...rest] = process.argv.slice(2);
if (!file) {
  console.error('usage: node cpuprofile.mjs FILE.cpuprofile [--top N]');
  process.exit(2);
}
const topIndex = rest.indexOf('--top');
const top = topIndex >= 0 ? Number(rest[topIndex + 1]) : 12;

const profile = JSON.parse(readFileSync(file, 'utf8'));
const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
const selfMicros = new Map();
profile.samples.forEach((id, i) => {
  selfMicros.set(id, (selfMicros.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
});

const byFile = new Map();
const byFunction = new Map();
let total = 0;
for (const [id, micros] of selfMicros) {
  const frame = nodes.get(id).callFrame;
  // Built-ins and wasm functions have no URL: name them by the function.
  // Wasm code has a wasm:// URL: name it as wasm, with its module hash.
  const script = !frame.url
    ? `(${frame.functionName || 'anonymous'})`
    : frame.url.startsWith('wasm://')
      ? `wasm ${basename(frame.url)}`
      : basename(frame.url);
  const fn = `${frame.functionName || '(anonymous)'} ${script}:${frame.lineNumber + 1}`;
  byFile.set(script, (byFile.get(script) ?? 0) + micros);
  byFunction.set(fn, (byFunction.get(fn) ?? 0) + micros);
  total += micros;
}

const print = (title, counts) => {
  console.log(title);
  [...counts]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .forEach(([name, micros]) => {
      console.log(`  ${((micros / total) * 100).toFixed(1).padStart(5)}%  ${name}`);
    });
};
console.log(`${basename(file)}: ${(total / 1000).toFixed(1)} ms sampled`);
print('by script (self time)', byFile);
print('by function (self time)', byFunction);
