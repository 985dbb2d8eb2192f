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
    pub fn new(loc: Loc, message: impl Into<String>) -> Self {
        let line_text = std::fs::read_to_string(&loc.file)
            .ok()
            .and_then(|t| t.lines().nth(loc.line as usize - 1).map(str::to_string));
        Diagnostic { message: message.into(), loc, line_text, help: None }
    }

    /// Like `new`, but with the source text at hand (no file read).
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
            writeln!(f, "{:gutter$} |", "")?;
            writeln!(f, "{} | {}", self.loc.line, text)?;
            // Columns count characters; keep tabs so the caret lines up.
            let pad: String = text
                .chars()
                .take(self.loc.col as usize - 1)
                .map(|c| if c == '\t' { '\t' } else { ' ' })
                .collect();
            writeln!(f, "{:gutter$} | {}^", "", pad)?;
        }
        if let Some(help) = &self.help {
            writeln!(f, "{:gutter$} = help: {}", "", help)?;
        }
        Ok(())
    }
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
