//! What the engine and the resource kinds share, at the bottom of the crate: the context an
//! operation runs in, field tables, desired and live state, the kind contract, plans and the
//! progress observer. Nothing here imports the stack language, the engine, the kinds or the
//! renderers: they all point here.

pub mod ctx;
pub mod kind;
pub mod observer;
pub mod plan;
pub mod schema;
pub mod state;

pub use ctx::{AssumeRole, Ctx, Limits, Op, Settings, Shared};
pub use kind::{Kind, Live, Registry, Resource};
pub use observer::{Observer, Silent, Status};
pub use plan::{Action, Counts, DeleteReason, Mode, Partial, Plan, Step, FORMAT_VERSION};
pub use schema::{PathSeg, PropError, Schema};
pub use state::{Address, Attrs, FieldChange, Found, Tags};

/// The tag that marks a resource as created by (and belonging to) a stack.
pub const OWNER_TAG: &str = "provision:stack";
/// The stack address a resource was created for: lets a plan show an identity change as a replace.
pub const ADDRESS_TAG: &str = "provision:address";
/// When a resource of a kind with non-unique names was created: the earliest of duplicates stays.
pub const CREATED_TAG: &str = "provision:created";
/// Tag keys provision keeps for itself: never diffed, never the user's to set.
pub const RESERVED_TAG_PREFIX: &str = "provision:";

/// Value of an attribute not known until apply (the ARN of a connection not created yet).
pub const UNKNOWN: &str = "(known after apply)";

/// Hex SHA-256 of some bytes.
pub fn digest(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}
