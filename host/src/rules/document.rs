//! Rule files as documents: YAML or JSON text turned into a JSON value plus
//! the source position of every node, so that any later error (a bad key, a
//! bad pattern operand deep inside `pattern`) can point at file:line:col.
//!
//! JSON rule files are read with the same YAML 1.2 loader: JSON is (for all
//! practical purposes) a subset of YAML 1.2, and one loader means one set of
//! position rules.

use std::collections::HashMap;

use saphyr::{LoadableYamlNode, MarkedYaml, Scalar, YamlData};
use serde_json::{Map, Number, Value};

/// One step of a path into a document.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Step {
    /// A mapping key.
    Key(String),
    /// A sequence index.
    Index(usize),
}

/// A 1-based line and column in a source file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Position {
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub col: usize,
}

/// A parsed document: its value and where each node came from.
#[derive(Debug, Clone)]
pub struct Document {
    /// The document as JSON.
    pub value: Value,
    values: HashMap<Vec<Step>, Position>,
    keys: HashMap<Vec<Step>, Position>,
}

/// A syntax error in a document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SyntaxError {
    /// Where the problem is.
    pub position: Position,
    /// What is wrong.
    pub message: String,
}

impl Document {
    /// Parse YAML (or JSON) text. Exactly one document is expected.
    pub fn parse(text: &str) -> Result<Document, SyntaxError> {
        let syntax_error = |e: saphyr::ScanError| SyntaxError {
            position: Position {
                line: e.marker().line(),
                col: e.marker().col() + 1,
            },
            message: e.info().to_owned(),
        };
        let docs = match MarkedYaml::load_from_str(text) {
            Ok(docs) => docs,
            // JSON writers (Python's json.dumps, JavaScript's JSON.stringify
            // with escaping) write a character outside the Basic Multilingual
            // Plane as a UTF-16 surrogate pair, `\ud83d\ude80`; YAML's
            // double-quoted strings take each `\u` alone, and a lone surrogate
            // is no character. Only when the text fails to load is it tried
            // again with each pair joined into YAML's `\U0001f680`: a file that
            // loads is never rewritten. Lines are kept, so positions hold.
            Err(first) => match join_surrogate_escapes(text) {
                Some(joined) => MarkedYaml::load_from_str(&joined).map_err(syntax_error)?,
                None => return Err(syntax_error(first)),
            },
        };
        let mut docs = docs.into_iter();
        let Some(root) = docs.next() else {
            return Err(SyntaxError {
                position: Position { line: 1, col: 1 },
                message:
                    "the file is empty; expected a rule (a mapping with name, pattern and plugin)"
                        .into(),
            });
        };
        if let Some(extra) = docs.next() {
            return Err(SyntaxError {
                position: position_of(&extra),
                message: "a rule file holds one rule; found a second YAML document".into(),
            });
        }
        let mut doc = Document {
            value: Value::Null,
            values: HashMap::new(),
            keys: HashMap::new(),
        };
        let mut path = Vec::new();
        doc.value = doc.convert(&root, &mut path)?;
        Ok(doc)
    }

    /// Where the value at `path` starts; falls back to the nearest ancestor
    /// that has a position (the document start at worst).
    pub fn value_position(&self, path: &[Step]) -> Position {
        (0..=path.len())
            .rev()
            .find_map(|n| self.values.get(&path[..n]).copied())
            .unwrap_or(Position { line: 1, col: 1 })
    }

    /// Where the key that names the value at `path` starts (for "unknown key"
    /// errors); falls back to the value position.
    pub fn key_position(&self, path: &[Step]) -> Position {
        self.keys
            .get(path)
            .copied()
            .unwrap_or_else(|| self.value_position(path))
    }

