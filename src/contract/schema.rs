//! Field tables: what a resource kind accepts, in the spirit of Terraform's provider schemas
//! (Required / Optional / Computed / ForceNew) but in this project's words.
//!
//! One table per kind drives type-checking with located errors (`stack::validate`), defaults, the
//! diff and replace reasons (`engine::diff`), the plan's rendering and the README's property
//! tables (`render::reference`). What a kind still writes by hand is the SDK mapping.

use serde_json::Value;

/// Everything the engine and the stack language know about a kind, as data.
pub struct Schema {
    /// The kind's name in stack files: `ecr_repository`.
    pub kind: &'static str,
    /// One sentence for the README: what the kind is.
    pub summary: &'static str,
    /// Further README notes (markdown), or "".
    pub notes: &'static str,
    pub fields: &'static [Field],
    /// Attributes other resources may reference (`${iam_role.kubectl.arn}`).
    pub attributes: &'static [Attribute],
    /// The fields whose values make the AWS identity (joined with a space): names are identities.
    pub identity: &'static [&'static str],
    /// False where AWS allows several resources with one name (CodeStar connections): identity is
    /// then name + ownership tag, and duplicates are resolved by the earliest creation.
    pub unique: bool,
    pub ownership: Ownership,
    /// Deletion order of resources no longer in the stack file: a higher rank goes first
    /// (consumers before what they consume: a pipeline before its roles, roles before policies).
    pub rank: u8,
    /// AWS error codes meaning "not there": a delete that meets one has nothing left to do.
    pub not_found: &'static [&'static str],
    /// AWS error codes of a create that found the name taken (by a concurrent run, or someone).
    pub already_exists: &'static [&'static str],
}

/// How a resource says which stack it belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ownership {
    /// The `provision:stack` tag, set in the create call.
    Tags,
    /// A record kept by the kind itself (the aws-auth ConfigMap's annotation).
    Record,
}

pub struct Attribute {
    pub name: &'static str,
    pub doc: &'static str,
    /// Known only once the resource exists (an ARN with a generated id).
    pub after_create: bool,
}

pub const fn attr(name: &'static str, doc: &'static str) -> Attribute {
    Attribute { name, doc, after_create: false }
}

pub const fn attr_after_create(name: &'static str, doc: &'static str) -> Attribute {
    Attribute { name, doc, after_create: true }
}

#[derive(Debug, Clone, Copy)]
pub struct Field {
    pub name: &'static str,
    pub ty: Ty,
    pub required: bool,
    pub unset: Unset,
    pub change: Change,
    /// `${...}` references allowed in the value.
    pub refs: bool,
    /// Compared by the diff (false: its changes show through another field).
    pub compare: bool,
    /// Written in stacks (false: computed by the kind from the other fields).
    pub input: bool,
    pub doc: &'static str,
}

/// An optional field that AWS defaults (compared only when set), changed in place, references
/// allowed. The builder methods below say anything else.
pub const fn field(name: &'static str, ty: Ty, doc: &'static str) -> Field {
    Field { name, ty, required: false, unset: Unset::Aws, change: Change::InPlace, refs: true, compare: true, input: true, doc }
}

impl Field {
    pub const fn required(self) -> Self {
        Field { required: true, ..self }
    }
    /// A change replaces the resource; `why` is shown in the plan.
    pub const fn replace(self, why: &'static str) -> Self {
        Field { change: Change::Replace(why), ..self }
    }
    /// Left out, it means this value (and is compared).
    pub const fn default(self, v: Lit) -> Self {
        Field { unset: Unset::Default(v), ..self }
    }
    /// Not AWS state but a switch for provision itself (e.g. `force_destroy`): never diffed.
    pub const fn behaviour(self, v: Lit) -> Self {
        Field { unset: Unset::Behaviour(v), ..self }
    }
    pub const fn no_refs(self) -> Self {
        Field { refs: false, ..self }
    }
    /// Its changes show through another field (which renders it), not on their own.
    pub const fn not_compared(self) -> Self {
        Field { compare: false, ..self }
    }
    /// Computed by the kind (e.g. a rendering shown in plans); not written in stacks.
    pub const fn computed(self) -> Self {
        Field { input: false, ..self }
    }
    pub fn is_behaviour(&self) -> bool {
        matches!(self.unset, Unset::Behaviour(_))
    }
}

