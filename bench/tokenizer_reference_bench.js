#!/usr/bin/env node
// Single-thread encode throughput of Hugging Face tokenizers (npm `tokenizers`) on a text file, for
// bench_tokenizer.c, which runs it in the same session as its own measurement:
//   node bench/tokenizer_reference_bench.js TOKENIZER_JSON TEXT_FILE
// Prints one line: "paragraphs MBPS_PARAGRAPHS IDS whole MBPS_WHOLE IDS". Paragraphs are the file's
// lines, encoded one call at a time (await each); "whole" is the file in one call. No special tokens.
// Times are CPU seconds of the process, best of two runs.
'use strict';
process.env.RAYON_NUM_THREADS = process.env.RAYON_NUM_THREADS || '1';
process.env.TOKENIZERS_PARALLELISM = 'false';
const fs = require('fs');
const { Tokenizer } = require('tokenizers');

(async () => {
  const tok = Tokenizer.fromFile(process.argv[2]);
  const text = fs.readFileSync(process.argv[3], 'utf8');
  const bytes = Buffer.byteLength(text, 'utf8');
  const lines = text.split('\n');
  await tok.encode('warm up', null, { addSpecialTokens: false });
  // CPU time of the process (all threads: the encode runs on a libuv worker), as bench_tokenizer.c measures
  const cpu = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1e6; };
  let best = [Infinity, 0, Infinity, 0];
  for (let rep = 0; rep < 2; rep++) {
    let t0 = cpu(), ids = 0;
    for (const l of lines) ids += (await tok.encode(l, null, { addSpecialTokens: false })).getLength();
    const tp = cpu() - t0;
    t0 = cpu();
    const whole = (await tok.encode(text, null, { addSpecialTokens: false })).getLength();
    const tw = cpu() - t0;
    if (tp < best[0]) best = [tp, ids, best[2], best[3]];
    if (tw < best[2]) best = [best[0], best[1], tw, whole];
  }
  console.log(`paragraphs ${(bytes / 1e6 / best[0]).toFixed(2)} ${best[1]} whole ${(bytes / 1e6 / best[2]).toFixed(2)} ${best[3]}`);
})().catch((e) => { console.error(String(e)); process.exit(1); });
