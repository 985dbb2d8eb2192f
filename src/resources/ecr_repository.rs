//! `ecr_repository`: an ECR repository for the application's images.

use crate::aws::{self, CallResult, Reads};
use crate::contract::schema::*;
use crate::contract::{Attrs, Ctx, Live, Op, Resource, Tags};
use crate::Result;
use async_trait::async_trait;
use aws_sdk_ecr::types::{EncryptionConfiguration, EncryptionType, ImageScanningConfiguration, ImageTagMutability, Tag};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

pub struct EcrRepository;

const NAME: Pattern = Pattern {
    describe: "lowercase letters, digits, `.`, `_`, `-` or `/`",
    check: |s| s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-/".contains(c)),
};

pub static SCHEMA: Schema = Schema {
    kind: "ecr_repository",
    summary: "An ECR repository for the application's images.",
    notes: "",
    fields: &[
        field("name", text_matching(2, 256, NAME), "repository name").required().replace("a repository cannot be renamed"),
        field("image_tag_mutability", Ty::Enum(&["MUTABLE", "IMMUTABLE"]), "whether a pushed tag can be moved"),
        field("scan_on_push", Ty::Bool, "scan every pushed image"),
        field("encryption", Ty::Enum(&["AES256", "KMS"]), "encryption at rest").replace("ECR fixes a repository's encryption when it is created"),
        field("kms_key", STRING, "the KMS key for `KMS` encryption").replace("ECR fixes a repository's encryption key when it is created"),
        field("force_destroy", Ty::Bool, "let destroy delete a repository that still holds images").behaviour(Lit::Bool(false)),
        TAGS,
    ],
    attributes: &[
        attr("name", "repository name"),
        attr("arn", "repository ARN"),
        attr("uri", "`ACCOUNT.dkr.ecr.REGION.amazonaws.com/NAME`, for `docker push`"),
        attr("registry_id", "the account id"),
    ],
    identity: &["name"],
    unique: true,
    ownership: Ownership::Tags,
    rank: 5,
    not_found: &["RepositoryNotFoundException"],
    already_exists: &["RepositoryAlreadyExistsException"],
};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct State {
    name: String,
    image_tag_mutability: Option<String>,
    scan_on_push: Option<bool>,
    encryption: Option<String>,
    kms_key: Option<String>,
    force_destroy: bool,
    tags: Tags,
}

fn sdk_tags(tags: &Tags) -> Vec<Tag> {
    tags.iter().map(|(k, v)| Tag::builder().key(k).value(v).build().expect("key and value set")).collect()
}

#[async_trait]
impl Resource for EcrRepository {
    type State = State;