    fn convert(
        &mut self,
        node: &MarkedYaml<'_>,
        path: &mut Vec<Step>,
    ) -> Result<Value, SyntaxError> {
        self.values.insert(path.clone(), position_of(node));
        let value = match &node.data {
            YamlData::Value(scalar) => scalar_to_json(scalar, node)?,
            YamlData::Representation(text, _, _) => Value::String(text.to_string()),
            YamlData::Sequence(items) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    path.push(Step::Index(i));
                    out.push(self.convert(item, path)?);
                    path.pop();
                }
                Value::Array(out)
            }
            YamlData::Mapping(map) => {
                let mut out = Map::new();
                for (k, v) in map {
                    let key = match &k.data {
                        YamlData::Value(Scalar::String(s)) => s.to_string(),
                        YamlData::Value(Scalar::Integer(i)) => i.to_string(),
                        YamlData::Value(Scalar::Boolean(b)) => b.to_string(),
                        YamlData::Value(Scalar::Null) => "null".to_owned(),
                        YamlData::Representation(text, _, _) => text.to_string(),
                        _ => {
                            return Err(SyntaxError {
                                position: position_of(k),
                                message: "mapping keys must be plain strings".into(),
                            });
                        }
                    };
                    if out.contains_key(&key) {
                        // `1` and `"1"` differ in YAML but not as JSON keys.
                        return Err(SyntaxError {
                            position: position_of(k),
                            message: format!("duplicate key `{key}` in this mapping"),
                        });
                    }
                    path.push(Step::Key(key.clone()));
                    self.keys.insert(path.clone(), position_of(k));
                    let value = self.convert(v, path)?;
                    path.pop();
                    out.insert(key, value);
                }
                Value::Object(out)
            }
            YamlData::Tagged(_, inner) => {
                let value = self.convert(inner, path)?;
                // saphyr gives the inner node of a tagged value no position
                // (line 0); place the value where its tag is.
                self.values.insert(path.clone(), position_of(node));
                value
            }
            YamlData::Alias(_) => {
                return Err(SyntaxError {
                    position: position_of(node),
                    message: "YAML aliases are not supported in rule files; write the value out"
                        .into(),
                });
            }
            YamlData::BadValue => {
                return Err(SyntaxError {
                    position: position_of(node),
                    message: "this value could not be read".into(),
                });
            }
        };
        Ok(value)
    }
}

fn position_of(node: &MarkedYaml<'_>) -> Position {
    Position {
        line: node.span.start.line(),
        col: node.span.start.col() + 1,
    }
}

fn scalar_to_json(scalar: &Scalar<'_>, node: &MarkedYaml<'_>) -> Result<Value, SyntaxError> {
    Ok(match scalar {
        Scalar::Null => Value::Null,
        Scalar::Boolean(b) => Value::Bool(*b),
        Scalar::Integer(i) => Value::Number((*i).into()),
        Scalar::FloatingPoint(f) => Number::from_f64(f.into_inner())
            .map(Value::Number)
            .ok_or_else(|| SyntaxError {
                position: position_of(node),
                message: "numbers must be finite (no .inf or .nan)".into(),
            })?,
        Scalar::String(s) => Value::String(s.to_string()),
    })
}

