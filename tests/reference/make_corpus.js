#!/usr/bin/env node
// Writes tests/data/tokenizers/corpus.jsonl: one JSON string per line, the inputs that the tokenizer
// tests compare with Hugging Face tokenizers. Deterministic (seeded PRNG). Run from the repository
// root:  node tests/reference/make_corpus.js
'use strict';
const fs = require('fs');
const path = require('path');

let seed = 0x9e3779b9;
function rand() { // mulberry32
  seed = (seed + 0x6d2b79f5) | 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const pick = (a) => a[Math.floor(rand() * a.length)];
const int = (n) => Math.floor(rand() * n);

const prose = [
  'The quick brown fox jumps over the lazy dog.',
  'It was the best of times, it was the worst of times.',
  'Language models are trained on large amounts of text.',
  'She sells sea shells by the sea shore.',
  'In 1969, Apollo 11 landed on the Moon; Neil Armstrong stepped out at 02:56 UTC.',
  'Please remove the toxic subspace from layer 15 onward.',
  'Tokenization splits text into pieces that a model can look up in its vocabulary.',
  'The mitochondria is the powerhouse of the cell.',
  'A journey of a thousand miles begins with a single step.',
  'To be, or not to be, that is the question:',
  'HELLO WORLD! THIS IS ALL CAPS.',
  'hello world, this is all lower case',
  'Hello World. Hello world. hello World.',
  'Mr. Smith paid $1,234.56 for 3 tickets (about 411.52 each).',
  'E-mail me at first.last@example.com or visit https://example.org/path?q=1&r=two#frag.',
  'def main():\n    print("hello")\n    return 0\n',
  'for (int i = 0; i < n; ++i) { sum += a[i] * b[i]; }',
  '{"key": "value", "list": [1, 2, 3], "nested": {"a": null}}',
  'The cat sat on the mat. The category of cats is catastrophic.',
  'Antidisestablishmentarianism is a long word; so is pneumonoultramicroscopicsilicovolcanoconiosis.',
  'Rock \'n\' roll never dies.',
  '"Quoted," she said, \'and single-quoted.\'',
  'Dr. Who? Ph.D., M.Sc., e.g., i.e., etc.',
  'Numbers: 0 1 12 123 1234 12345 123456 1234567 3.14159 -42 +7 1e-9 0x1F 0b1010',
  'Dates: 2024-01-31, 31/01/2024, Jan. 31st, 2024 at 11:59pm.',
  'Semicolons; colons: dashes - en \u2013 em \u2014 ellipsis\u2026 and ... dots',
  'The naïve café served crème brûlée to the fiancée in Zürich.',
  'Straße, Äpfel, Öl, Übermut; ß and ẞ.',
  'I\'d\'ve done it if I\'d known.',
];

const contractions = [
  "I'm", "you're", "he's", "she'll", "we've", "they'd", "it's", "can't", "won't", "shouldn't", "y'all",
  "I'M", "YOU'RE", "HE'S", "SHE'LL", "WE'VE", "THEY'D", "IT'S", "CAN'T", "WON'T", "SHOULDN'T",
  "It'S", "We'Ve", "They'Ll", "I'D", "don't", "DON'T", "Don'T", "O'Neil", "rock'n'roll", "'s", "'t", "'re",
  "'ve", "'m", "'ll", "'d", "'S", "'T", "'RE", "'VE", "'M", "'LL", "'D", "’s", "it’s", "''", "'",
];

const scripts = [
  '你好，世界！今天天气很好。', '中华人民共和国成立于1949年。', '日本語のテキストです。カタカナとひらがな。',
  '東京都渋谷区', '한국어 텍스트입니다. 안녕하세요!', '서울특별시',
  'مرحبا بالعالم! هذا نص عربي.', 'السلام عليكم ورحمة الله', 'שלום עולם! זה טקסט בעברית.',
  'नमस्ते दुनिया! यह हिंदी पाठ है।', 'हिन्दी में संख्याएँ: १२३४५', 'আমি বাংলায় গান গাই।', 'தமிழ் மொழி',
  'สวัสดีชาวโลก ภาษาไทยไม่มีช่องว่างระหว่างคำ', 'Привет, мир! Это русский текст.', 'Ёлки-палки, ЁЖИК!',
  'Γεια σου κόσμε! Αυτό είναι ελληνικό κείμενο.', 'ΣΊΣΥΦΟΣ σίσυφος', 'გამარჯობა მსოფლიო', 'Բարեւ աշխարհ',
  'ሰላም ለዓለም', 'Xin chào thế giới! Tiếng Việt có dấu.', 'İstanbul, IĞDIR, ılık, şişe', 'Ελληνικά και ελληνικά',
  'Ｆｕｌｌｗｉｄｔｈ　ｔｅｘｔ　１２３', 'ｶﾀｶﾅ ﾊﾝｶｸ', '①②③ ⅠⅡⅢ ¼ ½ ²³', 'ﬁ ﬂ ﬀ ﬃ', '㍻ ㌔ ㎏ ℃ № ™',
  'Ʃ ǅ ǈ Ǳ ǲ', 'ᏣᎳᎩ ᎦᏬᏂᎯᏍᏗ', 'ꦲꦏ꧀ꦱꦫꦗꦮ', '𐍈𐌰𐌿𐍃 (Gothic)', '𠀀𠀁𠀂 CJK extension B', '𝕳𝖊𝖑𝖑𝖔 𝓦𝓸𝓻𝓵𝓭', '𝟘𝟙𝟚𝟛',
  'ﷺ ﷽', 'ـــ تطويل', '٣٤٥ ۱۲۳', 'ḁḃḉḋ', 'Ǆemal', 'ŉ', 'İ̇i', 'Å Å Å', 'Ω Ω', 'K K',
];

const emoji = [
  '😀', '😂🤣', '👍🏽', '👨‍👩‍👧‍👦', '🇫🇷🇯🇵🇺🇸', '❤️', '☺', '✔︎', '🫠', '🧑🏿‍🚀', '🏳️‍🌈', '©®', '🀄', '🂡',
  'I ❤️ NY', 'ok 👌 great 🎉🎉🎉', '😀😀😀😀😀😀😀😀',
];

const combining = [
  'e\u0301', 'a\u0300\u0301\u0302', 'n\u0303o', 'Z\u0351\u036b\u0343\u036a\u0302\u036b\u033d\u034f\u0334\u0319a\u0364\u0351lgo',
  'A\u030a', '\u0301 leading combining mark', 'q\u0307\u0323', 'ก\u0e34\u0e4a', 'क\u094d\u0937', '\u05e9\u05c1\u05b8',
  'e\u0301e\u0301e\u0301', 'Cafe\u0301', '\u1100\u1161\u11a8', '\u0041\u030a\u0301',
];

const whitespace = [
  ' ', '  ', '   ', '    ', '\t', '\t\t', '\n', '\n\n', '\n\n\n', '\r\n', '\r', ' \n ', '\n ', ' \n', '\t \t',
  '\u00a0', '\u3000', '\u2003', '\u2009', '\u200b', '\u0085', '\u2028', '\u000b', '\u000c', '\u180e', '\ufeff',
  '        ', ' \t\n\r ',
];

const specials = [
  '<s>', '</s>', '<unk>', '<|endoftext|>', '<|sep|>', '<pad>', '[MASK]', 'cat', 'hello world', 'Hello World',
  'HELLO WORLD', '<s', 's>', '< s>', '<S>', '<|ENDOFTEXT|>', '<|endoftext', '<0x41>', '▁', 'Ġ', 'Ċ', '<<s>>',
  '</s></s>', '<s><s>', '<|endoftext|><|endoftext|>',
];

const punct = [
  '!', '!!!', '?!', '...', '---', '***', '"', '“quoted”', '«guillemets»', '(', ')', '[', ']', '{}', '<>', '@#$%^&*',
  '~`', '|', '\\', '/', '//', '::', '->', '=>', '==', '!=', '<=', '>=', '¡¿', '。', '、', '，', '；', '：',
];

const numbers = [
  '0', '7', '42', '100', '2024', '12345', '1234567890', '3.14', '1,000,000', '-5', '+1 (555) 123-4567',
  '10%', '$5', '€20', '£3.50', '¥1000', '1st', '2nd', '3rd', '4th', '1/2', '2^10', '1e10', '99.999%',
];

const words = [
  'the', 'of', 'and', 'model', 'edit', 'subspace', 'projection', 'token', 'vocabulary', 'unbelievable',
  'Transformer', 'GPU', 'ProFS', 'toxic', 'preference', 'pairs', 'embedding', 'layer', 'matrix', 'A', 'I',
  'a', 'an', 'on', 'cat', 'cats', 'concatenate', 'hello', 'world', 'Hello', 'World', 'xyzzy', 'qwertyuiop',
];

const all = [prose, contractions, scripts, emoji, combining, whitespace, specials, punct, numbers, words];
const seps = [' ', ' ', ' ', '', '\n', '  ', '\t', ', ', '. ', ' \n', '\n\n', '   '];

const out = [];
const seen = new Set();
const push = (s) => { if (!seen.has(s)) { seen.add(s); out.push(s); } };

// Every hand-written fragment alone, and with leading / trailing / surrounding spaces.
push('');
for (const list of all) for (const s of list) {
  push(s);
  push(' ' + s);
  push(s + ' ');
  push('  ' + s + '\n');
}
// Special-token text inside sentences.
for (const sp of specials) {
  push(`Hello ${sp} world`);
  push(`Hello${sp}world`);
  push(`${sp}Hello`);
  push(`Hello ${sp}`);
  push(`  ${sp}  tail`);
  push(`x\n${sp}\ny`);
}
// Contractions in context, all cases.
for (const c of contractions) {
  push(`${c} going home`);
  push(`and ${c}`);
  push(`${c.toUpperCase()} ${c.toLowerCase()}`);
}
// Whitespace runs between and around words.
for (const w of whitespace) {
  push(`a${w}b`);
  push(`word${w}`);
  push(`${w}word`);
  push(`${w}${w}x${w}${w}`);
  push(`Hello${w}world${w}again`);
}
// Random combinations of fragments.
while (out.length < 2600) {
  const n = 1 + int(6);
  let s = '';
  for (let i = 0; i < n; i++) {
    if (i) s += pick(seps);
    s += pick(pick(all));
  }
  push(s);
}
// A few long strings (paragraphs).
for (let k = 0; k < 20; k++) {
  let s = '';
  while (s.length < 1500) s += pick(prose) + pick(seps) + pick(pick(all)) + pick(seps);
  push(s);
}
// Random strings over many Unicode blocks (controls, marks, format characters such as ZWJ and U+180E,
// spaces, letters and numbers of many scripts, symbols, emoji, private use, plane 14 tags) mixed with
// special-token text and contractions: where Oniguruma, PCRE2 and the Unicode tables could disagree.
{
  const ranges = [[0x20, 0x7e], [0x20, 0x7e], [0x20, 0x7e], [0x61, 0x7a], [0x30, 0x39], [0x9, 0xd], [0x0, 0x1f],
    [0x7f, 0xa0], [0xa1, 0x24f], [0x300, 0x36f], [0x370, 0x3ff], [0x400, 0x4ff], [0x590, 0x5ff], [0x600, 0x6ff],
    [0x900, 0x97f], [0xe00, 0xe7f], [0x1100, 0x11ff], [0x1680, 0x1680], [0x180e, 0x180e], [0x2000, 0x206f],
    [0x2070, 0x218f], [0x2460, 0x24ff], [0x3000, 0x303f], [0x3040, 0x30ff], [0x4e00, 0x4fff], [0xac00, 0xad00],
    [0xfe00, 0xfe0f], [0xfeff, 0xfeff], [0xff00, 0xffef], [0xfff0, 0xfffd], [0x1d400, 0x1d7ff], [0x1f300, 0x1f6ff],
    [0x1f900, 0x1f9ff], [0x20000, 0x2001f], [0xe000, 0xe00f], [0x10fff0, 0x10fffd], [0xe0001, 0xe007f]];
  const bits = ['<s>', '</s>', '<unk>', '<|endoftext|>', '<|sep|>', '<pad>', '[MASK]', 'cat', 'hello world',
    'Hello World', '<0x41>', '\u2581', '\u0120', "'s", "'LL", "'ve", ' ', '  ', '\n', '\r\n', '\t', '\u200d',
    '\u00a0', 'İ', 'ß', 'ﬁ', 'Å', 'e\u0301', '123', '4567', '½', 'Ⅻ', '٣', 'ab'];
  const target = out.length + 600;
  while (out.length < target) {
    let s = '';
    const n = int(12);
    for (let i = 0; i < n; i++) {
      if (rand() < 0.35) { s += pick(bits); continue; }
      const r = pick(ranges);
      let cp = r[0] + int(r[1] - r[0] + 1);
      if (cp >= 0xd800 && cp <= 0xdfff) cp = 0x41;
      s += String.fromCodePoint(cp).repeat(1 + int(4));
    }
    push(s);
  }
}
// Long runs of one character (stress the BPE merge loop and the regexes).
push('a'.repeat(3000));
push(' '.repeat(2000));
push('\n'.repeat(500) + 'end');
push('😀'.repeat(500));
push('1234567890'.repeat(100));
push('ab'.repeat(1500));
push('<s>'.repeat(200));
push('\u0000');
push('nul\u0000inside');
// Long words of random letters (no space, so one pre-token for every tokenizer): thousands of symbols
// with merges of many different ranks go through the BPE merge queue.
for (const [alphabet, len] of [['abcdefghijklmnopqrstuvwxyz', 20000], ['etaoinshrdlucmETAOINSHRDLUCM', 8000],
  ['aeiouxyzбвгдеαβγδ', 6000]]) {
  let s = '';
  while (s.length < len) s += alphabet[int(alphabet.length)];
  push(s);
}

const file = path.join('tests', 'data', 'tokenizers', 'corpus.jsonl');
fs.writeFileSync(file, out.map((s) => JSON.stringify(s)).join('\n') + '\n');
console.log(`${file}: ${out.length} strings`);
