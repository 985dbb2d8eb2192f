//! `${...}` interpolation inside stack and policy strings.
//!
//! Ours: `${var.NAME}`, `${account_id}`, `${region}`, `${stack}`, `${KIND.NAME.ATTR}`.
//! IAM's own policy variables are left exactly as written, so policy files can use both: those
//! with a `:` or `/` (`${aws:username}`, `${aws:PrincipalTag/team}`) and the special characters
//! `${*}`, `${?}`, `${$}`. `$${` is a literal `${` (e.g. a CodeBuild variable
//! `app-$${CODEBUILD_BUILD_NUMBER}` becomes `app-${CODEBUILD_BUILD_NUMBER}`).

/// A piece of an interpolated string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece<'a> {
    Text(&'a str),
    /// The expression between `${` and `}`, and its byte offset in the string (for columns).
    Expr(&'a str, usize),
}

/// Does this string hold a reference of ours (not an IAM variable, not an escape)?
pub fn has_refs(s: &str) -> bool {
    pieces(s).map(|p| p.iter().any(|x| matches!(x, Piece::Expr(..)))).unwrap_or(true)
}

/// Split a string into text and expressions. Unterminated `${` is an error (offset, message).
pub fn pieces(s: &str) -> Result<Vec<Piece<'_>>, (usize, String)> {
    let mut out = Vec::new();
    let mut rest = 0;
    let mut search = 0;
    while let Some(i) = s[search..].find("${").map(|i| i + search) {
        if i > 0 && s.as_bytes()[i - 1] == b'$' {
            // `$${`: drop the first `$`, keep `${` as text.
            if i - 1 > rest {
                out.push(Piece::Text(&s[rest..i - 1]));
            }
            rest = i;
            search = i + 2;
            continue;
        }
        let Some(end) = s[i..].find('}').map(|e| e + i) else {
            return Err((i, "unterminated `${`: expected a closing `}` (write `$${` for a literal `${`)".into()));
        };
        let expr = &s[i + 2..end];
        if expr.contains(':') || expr.contains('/') || matches!(expr, "*" | "?" | "$") {
            // An IAM policy variable: leave it in the text.
            search = end + 1;
            continue;
        }
        if i > rest {
            out.push(Piece::Text(&s[rest..i]));
        }
        out.push(Piece::Expr(expr.trim(), i));
        rest = end + 1;
        search = rest;
    }
    if rest < s.len() {
        out.push(Piece::Text(&s[rest..]));
    }
    Ok(out)
}

/// What an expression refers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ref {
    Var(String),
    AccountId,
    Region,
    Stack,
    /// `kind.name.attr`
    Attr {
        kind: String,
        name: String,
        attr: String,
    },
}

pub fn parse_ref(expr: &str) -> Result<Ref, String> {
    let parts: Vec<&str> = expr.split('.').collect();
    let ident = |p: &str| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    let shown = crate::error::diag::excerpt(expr);
    if !parts.iter().all(|p| ident(p)) {
        return Err(format!("`${{{shown}}}` is not a valid reference"));
    }
    match parts.as_slice() {
        ["account_id"] => Ok(Ref::AccountId),
        ["region"] => Ok(Ref::Region),
        ["stack"] => Ok(Ref::Stack),
        ["var", name] => Ok(Ref::Var(name.to_string())),
        [kind, name, attr] => Ok(Ref::Attr { kind: kind.to_string(), name: name.to_string(), attr: attr.to_string() }),
        _ => Err(format!(
            "`${{{shown}}}` is not a valid reference: expected `var.NAME`, `account_id`, `region`, `stack` or `KIND.NAME.ATTRIBUTE` (write `$${{` for a literal `${{`)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_text_and_refs_and_keeps_iam_variables() {
        let p = pieces("arn:aws:iam::${account_id}:role/${iam_role.kubectl.name}/${aws:username}").unwrap();
        assert_eq!(
            p,
            vec![
                Piece::Text("arn:aws:iam::"),
                Piece::Expr("account_id", 13),
                Piece::Text(":role/"),
                Piece::Expr("iam_role.kubectl.name", 32),
                Piece::Text("/${aws:username}"),
            ]
        );
    }

    #[test]
    fn iam_special_characters_and_escapes_are_text() {
        assert_eq!(pieces("arn:aws:s3:::b/${*}/${?}/${$}").unwrap(), vec![Piece::Text("arn:aws:s3:::b/${*}/${?}/${$}")]);
        let p = pieces("app-$${CODEBUILD_BUILD_NUMBER}-${var.x}").unwrap();
        assert_eq!(p, vec![Piece::Text("app-"), Piece::Text("${CODEBUILD_BUILD_NUMBER}-"), Piece::Expr("var.x", 31)]);
        assert!(!has_refs("app-$${X}"));
        assert!(has_refs("${var.x}"));
    }

    #[test]
    fn unterminated_is_an_error() {
        assert!(pieces("x-${var.a").is_err());
    }

    #[test]
    fn refs() {
        assert_eq!(parse_ref("var.x").unwrap(), Ref::Var("x".into()));
        assert_eq!(parse_ref("iam_role.kubectl.arn").unwrap(), Ref::Attr { kind: "iam_role".into(), name: "kubectl".into(), attr: "arn".into() });
        assert!(parse_ref("iam_role.kubectl").is_err());
        assert!(parse_ref("a b").is_err());
    }
}
