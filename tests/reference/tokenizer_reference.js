#!/usr/bin/env node
// Produces the expected results of the tokenizer tests with Hugging Face tokenizers itself (npm package
// `tokenizers` 0.23.x, a native build of the Rust crate). Tests never run this; they read its output.
//
//   npm install --prefix /some/tmp tokenizers@0.23
//   NODE_PATH=/some/tmp/node_modules node tests/reference/tokenizer_reference.js
//
// For every directory NAME under tests/data/tokenizers/ holding a tokenizer.json, writes NAME/expected.jsonl:
// line i belongs to line i of corpus.jsonl and holds
//   ids          encode(x, addSpecialTokens=false)
//   ids_special  encode(x, addSpecialTokens=true)
//   ids_text     encode(x, addSpecialTokens=false) with the special added tokens not split out
//                (the reference tokenizer with the content of its special added tokens replaced by text
//                that never occurs, so that every other token keeps its id)
//   decode       decode(ids, skipSpecialTokens=false)
//   decode_skip  decode(ids_special, skipSpecialTokens=true)
'use strict';
const fs = require('fs');
const path = require('path');
const { Tokenizer } = require('tokenizers');

const root = path.join('tests', 'data', 'tokenizers');
const corpus = fs.readFileSync(path.join(root, 'corpus.jsonl'), 'utf8').split('\n').filter((l) => l.length)
  .map((l) => JSON.parse(l));

async function run(name) {
  const file = path.join(root, name, 'tokenizer.json');
  const json = JSON.parse(fs.readFileSync(file, 'utf8'));
  const tok = Tokenizer.fromFile(file);
  const changed = new Map(); // content in tokText -> id in tok
  for (const t of json.added_tokens) {
    const id = tok.tokenToId(t.content);
    if (t.special) t.content = `\u{10FFFD}never-in-the-corpus-${t.id}\u{10FFFD}`;
    changed.set(t.content, id);
  }
  const tokText = Tokenizer.fromString(JSON.stringify(json));
  // Changing contents can shift the ids the reference assigns to added tokens: map them back.
  const idMap = new Map();
  for (const [content, id] of changed) idMap.set(tokText.tokenToId(content), id);
  const lines = [];
  for (const x of corpus) {
    const ids = (await tok.encode(x, null, { addSpecialTokens: false })).getIds();
    const idsSpecial = (await tok.encode(x, null, { addSpecialTokens: true })).getIds();
    const idsText = (await tokText.encode(x, null, { addSpecialTokens: false })).getIds()
      .map((id) => (idMap.has(id) ? idMap.get(id) : id));
    const decode = await tok.decode(ids, false);
    const decodeSkip = await tok.decode(idsSpecial, true);
    lines.push(JSON.stringify({ ids, ids_special: idsSpecial, ids_text: idsText, decode, decode_skip: decodeSkip }));
  }
  fs.writeFileSync(path.join(root, name, 'expected.jsonl'), lines.join('\n') + '\n');
  console.log(`${name}: ${lines.length} strings`);
}

(async () => {
  for (const name of fs.readdirSync(root).sort()) {
    if (fs.existsSync(path.join(root, name, 'tokenizer.json'))) await run(name);
  }
})().catch((e) => { console.error(e); process.exit(1); });
