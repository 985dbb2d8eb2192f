//! The stack language: `load` reads the YAML file and the policy files it includes (inside the
//! project only) into a positioned tree; `validate` checks it against each kind's field table and
//! relates the resources (references, names, cycles). Both report every problem found with
//! file:line:col and a `help:` line.
//!
//! ```yaml
//! stack: eks-devops
//! region: us-east-1
//! vars: { cluster_name: eksdemo1 }
//! resources:
//!   iam_role.kubectl:
//!     name: EksCodeBuildKubectlRole
//!     trust_policy: { file: policies/kubectl-trust.json }
//! ```

pub mod interp;
pub mod load;
pub mod node;
pub mod source;
pub mod validate;

use crate::contract::{Address, AssumeRole, Settings};
use crate::error::Loc;
use node::{Node, Pos};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

pub use load::{load, Parsed};
pub use validate::{validate, VarOverride};

/// Where a variable's value came from (the plan shows it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VarSource {
    File,
    /// `--var NAME=VALUE`
    Flag,
    /// `PROVISION_VAR_<NAME>`
    Env,
}

impl std::fmt::Display for VarSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            VarSource::File => "stack file",
            VarSource::Flag => "--var",
            VarSource::Env => "environment",
        })
    }
}

#[derive(Debug, Clone)]
pub struct Var {
    /// May refer to other variables, `${account_id}`, `${region}` and `${stack}`.
    pub value: String,
    pub source: VarSource,
    pub pos: Pos,
}

/// `lifecycle:` of a resource.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Guards {
    /// Any plan that would delete or replace it fails.
    pub protect: bool,
    /// Fields read and shown but never diffed (top-level field names).
    pub ignore_changes: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Resource {
    pub address: Address,
    pub pos: Pos,
    /// Declared properties, policy files already included, `${}` not yet resolved.
    pub props: Node,
    /// Resources this one references.
    pub deps: BTreeSet<Address>,
    pub guards: Guards,
    /// `checks: { ignore: { RULE: reason } }`: lint findings the user has accepted, with why.
    pub lint_ignore: BTreeMap<String, String>,
}

#[derive(Debug, Clone)]
pub struct Stack {
    pub name: String,
    /// Files the stack was read from: `files[0]` is the stack file, the rest are included policies.
    pub files: Vec<PathBuf>,
    /// Their text (for located errors found later, after `${}` resolution).
    pub texts: Vec<String>,
    /// Digest of every file read: a saved plan is only applied to the stack it was made from.
    pub digest: String,
    /// The region the stack is pinned to, if it is.
    pub region: Option<String>,
    /// The role its AWS calls run as, if it names one.
    pub assume_role: Option<AssumeRole>,
    pub vars: BTreeMap<String, Var>,
    pub settings: Settings,
    /// In file order.
    pub resources: Vec<Resource>,
}

impl Stack {
    pub fn resource(&self, address: &Address) -> Option<&Resource> {
        self.resources.iter().find(|r| &r.address == address)
    }

    pub fn loc(&self, pos: Pos) -> Loc {
        Loc::new(&self.files[pos.file as usize], pos.line, pos.col)
    }

    /// A located problem found after loading (e.g. in a value once its references resolved).
    pub fn diagnostic(&self, pos: Pos, message: impl Into<String>, help: impl Into<String>) -> crate::error::Diagnostic {
        crate::error::Diagnostic::in_text(&self.texts[pos.file as usize], self.loc(pos), message).help(help)
    }
}
