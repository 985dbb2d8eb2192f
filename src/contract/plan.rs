//! A plan: what apply will do, step by step, and what each step was decided on. Serialisable, so a
//! reviewed plan can be saved and applied exactly (`plan -out`, `apply FILE`).

use super::state::{Address, FieldChange, Found};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Bumped whenever a saved plan written by an older provision could be misread.
pub const FORMAT_VERSION: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Apply,
    Destroy,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Create,
    Update,
    /// Delete and create again: a field that cannot change in place changed. When the identity
    /// changes too, the new one is created first and the old one deleted once nothing uses it.
    Replace,
    Delete,
    NoOp,
    /// A same-named resource exists but is not this stack's: never touched.
    Unowned,
}

/// Why a step deletes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "why")]
pub enum DeleteReason {
    /// `provision destroy`.
    Destroy,
    /// The stack owns it but the stack file no longer declares it.
    Removed,
    /// A second resource of the same name and owner (non-unique names); `keep` is the identity
    /// details of the one that stays.
    Duplicate { keep: String },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Step {
    pub address: Address,
    /// The AWS identity (name, or cluster + principal) of the resource this step is about.
    pub identity: String,
    /// What the plan calls it (the last part of the identity: a name, a principal ARN).
    pub name: String,
    pub action: Action,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delete_reason: Option<DeleteReason>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<FieldChange>,
    /// Why a replace is needed (one line per field that cannot change in place).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<String>,
    /// For `Unowned`: whose it is (`None` = no ownership tag at all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// Status lines worth showing (not drift).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Steps of resources this one references (they go first on apply, last on destroy).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deps: Vec<Address>,
    /// The resolved desired state (`(known after apply)` where a value is not known yet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desired: Option<Value>,
    /// What the account holds, as read by the plan.
    #[serde(skip)]
    pub live: Option<Found>,
    /// Digest of `live`: apply of a saved plan refuses when it moved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    /// A resource this one references is replaced: read it again before updating it, because
    /// what it pointed at is gone (an attachment, a mapping).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub refresh: bool,
}

impl Step {
    pub fn is_change(&self) -> bool {
        !matches!(self.action, Action::NoOp | Action::Unowned)
    }

    /// A replace whose new resource has another identity than the old one.
    pub fn moves(&self) -> bool {
        self.action == Action::Replace && self.live.as_ref().is_some_and(|l| l.identity != self.identity)
    }
}

/// A plan that covers only some addresses.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Partial {
    pub targets: Vec<Address>,
    pub excludes: Vec<Address>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Plan {
    pub format_version: u32,
    pub stack: String,
    pub mode: Mode,
    pub account_id: String,
    pub region: String,
    /// Digest of the stack file and every file it includes.
    pub source_digest: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partial: Option<Partial>,
    /// Apply order: dependencies first.
    pub steps: Vec<Step>,
    /// Plan-wide notes (e.g. what the inventory could not read).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Variables whose value did not come from the stack file: (name, where from).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vars: Vec<(String, String)>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub add: usize,
    pub change: usize,
    pub destroy: usize,
    pub unowned: usize,
}

impl Plan {
    pub fn counts(&self) -> Counts {
        let mut c = Counts::default();
        for s in &self.steps {
            match s.action {
                Action::Create => c.add += 1,
                Action::Update => c.change += 1,
                Action::Replace => {
                    c.add += 1;
                    c.destroy += 1
                }
                Action::Delete => c.destroy += 1,
                Action::Unowned => c.unowned += 1,
                Action::NoOp => {}
            }
        }
        c
    }

    pub fn has_changes(&self) -> bool {
        self.steps.iter().any(Step::is_change)
    }

    pub fn unowned(&self) -> impl Iterator<Item = &Step> {
        self.steps.iter().filter(|s| s.action == Action::Unowned)
    }
}
