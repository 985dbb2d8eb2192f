//! The stack language: model, loading (YAML + included policy JSON) and validation.
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

pub mod diag;
pub mod interp;
pub mod load;
pub mod node;
pub mod validate;

use node::{Node, Pos};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::PathBuf;

pub use load::load;

/// `<kind>.<name>`, e.g. `iam_role.kubectl`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct Address {
    pub kind: String,
    pub name: String,
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.kind, self.name)
    }
}

#[derive(Debug, Clone)]
pub struct Settings {
    /// How long to retry errors caused by IAM's eventual consistency (a role just created is not yet
    /// assumable by CodeBuild / CodePipeline).
    pub iam_propagation_timeout: std::time::Duration,
    /// Upper bound on concurrent AWS operations.
    pub parallelism: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings { iam_propagation_timeout: std::time::Duration::from_secs(120), parallelism: 8 }
    }
}

#[derive(Debug, Clone)]
pub struct Stack {
    pub name: String,
    /// Files the stack was read from: `files[0]` is the stack file, the rest are included policies.
    pub files: Vec<PathBuf>,
    pub region: Option<String>,
    pub vars: BTreeMap<String, String>,
    pub settings: Settings,
    /// In file order.
    pub resources: Vec<Resource>,
}

#[derive(Debug, Clone)]
pub struct Resource {
    pub address: Address,
    pub pos: Pos,
    /// Declared properties, policy files already included, `${}` not yet resolved.
    pub props: Node,
    /// Resources this one references.
    pub deps: BTreeSet<Address>,
}

impl Stack {
    pub fn resource(&self, address: &Address) -> Option<&Resource> {
        self.resources.iter().find(|r| &r.address == address)
    }

    pub fn loc(&self, pos: Pos) -> diag::Loc {
        diag::Loc::new(&self.files[pos.file as usize], pos.line, pos.col)
    }
}
