//! Desired and live state as the engine sees them: JSON values shaped by a kind's field table.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt;

/// `<kind>.<name>`, e.g. `iam_role.kubectl`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Address {
    pub kind: String,
    pub name: String,
}

impl Address {
    pub fn new(kind: impl Into<String>, name: impl Into<String>) -> Self {
        Address { kind: kind.into(), name: name.into() }
    }

    /// `kind.name` → an address, if it has that shape.
    pub fn parse(s: &str) -> Option<Address> {
        let (kind, name) = s.split_once('.')?;
        let ok = |p: &str| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        (ok(kind) && ok(name)).then(|| Address::new(kind, name))
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.kind, self.name)
    }
}

// Addresses are `kind.name` strings wherever they are written down (plan JSON, saved plans).
impl Serialize for Address {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Address {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Address::parse(&s).ok_or_else(|| serde::de::Error::custom(format!("`{s}` is not a `kind.name` address")))
    }
}

pub type Tags = BTreeMap<String, String>;

/// Attribute values other resources can reference; `None` = not known until apply.
pub type Attrs = BTreeMap<String, Option<String>>;

/// A resource as it exists in the account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Found {
    /// Its identity (see `Schema::identity`).
    pub identity: String,
    /// The state read back, in the shape of the kind's table.
    pub state: Value,
    /// The stack that owns it (`provision:stack`), if any.
    pub owner: Option<String>,
    /// The stack address it was created for (`provision:address`), if recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// When it was created (`provision:created`), for kinds whose names are not unique.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// Identifiers only known once it exists (ARNs with generated parts, ids).
    #[serde(default)]
    pub attrs: BTreeMap<String, String>,
    /// Status worth showing that is not drift.
    #[serde(default)]
    pub notes: Vec<String>,
}

impl Found {
    /// A short digest of what was read: a saved plan records it, apply compares it.
    pub fn fingerprint(&self) -> String {
        let text = serde_json::to_string(&(&self.state, &self.owner, &self.attrs)).unwrap_or_default();
        super::digest(text.as_bytes())[..16].to_string()
    }
}

/// One difference between desired and live state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldChange {
    /// Dotted path, e.g. `environment.privileged_mode` or `tags.team`.
    pub path: String,
    /// Live value (`null` = absent).
    pub before: Value,
    /// Desired value (`null` = to be removed).
    pub after: Value,
    /// Why this change cannot be made in place, if it cannot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replace: Option<String>,
}

impl FieldChange {
    /// The top-level field this change belongs to.
    pub fn field(&self) -> &str {
        self.path.split('.').next().unwrap_or(&self.path)
    }
}