    fn schema(&self) -> &'static Schema {
        &SCHEMA
    }

    fn attrs(&self, ctx: &Ctx, s: &State, live: Option<&Live<State>>) -> Attrs {
        let name = &s.name;
        let mut a = Attrs::new();
        a.insert("name".into(), Some(name.clone()));
        a.insert("arn".into(), Some(ctx.arn("ecr", &format!("repository/{name}"))));
        a.insert("uri".into(), Some(format!("{}.dkr.ecr.{}.amazonaws.com/{name}", ctx.account_id, ctx.region)));
        a.insert("registry_id".into(), Some(ctx.account_id.clone()));
        for (k, v) in live.map(|l| &l.attrs).into_iter().flatten() {
            a.insert(k.clone(), Some(v.clone()));
        }
        a
    }

    async fn inventory(&self, ctx: &Ctx, reads: &Reads, wanted: &[State]) -> Result<Vec<Live<State>>> {
        let ecr = ctx.aws.ecr();
        let owned: BTreeMap<String, Tags> = reads.tagged(&ctx.aws, "ecr").await?.into_iter().map(|t| (t.arn, t.tags)).collect();
        let wanted: BTreeSet<&str> = wanted.iter().map(|w| w.name.as_str()).collect();
        // All repositories: a list of names fails as a whole when one is missing.
        let mut repos = Vec::new();
        let mut pages = ecr.describe_repositories().max_results(1000).into_paginator().send();
        while let Some(page) = pages.next().await {
            repos.extend(page.op("DescribeRepositories")?.repositories.unwrap_or_default());
        }
        let relevant = repos.into_iter().filter(|r| {
            let arn = r.repository_arn().unwrap_or_default();
            owned.contains_key(arn) || wanted.contains(r.repository_name().unwrap_or_default())
        });
        aws::reads::each(ctx, "ecr", relevant, |repo| {
            let owned = &owned;
            async move {
                let arn = repo.repository_arn().unwrap_or_default().to_string();
                let tags = super::tags_or_list!(owned, &arn, ecr.list_tags_for_resource().resource_arn(&arn));
                let state = State {
                    name: repo.repository_name().unwrap_or_default().to_string(),
                    image_tag_mutability: repo.image_tag_mutability().map(|m| m.as_str().to_string()),
                    scan_on_push: repo.image_scanning_configuration().map(|c| c.scan_on_push),
                    encryption: repo.encryption_configuration().map(|e| match e.encryption_type() {
                        EncryptionType::Kms | EncryptionType::KmsDsse => "KMS".to_string(),
                        _ => "AES256".to_string(),
                    }),
                    kms_key: repo.encryption_configuration().and_then(|e| e.kms_key()).map(str::to_string),
                    force_destroy: false,
                    tags,
                };
                let mut live = Live::new(state).attr("arn", arn);
                if let Some(uri) = repo.repository_uri() {
                    live = live.attr("uri", uri);
                }
                Ok(live)
            }
        })
        .await
    }

    async fn create(&self, op: &Op<'_>, s: &State) -> Result<BTreeMap<String, String>> {
        let mut req = op.aws.ecr().create_repository().repository_name(&s.name).set_tags(Some(sdk_tags(&s.tags)));
        if let Some(m) = &s.image_tag_mutability {
            req = req.image_tag_mutability(ImageTagMutability::from(m.as_str()));
        }
        if let Some(scan) = s.scan_on_push {
            req = req.image_scanning_configuration(ImageScanningConfiguration::builder().scan_on_push(scan).build());
        }
        if let Some(enc) = &s.encryption {
            let t = if enc == "KMS" { EncryptionType::Kms } else { EncryptionType::Aes256 };
            let conf = EncryptionConfiguration::builder()
                .encryption_type(t)
                .set_kms_key(s.kms_key.clone())
                .build()
                .map_err(|e| crate::Error::internal(e.to_string()))?;
            req = req.encryption_configuration(conf);
        }
        let out = req.send().await.op("CreateRepository")?;
        let repo = out.repository;
        let mut attrs = BTreeMap::new();
        if let Some(arn) = repo.as_ref().and_then(|r| r.repository_arn()) {
            attrs.insert("arn".to_string(), arn.to_string());
        }
        if let Some(uri) = repo.as_ref().and_then(|r| r.repository_uri()) {
            attrs.insert("uri".to_string(), uri.to_string());
        }
        Ok(attrs)
    }

    async fn update(&self, op: &Op<'_>, s: &State, live: &Live<State>) -> Result<()> {
        let ecr = op.aws.ecr();
        if s.image_tag_mutability != live.state.image_tag_mutability {
            if let Some(m) = &s.image_tag_mutability {
                ecr.put_image_tag_mutability()
                    .repository_name(&s.name)
                    .image_tag_mutability(ImageTagMutability::from(m.as_str()))
                    .send()
                    .await
                    .op("PutImageTagMutability")?;
            }
        }
        if s.scan_on_push != live.state.scan_on_push {
            if let Some(scan) = s.scan_on_push {
                ecr.put_image_scanning_configuration()
                    .repository_name(&s.name)
                    .image_scanning_configuration(ImageScanningConfiguration::builder().scan_on_push(scan).build())
                    .send()
                    .await
                    .op("PutImageScanningConfiguration")?;
            }
        }
        Ok(())
    }

    async fn tag(&self, op: &Op<'_>, live: &Live<State>, set: &Tags, remove: &[String]) -> Result<()> {
        let ecr = op.aws.ecr();
        let arn = live.attrs.get("arn").cloned().unwrap_or_else(|| op.arn("ecr", &format!("repository/{}", live.state.name)));
        if !set.is_empty() {
            ecr.tag_resource().resource_arn(&arn).set_tags(Some(sdk_tags(set))).send().await.op("TagResource")?;
        }
        if !remove.is_empty() {
            ecr.untag_resource().resource_arn(&arn).set_tag_keys(Some(remove.to_vec())).send().await.op("UntagResource")?;
        }
        Ok(())
    }

    async fn delete(&self, op: &Op<'_>, live: &Live<State>, desired: Option<&State>) -> Result<()> {
        let force = desired.is_some_and(|d| d.force_destroy);
        match op.aws.ecr().delete_repository().repository_name(&live.state.name).force(force).send().await {
            Ok(_) => Ok(()),
            Err(e) => {
                let e = aws::error(e);
                let not_empty = e.is("RepositoryNotEmptyException");
                let err = e.op("DeleteRepository");
                Err(if not_empty {
                    err.with_help("the repository still holds images; delete them, or set `force_destroy: true` on it in the stack to delete them with it")
                } else {
                    err
                })
            }
        }
    }
}
