//! How the engine reports progress while it applies: an observer that `render` implements (live
//! status on a terminal, plain lines otherwise) and tests replace.

use super::plan::Step;
use std::sync::Mutex;
use std::time::Duration;

pub trait Observer: Send + Sync {
    fn started(&self, step: &Step);
    fn finished(&self, step: &Step, elapsed: Duration);
    fn failed(&self, step: &Step, elapsed: Duration, error: &crate::Error);
    /// A step is still running (every ten seconds): `waiting_for` says on what, when known
    /// (IAM propagation, throttling).
    fn still_running(&self, step: &Step, elapsed: Duration, waiting_for: Option<&str>);
    /// What a running step waits for changed (seen within a second): a live display shows it at
    /// once, where the heartbeat lines only say it every ten seconds.
    fn waiting(&self, _step: &Step, _waiting_for: Option<&str>) {}
    fn note(&self, text: &str);
}

/// Reports nothing (tests, `--json`).
pub struct Silent;

impl Observer for Silent {
    fn started(&self, _: &Step) {}
    fn finished(&self, _: &Step, _: Duration) {}
    fn failed(&self, _: &Step, _: Duration, _: &crate::Error) {}
    fn still_running(&self, _: &Step, _: Duration, _: Option<&str>) {}
    fn note(&self, _: &str) {}
}

/// What a running step is waiting for, set by the operation and read by the heartbeat.
#[derive(Debug, Default)]
pub struct Status(Mutex<Option<String>>);

impl Status {
    pub fn set(&self, why: impl Into<String>) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(why.into());
    }
    pub fn clear(&self) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
    pub fn get(&self) -> Option<String> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}
