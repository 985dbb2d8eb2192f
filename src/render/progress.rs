//! Apply progress, as the engine reports it (`contract::Observer`): a line when a step starts and
//! when it ends, with the time it took, and every ten seconds a "still ..." line for a step that
//! waits, naming what it waits for.

use super::Style;
use crate::contract::{Action, Observer, Step};
use std::io::Write;
use std::time::Duration;

pub struct Lines {
    pub style: Style,
}

pub fn verb(s: &Step) -> (&'static str, &'static str) {
    match s.action {
        Action::Create => ("creating", "created"),
        Action::Update => ("updating", "updated"),
        Action::Replace => ("replacing", "replaced"),
        Action::Delete => ("destroying", "destroyed"),
        Action::NoOp | Action::Unowned => ("checking", "unchanged"),
    }
}

fn line(text: String) {
    let mut o = std::io::stdout().lock();
    let _ = writeln!(o, "{text}");
    let _ = o.flush();
}

impl Observer for Lines {
    fn started(&self, s: &Step) {
        line(format!("{}: {}...", s.address, verb(s).0));
    }

    fn finished(&self, s: &Step, elapsed: Duration) {
        line(self.style.green(&format!("{}: {} after {:.1}s", s.address, verb(s).1, elapsed.as_secs_f64())));
    }

    fn failed(&self, s: &Step, elapsed: Duration, _error: &crate::Error) {
        line(self.style.red(&format!("{}: {} failed after {:.1}s", s.address, verb(s).0, elapsed.as_secs_f64())));
    }

    fn still_running(&self, s: &Step, elapsed: Duration, waiting_for: Option<&str>) {
        let why = waiting_for.map(|w| format!(", waiting for {w}")).unwrap_or_default();
        line(self.style.dim(&format!("{}: still {}... [{}s elapsed{why}]", s.address, verb(s).0, elapsed.as_secs())));
    }

    fn note(&self, text: &str) {
        line(text.to_string());
    }
}
