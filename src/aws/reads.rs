//! Account-wide listings shared by every kind for one run: what carries the stack's tag (a paged
//! Resource Groups Tagging API call per regional service, all at once: one listing for every
//! service would be pages read one after another), and IAM's whole
//! authorisation picture (roles with tags, inline and attached policies; customer-managed
//! policies with versions) in a few `GetAccountAuthorizationDetails` pages. The Tagging API does
//! not cover IAM, hence the second. Each is read at most once per `Reads`, i.e. per plan.

use super::{Aws, CallResult};
use crate::contract::{Ctx, Tags, OWNER_TAG};
use aws_sdk_iam::types::{EntityType, ManagedPolicyDetail, RoleDetail};
use aws_sdk_resourcegroupstagging::types::TagFilter;
use futures::stream::{self, StreamExt, TryStreamExt};
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use tokio::sync::OnceCell;

/// A resource carrying the stack's tag, as the Tagging API reports it.
#[derive(Debug, Clone)]
pub struct Tagged {
    pub arn: String,
    pub tags: Tags,
}

#[derive(Debug, Default)]
pub struct IamDetails {
    pub roles: Vec<RoleDetail>,
    /// Customer-managed policies only.
    pub policies: Vec<ManagedPolicyDetail>,
}

/// What `ListRoles` adds to the account details: a role's description and session length.
#[derive(Debug, Clone, Default)]
pub struct RoleExtras {
    pub description: Option<String>,
    pub max_session_duration: Option<i32>,
}

/// IAM's account-wide listings: the same for every stack in the account, so the plans of one run
/// read them once.
#[derive(Debug, Default)]
pub struct AccountReads {
    iam: OnceCell<IamDetails>,
    role_extras: OnceCell<HashMap<String, RoleExtras>>,
}

pub struct Reads {
    stack: String,
    /// Per service (`ecr`, `s3`, ...): read once, by whichever kind asks first.
    tagged: std::sync::Mutex<HashMap<String, Arc<OnceCell<Vec<Tagged>>>>>,
    account: Arc<AccountReads>,
}

impl Reads {
    /// Reads of its own (a resource read again during apply must see the account as it is now).
    pub fn new(stack: &str) -> Self {
        Reads::sharing(stack, Arc::default())
    }

    /// Reads that share the account-wide listings with the run's other plans in this account.
    pub fn sharing(stack: &str, account: Arc<AccountReads>) -> Self {
        Reads { stack: stack.to_string(), tagged: Default::default(), account }
    }

    /// Everything in the region carrying `provision:stack=<stack>` whose ARN is of `service`
    /// (`ecr`, `s3`, `sns`, `codebuild`, ...).
    pub async fn tagged(&self, aws: &Aws, service: &str) -> crate::Result<Vec<Tagged>> {
        let cell = self.tagged.lock().unwrap_or_else(|e| e.into_inner()).entry(service.to_string()).or_default().clone();
        let listed = cell
            .get_or_try_init(|| async {
                let filter = TagFilter::builder().key(OWNER_TAG).values(&self.stack).build();
                let pages: Vec<_> = aws
                    .tagging()
                    .get_resources()
                    .tag_filters(filter)
                    .resource_type_filters(service)
                    .resources_per_page(100)
                    .into_paginator()
                    .send()
                    .collect()
                    .await;
                let mut out = Vec::new();
                for page in pages {
                    for m in page.op("GetResources")?.resource_tag_mapping_list() {
                        let tags = m.tags().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect();
                        out.push(Tagged { arn: m.resource_arn().unwrap_or_default().to_string(), tags });
                    }
                }
                Ok::<_, crate::Error>(out)
            })
            .await?;
        Ok(listed.clone())
    }

