//! Library errors. Every error knows what went wrong, where, and (when we can tell) what to do next;
//! `report` in `main.rs` is the one place that turns them into text.

use crate::stack::diag::Diagnostics;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad input in a stack or policy file; carries file:line:col for every problem.
    #[error("{0}")]
    Stack(Diagnostics),

    /// An AWS API call failed with a code we do not handle.
    #[error("{address}: {operation} failed: {code}: {message}")]
    Aws { address: String, operation: String, code: String, message: String, help: Option<String> },

    /// A Kubernetes API call failed.
    #[error("{address}: {message}")]
    Kube { address: String, message: String, help: Option<String> },

    /// Anything else the user can act on.
    #[error("{message}")]
    User { message: String, help: Option<String> },
}

impl Error {
    pub fn user(message: impl Into<String>, help: impl Into<String>) -> Self {
        Error::User { message: message.into(), help: Some(help.into()) }
    }

    pub fn help(&self) -> Option<&str> {
        match self {
            Error::Stack(_) => None,
            Error::Aws { help, .. } | Error::Kube { help, .. } | Error::User { help, .. } => help.as_deref(),
        }
    }

    /// Attach or replace the `help:` line.
    pub fn with_help(mut self, text: impl Into<String>) -> Self {
        match &mut self {
            Error::Stack(_) => {}
            Error::Aws { help, .. } | Error::Kube { help, .. } | Error::User { help, .. } => {
                *help = Some(text.into())
            }
        }
        self
    }

    /// The AWS error code, if this is an AWS error.
    pub fn aws_code(&self) -> Option<&str> {
        match self {
            Error::Aws { code, .. } => Some(code),
            _ => None,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
