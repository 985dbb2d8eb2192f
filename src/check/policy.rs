//! Evaluation of IAM policy documents, for the subset of IAM the stacks use.
//!
//! What is modelled: `Allow` and explicit `Deny` (a matching Deny always wins); `Action` /
//! `NotAction` with `*` and `?` wildcards, compared without case as IAM does; `Resource` /
//! `NotResource` with the same wildcards, compared with case; principals in every form a trust
//! policy can name them (`"*"`, `{"AWS": "*"}`, a 12-digit account id, an account root ARN, a role
//! or user ARN, `Service`, `Federated`), and `NotPrincipal`. Documents may take any shape IAM
//! accepts: a string or a list wherever IAM takes a list, `Statement` as an object or a list.
//!
//! What is not: conditions are never evaluated or guessed. A statement that has a `Condition`
//! contributes a [`Decision::Conditional`] that carries the condition's text ("allowed if ...").
//! Permission boundaries, session policies and SCPs are outside a stack and are not considered.
//!
//! A request's resource may be not known yet ([`Target::Unknown`]): the ARN of a connection that
//! `apply` has still to create, or an S3 object key or log stream a service picks at run time. Such a
//! target is matched only by a pattern that matches *every* ARN it could turn out to be (e.g.
//! `arn:aws:codestar-connections:us-east-1:123456789012:connection/*`), or by a pattern that is the
//! very placeholder the stack's policy was resolved to; the [`Grant`] says which.

use serde_json::Value;

/// `Allow` or `Deny`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    Allow,
    Deny,
}

/// Who makes a request, as a trust (resource-based) policy sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Principal {
    /// An AWS service principal, e.g. `codebuild.amazonaws.com`.
    Service(String),
    /// An IAM role or user by ARN (with its path), and the account it belongs to.
    Arn { arn: String, account: String },
    /// A web-identity (OIDC) or SAML provider ARN.
    Federated(String),
}

/// The resource a request is made on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// A known ARN (or `*` for actions that take no resource).
    Arn(String),
    /// Not known yet: some ARN that starts with `prefix`. `placeholder` is the literal text a
    /// resolved stack policy holds where it refers to this value (`(known after apply)`).
    Unknown { prefix: String, placeholder: Option<String> },
}

impl Target {
    /// The target as one line of text: the ARN, or `PREFIX*` for an unknown one.
    pub fn text(&self) -> String {
        match self {
            Target::Arn(a) => a.clone(),
            Target::Unknown { prefix, .. } => format!("{prefix}*"),
        }
    }
}

/// How a trust statement's principal matched the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    /// The caller is named itself (its ARN, or its service / provider).
    Direct,
    /// The statement names the caller's account (`arn:aws:iam::ID:root` or `ID`): the account
    /// delegates, so the caller also needs an identity-policy Allow.
    Account,
    /// `"*"` or `{"AWS": "*"}`: anyone.
    Anyone,
}

/// One statement that took part in a decision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    /// The policy's display name, e.g. `inline policy codebuild-base of iam_role.build`.
    pub policy: String,
    /// 0-based index of the statement in the document.
    pub statement: usize,
    pub sid: Option<String>,
    /// For trust statements: how the principal matched.
    pub via: Option<Via>,
    /// Why an unknown target matched, when it did.
    pub note: Option<String>,
}

impl Grant {
    /// `statement 2 ("Logs") of inline policy codebuild-base of iam_role.build`.
    pub fn describe(&self) -> String {
        match &self.sid {
            Some(s) => format!("statement {} ({s:?}) of {}", self.statement + 1, self.policy),
            None => format!("statement {} of {}", self.statement + 1, self.policy),
        }
    }
}

/// The outcome of evaluating a request against a set of policies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Allowed without conditions, by these statements.
    Allow(Vec<Grant>),
    /// Allowed only if `condition` holds (text such as `if StringEquals aws:SourceAccount = 1`).
    Conditional { condition: String, grants: Vec<Grant> },
    /// Explicitly denied by these statements.
    Deny(Vec<Grant>),
    /// No statement applies: denied by default.
    Implicit,
}

