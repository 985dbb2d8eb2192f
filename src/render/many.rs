//! Several stacks in one run: the summary table that ends the run (progress lines are
//! `progress::Lines` with the stack's name before each).

use super::Style;
use crate::contract::Counts;

/// One stack's line in the summary.
pub struct Row {
    pub stack: String,
    pub account: String,
    pub region: String,
    pub counts: Option<Counts>,
    pub status: Status,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    NoChanges,
    Changes,
    Applied,
    Failed(String),
    /// Not applied (or apply would refuse) for a reason the plan showed: an unowned resource in
    /// the way, a failed check, an interruption; the text says which.
    Held(String),
}

impl Status {
    fn text(&self, style: Style) -> String {
        match self {
            Status::NoChanges => style.green("no changes"),
            Status::Changes => style.yellow("changes"),
            Status::Applied => style.green("applied"),
            Status::Failed(why) => style.red(&format!("failed: {why}")),
            Status::Held(why) => style.yellow(why),
        }
    }
}

/// The summary table: one line per stack, columns aligned (status last, as it varies in width).
pub fn table(rows: &[Row], style: Style) -> String {
    let head = ["STACK", "ACCOUNT", "REGION", "ADD", "CHANGE", "DESTROY"];
    let cells: Vec<[String; 6]> = rows
        .iter()
        .map(|r| {
            let n = |f: fn(&Counts) -> usize| r.counts.as_ref().map(|c| f(c).to_string()).unwrap_or_else(|| "-".into());
            [r.stack.clone(), r.account.clone(), r.region.clone(), n(|c| c.add), n(|c| c.change), n(|c| c.destroy)]
        })
        .collect();
    let width = |i: usize| cells.iter().map(|c| c[i].chars().count()).chain([head[i].len()]).max().unwrap_or(0);
    let widths: Vec<usize> = (0..6).map(width).collect();
    let line = |c: &[&str], status: &str| {
        let mut l = String::new();
        for (i, v) in c.iter().enumerate() {
            // Names left, numbers right.
            if i < 3 {
                l.push_str(&format!("{v:<w$}  ", w = widths[i]));
            } else {
                l.push_str(&format!("{v:>w$}  ", w = widths[i]));
            }
        }
        format!("{l}{status}\n")
    };
    let mut out = style.bold(&line(&head, "STATUS"));
    for (r, c) in rows.iter().zip(&cells) {
        out.push_str(&line(&c.iter().map(String::as_str).collect::<Vec<_>>(), &r.status.text(style)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_aligns_columns_and_says_what_happened_to_each_stack() {
        let counts = Counts { add: 13, change: 0, destroy: 1, unowned: 0 };
        let rows = [
            Row { stack: "team-a".into(), account: "111111111111".into(), region: "us-east-1".into(), counts: Some(counts), status: Status::Applied },
            Row { stack: "b".into(), account: "-".into(), region: "-".into(), counts: None, status: Status::Failed("stack file invalid".into()) },
        ];
        let t = table(&rows, Style { color: false });
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[0], "STACK   ACCOUNT       REGION     ADD  CHANGE  DESTROY  STATUS");
        assert_eq!(lines[1], "team-a  111111111111  us-east-1   13       0        1  applied");
        assert_eq!(lines[2], "b       -             -            -       -        -  failed: stack file invalid");
    }
}
