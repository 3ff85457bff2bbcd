//! A YAML document as a small tree whose scalars keep their literal text.
//!
//! Built from yaml-rust2's event parser (YAML 1.2) rather than its `Yaml` loader, for three
//! reasons: every scalar keeps the text the user wrote (`vers: 3.0` stays `"3.0"`, `0755` stays
//! `"0755"`; the loader would turn integers into `i64`), aliases are refused instead of being
//! expanded by copying (the "billion laughs" blow-up), and nesting depth is bounded.
use yaml_rust2::parser::{Event, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// Largest document accepted (task files are a few hundred bytes).
pub const MAX_INPUT: usize = 1 << 20;
/// Deepest nesting of sequences and mappings accepted.
pub const MAX_DEPTH: usize = 32;

/// One node. Mappings keep their order; keys are scalars.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// A scalar's text as written (quotes removed); `plain` is false for quoted and block scalars.
    Scalar {
        text: String,
        plain: bool,
        line: usize,
    },
    Seq {
        items: Vec<Node>,
        line: usize,
    },
    Map {
        entries: Vec<(String, Node)>,
        line: usize,
    },
}

impl Node {
    /// 1-based line where the node starts.
    pub fn line(&self) -> usize {
        match self {
            Node::Scalar { line, .. } | Node::Seq { line, .. } | Node::Map { line, .. } => *line,
        }
    }

    /// A plain `null`, `~` or empty scalar (YAML 1.2 core schema).
    pub fn is_null(&self) -> bool {
        matches!(self, Node::Scalar { text, plain: true, .. } if matches!(text.as_str(), "" | "~" | "null" | "Null" | "NULL"))
    }

    /// The value of `key` in a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match self {
            Node::Map { entries, .. } => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// What kind of node this is, for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Node::Scalar { .. } => "a scalar",
            Node::Seq { .. } => "a list",
            Node::Map { .. } => "a mapping",
        }
    }
}

/// A document that is not YAML we accept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum YamlError {
    #[error("larger than {MAX_INPUT} bytes")]
    TooLarge,
    #[error("line {line}: {msg}")]
    Syntax { line: usize, msg: String },
    #[error("line {0}: aliases (*name) are not supported")]
    Alias(usize),
    #[error("line {0}: nested deeper than {MAX_DEPTH} levels")]
    TooDeep(usize),
    #[error("line {0}: a mapping key must be a scalar")]
    ComplexKey(usize),
    #[error("line {line}: duplicate key '{key}'")]
    DuplicateKey { key: String, line: usize },
    #[error("more than one document (---)")]
    MultipleDocuments,
    #[error("the document is empty")]
    Empty,
}

enum Frame {
    Seq(Vec<Node>, usize),
    Map(Vec<(String, Node)>, Option<String>, usize),
}

fn line(m: &Marker) -> usize {
    m.line().max(1)
}

/// Attach a finished node to the innermost open collection; returns it if there is none.
fn attach(stack: &mut [Frame], node: Node) -> Result<Option<Node>, YamlError> {
    let Some(top) = stack.last_mut() else {
        return Ok(Some(node));
    };
    match top {
        Frame::Seq(items, _) => items.push(node),
        Frame::Map(entries, pending, _) => match pending.take() {
            None => match node {
                Node::Scalar { text, line, .. } => {
                    if entries.iter().any(|(k, _)| *k == text) {
                        return Err(YamlError::DuplicateKey { key: text, line });
                    }
                    *pending = Some(text);
                }
                other => return Err(YamlError::ComplexKey(other.line())),
            },
            Some(k) => entries.push((k, node)),
        },
    }
    Ok(None)
}

