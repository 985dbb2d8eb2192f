//! Errors. Every error knows what went wrong, where, and (when we can tell) what to do next;
//! `cli::report` is the one place that turns them into text.
//!
//! User errors (bad input, refused calls, a cluster out of reach) are distinct from internal
//! ones: a bug in provision, reported as such.

pub mod diag;

pub use diag::{Diagnostic, Diagnostics, Loc};

/// What kind of failure an AWS or Kubernetes call met; decides the `help:` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Class {
    NoCredentials,
    ExpiredCredentials,
    BadCredentials,
    ProfileMissing,
    Unreachable,
    Timeout,
    Throttled,
    AccessDenied,
    NotFound,
    Conflict,
    ServerError,
    Invalid,
    Other,
}

/// A failed AWS (or Kubernetes) call.
#[derive(Debug, Clone)]
pub struct CallError {
    /// The stack address (`iam_role.build`) the call was made for; the engine fills it in.
    pub address: Option<String>,
    /// `CreateRole`, `GET kube-system/aws-auth`, ...
    pub operation: String,
    pub class: Class,
    pub code: String,
    pub message: String,
    pub help: Option<String>,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// Bad input in a stack or policy file; carries file:line:col for every problem.
    #[error("{0}")]
    Stack(Diagnostics),

    /// An AWS or Kubernetes call failed.
    #[error("{}", call_text(.0))]
    Call(Box<CallError>),

    /// Anything else the user can act on.
    #[error("{}{message}", address.as_ref().map(|a| format!("{a}: ")).unwrap_or_default())]
    User { address: Option<String>, message: String, help: Option<String> },

    /// A bug in provision.
    #[error("internal error: {message}")]
    Internal { message: String },
}

fn call_text(c: &CallError) -> String {
    let at = c.address.as_ref().map(|a| format!("{a}: ")).unwrap_or_default();
    if c.code.is_empty() {
        format!("{at}{} failed: {}", c.operation, c.message)
    } else {
        format!("{at}{} failed: {}: {}", c.operation, c.code, c.message)
    }
}

impl Error {
    pub fn user(message: impl Into<String>, help: impl Into<String>) -> Self {
        Error::User { address: None, message: message.into(), help: Some(help.into()) }
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Error::Internal { message: message.into() }
    }

    pub fn help(&self) -> Option<&str> {
        match self {
            Error::Stack(_) => None,
            Error::Call(c) => c.help.as_deref(),
            Error::User { help, .. } => help.as_deref(),
            Error::Internal { .. } => Some("this is a bug in provision: please report it with the command you ran"),
        }
    }

    /// Attach or replace the `help:` line.
    pub fn with_help(mut self, text: impl Into<String>) -> Self {
        match &mut self {
            Error::Call(c) => c.help = Some(text.into()),
            Error::User { help, .. } => *help = Some(text.into()),
            Error::Stack(_) | Error::Internal { .. } => {}
        }
        self
    }

    /// Name the stack address the error is about, unless it already names one.
    pub fn at(mut self, address: impl std::fmt::Display) -> Self {
        match &mut self {
            Error::Call(c) if c.address.is_none() => c.address = Some(address.to_string()),
            Error::User { address: a @ None, .. } => *a = Some(address.to_string()),
            _ => {}
        }
        self
    }

    /// The AWS error code, if this is a failed call.
    pub fn code(&self) -> Option<&str> {
        match self {
            Error::Call(c) => Some(&c.code),
            _ => None,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
