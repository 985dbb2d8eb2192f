//! A YAML/JSON value tree in which every node remembers where it was written, so that an error found
//! long after parsing (a wrong type deep inside a CodeBuild environment, a dangling reference inside a
//! policy file) still points at file:line:col.

use crate::contract::PathSeg;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use serde_saphyr::Spanned;
use std::fmt;

/// 1-based line and column inside one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    /// Index into the stack's file table (0 = the stack file itself).
    pub file: u32,
    pub line: u64,
    pub col: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub pos: Pos,
    pub value: NodeValue,
}

#[derive(Debug, Clone, PartialEq)]
pub enum NodeValue {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    /// Keys keep their own positions; order is the file's order.
    Map(Vec<(Key, Node)>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    pub pos: Pos,
    pub name: String,
}

impl Node {
    pub fn type_name(&self) -> &'static str {
        match &self.value {
            NodeValue::Null => "null",
            NodeValue::Bool(_) => "a boolean",
            NodeValue::Int(_) | NodeValue::Float(_) => "a number",
            NodeValue::Str(_) => "a string",
            NodeValue::Seq(_) => "a list",
            NodeValue::Map(_) => "a mapping",
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            NodeValue::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_map(&self) -> Option<&[(Key, Node)]> {
        match &self.value {
            NodeValue::Map(m) => Some(m),
            _ => None,
        }
    }

    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?.iter().find(|(k, _)| k.name == key).map(|(_, v)| v)
    }

    /// The node at a serde path (`environment.variables[2].name`), and the deepest position reached
    /// on the way, so an error about a missing field still points at its parent.
    pub fn locate(&self, path: &[PathSeg]) -> Pos {
        let mut node = self;
        for seg in path {
            let next = match (seg, &node.value) {
                (PathSeg::Key(k), NodeValue::Map(m)) => match m.iter().find(|(key, _)| &key.name == k) {
                    Some((_, v)) => Some(v),
                    // An unknown key is reported by serde with the key in the path: point at it.
                    None => return node.pos,
                },
                (PathSeg::Index(i), NodeValue::Seq(s)) => s.get(*i),
                _ => None,
            };
            match next {
                Some(n) => node = n,
                None => return node.pos,
            }
        }
        node.pos
    }

    /// The position of a key (rather than its value), used for "unknown field" errors.
    pub fn key_pos(&self, key: &str) -> Option<Pos> {
        self.as_map()?.iter().find(|(k, _)| k.name == key).map(|(k, _)| k.pos)
    }

    /// Plain JSON, positions dropped.
    pub fn to_json(&self) -> Value {
        match &self.value {
            NodeValue::Null => Value::Null,
            NodeValue::Bool(b) => Value::Bool(*b),
            NodeValue::Int(i) => Value::from(*i),
            NodeValue::Float(f) => serde_json::Number::from_f64(*f).map(Value::Number).unwrap_or(Value::Null),
            NodeValue::Str(s) => Value::String(s.clone()),
            NodeValue::Seq(s) => Value::Array(s.iter().map(Node::to_json).collect()),
            NodeValue::Map(m) => Value::Object(m.iter().map(|(k, v)| (k.name.clone(), v.to_json())).collect()),
        }
    }

    /// Re-home every position into file `file` (for trees parsed from an included file).
    pub fn set_file(&mut self, file: u32) {
        self.pos.file = file;
        match &mut self.value {
            NodeValue::Seq(s) => s.iter_mut().for_each(|n| n.set_file(file)),
            NodeValue::Map(m) => m.iter_mut().for_each(|(k, n)| {
                k.pos.file = file;
                n.set_file(file)
            }),
            _ => {}
        }
    }

