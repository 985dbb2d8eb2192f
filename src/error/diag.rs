//! Diagnostics for stack and policy files, rendered the way cargo does:
//! `error: what`, `--> file:line:col`, the offending line with a caret, `help: next step`.

use std::fmt;
use std::path::{Path, PathBuf};

/// A position in a source file (1-based line and column).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Loc {
    pub file: PathBuf,
    pub line: u64,
    pub col: u64,
}

impl Loc {
    pub fn new(file: &Path, line: u64, col: u64) -> Self {
        Loc { file: file.to_path_buf(), line: line.max(1), col: col.max(1) }
    }
}

impl fmt::Display for Loc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.col)
    }
}

#[derive(Debug, Clone)]
pub struct Diagnostic {
    pub message: String,
    pub loc: Loc,
    /// The text of the offending line, for the snippet.
    pub line_text: Option<String>,
    pub help: Option<String>,
}

impl Diagnostic {
    /// A problem at `loc`, with the text of the file it is in (for the snippet).
    pub fn in_text(text: &str, loc: Loc, message: impl Into<String>) -> Self {
        let line_text = text.lines().nth(loc.line as usize - 1).map(str::to_string);
        Diagnostic { message: message.into(), loc, line_text, help: None }
    }

    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "error: {}", self.message)?;
        let gutter = self.loc.line.to_string().len();
        writeln!(f, "{:gutter$}--> {}", "", self.loc)?;
        if let Some(text) = &self.line_text {
            // A long line (a minified file, a huge value) shows only a window around the column.
            let (shown, col) = window(text, self.loc.col as usize);
            writeln!(f, "{:gutter$} |", "")?;
            writeln!(f, "{} | {}", self.loc.line, shown)?;
            // Columns count characters; keep tabs so the caret lines up.
            let pad: String = shown.chars().take(col - 1).map(|c| if c == '\t' { '\t' } else { ' ' }).collect();
            writeln!(f, "{:gutter$} | {}^", "", pad)?;
        }
        if let Some(help) = &self.help {
            writeln!(f, "{:gutter$} = help: {}", "", help)?;
        }
        Ok(())
    }
}

const WINDOW: usize = 100;

/// At most `WINDOW` characters of `line` around column `col` (1-based), and the column in it.
fn window(line: &str, col: usize) -> (String, usize) {
    let n = line.chars().count();
    if n <= WINDOW {
        return (line.to_string(), col);
    }
    let start = col.saturating_sub(WINDOW / 2 + 1).min(n - WINDOW);
    let body: String = line.chars().skip(start).take(WINDOW).collect();
    let (head, tail) = (if start > 0 { "…" } else { "" }, if start + WINDOW < n { "…" } else { "" });
    (format!("{head}{body}{tail}"), col - start + head.chars().count())
}

/// A value quoted in a message: at most 60 characters of it.
pub fn excerpt(s: &str) -> String {
    const MAX: usize = 60;
    let mut out: String = s.chars().take(MAX).collect();
    if s.chars().count() > MAX {
        out.push_str(&format!("… ({} characters)", s.chars().count()));
    }
    out
}

/// One or more problems found in the input; all are reported, not just the first.
#[derive(Debug, Clone, Default)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    pub fn push(&mut self, d: Diagnostic) {
        self.0.push(d);
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn into_result(self) -> Result<(), crate::Error> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(crate::Error::Stack(self))
        }
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        if self.0.len() > 1 {
            write!(f, "\nerror: {} problems found in the stack", self.0.len())?;
        }
        Ok(())
    }
}

impl From<Diagnostic> for Diagnostics {
    fn from(d: Diagnostic) -> Self {
        Diagnostics(vec![d])
    }
}
