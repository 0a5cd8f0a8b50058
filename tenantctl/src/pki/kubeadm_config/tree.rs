//! The spanned YAML tree the parser walks: untyped nodes with their lines, and the typed views
//! (`Value`, `Mapping`) that name each field's path in errors.

use super::*;

pub(super) fn line_of(node: &Spanned<Node>) -> Option<u64> {
    Some(node.referenced.line()).filter(|l| *l > 0)
}

/// ` (line N)`, or nothing when the line is unknown.
pub(super) struct Line(pub(super) Option<u64>);

impl fmt::Display for Line {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(line) => write!(f, " (line {line})"),
            None => Ok(()),
        }
    }
}

/// One value inside a document, with its path for error messages.
pub(super) struct Value<'a> {
    pub(super) kind: &'static str,
    pub(super) path: String,
    pub(super) node: &'a Spanned<Node>,
}

impl<'a> Value<'a> {
    pub(super) fn root(kind: &'static str, node: &'a Spanned<Node>) -> Self {
        Self {
            kind,
            path: String::new(),
            node,
        }
    }

    pub(super) fn error(&self, problem: impl Into<String>) -> KubeadmConfigError {
        KubeadmConfigError::Field {
            kind: self.kind,
            path: self.path.clone(),
            line: line_of(self.node),
            problem: problem.into(),
        }
    }

    pub(super) fn wrong_type(&self, expected: &str) -> KubeadmConfigError {
        self.error(format!(
            "expected {expected}, found {}",
            self.node.value.describe()
        ))
    }

    pub(super) fn is_null(&self) -> bool {
        matches!(self.node.value, Node::Null)
    }

    /// A mapping; `None` for null.
    pub(super) fn mapping(&self) -> Result<Option<Mapping<'a>>, KubeadmConfigError> {
        match &self.node.value {
            Node::Null => Ok(None),
            Node::Map(entries) => Ok(Some(Mapping {
                kind: self.kind,
                path: self.path.clone(),
                entries,
            })),
            _ => Err(self.wrong_type("a mapping")),
        }
    }

    /// A list, each item with its path; `None` for null.
    pub(super) fn list(&self) -> Result<Option<Vec<Self>>, KubeadmConfigError> {
        match &self.node.value {
            Node::Null => Ok(None),
            Node::Seq(items) => Ok(Some(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, node)| Value {
                        kind: self.kind,
                        path: format!("{}[{i}]", self.path),
                        node,
                    })
                    .collect(),
            )),
            _ => Err(self.wrong_type("a list")),
        }
    }

    /// A string; `None` for null or empty (kubeadm's "unset").
    pub(super) fn string(&self) -> Result<Option<&'a str>, KubeadmConfigError> {
        match &self.node.value {
            Node::Null => Ok(None),
            Node::Str(s) if s.is_empty() => Ok(None),
            Node::Str(s) => Ok(Some(s)),
            _ => Err(self.wrong_type("a string")),
        }
    }

    pub(super) fn bool(&self) -> Result<Option<bool>, KubeadmConfigError> {
        match &self.node.value {
            Node::Null => Ok(None),
            Node::Bool(b) => Ok(Some(*b)),
            _ => Err(self.wrong_type("true or false")),
        }
    }

    /// A TCP port; `0` is kubeadm's "unset".
    pub(super) fn port(&self) -> Result<Option<u16>, KubeadmConfigError> {
        match &self.node.value {
            Node::Null | Node::Int(0) => Ok(None),
            Node::Int(n) => u16::try_from(*n)
                .map(Some)
                .map_err(|_| self.error(format!("{n} is not a port (1-65535)"))),
            _ => Err(self.wrong_type("a port number (1-65535)")),
        }
    }

    /// A Go duration string such as `8760h0m0s`.
    pub(super) fn duration(&self) -> Result<Option<Duration>, KubeadmConfigError> {
        match &self.node.value {
            Node::Null => Ok(None),
            Node::Str(s) => parse_duration(s).map(Some).map_err(|e| self.error(e)),
            _ => Err(self.wrong_type("a duration string such as 8760h0m0s")),
        }
    }
}

/// A mapping inside a document.
pub(super) struct Mapping<'a> {
    pub(super) kind: &'static str,
    pub(super) path: String,
    pub(super) entries: &'a [(Option<String>, Spanned<Node>)],
}

