//! Where an operation runs: the account, region and stack, the AWS clients, the settings, and
//! the per-run caches (nothing process-wide).

use super::observer::{Observer, Status};
use super::state::Address;
use crate::aws::reads::AccountReads;
use crate::aws::{retry, Aws, AwsError};
use crate::kube::Clusters;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Settings {
    /// How long to retry errors caused by IAM's eventual consistency (a role just created is not yet
    /// assumable by CodeBuild / CodePipeline).
    pub iam_propagation_timeout: Duration,
    /// Upper bound on concurrent changes.
    pub parallelism: usize,
    /// Upper bound on reads in flight per AWS service in the account, all kinds and stacks of the
    /// run together (plans read in batches, many at once).
    pub read_parallelism: usize,
    /// Time to establish a connection to an endpoint.
    pub connect_timeout: Duration,
    /// Time for one attempt of one AWS call, retries excluded.
    pub attempt_timeout: Duration,
    /// Time for one AWS call, all its retries included.
    pub call_timeout: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            iam_propagation_timeout: Duration::from_secs(120),
            parallelism: 8,
            read_parallelism: 32,
            connect_timeout: Duration::from_secs(5),
            attempt_timeout: Duration::from_secs(30),
            call_timeout: Duration::from_secs(120),
        }
    }
}

/// A role the stack's AWS calls run as (`assume_role:` in the stack, or `--assume-role`): the
/// credentials from the standard chain assume it, and every call of the run acts in its account.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AssumeRole {
    pub role_arn: String,
    /// What the role's trust policy may require as `sts:ExternalId` (third-party access).
    pub external_id: Option<String>,
    /// Shown in CloudTrail as who acted; default `provision-<stack>`.
    pub session_name: Option<String>,
}

/// Calls in flight per AWS service, shared by every stack of a run that acts in the same account:
/// AWS's rate limits are per service and account (IAM's are low), so ten stacks planned together
/// must not run ten times `parallelism` IAM writes at once, while reads of different services do
/// not wait for each other. (Throttling that still happens is retried with backoff by the SDK.)
#[derive(Debug)]
pub struct Limits {
    permits: usize,
    per_service: std::sync::Mutex<std::collections::HashMap<String, Arc<tokio::sync::Semaphore>>>,
}

impl Limits {
    pub fn new(permits: usize) -> Self {
        Limits { permits: permits.max(1), per_service: Default::default() }
    }

    /// Wait for a slot of `service` (released when the permit drops).
    pub async fn acquire(&self, service: &str) -> tokio::sync::OwnedSemaphorePermit {
        let sem = {
            let mut map = self.per_service.lock().unwrap_or_else(|e| e.into_inner());
            map.entry(service.to_string()).or_insert_with(|| Arc::new(tokio::sync::Semaphore::new(self.permits))).clone()
        };
        sem.acquire_owned().await.expect("the semaphore is never closed")
    }
}

/// What the stacks of one run that act in the same account share.
#[derive(Debug)]
pub struct Shared {
    /// Changes in flight per service (`settings.parallelism`).
    pub limits: Limits,
    /// Reads in flight per service (`settings.read_parallelism`).
    pub read_slots: Limits,
    /// IAM's account-wide listings (every role and customer-managed policy), read once for all of
    /// the run's plans in this account.
    pub reads: Arc<AccountReads>,
}

impl Shared {
    pub fn new(settings: &Settings) -> Self {
        Shared { limits: Limits::new(settings.parallelism), read_slots: Limits::new(settings.read_parallelism), reads: Default::default() }
    }
}

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
    /// EKS clusters described in this run.
    pub clusters: Clusters,
    /// Shared with the run's other stacks in this account.
    pub shared: Arc<Shared>,
}

impl Ctx {
    /// A context whose clients reach no endpoint: `check` without AWS, and tests.
    pub fn offline(stack: &str, account_id: &str, region: &str, settings: Settings) -> Ctx {
        let config = aws_config::SdkConfig::builder().behavior_version(aws_config::BehaviorVersion::latest()).build();
        Ctx {
            aws: Arc::new(Aws::from_config(config, false, None)),
            stack: stack.to_string(),
            account_id: account_id.to_string(),
            region: region.to_string(),
            partition: "aws".into(),
            shared: Arc::new(Shared::new(&settings)),
            settings,
            backup_dir: Default::default(),
            clusters: Clusters::default(),
        }
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

/// One step's operation: the context plus the stack address it works for, a way to say what
/// it waits for (the engine's heartbeat shows it) and where to tell the user something.
pub struct Op<'a> {
    pub ctx: &'a Ctx,
    pub address: &'a Address,
    pub status: &'a Status,
    pub observer: &'a dyn Observer,
}

impl std::ops::Deref for Op<'_> {
    type Target = Ctx;
    fn deref(&self) -> &Ctx {
        self.ctx
    }
}

impl Op<'_> {
    /// A line for the user, through the progress display (a direct print would tear a live one).
    pub fn note(&self, text: &str) {
        self.observer.note(text);
    }

    /// Run a call that AWS may refuse while IAM propagates a fresh role or trust change ("...
    /// is not authorized to perform sts:AssumeRole"): retried with backoff for
    /// `settings.iam_propagation_timeout`, the wait shown in the step's progress.
    pub async fn propagation<T, F, Fut>(&self, operation: &str, role: &str, call: F) -> crate::Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, AwsError>>,
    {
        let waiting = |attempt: u32| self.status.set(format!("IAM propagation of role {role} (attempt {attempt})"));
        let r = retry::iam_propagation(operation, role, self.settings.iam_propagation_timeout, waiting, call).await;
        self.status.clear();
        r
    }
}