/// `text` with each `\uD8xx\uDCxx`-style surrogate-pair escape (high then low,
/// any case) replaced by the equivalent `\UXXXXXXXX`, or `None` when it has
/// none. An escaped backslash (`\\u…`) is left alone.
fn join_surrogate_escapes(text: &str) -> Option<String> {
    fn hex4(b: &[u8]) -> Option<u32> {
        let digits = std::str::from_utf8(b.get(..4)?).ok()?;
        u32::from_str_radix(digits, 16).ok()
    }
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut i = 0;
    let mut joined = false;
    while i < b.len() {
        if b[i] != b'\\' {
            i += 1;
            continue;
        }
        if b.get(i + 1) == Some(&b'\\') {
            i += 2;
            continue;
        }
        let pair = (b.get(i + 1) == Some(&b'u'))
            .then(|| hex4(&b[i + 2..]))
            .flatten()
            .filter(|high| (0xD800..0xDC00).contains(high))
            .and_then(|high| {
                let low_at = i + 6;
                (b.get(low_at..low_at + 2) == Some(b"\\u".as_slice()))
                    .then(|| hex4(&b[low_at + 2..]))
                    .flatten()
                    .filter(|low| (0xDC00..0xE000).contains(low))
                    .map(|low| 0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))
            });
        match pair {
            Some(scalar) => {
                out.push_str(&text[copied..i]);
                out.push_str(&format!("\\U{scalar:08X}"));
                i += 12;
                copied = i;
                joined = true;
            }
            None => i += 2,
        }
    }
    joined.then(|| {
        out.push_str(&text[copied..]);
        out
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_surrogate_pair_escapes_load_as_one_character() {
        // What Python's json.dumps writes for a rocket and a G clef.
        let text = "{\"name\": \"r\",\n \"pattern\": {\"detail\": {\"author\": [\"\\ud83d\\ude80 \\uD834\\uDD1E\"]}}}";
        let doc = Document::parse(text).expect("loads");
        assert_eq!(
            doc.value["pattern"]["detail"]["author"][0],
            "\u{1F680} \u{1D11E}"
        );
        // Positions still point at the right line.
        let at = doc.value_position(&[Step::Key("pattern".into())]);
        assert_eq!(at.line, 2);
    }

    #[test]
    fn lone_surrogates_and_escaped_backslashes_are_not_joined() {
        assert_eq!(join_surrogate_escapes("\"\\\\ud83d\\ude80\""), None);
        assert_eq!(join_surrogate_escapes("\"\\ud83d x\""), None);
        assert!(
            Document::parse("\"\\ud83d\"").is_err(),
            "a lone high surrogate stays an error"
        );
        assert_eq!(
            join_surrogate_escapes("\"a\\ud83d\\ude80b\" \\\\ud83d\\ude80"),
            Some("\"a\\U0001F680b\" \\\\ud83d\\ude80".to_owned())
        );
    }

    #[test]
    fn positions_point_at_values_and_keys() {
        let doc =
            Document::parse("name: x\npattern:\n  detail:\n    operation: [\"delete\"]\n").unwrap();
        let path = [
            Step::Key("pattern".into()),
            Step::Key("detail".into()),
            Step::Key("operation".into()),
            Step::Index(0),
        ];
        assert_eq!(doc.value_position(&path), Position { line: 4, col: 17 });
        assert_eq!(doc.key_position(&path[..3]), Position { line: 4, col: 5 });
        assert_eq!(doc.value["pattern"]["detail"]["operation"][0], "delete");
    }

    #[test]
    fn json_files_parse_with_positions() {
        let doc = Document::parse(
            "{\n  \"name\": \"x\",\n  \"pattern\": {\"source\": [\"a\", 3.5, null, true]}\n}",
        )
        .unwrap();
        assert_eq!(doc.value["pattern"]["source"][1], 3.5);
        assert!(doc.value["pattern"]["source"][2].is_null());
        assert_eq!(
            doc.key_position(&[Step::Key("pattern".into())]),
            Position { line: 3, col: 3 }
        );
    }

    #[test]
    fn syntax_errors_and_duplicates_have_positions() {
        let err = Document::parse("name: x\nname: y\n").unwrap_err();
        assert!(err.position.line >= 1, "{err:?}");
        let err = Document::parse("name: [x\n").unwrap_err();
        assert!(!err.message.is_empty());
        assert!(Document::parse("").is_err());
        // Keys that differ in YAML but are the same JSON key.
        let err = Document::parse("pattern:\n  1: [a]\n  \"1\": [b]\n").unwrap_err();
        assert!(err.message.contains("duplicate key `1`"), "{err:?}");
        assert_eq!(err.position.line, 3, "{err:?}");
    }

    #[test]
    fn quoted_numbers_stay_strings() {
        let doc = Document::parse("a: \"3\"\nb: 3\nc: '007'\n").unwrap();
        assert_eq!(doc.value["a"], "3");
        assert_eq!(doc.value["b"], 3);
        assert_eq!(doc.value["c"], "007");
    }
}