/// Parse one YAML document.
pub fn parse(text: &str) -> Result<Node, YamlError> {
    if text.len() > MAX_INPUT {
        return Err(YamlError::TooLarge);
    }
    let mut parser = Parser::new_from_str(text);
    let mut stack: Vec<Frame> = Vec::new();
    let mut doc: Option<Node> = None;
    let mut docs = 0usize;
    loop {
        let (ev, mark) = parser.next_token().map_err(|e| YamlError::Syntax {
            line: line(e.marker()),
            msg: e.info().to_string(),
        })?;
        let l = line(&mark);
        let finished = match ev {
            Event::StreamEnd => break,
            Event::StreamStart | Event::Nothing | Event::DocumentEnd => None,
            Event::DocumentStart => {
                docs += 1;
                if docs > 1 {
                    return Err(YamlError::MultipleDocuments);
                }
                None
            }
            Event::Alias(_) => return Err(YamlError::Alias(l)),
            Event::Scalar(text, style, _, _) => attach(
                &mut stack,
                Node::Scalar {
                    text,
                    plain: style == TScalarStyle::Plain,
                    line: l,
                },
            )?,
            Event::SequenceStart(..) | Event::MappingStart(..) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(YamlError::TooDeep(l));
                }
                stack.push(if matches!(ev, Event::SequenceStart(..)) {
                    Frame::Seq(Vec::new(), l)
                } else {
                    Frame::Map(Vec::new(), None, l)
                });
                None
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let node = match stack.pop() {
                    Some(Frame::Seq(items, line)) => Node::Seq { items, line },
                    Some(Frame::Map(entries, _, line)) => Node::Map { entries, line },
                    None => {
                        return Err(YamlError::Syntax {
                            line: l,
                            msg: "unbalanced collection".into(),
                        });
                    }
                };
                attach(&mut stack, node)?
            }
        };
        if let Some(n) = finished {
            doc = Some(n);
        }
    }
    doc.ok_or(YamlError::Empty)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scalar(n: &Node) -> &str {
        match n {
            Node::Scalar { text, .. } => text,
            other => panic!("not a scalar: {other:?}"),
        }
    }

    #[test]
    fn scalars_keep_their_literal_text() {
        let d =
            parse("a: 3.0\nb: 2.10\nc: 0755\nd: 0o755\ne: \"3.0\"\nf: true\ng:\nh: 1e3\n").unwrap();
        for (k, v) in [
            ("a", "3.0"),
            ("b", "2.10"),
            ("c", "0755"),
            ("d", "0o755"),
            ("e", "3.0"),
            ("f", "true"),
            ("g", ""),
            ("h", "1e3"),
        ] {
            assert_eq!(scalar(d.get(k).unwrap()), v, "{k}");
        }
        assert!(d.get("g").unwrap().is_null());
        assert!(!d.get("e").unwrap().is_null());
    }

    #[test]
    fn flow_and_block_collections() {
        let d = parse("x:\n  o: {share: h/s, vers: 3.0}\n  l:\n  - a:/b:ro\n  - [1, 2]\n").unwrap();
        let x = d.get("x").unwrap();
        assert_eq!(scalar(x.get("o").unwrap().get("vers").unwrap()), "3.0");
        let Node::Seq { items, .. } = x.get("l").unwrap() else {
            panic!()
        };
        assert_eq!(scalar(&items[0]), "a:/b:ro");
        assert_eq!(items[0].line(), 4);
        assert!(matches!(items[1], Node::Seq { .. }));
    }

    #[test]
    fn hostile_documents_are_refused() {
        assert_eq!(
            parse("a: &x [1]\nb: *x\n").unwrap_err(),
            YamlError::Alias(2)
        );
        let deep = "[".repeat(100) + &"]".repeat(100);
        assert!(matches!(parse(&deep).unwrap_err(), YamlError::TooDeep(_)));
        assert_eq!(
            parse("a: 1\na: 2\n").unwrap_err(),
            YamlError::DuplicateKey {
                key: "a".into(),
                line: 2
            }
        );
        assert!(matches!(
            parse("? [a]\n: 1\n").unwrap_err(),
            YamlError::ComplexKey(_)
        ));
        assert_eq!(
            parse("a: 1\n---\nb: 2\n").unwrap_err(),
            YamlError::MultipleDocuments
        );
        assert_eq!(parse("").unwrap_err(), YamlError::Empty);
        assert!(matches!(
            parse("a: [1\n").unwrap_err(),
            YamlError::Syntax { .. }
        ));
        assert_eq!(
            parse(&"#".repeat(MAX_INPUT + 1)).unwrap_err(),
            YamlError::TooLarge
        );
    }
}
