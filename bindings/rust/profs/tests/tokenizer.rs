//! Tokenizer against the Hugging Face reference ids committed under tests/data/tokenizers.
use std::path::PathBuf;

use profs::{Code, Tokenizer};

fn data() -> PathBuf {
    std::env::var("PROFS_TEST_DATA").map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../tests/data"))
        .join("tokenizers")
}

/// The JSON string on a corpus line, decoded (escapes \", \\, \n, \t, \r, \uXXXX with surrogates).
fn json_string(s: &str) -> String {
    let b: Vec<char> = s.trim().chars().collect();
    assert_eq!(b[0], '"');
    let (mut out, mut i) = (String::new(), 1);
    let hex = |i: usize| u32::from_str_radix(&b[i..i + 4].iter().collect::<String>(), 16).unwrap();
    while b[i] != '"' {
        if b[i] == '\\' {
            i += 1;
            match b[i] {
                'n' => out.push('\n'), 't' => out.push('\t'), 'r' => out.push('\r'),
                'b' => out.push('\u{8}'), 'f' => out.push('\u{c}'),
                'u' => {
                    let mut c = hex(i + 1);
                    i += 4;
                    if (0xD800..0xDC00).contains(&c) && b[i + 1] == '\\' && b[i + 2] == 'u' {
                        let lo = hex(i + 3);
                        c = 0x10000 + ((c - 0xD800) << 10) + (lo - 0xDC00);
                        i += 6;
                    }
                    out.push(char::from_u32(c).unwrap_or('\u{FFFD}'));
                }
                other => out.push(other),
            }
        } else {
            out.push(b[i]);
        }
        i += 1;
    }
    out
}

/// The integer array after `"key":` on an expected.jsonl line.
fn ids_field(line: &str, key: &str) -> Vec<i32> {
    let start = line.find(&format!("\"{}\":[", key)).unwrap() + key.len() + 4;
    let end = start + line[start..].find(']').unwrap();
    line[start..end].split(',').filter(|x| !x.is_empty()).map(|x| x.parse().unwrap()).collect()
}

fn check(name: &str) {
    let corpus = std::fs::read_to_string(data().join("corpus.jsonl")).unwrap();
    let expected = std::fs::read_to_string(data().join(name).join("expected.jsonl")).unwrap();
    let t = Tokenizer::open(data().join(name)).unwrap();
    let mut checked = 0;
    for (i, (text, e)) in corpus.lines().zip(expected.lines()).enumerate().step_by(11) {
        let text = json_string(text);
        assert_eq!(t.encode(&text, false).unwrap(), ids_field(e, "ids"), "{} line {}", name, i + 1);
        assert_eq!(t.encode(&text, true).unwrap(), ids_field(e, "ids_special"), "{} line {}", name, i + 1);
        assert_eq!(t.encode_bytes(text.as_bytes(), false, true).unwrap(), ids_field(e, "ids_text"));
        checked += 1;
    }
    assert!(checked > 200);
}

#[test]
fn gpt2_matches_reference() {
    check("gpt2");
}

#[test]
fn mistral_matches_reference() {
    check("mistral");
}

#[test]
fn vocabulary_and_errors() {
    let t = Tokenizer::open(data().join("mistral/tokenizer.json")).unwrap();
    assert_eq!(t.vocab_size(), 32000);
    assert_eq!((t.bos_id(), t.eos_id(), t.unk_id()), (Some(1), Some(2), Some(0)));
    assert_eq!(t.id_to_token(1), Some("<s>"));
    assert_eq!(t.token_to_id("<s>").unwrap(), Some(1));
    assert_eq!(t.token_to_id("no such token at all").unwrap(), None);
    let ids = t.encode("The quick brown fox", true).unwrap();
    assert_eq!(ids[0], 1);
    assert_eq!(t.decode(&ids, true).unwrap(), "The quick brown fox");
    let long = "word ".repeat(3000);
    assert_eq!(t.decode(&t.encode(&long, false).unwrap(), false).unwrap(), long);
    assert_eq!(t.encode_bytes(b"\xff broken", false, false).unwrap_err().code(), Code::Format);
    assert_eq!(t.decode(&[1, 10_000_000], false).unwrap_err().code(), Code::Inval);
    assert!(Tokenizer::open(data().join("no-such-tokenizer")).is_err());
}
