//! Deciding and doing, kept apart: `plan` is a pure function of the stack and what `read` saw;
//! `apply` walks the plan's dependency graph and carries it out.

pub mod apply;
pub mod diff;
pub mod graph;
pub mod plan;
pub mod policy;
pub mod resolve;

use crate::aws::Aws;
use crate::stack::Settings;
use std::path::PathBuf;
use std::sync::Arc;

/// What every resource operation may need to know about where it runs.
pub struct Ctx {
    pub aws: Arc<Aws>,
    /// The stack name: the value of the ownership tag.
    pub stack: String,
    pub account_id: String,
    pub region: String,
    pub partition: String,
    pub settings: Settings,
    /// Where backups of edited shared objects (aws-auth) are written.
    pub backup_dir: PathBuf,
}

impl Ctx {
    /// Build the context: region from the stack, else the AWS configuration; account from STS.
    pub async fn connect(aws: Arc<Aws>, stack: &crate::stack::Stack) -> crate::Result<Ctx> {
        let region = aws.region().ok_or_else(|| {
            crate::Error::user(
                "no AWS region configured",
                "set `region:` in the stack, pass --region, or set AWS_REGION / a profile region",
            )
        })?;
        let who = aws.sts().get_caller_identity().send().await.map_err(|e| {
            crate::aws::error(e).at("sts", "GetCallerIdentity").with_help(
                "provision needs working AWS credentials from the standard chain (environment, \
                 AWS_PROFILE, SSO, IMDS); check them with `aws sts get-caller-identity`",
            )
        })?;
        let account_id = who.account().unwrap_or_default().to_string();
        let partition = who
            .arn()
            .and_then(|a| a.split(':').nth(1))
            .unwrap_or("aws")
            .to_string();
        Ok(Ctx {
            aws,
            stack: stack.name.clone(),
            account_id,
            region,
            partition,
            settings: stack.settings.clone(),
            backup_dir: PathBuf::from(".provision/backups"),
        })
    }

    /// `arn:aws:iam::<account>:<rest>`-style ARN for a global service.
    pub fn global_arn(&self, service: &str, rest: &str) -> String {
        format!("arn:{}:{}::{}:{}", self.partition, service, self.account_id, rest)
    }

    /// ARN for a regional service.
    pub fn arn(&self, service: &str, rest: &str) -> String {
        format!("arn:{}:{}:{}:{}:{}", self.partition, service, self.region, self.account_id, rest)
    }
}