impl Decision {
    pub fn is_allow(&self) -> bool {
        matches!(self, Decision::Allow(_))
    }
    /// The statements behind the decision.
    pub fn grants(&self) -> &[Grant] {
        match self {
            Decision::Allow(g) | Decision::Deny(g) => g,
            Decision::Conditional { grants, .. } => grants,
            Decision::Implicit => &[],
        }
    }
    /// Ordering used to keep the best of alternatives: Allow > Conditional > Deny > Implicit.
    fn rank(&self) -> u8 {
        match self {
            Decision::Allow(_) => 3,
            Decision::Conditional { .. } => 2,
            Decision::Deny(_) => 1,
            Decision::Implicit => 0,
        }
    }
    /// The better of two decisions for the same need met in two ways (two action names for one
    /// permission, or two ARN spellings of one resource).
    pub fn best(self, other: Decision) -> Decision {
        if other.rank() > self.rank() {
            other
        } else {
            self
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Matcher {
    Only(Vec<String>),
    Not(Vec<String>),
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct PrincipalSet {
    anyone: bool,
    aws: Vec<String>,
    service: Vec<String>,
    federated: Vec<String>,
}

/// One statement of a parsed document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Statement {
    pub index: usize,
    pub sid: Option<String>,
    pub effect: Effect,
    action: Matcher,
    resource: Option<Matcher>,
    principal: Option<(bool, PrincipalSet)>,
    /// The `Condition` block as written.
    pub condition: Option<Value>,
}

impl Statement {
    /// Action patterns of `Action` (not `NotAction`), as written.
    pub fn actions(&self) -> &[String] {
        match &self.action {
            Matcher::Only(a) => a,
            Matcher::Not(_) => &[],
        }
    }
    /// True when the statement uses `NotAction`.
    pub fn not_action(&self) -> bool {
        matches!(self.action, Matcher::Not(_))
    }
    /// Resource patterns of `Resource` (not `NotResource`), as written.
    pub fn resources(&self) -> &[String] {
        match &self.resource {
            Some(Matcher::Only(r)) => r,
            _ => &[],
        }
    }
    /// `AWS` principals as written (account ids, ARNs, `*`); `"Principal": "*"` gives `["*"]`.
    pub fn aws_principals(&self) -> Vec<String> {
        match &self.principal {
            Some((false, p)) if p.anyone => vec!["*".into()],
            Some((false, p)) => p.aws.clone(),
            _ => vec![],
        }
    }
    /// `Federated` principals as written.
    pub fn federated_principals(&self) -> &[String] {
        match &self.principal {
            Some((false, p)) => &p.federated,
            _ => &[],
        }
    }
    /// Whether the statement's actions cover `action` (without case).
    pub fn covers_action(&self, action: &str) -> bool {
        match &self.action {
            Matcher::Only(p) => p.iter().any(|p| glob(p, action, true)),
            Matcher::Not(p) => !p.iter().any(|p| glob(p, action, true)),
        }
    }
}

/// A parsed policy document with a display name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    /// Display name used in reports, e.g. `trust policy of iam_role.kubectl (EksCodeBuildKubectlRole)`.
    pub name: String,
    pub version: Option<String>,
    pub statements: Vec<Statement>,
}

fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::Array(a) => a.iter().flat_map(strings).collect(),
        Value::String(s) => vec![s.clone()],
        Value::Bool(b) => vec![b.to_string()],
        Value::Number(n) => vec![n.to_string()],
        _ => vec![],
    }
}

fn principal_set(v: &Value) -> PrincipalSet {
    let mut p = PrincipalSet::default();
    match v {
        Value::String(s) if s == "*" => p.anyone = true,
        Value::Object(m) => {
            for (k, v) in m {
                let vals = strings(v);
                match k.to_ascii_lowercase().as_str() {
                    "aws" => {
                        if vals.iter().any(|x| x == "*") {
                            p.aws.push("*".into());
                        }
                        p.aws.extend(vals.into_iter().filter(|x| x != "*"));
                    }
                    "service" => p.service.extend(vals),
                    "federated" => p.federated.extend(vals),
                    _ => {}
                }
            }
        }
        _ => {}
    }
    p
}