    pub async fn iam(&self, aws: &Aws) -> crate::Result<&IamDetails> {
        self.account
            .iam
            .get_or_try_init(|| async {
                let pages: Vec<_> = aws
                    .iam()
                    .get_account_authorization_details()
                    .filter(EntityType::Role)
                    .filter(EntityType::LocalManagedPolicy)
                    // IAM's largest page: the pages come one after another, each a round trip.
                    .max_items(1000)
                    .into_paginator()
                    .send()
                    .collect()
                    .await;
                let mut d = IamDetails::default();
                for page in pages {
                    let page = page.op("GetAccountAuthorizationDetails")?;
                    d.roles.extend(page.role_detail_list().iter().cloned());
                    d.policies.extend(page.policies().iter().cloned());
                }
                Ok::<_, crate::Error>(d)
            })
            .await
    }

    /// Every role's description and session length by name: the account details lack them, and
    /// `ListRoles` pages through a thousand roles per call where `GetRole` takes one.
    pub async fn role_extras(&self, aws: &Aws) -> crate::Result<&HashMap<String, RoleExtras>> {
        self.account
            .role_extras
            .get_or_try_init(|| async {
                let pages: Vec<_> = aws.iam().list_roles().max_items(1000).into_paginator().send().collect().await;
                let mut out = HashMap::new();
                for page in pages {
                    for r in page.op("ListRoles")?.roles() {
                        let extras = RoleExtras { description: r.description().map(str::to_string), max_session_duration: r.max_session_duration() };
                        out.insert(r.role_name().to_string(), extras);
                    }
                }
                Ok::<_, crate::Error>(out)
            })
            .await
    }
}

/// Run the read `f` of AWS `service` over `items`, keeping their order; the first error wins. At
/// most `settings.read_parallelism` reads of the service are in flight in the account, whichever
/// kind or stack of the run makes them (the slots are the account's, shared through
/// `Ctx::shared`); reads of other services go on beside them, as AWS limits each service apart.
pub async fn each<T, U, F, Fut>(ctx: &Ctx, service: &str, items: impl IntoIterator<Item = T>, f: F) -> crate::Result<Vec<U>>
where
    F: Fn(T) -> Fut,
    Fut: Future<Output = crate::Result<U>>,
{
    let slots = &ctx.shared.read_slots;
    let reads = items.into_iter().map(|item| {
        let read = f(item);
        async move {
            let _slot = slots.acquire(service).await;
            read.await
        }
    });
    stream::iter(reads).buffered(ctx.settings.read_parallelism.max(1)).try_collect().await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::{Settings, Shared};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    /// Two stacks of one account read one service at once: together they never have more reads in
    /// flight than the account's `read_parallelism`, and every result comes back in order; reads of
    /// another service do not wait for those slots.
    #[tokio::test]
    async fn reads_in_flight_are_bounded_per_service_and_account_not_per_call() {
        let settings = Settings { read_parallelism: 3, ..Settings::default() };
        let shared = Arc::new(Shared::new(&settings));
        let (mut a, mut b) = (Ctx::offline("a", "1", "r", settings.clone()), Ctx::offline("b", "1", "r", settings.clone()));
        (a.shared, b.shared) = (shared.clone(), shared);
        let (now, most) = (AtomicUsize::new(0), AtomicUsize::new(0));
        let read = |i: usize| {
            let (now, most) = (&now, &most);
            async move {
                most.fetch_max(now.fetch_add(1, Ordering::SeqCst) + 1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(10)).await;
                now.fetch_sub(1, Ordering::SeqCst);
                Ok(i)
            }
        };
        let (x, y) = tokio::join!(each(&a, "sns", 0..8, read), each(&b, "sns", 0..8, read));
        assert_eq!(x.unwrap(), (0..8).collect::<Vec<_>>());
        assert_eq!(y.unwrap(), (0..8).collect::<Vec<_>>());
        assert_eq!(most.load(Ordering::SeqCst), 3);
        most.store(0, Ordering::SeqCst);
        let (x, y) = tokio::join!(each(&a, "sns", 0..8, read), each(&b, "s3", 0..8, read));
        assert_eq!((x.unwrap().len(), y.unwrap().len()), (8, 8));
        assert_eq!(most.load(Ordering::SeqCst), 6, "two services: each its own 3 slots");
    }
}