#[derive(Debug, Clone, Copy)]
pub enum Ty {
    Str(Text),
    Enum(&'static [&'static str]),
    Int(i64, i64),
    Bool,
    /// `key: value` strings; keys starting with `provision:` are reserved.
    Tags,
    /// A JSON document compared by meaning (an IAM policy): its kind supplies the normal form.
    Doc(&'static Document),
    /// Order matters.
    List(&'static Ty),
    /// Order and repeats do not matter.
    Set(&'static Ty),
    /// A list of structs each identified by the named field, compared item by item
    /// (`access_policies.<policy>.scope.type`).
    Keyed(&'static [Field], &'static str),
    /// String keys, compared key by key.
    Map(&'static Ty),
    Struct(&'static [Field]),
    /// A string standing for `{<first field>: string}` (other fields at their defaults), or the
    /// whole struct: `NAME: value` or `NAME: {value: x, type: SECRETS_MANAGER}`.
    Short(&'static [Field]),
}

/// A string's length in characters and, optionally, which characters it may hold.
#[derive(Debug, Clone, Copy)]
pub struct Text {
    pub min: usize,
    pub max: usize,
    pub pattern: Option<Pattern>,
}

pub const ANY_TEXT: Text = Text { min: 0, max: 1 << 20, pattern: None };

pub const fn text(min: usize, max: usize) -> Ty {
    Ty::Str(Text { min, max, pattern: None })
}

pub const fn text_matching(min: usize, max: usize, pattern: Pattern) -> Ty {
    Ty::Str(Text { min, max, pattern: Some(pattern) })
}

pub const STRING: Ty = Ty::Str(ANY_TEXT);

/// The `tags` field every taggable kind has.
pub const TAGS: Field = field("tags", Ty::Tags, "your tags; provision adds its own `provision:*` tags").default(Lit::EmptyMap);

#[derive(Clone, Copy)]
pub struct Pattern {
    /// For errors and the README, e.g. "lowercase letters, digits, `.`, `_`, `-` or `/`".
    pub describe: &'static str,
    pub check: fn(&str) -> bool,
}

impl std::fmt::Debug for Pattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.describe)
    }
}

/// A document type with a normal form: two documents are equal when their normal forms are.
pub struct Document {
    pub name: &'static str,
    pub canonical: fn(&Value) -> Value,
    /// Shape rules (e.g. "has a `Statement`"); the message when broken.
    pub check: fn(&Value) -> Result<(), String>,
}

impl std::fmt::Debug for Document {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

/// What a field that the stack leaves out means.
#[derive(Debug, Clone, Copy)]
pub enum Unset {
    /// AWS's choice: not compared.
    Aws,
    /// This value, compared like any other.
    Default(Lit),
    /// A switch for provision itself, with this default: never diffed, never read.
    Behaviour(Lit),
}

#[derive(Debug, Clone, Copy)]
pub enum Lit {
    None,
    Bool(bool),
    Int(i64),
    Str(&'static str),
    EmptyList,
    EmptyMap,
}

impl Lit {
    pub fn to_json(self) -> Value {
        match self {
            Lit::None => Value::Null,
            Lit::Bool(b) => Value::Bool(b),
            Lit::Int(i) => Value::from(i),
            Lit::Str(s) => Value::String(s.to_string()),
            Lit::EmptyList => Value::Array(vec![]),
            Lit::EmptyMap => Value::Object(Default::default()),
        }
    }

    pub fn describe(self) -> String {
        match self {
            Lit::Str(s) => format!("`{s}`"),
            Lit::None | Lit::EmptyList => "none".into(),
            Lit::EmptyMap => "none".into(),
            other => format!("`{}`", other.to_json()),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    InPlace,
    /// The resource is deleted and created again; the reason is shown in the plan.
    Replace(&'static str),
}

/// A problem in a resource's properties, located by its path in the resource's mapping.
#[derive(Debug, Clone, PartialEq)]
pub struct PropError {
    pub path: Vec<PathSeg>,
    pub message: String,
    pub help: Option<String>,
}

impl PropError {
    pub fn at(path: Vec<PathSeg>, message: impl Into<String>, help: impl Into<String>) -> Self {
        PropError { path, message: message.into(), help: Some(help.into()) }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathSeg {
    Key(String),
    Index(usize),
}

/// `PathSeg::Key` shorthand for a path of keys.
pub fn keys(path: &[&str]) -> Vec<PathSeg> {
    path.iter().map(|k| PathSeg::Key(k.to_string())).collect()
}

impl Schema {
    pub fn has_attribute(&self, name: &str) -> bool {
        self.attributes.iter().any(|a| a.name == name)
    }

    /// What a plan calls a resource: its last identity field (a name, a principal ARN).
    pub fn name_of(&self, state: &Value) -> String {
        match self.identity.last().map(|f| &state[*f]) {
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
            None => String::new(),
        }
    }

    /// The identity of a state (desired or live): the identity fields' values, space-separated.
    pub fn identity_of(&self, state: &Value) -> String {
        self.identity
            .iter()
            .map(|f| match &state[*f] {
                Value::String(s) => s.clone(),
                Value::Null => String::new(),
                other => other.to_string(),
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Fill what the stack left out: table defaults and behaviour defaults (recursively);
    /// fields AWS chooses become `null`. `Short` values become their struct.
    pub fn with_defaults(&self, props: &Value) -> Value {
        fill(self.fields, props)
    }
}

fn fill(fields: &[Field], props: &Value) -> Value {
    let mut out = serde_json::Map::new();
    let given = props.as_object();
    for f in fields {
        let v = given.and_then(|m| m.get(f.name)).filter(|v| !v.is_null());
        let v = match (v, f.unset) {
            (Some(v), _) => fill_value(&f.ty, v),
            (None, Unset::Default(l) | Unset::Behaviour(l)) => l.to_json(),
            (None, Unset::Aws) => Value::Null,
        };
        out.insert(f.name.to_string(), v);
    }
    Value::Object(out)
}

fn fill_value(ty: &Ty, v: &Value) -> Value {
    match (ty, v) {
        (Ty::Struct(fields), Value::Object(_)) => fill(fields, v),
        (Ty::Short(fields), Value::String(s)) => {
            let first = fields.first().map(|f| f.name).unwrap_or("value");
            fill(fields, &serde_json::json!({ first: s }))
        }
        (Ty::Short(fields), Value::Object(_)) => fill(fields, v),
        (Ty::List(inner) | Ty::Set(inner), Value::Array(items)) => Value::Array(items.iter().map(|i| fill_value(inner, i)).collect()),
        (Ty::Keyed(fields, _), Value::Array(items)) => Value::Array(items.iter().map(|i| fill(fields, i)).collect()),
        (Ty::Map(inner), Value::Object(m)) => Value::Object(m.iter().map(|(k, x)| (k.clone(), fill_value(inner, x))).collect()),
        // YAML `version: 1` where a string is meant, and tag values written as numbers.
        (Ty::Str(_) | Ty::Enum(_), Value::Number(n)) => Value::String(n.to_string()),
        (Ty::Tags, Value::Object(m)) => {
            Value::Object(m.iter().map(|(k, x)| (k.clone(), if let Value::String(_) = x { x.clone() } else { Value::String(x.to_string()) })).collect())
        }
        _ => v.clone(),
    }
}

/// Check a string against a text rule; the message says what is wrong.
pub fn check_text(s: &str, t: &Text) -> Result<(), String> {
    let n = s.chars().count();
    if n < t.min || n > t.max {
        return Err(if t.min == t.max {
            format!("must be exactly {} characters, found {n}", t.min)
        } else if n < t.min {
            format!("must be at least {} characters, found {n}", t.min)
        } else {
            format!("must be at most {} characters, found {n}", t.max)
        });
    }
    if let Some(p) = &t.pattern {
        if !(p.check)(s) {
            return Err(format!("must be {}", p.describe));
        }
    }
    Ok(())
}

/// A short, readable description of a type, for errors and the README.
pub fn describe(ty: &Ty) -> String {
    match ty {
        Ty::Str(t) if t.max < (1 << 20) => match t.pattern {
            Some(p) => format!("string, {}-{} chars: {}", t.min, t.max, p.describe),
            None => format!("string, {}-{} chars", t.min, t.max),
        },
        Ty::Str(Text { pattern: Some(p), .. }) => format!("string: {}", p.describe),
        Ty::Str(_) => "string".into(),
        Ty::Enum(values) => values.iter().map(|v| format!("`{v}`")).collect::<Vec<_>>().join(" | "),
        Ty::Int(a, b) => format!("integer {a}-{b}"),
        Ty::Bool => "bool".into(),
        Ty::Tags => "map of strings".into(),
        Ty::Doc(d) => d.name.into(),
        Ty::List(inner) => format!("list of {}", describe(inner)),
        Ty::Set(inner) => format!("set of {}", describe(inner)),
        Ty::Map(inner) => format!("map of {}", describe(inner)),
        Ty::Keyed(fields, key) => format!("list of {} (one per `{key}`)", describe(&Ty::Struct(fields))),
        Ty::Struct(fields) | Ty::Short(fields) => {
            let names: Vec<String> = fields.iter().map(|f| format!("`{}`", f.name)).collect();
            let s = format!("{{{}}}", names.join(", "));
            if matches!(ty, Ty::Short(_)) {
                format!("string or {s}")
            } else {
                s
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const INNER: &[Field] = &[field("value", STRING, "").required(), field("type", Ty::Enum(&["A", "B"]), "").default(Lit::Str("A"))];
    const FIELDS: &[Field] = &[
        field("name", STRING, "").required(),
        field("mode", Ty::Enum(&["X", "Y"]), ""),
        field("size", Ty::Int(1, 9), "").default(Lit::Int(3)),
        field("force", Ty::Bool, "").behaviour(Lit::Bool(false)),
        field("vars", Ty::Map(&Ty::Short(INNER)), "").default(Lit::EmptyMap),
    ];

    #[test]
    fn defaults_fill_what_is_left_out_and_aws_choices_stay_null() {
        let got = fill(FIELDS, &json!({"name": "n", "vars": {"A": "x", "B": {"value": "y", "type": "B"}}}));
        assert_eq!(
            got,
            json!({"name": "n", "mode": null, "size": 3, "force": false,
                   "vars": {"A": {"value": "x", "type": "A"}, "B": {"value": "y", "type": "B"}}})
        );
    }

    #[test]
    fn text_rules_say_what_is_wrong() {
        let t = Text { min: 2, max: 4, pattern: Some(Pattern { describe: "lowercase", check: |s| s.chars().all(|c| c.is_ascii_lowercase()) }) };
        assert!(check_text("ab", &t).is_ok());
        assert_eq!(check_text("a", &t).unwrap_err(), "must be at least 2 characters, found 1");
        assert_eq!(check_text("abcde", &t).unwrap_err(), "must be at most 4 characters, found 5");
        assert_eq!(check_text("AB", &t).unwrap_err(), "must be lowercase");
    }
}
