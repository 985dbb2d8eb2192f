//! Read-only views of a plan: for people (`human`) and for programs (`json`); apply progress
//! (`progress`); the stack's dependency graph (`graph`).

pub mod graph;
pub mod human;
pub mod json;
pub mod many;
pub mod markdown;
pub mod progress;
pub mod reference;

/// ANSI styling that can be turned off, or forced.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    pub color: bool,
}

impl Style {
    /// Colour for a stream: never with `--no-color`, `NO_COLOR` or `TERM=dumb`; always with
    /// `CLICOLOR_FORCE`; otherwise when the stream is a terminal.
    pub fn detect(no_color_flag: bool, is_terminal: bool) -> Style {
        let set = |k: &str| std::env::var_os(k).is_some_and(|v| !v.is_empty() && v != "0");
        let dumb = std::env::var_os("TERM").is_some_and(|t| t == "dumb");
        let color = if no_color_flag || set("NO_COLOR") {
            false
        } else if set("CLICOLOR_FORCE") {
            true
        } else {
            is_terminal && !dumb
        };
        Style { color }
    }

    fn paint(&self, code: &str, s: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
    pub fn green(&self, s: &str) -> String {
        self.paint("32", s)
    }
    pub fn yellow(&self, s: &str) -> String {
        self.paint("33", s)
    }
    pub fn red(&self, s: &str) -> String {
        self.paint("31", s)
    }
    pub fn bold(&self, s: &str) -> String {
        self.paint("1", s)
    }
    pub fn dim(&self, s: &str) -> String {
        self.paint("2", s)
    }
}