impl Policy {
    /// Parse a document in any shape IAM accepts. Statements that are not objects are skipped.
    pub fn parse(name: impl Into<String>, doc: &Value) -> Policy {
        let version = doc.get("Version").and_then(Value::as_str).map(str::to_string);
        let raw: Vec<&Value> = match doc.get("Statement") {
            Some(Value::Array(a)) => a.iter().collect(),
            Some(v @ Value::Object(_)) => vec![v],
            _ => vec![],
        };
        let statements = raw
            .into_iter()
            .enumerate()
            .filter_map(|(index, s)| {
                let s = s.as_object()?;
                let effect = match s.get("Effect").and_then(Value::as_str) {
                    Some("Deny") => Effect::Deny,
                    _ => Effect::Allow,
                };
                let action = match (s.get("Action"), s.get("NotAction")) {
                    (Some(a), _) => Matcher::Only(strings(a)),
                    (None, Some(n)) => Matcher::Not(strings(n)),
                    (None, None) => Matcher::Only(vec![]),
                };
                let resource = match (s.get("Resource"), s.get("NotResource")) {
                    (Some(r), _) => Some(Matcher::Only(strings(r))),
                    (None, Some(n)) => Some(Matcher::Not(strings(n))),
                    (None, None) => None,
                };
                let principal = match (s.get("Principal"), s.get("NotPrincipal")) {
                    (Some(p), _) => Some((false, principal_set(p))),
                    (None, Some(n)) => Some((true, principal_set(n))),
                    (None, None) => None,
                };
                let sid = s.get("Sid").and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_string);
                let condition = s.get("Condition").filter(|c| c.as_object().is_some_and(|m| !m.is_empty())).cloned();
                Some(Statement { index, sid, effect, action, resource, principal, condition })
            })
            .collect();
        Policy { name: name.into(), version, statements }
    }
}

/// A request to evaluate.
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    /// The caller, for trust policies; `None` for identity policies.
    pub principal: Option<&'a Principal>,
    /// `service:Action`.
    pub action: &'a str,
    /// The resource; `None` for trust policies (the role itself).
    pub resource: Option<&'a Target>,
}

