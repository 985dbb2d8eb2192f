//! Deciding and doing, kept apart: `plan` takes the inventory and calls `decide` (pure) for every
//! resource; `apply` carries a plan out through `schedule` (pure ordering); `diff` and `resolve`
//! are the table-driven comparison and `${}` resolution both use.

pub mod adopt;
pub mod apply;
pub mod decide;
pub mod diff;
pub mod graph;
pub mod output;
pub mod plan;
pub mod resolve;
pub mod saved;
pub mod schedule;
#[cfg(test)]
mod tests;

use crate::aws::{Aws, CallResult};
use crate::contract::{Ctx, Settings, Shared};
use crate::kube::Clusters;
use std::path::PathBuf;
use std::sync::Arc;

/// Where calls go and whom they act for: the region from the configuration, the account and
/// partition from STS. Stacks of one run that use the same credentials and region share it.
#[derive(Clone)]
pub struct Connection {
    pub aws: Arc<Aws>,
    pub account_id: String,
    pub partition: String,
    pub region: String,
}

pub async fn connect(aws: Arc<Aws>) -> crate::Result<Connection> {
    let region = aws
        .region()
        .ok_or_else(|| crate::Error::user("no AWS region configured", "set `region:` in the stack, pass --region, or set AWS_REGION / a profile region"))?;
    let who = aws.sts().get_caller_identity().send().await.op("GetCallerIdentity")?;
    let account_id = who.account().unwrap_or_default().to_string();
    let partition = who.arn().and_then(|a| a.split(':').nth(1)).unwrap_or("aws").to_string();
    Ok(Connection { aws, account_id, partition, region })
}

impl Connection {
    /// The context of one stack's run.
    pub fn ctx(&self, stack: &str, settings: Settings, backup_dir: PathBuf, shared: Arc<Shared>) -> Ctx {
        let Connection { aws, account_id, partition, region } = self.clone();
        Ctx { aws, stack: stack.to_string(), account_id, region, partition, settings, backup_dir, clusters: Clusters::default(), shared }
    }
}