impl<'a> Mapping<'a> {
    pub(super) fn child_path(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    /// The field `key`. A key that differs from it only in case is an error: kubeadm's decoder
    /// is case-sensitive and would ignore it.
    pub(super) fn get(&self, key: &str) -> Result<Option<Value<'a>>, KubeadmConfigError> {
        let mut found = None;
        for (name, node) in self.entries {
            let Some(name) = name else { continue };
            if name == key {
                found.get_or_insert(node);
            } else if name.eq_ignore_ascii_case(key) {
                return Err(KubeadmConfigError::Field {
                    kind: self.kind,
                    path: self.child_path(name),
                    line: line_of(node),
                    problem: format!(
                        "unknown field; did you mean {key}? (kubeadm's field names are \
                         case-sensitive and it would ignore this one)"
                    ),
                });
            }
        }
        Ok(found.map(|node| Value {
            kind: self.kind,
            path: self.child_path(key),
            node,
        }))
    }

    /// Refuses fields that belong to the other kind (kubeadm would ignore them here).
    pub(super) fn refuse_misplaced(
        &self,
        fields: &[&str],
        owner: &'static str,
    ) -> Result<(), KubeadmConfigError> {
        for name in fields {
            if let Some(field) = self.get(name)?.filter(|f| !f.is_null()) {
                return Err(field.error(format!(
                    "belongs in {owner}, not {} (kubeadm would ignore it here)",
                    self.kind
                )));
            }
        }
        Ok(())
    }

    /// The mapping under `key`; `None` when absent or null.
    pub(super) fn mapping_at(&self, key: &str) -> Result<Option<Self>, KubeadmConfigError> {
        match self.get(key)? {
            Some(field) => field.mapping(),
            None => Ok(None),
        }
    }
}

/// An untyped YAML value. Mapping keys are kept as strings (kubeadm converts YAML to JSON, whose
/// keys are strings); keys that are lists or mappings cannot name a field and become `None`.
#[derive(Debug)]
pub(super) enum Node {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(String),
    Bytes,
    Seq(Vec<Spanned<Self>>),
    Map(Vec<(Option<String>, Spanned<Self>)>),
}

impl Node {
    /// What the value is, for "expected X, found Y".
    pub(super) fn describe(&self) -> String {
        match self {
            Self::Null => "null".into(),
            Self::Bool(b) => format!("the boolean {b}"),
            Self::Int(n) => format!("the number {n}"),
            Self::Float(x) => format!("the number {x}"),
            Self::Str(s) => format!("the string {s:?}"),
            Self::Bytes => "binary data".into(),
            Self::Seq(_) => "a list".into(),
            Self::Map(_) => "a mapping".into(),
        }
    }

    pub(super) fn into_key(self) -> Option<String> {
        match self {
            Self::Str(s) => Some(s),
            Self::Bool(b) => Some(b.to_string()),
            Self::Int(n) => Some(n.to_string()),
            Self::Float(x) => Some(x.to_string()),
            Self::Null => Some("null".into()),
            Self::Bytes | Self::Seq(_) | Self::Map(_) => None,
        }
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NodeVisitor)
    }
}

pub(super) struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a YAML value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Node, E> {
        Ok(Node::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Node, E> {
        Ok(Node::Int(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Node, E> {
        Ok(Node::Int(v.into()))
    }

    fn visit_i128<E>(self, v: i128) -> Result<Node, E> {
        Ok(Node::Int(v))
    }

    fn visit_u128<E>(self, v: u128) -> Result<Node, E> {
        // Beyond i128 only as an approximation; no field here takes such a number anyway.
        Ok(i128::try_from(v).map_or(Node::Float(v as f64), Node::Int))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Node, E> {
        Ok(Node::Float(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Node, E> {
        Ok(Node::Str(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Node, E> {
        Ok(Node::Str(v))
    }

    fn visit_bytes<E>(self, _: &[u8]) -> Result<Node, E> {
        Ok(Node::Bytes)
    }

    fn visit_none<E>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }

    fn visit_unit<E>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Node, D::Error> {
        Node::deserialize(deserializer)
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, deserializer: D) -> Result<Node, D::Error> {
        Node::deserialize(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Spanned<Node>>()? {
            items.push(item);
        }
        Ok(Node::Seq(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Node>()? {
            let value = map.next_value::<Spanned<Node>>()?;
            entries.push((key.into_key(), value));
        }
        Ok(Node::Map(entries))
    }
}
