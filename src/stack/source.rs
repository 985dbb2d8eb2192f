//! The files a stack is read from, and the problems found in them.

use super::node::Pos;
use crate::error::{Diagnostic, Diagnostics, Loc};
use std::path::PathBuf;

#[derive(Debug, Clone, Default)]
pub struct Sources {
    /// `files[0]` is the stack file; the rest are included policy files.
    pub files: Vec<PathBuf>,
    pub texts: Vec<String>,
    pub diags: Diagnostics,
}

impl Sources {
    pub fn loc(&self, pos: Pos) -> Loc {
        Loc::new(&self.files[pos.file as usize], pos.line, pos.col)
    }

    pub fn error(&mut self, pos: Pos, message: impl Into<String>, help: impl Into<String>) {
        let d = Diagnostic::in_text(&self.texts[pos.file as usize], self.loc(pos), message).help(help);
        self.diags.push(d);
    }

    pub fn has_errors(&self) -> bool {
        !self.diags.is_empty()
    }

    /// Position of the character at byte `offset` of the string value at `pos` (quotes skipped).
    pub fn pos_in_string(&self, pos: Pos, offset: usize) -> Pos {
        let text = &self.texts[pos.file as usize];
        let line = text.lines().nth(pos.line as usize - 1).unwrap_or("");
        let at = line.chars().nth(pos.col as usize - 1);
        let quote = matches!(at, Some('"') | Some('\'')) as u64;
        Pos { col: pos.col + quote + offset as u64, ..pos }
    }

    /// Digest of every file read, in order.
    pub fn digest(&self) -> String {
        let mut all = Vec::new();
        for (f, t) in self.files.iter().zip(&self.texts) {
            all.extend_from_slice(f.to_string_lossy().as_bytes());
            all.push(0);
            all.extend_from_slice(t.as_bytes());
            all.push(0);
        }
        crate::contract::digest(&all)
    }
}
