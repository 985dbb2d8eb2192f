//! Apply progress, as the engine reports it (`contract::Observer`). On a terminal (`Live`): a live
//! area with one spinner line per step in flight, its elapsed time and what it waits for, the
//! finished steps printed above it as permanent lines. Elsewhere (`Lines`: CI logs, pipes): a line
//! when a step starts and when it ends, with the time it took, and every ten seconds a "still ..."
//! line for a step that waits, naming what it waits for.

use super::Style;
use crate::contract::{Action, Observer, Step};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::Duration;

/// The observer for stdout: live on a terminal that can redraw (not `TERM=dumb`), plain lines
/// otherwise.
pub fn for_stdout(style: Style) -> Box<dyn Observer> {
    let dumb = std::env::var_os("TERM").is_some_and(|t| t == "dumb");
    if std::io::stdout().is_terminal() && !dumb {
        Box::new(Live::new(style, ProgressDrawTarget::stdout()))
    } else {
        Box::new(Lines { style, prefix: String::new() })
    }
}

pub struct Lines {
    pub style: Style,
    /// Before every line: which stack, when a run applies several (`[team-a] `).
    pub prefix: String,
}

fn verb(s: &Step) -> (&'static str, &'static str) {
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

impl Lines {
    fn line(&self, text: String) {
        line(format!("{}{text}", self.prefix));
    }
}

/// The permanent line of a finished step, the same on a terminal and off it.
fn finished_line(style: Style, s: &Step, elapsed: Duration) -> String {
    style.green(&format!("{}: {} after {:.1}s", s.address, verb(s).1, elapsed.as_secs_f64()))
}

fn failed_line(style: Style, s: &Step, elapsed: Duration) -> String {
    style.red(&format!("{}: {} failed after {:.1}s", s.address, verb(s).0, elapsed.as_secs_f64()))
}

impl Observer for Lines {
    fn started(&self, s: &Step) {
        self.line(format!("{}: {}...", s.address, verb(s).0));
    }

    fn finished(&self, s: &Step, elapsed: Duration) {
        self.line(finished_line(self.style, s, elapsed));
    }

    fn failed(&self, s: &Step, elapsed: Duration, _error: &crate::Error) {
        self.line(failed_line(self.style, s, elapsed));
    }

    fn still_running(&self, s: &Step, elapsed: Duration, waiting_for: Option<&str>) {
        let why = waiting_for.map(|w| format!(", waiting for {w}")).unwrap_or_default();
        self.line(self.style.dim(&format!("{}: still {}... [{}s elapsed{why}]", s.address, verb(s).0, elapsed.as_secs())));
    }

    fn note(&self, text: &str) {
        self.line(text.to_string());
    }
}

/// The live area of a terminal. Lines printed through it go above the spinners; when the last
/// step ends the area is empty, so the scrollback keeps only the permanent lines.
pub struct Live {
    style: Style,
    area: MultiProgress,
    /// The spinner of each step in flight, by address (a replace's two phases run one after
    /// the other, so the first match is the one running).
    spinners: Mutex<Vec<(String, ProgressBar)>>,
}

impl Live {
    pub fn new(style: Style, target: ProgressDrawTarget) -> Live {
        Live { style, area: MultiProgress::with_draw_target(target), spinners: Mutex::default() }
    }

    fn spinner(&self, s: &Step) -> Option<ProgressBar> {
        let spinners = self.spinners.lock().unwrap_or_else(|e| e.into_inner());
        spinners.iter().find(|(a, _)| *a == s.address.to_string()).map(|(_, b)| b.clone())
    }

    /// The step's spinner leaves the area and `text` takes a permanent line above it.
    fn end(&self, s: &Step, text: String) {
        let mut spinners = self.spinners.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(i) = spinners.iter().position(|(a, _)| *a == s.address.to_string()) {
            let (_, bar) = spinners.remove(i);
            bar.finish_and_clear();
            self.area.remove(&bar);
        }
        let _ = self.area.println(text);
    }
}

impl Observer for Live {
    fn started(&self, s: &Step) {
        // `wide_msg` is cut to the terminal's width: a wrapped line would break the redraw.
        let template = format!("{{spinner}} {}: {}... [{{elapsed}}] {{wide_msg}}", s.address, verb(s).0);
        let look = ProgressStyle::with_template(&template).expect("a valid template");
        let bar = self.area.add(ProgressBar::new_spinner().with_style(look));
        bar.enable_steady_tick(Duration::from_millis(100));
        self.spinners.lock().unwrap_or_else(|e| e.into_inner()).push((s.address.to_string(), bar));
    }

    fn finished(&self, s: &Step, elapsed: Duration) {
        self.end(s, finished_line(self.style, s, elapsed));
    }

    fn failed(&self, s: &Step, elapsed: Duration, _error: &crate::Error) {
        self.end(s, failed_line(self.style, s, elapsed));
    }

    // The spinner shows the time; the heartbeat only refreshes what the step waits for.
    fn still_running(&self, s: &Step, _elapsed: Duration, waiting_for: Option<&str>) {
        self.waiting(s, waiting_for);
    }

    fn waiting(&self, s: &Step, waiting_for: Option<&str>) {
        if let Some(bar) = self.spinner(s) {
            bar.set_message(self.style.dim(&waiting_for.map(|w| format!("waiting for {w}")).unwrap_or_default()));
        }
    }

    fn note(&self, text: &str) {
        let _ = self.area.println(text);
    }
}

impl Drop for Live {
    // Steps cut short (an interrupted apply) leave no spinner behind.
    fn drop(&mut self) {
        let _ = self.area.clear();
    }
}
