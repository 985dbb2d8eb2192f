//! `provision output`: attributes of the resources this stack has applied (the ECR URI, role
//! ARNs), read from the account, for scripts and buildspecs.

use crate::contract::{Action, Address, Ctx, Plan, Registry};
use std::collections::BTreeMap;

pub type Outputs = BTreeMap<Address, BTreeMap<String, String>>;

/// Every known attribute of every declared resource the account holds for this stack (`plan` is
/// an apply plan, just made).
pub fn outputs(ctx: &Ctx, registry: &dyn Registry, plan: &Plan) -> crate::Result<Outputs> {
    let mut out = Outputs::new();
    for s in plan.steps.iter().filter(|s| !matches!(s.action, Action::Create | Action::Unowned)) {
        let (Some(desired), Some(live), Some(kind)) = (&s.desired, &s.live, registry.get(&s.address.kind)) else { continue };
        let attrs = kind.attrs(ctx, desired, Some(live))?;
        out.insert(s.address.clone(), attrs.into_iter().filter_map(|(k, v)| v.map(|v| (k, v))).collect());
    }
    Ok(out)
}