/// `*` and `?` wildcard matching over characters.
pub fn glob(pattern: &str, text: &str, ignore_case: bool) -> bool {
    // Most patterns are plain names: compare without building anything.
    if !pattern.contains(['*', '?']) && pattern.is_ascii() && text.is_ascii() {
        return if ignore_case { pattern.eq_ignore_ascii_case(text) } else { pattern == text };
    }
    // Most wildcard patterns fail on their literal head (another service, another ARN prefix).
    let head = literal_head(pattern);
    if head.is_ascii() && text.is_ascii() {
        let start = text.get(..head.len());
        if !start.is_some_and(|t| if ignore_case { t.eq_ignore_ascii_case(head) } else { t == head }) {
            return false;
        }
    }
    let (p, t): (Vec<char>, Vec<char>) = if ignore_case {
        (pattern.to_lowercase().chars().collect(), text.to_lowercase().chars().collect())
    } else {
        (pattern.chars().collect(), text.chars().collect())
    };
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// The part of `pattern` before its first wildcard.
fn literal_head(pattern: &str) -> &str {
    &pattern[..pattern.find(['*', '?']).unwrap_or(pattern.len())]
}

/// Whether `pattern`'s literal head and `prefix` disagree before either ends: then no string
/// starting with `prefix` can match, and the state walk below is not needed.
fn heads_differ(pattern: &str, prefix: &str) -> bool {
    let head = literal_head(pattern);
    let n = head.len().min(prefix.len());
    head.as_bytes()[..n] != prefix.as_bytes()[..n]
}

/// Pattern positions reachable after reading `prefix` (a `*` may match nothing).
fn states_after(pattern: &[char], prefix: &str) -> Vec<bool> {
    let n = pattern.len();
    let close = |s: &mut Vec<bool>| {
        for i in 0..n {
            if s[i] && pattern[i] == '*' {
                s[i + 1] = true;
            }
        }
    };
    let mut s = vec![false; n + 1];
    s[0] = true;
    close(&mut s);
    for c in prefix.chars() {
        let mut next = vec![false; n + 1];
        for i in 0..n {
            if !s[i] {
                continue;
            }
            match pattern[i] {
                '*' => next[i] = true,
                '?' => next[i + 1] = true,
                x if x == c => next[i + 1] = true,
                _ => {}
            }
        }
        close(&mut next);
        s = next;
    }
    s
}

/// Whether `pattern` matches every string that starts with `prefix` and goes on for at least a
/// few characters (the ids a service appends are never empty): after reading the prefix, what is
/// left of the pattern must be wildcards only, one of them a `*`.
pub fn covers_prefix(pattern: &str, prefix: &str) -> bool {
    if !pattern.contains('*') || heads_differ(pattern, prefix) {
        return false;
    }
    let p: Vec<char> = pattern.chars().collect();
    let s = states_after(&p, prefix);
    (0..=p.len()).any(|i| s[i] && p[i..].contains(&'*') && p[i..].iter().all(|&c| c == '*' || c == '?'))
}

/// Whether `pattern` could match some string that starts with `prefix`.
fn may_match_prefix(pattern: &str, prefix: &str) -> bool {
    if heads_differ(pattern, prefix) {
        return false;
    }
    let p: Vec<char> = pattern.chars().collect();
    states_after(&p, prefix).iter().any(|&x| x)
}

/// How a list of resource patterns relates to a target: `Some(note)` when one matches.
fn resource_match(patterns: &[String], target: &Target) -> Option<Option<String>> {
    match target {
        Target::Arn(arn) => patterns.iter().any(|p| glob(p, arn, false)).then_some(None),
        Target::Unknown { prefix, placeholder } => {
            if let Some(p) = patterns.iter().find(|p| covers_prefix(p, prefix)) {
                return Some(Some(format!("the ARN is not known yet; {p} matches any ARN it can turn out to be")));
            }
            if let Some(ph) = placeholder {
                if patterns.iter().any(|p| p == ph) {
                    return Some(Some(format!("the ARN is not known yet; the policy names the same not-yet-known value ({ph})")));
                }
            }
            None
        }
    }
}

fn principal_match(set: &PrincipalSet, who: &Principal) -> Option<Via> {
    if set.anyone {
        return Some(Via::Anyone);
    }
    match who {
        Principal::Service(s) => set.service.iter().any(|x| x.eq_ignore_ascii_case(s)).then_some(Via::Direct),
        Principal::Federated(f) => set.federated.iter().any(|x| x == f).then_some(Via::Direct),
        Principal::Arn { arn, account } => {
            if set.aws.iter().any(|x| x == arn) {
                Some(Via::Direct)
            } else if set.aws.iter().any(|x| x == account || is_root_of(x, account)) {
                Some(Via::Account)
            } else if set.aws.iter().any(|x| x == "*") {
                Some(Via::Anyone)
            } else {
                None
            }
        }
    }
}

/// `arn:PARTITION:iam::ACCOUNT:root`.
pub fn is_root_of(arn: &str, account: &str) -> bool {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    parts.len() == 6 && parts[0] == "arn" && parts[2] == "iam" && parts[4] == account && parts[5] == "root"
}

/// `Some(note)` when the statement applies to the request.
fn applies(s: &Statement, req: &Request) -> Option<(Option<Via>, Option<String>)> {
    if !s.covers_action(req.action) {
        return None;
    }
    let mut note = None;
    if let Some(target) = req.resource {
        match &s.resource {
            None => return None,
            Some(Matcher::Only(p)) => note = resource_match(p, target)?,
            Some(Matcher::Not(p)) => {
                let hit = match target {
                    Target::Arn(a) => p.iter().any(|p| glob(p, a, false)),
                    Target::Unknown { prefix, placeholder } => p.iter().any(|p| may_match_prefix(p, prefix) || Some(p) == placeholder.as_ref()),
                };
                if hit {
                    return None;
                }
            }
        }
    }
    let mut via = None;
    if let Some(who) = req.principal {
        let (negated, set) = s.principal.as_ref()?;
        let m = principal_match(set, who);
        via = match (negated, m) {
            (false, Some(v)) => Some(v),
            (true, None) => Some(Via::Anyone),
            _ => return None,
        };
    }
    Some((via, note))
}

/// The condition block as text: `StringEquals k = "v" and ArnLike k2 = "a" | "b"`.
pub fn condition_text(c: &Value) -> String {
    let Some(ops) = c.as_object() else {
        return c.to_string();
    };
    let mut parts = vec![];
    for (op, keys) in ops {
        match keys.as_object() {
            Some(km) => {
                for (k, v) in km {
                    let vals: Vec<String> = strings(v).iter().map(|x| format!("{x:?}")).collect();
                    parts.push(format!("{op} {k} = {}", vals.join(" | ")));
                }
            }
            None => parts.push(format!("{op} {keys}")),
        }
    }
    parts.join(" and ")
}

/// Evaluate a request against policies taken together (the identity policies of one role, or one
/// trust policy). A matching Deny wins over everything; then an unconditional Allow; then the
/// conditional Allows, whose conditions are reported, never guessed.
pub fn evaluate<'p>(policies: impl IntoIterator<Item = &'p Policy>, req: &Request) -> Decision {
    let (mut allow, mut cond_allow, mut deny, mut cond_deny) = (vec![], vec![], vec![], vec![]);
    for p in policies {
        for s in &p.statements {
            let Some((via, note)) = applies(s, req) else {
                continue;
            };
            let g = Grant { policy: p.name.clone(), statement: s.index, sid: s.sid.clone(), via, note };
            match (s.effect, &s.condition) {
                (Effect::Deny, None) => deny.push(g),
                (Effect::Deny, Some(c)) => cond_deny.push((g, condition_text(c))),
                (Effect::Allow, None) => allow.push(g),
                (Effect::Allow, Some(c)) => cond_allow.push((g, condition_text(c))),
            }
        }
    }
    if !deny.is_empty() {
        return Decision::Deny(deny);
    }
    let unless = if cond_deny.is_empty() {
        String::new()
    } else {
        let c: Vec<String> = cond_deny.iter().map(|(_, c)| c.clone()).collect();
        format!("unless {}", c.join(" or "))
    };
    if !allow.is_empty() {
        if cond_deny.is_empty() {
            return Decision::Allow(allow);
        }
        allow.extend(cond_deny.into_iter().map(|(g, _)| g));
        return Decision::Conditional { condition: unless, grants: allow };
    }
    if !cond_allow.is_empty() {
        let c: Vec<String> = cond_allow.iter().map(|(_, c)| c.clone()).collect();
        let mut condition = format!("if {}", c.join(" or "));
        if !unless.is_empty() {
            condition = format!("{condition}, {unless}");
        }
        let grants = cond_allow.into_iter().map(|(g, _)| g).chain(cond_deny.into_iter().map(|(g, _)| g)).collect();
        return Decision::Conditional { condition, grants };
    }
    Decision::Implicit
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn p(doc: Value) -> Policy {
        Policy::parse("test", &doc)
    }
    fn arn(a: &str) -> Target {
        Target::Arn(a.into())
    }
    fn id(policy: &Policy, action: &str, resource: &Target) -> Decision {
        evaluate([policy], &Request { principal: None, action, resource: Some(resource) })
    }
    fn trust(policy: &Policy, who: &Principal, action: &str) -> Decision {
        evaluate([policy], &Request { principal: Some(who), action, resource: None })
    }
    fn role(a: &str) -> Principal {
        Principal::Arn { arn: a.into(), account: a.split(':').nth(4).unwrap().into() }
    }

    #[test]
    fn glob_wildcards() {
        assert!(glob("s3:Get*", "s3:GetObject", false));
        assert!(glob("s3:Get?bject", "s3:GetObject", false));
        assert!(!glob("s3:Get?bject", "s3:GetObjject", false));
        assert!(glob("*", "", false));
        assert!(glob("a*b*c", "aXXbYYc", false));
        assert!(!glob("a*b*c", "aXXbYY", false));
        assert!(glob("ECR:*", "ecr:PutImage", true));
        assert!(!glob("arn:aws:s3:::B/*", "arn:aws:s3:::b/x", false));
    }

    #[test]
    fn allow_then_explicit_deny_wins() {
        let pol = p(json!({"Version":"2012-10-17","Statement":[
            {"Effect":"Allow","Action":"s3:*","Resource":"*"},
            {"Sid":"NoDelete","Effect":"Deny","Action":"s3:DeleteObject","Resource":"arn:aws:s3:::b/*"}]}));
        assert!(id(&pol, "s3:GetObject", &arn("arn:aws:s3:::b/k")).is_allow());
        let d = id(&pol, "s3:DeleteObject", &arn("arn:aws:s3:::b/k"));
        assert!(matches!(&d, Decision::Deny(g) if g[0].sid.as_deref() == Some("NoDelete")), "{d:?}");
        assert_eq!(id(&pol, "sns:Publish", &arn("arn:aws:sns:us-east-1:1:t")), Decision::Implicit);
        let none = p(json!({"Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}}));
        assert_eq!(id(&none, "s3:GetObject", &arn("arn:aws:s3:::other/k")), Decision::Implicit);
    }

    #[test]
    fn not_action_and_not_resource() {
        let pol = p(json!({"Statement":[{"Effect":"Allow","NotAction":"iam:*","NotResource":"arn:aws:s3:::secret/*"}]}));
        assert!(id(&pol, "s3:GetObject", &arn("arn:aws:s3:::b/k")).is_allow());
        assert_eq!(id(&pol, "iam:PassRole", &arn("*")), Decision::Implicit);
        assert_eq!(id(&pol, "s3:GetObject", &arn("arn:aws:s3:::secret/k")), Decision::Implicit);
    }

    #[test]
    fn resources_are_case_sensitive_actions_are_not() {
        let pol = p(json!({"Statement":[{"Effect":"Allow","Action":"S3:getobject","Resource":"arn:aws:s3:::Bucket/*"}]}));
        assert!(id(&pol, "s3:GetObject", &arn("arn:aws:s3:::Bucket/k")).is_allow());
        assert_eq!(id(&pol, "s3:GetObject", &arn("arn:aws:s3:::bucket/k")), Decision::Implicit);
    }

    #[test]
    fn conditions_are_reported_not_guessed() {
        let pol = p(json!({"Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"*",
            "Condition":{"StringEquals":{"aws:PrincipalTag/team":"ci"}}}]}));
        match id(&pol, "sts:AssumeRole", &arn("arn:aws:iam::1:role/r")) {
            Decision::Conditional { condition, .. } => {
                assert_eq!(condition, "if StringEquals aws:PrincipalTag/team = \"ci\"")
            }
            d => panic!("{d:?}"),
        }
        let both = p(json!({"Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"},
            {"Effect":"Deny","Action":"s3:*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":false}}}]}));
        match id(&both, "s3:GetObject", &arn("arn:aws:s3:::b/k")) {
            Decision::Conditional { condition, .. } => {
                assert!(condition.starts_with("unless Bool"), "{condition}")
            }
            d => panic!("{d:?}"),
        }
    }

    #[test]
    fn principals_in_every_form() {
        let acct = "123456789012";
        let caller = role("arn:aws:iam::123456789012:role/ci/deploy");
        let cases = [
            (json!("*"), Some(Via::Anyone)),
            (json!({"AWS": "*"}), Some(Via::Anyone)),
            (json!({"AWS": acct}), Some(Via::Account)),
            (json!({"AWS": ["arn:aws:iam::123456789012:root"]}), Some(Via::Account)),
            (json!({"AWS": "arn:aws:iam::123456789012:role/ci/deploy"}), Some(Via::Direct)),
            (json!({"AWS": "arn:aws:iam::123456789012:role/deploy"}), None),
            (json!({"AWS": "arn:aws:iam::999999999999:root"}), None),
            (json!({"Service": "codebuild.amazonaws.com"}), None),
        ];
        for (principal, want) in cases {
            let pol = p(json!({"Statement":[{"Effect":"Allow","Principal":principal,"Action":"sts:AssumeRole"}]}));
            let got = match trust(&pol, &caller, "sts:AssumeRole") {
                Decision::Allow(g) => g[0].via,
                _ => None,
            };
            assert_eq!(got, want, "{principal}");
        }
        let svc = p(json!({"Statement":[{"Effect":"Allow","Principal":{"Service":["codebuild.amazonaws.com"]},"Action":"sts:AssumeRole"}]}));
        assert!(trust(&svc, &Principal::Service("codebuild.amazonaws.com".into()), "sts:AssumeRole").is_allow());
        assert!(!trust(&svc, &Principal::Service("codepipeline.amazonaws.com".into()), "sts:AssumeRole").is_allow());
        let fed = "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com";
        let oidc = p(json!({"Statement":[{"Effect":"Allow","Principal":{"Federated":fed},"Action":"sts:AssumeRoleWithWebIdentity"}]}));
        assert!(trust(&oidc, &Principal::Federated(fed.into()), "sts:AssumeRoleWithWebIdentity").is_allow());
        assert!(!trust(&oidc, &Principal::Federated(fed.into()), "sts:AssumeRole").is_allow());
        let not = p(json!({"Statement":[{"Effect":"Deny","NotPrincipal":{"AWS":"arn:aws:iam::123456789012:role/ci/deploy"},"Action":"sts:AssumeRole"},
            {"Effect":"Allow","Principal":{"AWS":acct},"Action":"sts:AssumeRole"}]}));
        assert!(trust(&not, &caller, "sts:AssumeRole").is_allow());
        assert!(matches!(trust(&not, &role("arn:aws:iam::123456789012:role/other"), "sts:AssumeRole"), Decision::Deny(_)));
    }

    #[test]
    fn unknown_targets_match_only_covering_patterns() {
        let t = Target::Unknown {
            prefix: "arn:aws:codestar-connections:us-east-1:123456789012:connection/".into(),
            placeholder: Some("(known after apply)".into()),
        };
        for (pattern, ok) in [
            ("*", true),
            ("arn:aws:codestar-connections:us-east-1:123456789012:connection/*", true),
            ("arn:aws:codestar-connections:*:*:connection/*", true),
            ("arn:aws:codestar-connections:us-east-1:123456789012:*", true),
            ("(known after apply)", true),
            ("arn:aws:codestar-connections:us-east-1:123456789012:connection/abc", false),
            ("arn:aws:codestar-connections:us-east-1:123456789012:connection/a*", false),
            ("arn:aws:codestar-connections:eu-west-1:123456789012:connection/*", false),
        ] {
            let pol = p(json!({"Statement":[{"Effect":"Allow","Action":"codestar-connections:UseConnection","Resource":pattern}]}));
            let d = id(&pol, "codestar-connections:UseConnection", &t);
            assert_eq!(d.is_allow(), ok, "{pattern}");
            if ok {
                assert!(d.grants()[0].note.as_deref().unwrap().contains("not known yet"));
            }
        }
        assert!(covers_prefix("a?*", "a"));
        assert!(!covers_prefix("a?", "a"));
    }

    // ---- properties ----

    const ACTIONS: &[&str] = &["s3:GetObject", "s3:PutObject", "ecr:PutImage", "logs:PutLogEvents", "sts:AssumeRole", "iam:PassRole"];
    const PATTERNS: &[&str] = &["s3:GetObject", "s3:*", "ecr:*", "*", "logs:Put*", "sts:AssumeRole", "iam:Pass?ole", "s3:Get*"];
    const RESOURCES: &[&str] = &["arn:aws:s3:::b/k", "arn:aws:ecr:us-east-1:1:repository/r", "arn:aws:iam::1:role/x", "*"];
    const RPATTERNS: &[&str] = &["*", "arn:aws:s3:::b/*", "arn:aws:ecr:*:*:repository/r", "arn:aws:iam::1:role/*"];

    type Stmt = (bool, bool, Vec<String>, Vec<String>);

    fn stmt() -> impl Strategy<Value = Stmt> {
        (
            any::<bool>(),
            prop::bool::weighted(0.2),
            prop::collection::vec(prop::sample::select(PATTERNS).prop_map(str::to_string), 1..3),
            prop::collection::vec(prop::sample::select(RPATTERNS).prop_map(str::to_string), 1..3),
        )
    }

    /// Write statements in one of many equivalent shapes chosen by `shape`.
    fn spell(stmts: &[Stmt], shape: u32, not_action: bool) -> Value {
        let list = |v: &[String], bit: u32| -> Value {
            let mut v = v.to_vec();
            if shape & (bit << 1) != 0 {
                v.reverse();
            }
            if v.len() == 1 && shape & bit != 0 {
                json!(v[0])
            } else {
                json!(v)
            }
        };
        let mut out: Vec<Value> = stmts
            .iter()
            .map(|(deny, cond, a, r)| {
                let mut m = serde_json::Map::new();
                m.insert("Effect".into(), json!(if *deny { "Deny" } else { "Allow" }));
                m.insert((if not_action { "NotAction" } else { "Action" }).into(), list(a, 1));
                m.insert("Resource".into(), list(r, 4));
                if *cond {
                    m.insert("Condition".into(), json!({"StringEquals": {"aws:PrincipalTag/t": "x"}}));
                }
                Value::Object(m)
            })
            .collect();
        if shape & 16 != 0 {
            out.reverse();
        }
        if out.len() == 1 && shape & 32 != 0 {
            json!({"Version": "2012-10-17", "Statement": out[0]})
        } else {
            json!({"Version": "2012-10-17", "Statement": out})
        }
    }

    fn kind(d: &Decision) -> u8 {
        d.rank()
    }

    fn flip_case(s: &str, mask: u64) -> String {
        s.chars().enumerate().map(|(i, c)| if mask >> (i % 64) & 1 == 1 { c.to_ascii_uppercase() } else { c.to_ascii_lowercase() }).collect()
    }

    proptest! {
        #[test]
        fn shape_equivalent_documents_evaluate_equal(stmts in prop::collection::vec(stmt(), 1..4), s1 in 0u32..64, s2 in 0u32..64,
                                                     a in prop::sample::select(ACTIONS), r in prop::sample::select(RESOURCES)) {
            let d1 = id(&p(spell(&stmts, s1, false)), a, &arn(r));
            let d2 = id(&p(spell(&stmts, s2, false)), a, &arn(r));
            prop_assert_eq!(kind(&d1), kind(&d2));
        }

        #[test]
        fn deny_overrides_allow(stmts in prop::collection::vec(stmt(), 0..4), a in prop::sample::select(ACTIONS), r in prop::sample::select(RESOURCES)) {
            let mut with_deny = stmts.clone();
            with_deny.push((true, false, vec![a.to_string()], vec!["*".to_string()]));
            with_deny.push((false, false, vec![a.to_string()], vec!["*".to_string()]));
            let d = id(&p(spell(&with_deny, 0, false)), a, &arn(r));
            prop_assert!(matches!(d, Decision::Deny(_)), "{:?}", d);
        }

        #[test]
        fn not_action_complements_action(pats in prop::collection::vec(prop::sample::select(PATTERNS).prop_map(str::to_string), 1..3),
                                         a in prop::sample::select(ACTIONS)) {
            let stmts = vec![(false, false, pats, vec!["*".to_string()])];
            let pos = id(&p(spell(&stmts, 0, false)), a, &arn("*")).is_allow();
            let neg = id(&p(spell(&stmts, 0, true)), a, &arn("*")).is_allow();
            prop_assert_ne!(pos, neg);
        }

        #[test]
        fn action_case_does_not_change_verdicts(stmts in prop::collection::vec(stmt(), 1..4), a in prop::sample::select(ACTIONS),
                                                r in prop::sample::select(RESOURCES), m1 in any::<u64>(), m2 in any::<u64>()) {
            let recased: Vec<Stmt> = stmts.iter().map(|(d, c, acts, res)| (*d, *c, acts.iter().map(|x| flip_case(x, m1)).collect(), res.clone())).collect();
            let d1 = id(&p(spell(&stmts, 0, false)), a, &arn(r));
            let d2 = id(&p(spell(&recased, 0, false)), &flip_case(a, m2), &arn(r));
            prop_assert_eq!(kind(&d1), kind(&d2));
        }

        #[test]
        fn statement_order_does_not_matter(stmts in prop::collection::vec(stmt(), 1..5), a in prop::sample::select(ACTIONS), r in prop::sample::select(RESOURCES)) {
            let mut rev = stmts.clone();
            rev.reverse();
            prop_assert_eq!(kind(&id(&p(spell(&stmts, 0, false)), a, &arn(r))), kind(&id(&p(spell(&rev, 0, false)), a, &arn(r))));
        }

        #[test]
        fn glob_agrees_with_prefix_cover(pat in "[a*?]{0,5}", prefix in "[ab]{0,4}", suffix in "[ab]{5,8}") {
            // If a pattern covers every continuation of `prefix`, it matches this one.
            if covers_prefix(&pat, &prefix) {
                let text = format!("{prefix}{suffix}");
                prop_assert!(glob(&pat, &text, false));
            }
        }
    }
}