    /// The node at `path`, if there is one.
    pub fn at(&self, path: &[PathSeg]) -> Option<&Node> {
        let mut n = self;
        for seg in path {
            n = match (seg, &n.value) {
                (PathSeg::Key(k), NodeValue::Map(m)) => &m.iter().find(|(key, _)| &key.name == k)?.1,
                (PathSeg::Index(i), NodeValue::Seq(s)) => s.get(*i)?,
                _ => return None,
            };
        }
        Some(n)
    }

    /// Every string in the tree with its position (for reference scanning).
    pub fn strings<'a>(&'a self, out: &mut Vec<(&'a str, Pos)>) {
        match &self.value {
            NodeValue::Str(s) => out.push((s, self.pos)),
            NodeValue::Seq(s) => s.iter().for_each(|n| n.strings(out)),
            NodeValue::Map(m) => m.iter().for_each(|(_, n)| n.strings(out)),
            _ => {}
        }
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s: Spanned<NodeValue> = Spanned::deserialize(d)?;
        Ok(Node { pos: Pos { file: 0, line: s.referenced.line(), col: s.referenced.column() }, value: s.value })
    }
}

impl<'de> Deserialize<'de> for NodeValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = NodeValue;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_unit<E: de::Error>(self) -> Result<NodeValue, E> {
        Ok(NodeValue::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<NodeValue, E> {
        Ok(NodeValue::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<NodeValue, D::Error> {
        NodeValue::deserialize(d)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<NodeValue, E> {
        Ok(NodeValue::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<NodeValue, E> {
        Ok(NodeValue::Int(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<NodeValue, E> {
        i64::try_from(v).map(NodeValue::Int).map_err(|_| E::custom("integer too large"))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<NodeValue, E> {
        Ok(NodeValue::Float(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<NodeValue, E> {
        Ok(NodeValue::Str(v.to_string()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<NodeValue, E> {
        Ok(NodeValue::Str(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<NodeValue, A::Error> {
        let mut out = Vec::new();
        while let Some(n) = seq.next_element::<Node>()? {
            out.push(n);
        }
        Ok(NodeValue::Seq(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<NodeValue, A::Error> {
        let mut out: Vec<(Key, Node)> = Vec::new();
        while let Some(k) = map.next_key::<Spanned<KeyString>>()? {
            let v: Node = map.next_value()?;
            out.push((Key { pos: Pos { file: 0, line: k.referenced.line(), col: k.referenced.column() }, name: k.value.0 }, v));
        }
        Ok(NodeValue::Map(out))
    }
}

/// Mapping keys: YAML allows `1: x` or `true: x`; we take their text.
struct KeyString(String);

impl<'de> Deserialize<'de> for KeyString {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = KeyString;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a scalar mapping key")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<KeyString, E> {
                Ok(KeyString(v.to_string()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<KeyString, E> {
                Ok(KeyString(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<KeyString, E> {
                Ok(KeyString(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<KeyString, E> {
                Ok(KeyString(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<KeyString, E> {
                Ok(KeyString(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

/// Parse YAML text into a positioned tree. YAML 1.2 booleans only: `on`/`yes` stay strings, so a
/// branch called `on` is not silently turned into `true`.
pub fn parse_yaml(text: &str) -> Result<Node, serde_saphyr::Error> {
    let options = serde_saphyr::options! { strict_booleans: true };
    serde_saphyr::from_str_with_options(text, options)
}

/// Parse JSON (a policy file) into a positioned tree. JSON is YAML 1.2, so the same parser gives
/// positions; syntax errors are first checked with serde_json for JSON-specific messages.
pub fn parse_json(text: &str) -> Result<Node, (String, u64, u64)> {
    if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(text) {
        let msg = e.to_string();
        let msg = msg.split(" at line ").next().unwrap_or(&msg).to_string();
        return Err((msg, e.line() as u64, e.column() as u64));
    }
    parse_yaml(text).map_err(|e| {
        let (l, c) = e.location().map(|l| (l.line(), l.column())).unwrap_or((1, 1));
        (e.to_string(), l, c)
    })
}
