//! `s3_bucket`: the pipeline's artifact store.
//!
//! ```yaml
//! s3_bucket.artifacts:
//!   name: eks-devops-artifacts-${account_id}-${region}   # bucket names are global
//!   encryption: AES256            # AES256 | aws:kms (with kms_key_id)
//!   block_public_access: true     # all four public-access-block flags
//!   versioning: true
//!   force_destroy: true           # let destroy empty it (all object versions) first
//! ```

use super::{config, owned_tags, parse_as, Attrs, Desired, Kind, Live, PropError};
use crate::aws;
use crate::engine::diff::FieldChange;
use crate::engine::Ctx;
use crate::error::Result;
use crate::stack::node::PathSeg;
use async_trait::async_trait;
use aws_sdk_s3::types::{
    BucketLocationConstraint, BucketVersioningStatus, CreateBucketConfiguration, Delete, ObjectIdentifier,
    PublicAccessBlockConfiguration, ServerSideEncryption, ServerSideEncryptionByDefault,
    ServerSideEncryptionConfiguration, ServerSideEncryptionRule, Tag, Tagging, VersioningConfiguration,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;

pub struct S3Bucket;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Props {
    name: String,
    #[serde(default)]
    encryption: Option<String>,
    #[serde(default)]
    kms_key_id: Option<String>,
    #[serde(default)]
    block_public_access: Option<bool>,
    #[serde(default)]
    versioning: Option<bool>,
    #[serde(default)]
    force_destroy: bool,
    #[serde(default)]
    tags: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct State {
    name: String,
    encryption: Option<String>,
    kms_key_id: Option<String>,
    block_public_access: Option<bool>,
    versioning: Option<bool>,
    tags: BTreeMap<String, String>,
}

fn address(name: &str) -> String {
    format!("s3_bucket {name}")
}

fn valid_bucket_name(n: &str) -> bool {
    (3..=63).contains(&n.len())
        && n.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        && n.starts_with(|c: char| c.is_ascii_alphanumeric())
        && n.ends_with(|c: char| c.is_ascii_alphanumeric())
        && !n.contains("..")
}

#[async_trait]
impl Kind for S3Bucket {
    fn kind(&self) -> &'static str {
        "s3_bucket"
    }

    fn attributes(&self) -> &'static [&'static str] {
        &["name", "arn"]
    }

    fn check(&self, props: &Value) -> Result<(), PropError> {
        let p: Props = parse_as(props)?;
        let at = |k: &str| vec![PathSeg::Key(k.to_string())];
        if !super::is_interpolated(&p.name) && !valid_bucket_name(&p.name) {
            return Err(PropError {
                path: at("name"),
                message: format!("invalid S3 bucket name `{}`", p.name),
                help: Some("use 3-63 lowercase letters, digits, `-` or `.`, starting and ending with a letter or digit".into()),
            });
        }
        if let Some(e) = &p.encryption {
            if e != "AES256" && e != "aws:kms" {
                return Err(PropError { path: at("encryption"), message: format!("unknown encryption `{e}`"), help: Some("use `AES256` or `aws:kms`".into()) });
            }
        }
        Ok(())
    }

    fn desired(&self, ctx: &Ctx, props: &Value) -> Result<Desired> {
        let p: Props = config(props)?;
        let state = State {
            name: p.name.clone(),
            encryption: p.encryption,
            kms_key_id: p.kms_key_id,
            block_public_access: p.block_public_access,
            versioning: p.versioning,
            tags: owned_tags(ctx, &p.tags),
        };
        Ok(Desired { name: p.name, state: serde_json::to_value(state).expect("serialisable"), options: json!({"force_destroy": p.force_destroy}) })
    }

    fn attrs(&self, ctx: &Ctx, desired: &Desired, _live: Option<&Live>) -> Attrs {
        let mut a = Attrs::new();
        a.insert("name".into(), Some(desired.name.clone()));
        a.insert("arn".into(), Some(format!("arn:{}:s3:::{}", ctx.partition, desired.name)));
        a
    }

    fn immutable(&self) -> &'static [(&'static str, &'static str)] {
        &[("name", "S3 buckets cannot be renamed")]
    }

    async fn read(&self, ctx: &Ctx, desired: &Desired) -> Result<Option<Live>> {
        let s3 = ctx.aws.s3();
        let name = &desired.name;
        if let Err(e) = s3.head_bucket().bucket(name).send().await {
            let status = e.raw_response().map(|r| r.status().as_u16());
            let e = aws::error(e);
            return match status {
                Some(404) => Ok(None),
                Some(403) => Err(e.at(address(name), "HeadBucket").with_help(
                    "the bucket name is taken by another account (bucket names are global): choose another `name`",
                )),
                _ if e.is("NotFound") || e.is("NoSuchBucket") => Ok(None),
                _ => Err(e.at(address(name), "HeadBucket")),
            };
        }
        let addr = address(name);
        let (tags, encryption, pab, versioning) = futures::try_join!(
            async {
                match s3.get_bucket_tagging().bucket(name).send().await {
                    Ok(o) => Ok(o.tag_set().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect::<BTreeMap<_, _>>()),
                    Err(e) => {
                        let e = aws::error(e);
                        if e.is("NoSuchTagSet") { Ok(BTreeMap::new()) } else { Err(e.at(&addr, "GetBucketTagging")) }
                    }
                }
            },
            async {
                match s3.get_bucket_encryption().bucket(name).send().await {
                    Ok(o) => Ok(o
                        .server_side_encryption_configuration()
                        .and_then(|c| c.rules().first())
                        .and_then(|r| r.apply_server_side_encryption_by_default())
                        .map(|d| (d.sse_algorithm().as_str().to_string(), d.kms_master_key_id().map(str::to_string)))),
                    Err(e) => {
                        let e = aws::error(e);
                        if e.is("ServerSideEncryptionConfigurationNotFoundError") { Ok(None) } else { Err(e.at(&addr, "GetBucketEncryption")) }
                    }
                }
            },
            async {
                match s3.get_public_access_block().bucket(name).send().await {
                    Ok(o) => Ok(o.public_access_block_configuration().map(|c| {
                        c.block_public_acls() == Some(true)
                            && c.ignore_public_acls() == Some(true)
                            && c.block_public_policy() == Some(true)
                            && c.restrict_public_buckets() == Some(true)
                    }).unwrap_or(false)),
                    Err(e) => {
                        let e = aws::error(e);
                        if e.is("NoSuchPublicAccessBlockConfiguration") { Ok(false) } else { Err(e.at(&addr, "GetPublicAccessBlock")) }
                    }
                }
            },
            async {
                s3.get_bucket_versioning()
                    .bucket(name)
                    .send()
                    .await
                    .map(|o| o.status() == Some(&BucketVersioningStatus::Enabled))
                    .map_err(|e| aws::error(e).at(&addr, "GetBucketVersioning"))
            }
        )?;
        let state = State {
            name: name.clone(),
            encryption: encryption.as_ref().map(|(a, _)| a.clone()),
            kms_key_id: encryption.and_then(|(_, k)| k),
            block_public_access: Some(pab),
            versioning: Some(versioning),
            tags: tags.clone(),
        };
        Ok(Some(Live::new(serde_json::to_value(state).expect("serialisable"), &tags)))
    }

    async fn create(&self, ctx: &Ctx, desired: &Desired) -> Result<BTreeMap<String, String>> {
        let s: State = config(&desired.state)?;
        let mut req = ctx.aws.s3().create_bucket().bucket(&s.name);
        if ctx.region != "us-east-1" {
            req = req.create_bucket_configuration(
                CreateBucketConfiguration::builder().location_constraint(BucketLocationConstraint::from(ctx.region.as_str())).build(),
            );
        }
        req.send().await.map_err(|e| aws::error(e).at(address(&s.name), "CreateBucket"))?;
        // CreateBucket takes no tags: tag immediately. A crash between the two calls leaves an
        // untagged bucket, which the next plan reports as not owned (with how to adopt it).
        put_tags(ctx, &s).await?;
        let none = State { encryption: None, kms_key_id: None, block_public_access: None, versioning: None, ..s.clone() };
        apply_settings(ctx, &s, &none, &["encryption", "block_public_access", "versioning"]).await?;
        Ok(BTreeMap::new())
    }

    async fn update(&self, ctx: &Ctx, desired: &Desired, live: &Live, changes: &[FieldChange]) -> Result<()> {
        let s: State = config(&desired.state)?;
        let l: State = config(&live.state)?;
        let fields: Vec<&str> = changes.iter().map(|c| c.field()).collect();
        apply_settings(ctx, &s, &l, &fields).await?;
        if fields.contains(&"tags") {
            // S3 replaces the whole tag set: one call covers additions and removals.
            put_tags(ctx, &s).await?;
        }
        Ok(())
    }

    async fn delete(&self, ctx: &Ctx, desired: &Desired, _live: &Live) -> Result<()> {
        let s3 = ctx.aws.s3();
        let name = &desired.name;
        let addr = address(name);
        let force = desired.options["force_destroy"].as_bool().unwrap_or(false);
        if force {
            empty(ctx, name).await?;
        }
        match s3.delete_bucket().bucket(name).send().await {
            Ok(_) => Ok(()),
            Err(e) => {
                let e = aws::error(e);
                if e.is("NoSuchBucket") {
                    Ok(())
                } else if e.is("BucketNotEmpty") {
                    Err(e.at(addr, "DeleteBucket").with_help("the bucket still holds objects; empty it, or set `force_destroy: true` on it in the stack to delete them (every version) with it"))
                } else {
                    Err(e.at(addr, "DeleteBucket"))
                }
            }
        }
    }
}

async fn put_tags(ctx: &Ctx, s: &State) -> Result<()> {
    let tags: Vec<Tag> = s
        .tags
        .iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build().map_err(|e| crate::Error::user(e.to_string(), "check the tags")))
        .collect::<Result<_>>()?;
    let tagging = Tagging::builder().set_tag_set(Some(tags)).build().map_err(|e| crate::Error::user(e.to_string(), "check the tags"))?;
    ctx.aws
        .s3()
        .put_bucket_tagging()
        .bucket(&s.name)
        .tagging(tagging)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| aws::error(e).at(address(&s.name), "PutBucketTagging"))
}

/// Bring encryption, public access block and versioning to the desired values (only those named).
async fn apply_settings(ctx: &Ctx, s: &State, l: &State, fields: &[&str]) -> Result<()> {
    let s3 = ctx.aws.s3();
    let addr = address(&s.name);
    let want = |f: &str| fields.contains(&f);
    if let (true, Some(alg)) = (want("encryption") || want("kms_key_id"), &s.encryption) {
        if Some(alg) != l.encryption.as_ref() || s.kms_key_id != l.kms_key_id {
            let default = ServerSideEncryptionByDefault::builder()
                .sse_algorithm(ServerSideEncryption::from(alg.as_str()))
                .set_kms_master_key_id(s.kms_key_id.clone())
                .build()
                .map_err(|e| crate::Error::user(e.to_string(), "check `encryption`"))?;
            let conf = ServerSideEncryptionConfiguration::builder()
                .rules(ServerSideEncryptionRule::builder().apply_server_side_encryption_by_default(default).build())
                .build()
                .map_err(|e| crate::Error::user(e.to_string(), "check `encryption`"))?;
            s3.put_bucket_encryption()
                .bucket(&s.name)
                .server_side_encryption_configuration(conf)
                .send()
                .await
                .map_err(|e| aws::error(e).at(&addr, "PutBucketEncryption"))?;
        }
    }
    if let (true, Some(block)) = (want("block_public_access"), s.block_public_access) {
        if Some(block) != l.block_public_access {
            let conf = PublicAccessBlockConfiguration::builder()
                .block_public_acls(block)
                .ignore_public_acls(block)
                .block_public_policy(block)
                .restrict_public_buckets(block)
                .build();
            s3.put_public_access_block()
                .bucket(&s.name)
                .public_access_block_configuration(conf)
                .send()
                .await
                .map_err(|e| aws::error(e).at(&addr, "PutPublicAccessBlock"))?;
        }
    }
    if let (true, Some(on)) = (want("versioning"), s.versioning) {
        if Some(on) != l.versioning {
            let status = if on { BucketVersioningStatus::Enabled } else { BucketVersioningStatus::Suspended };
            s3.put_bucket_versioning()
                .bucket(&s.name)
                .versioning_configuration(VersioningConfiguration::builder().status(status).build())
                .send()
                .await
                .map_err(|e| aws::error(e).at(&addr, "PutBucketVersioning"))?;
        }
    }
    Ok(())
}

/// Delete every object version and delete marker, 1000 at a time.
async fn empty(ctx: &Ctx, bucket: &str) -> Result<()> {
    let s3 = ctx.aws.s3();
    let addr = address(bucket);
    loop {
        let page = match s3.list_object_versions().bucket(bucket).max_keys(1000).send().await {
            Ok(p) => p,
            Err(e) => {
                let e = aws::error(e);
                return if e.is("NoSuchBucket") { Ok(()) } else { Err(e.at(addr, "ListObjectVersions")) };
            }
        };
        let mut ids: Vec<ObjectIdentifier> = Vec::new();
        for v in page.versions() {
            if let Some(k) = v.key() {
                ids.push(ObjectIdentifier::builder().key(k).set_version_id(v.version_id().map(str::to_string)).build().map_err(|e| crate::Error::user(e.to_string(), "report this"))?);
            }
        }
        for m in page.delete_markers() {
            if let Some(k) = m.key() {
                ids.push(ObjectIdentifier::builder().key(k).set_version_id(m.version_id().map(str::to_string)).build().map_err(|e| crate::Error::user(e.to_string(), "report this"))?);
            }
        }
        if ids.is_empty() {
            return Ok(());
        }
        let delete = Delete::builder().set_objects(Some(ids)).quiet(true).build().map_err(|e| crate::Error::user(e.to_string(), "report this"))?;
        s3.delete_objects().bucket(bucket).delete(delete).send().await.map_err(|e| aws::error(e).at(&addr, "DeleteObjects"))?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_names() {
        assert!(valid_bucket_name("eks-devops-artifacts-123456789012-us-east-1"));
        assert!(!valid_bucket_name("Upper"));
        assert!(!valid_bucket_name("ab"));
        assert!(!valid_bucket_name("a..b"));
        assert!(!valid_bucket_name("-ab"));
    }

    #[test]
    fn interpolated_names_are_checked_after_resolution() {
        assert!(S3Bucket.check(&json!({"name": "x-${account_id}"})).is_ok());
        assert!(S3Bucket.check(&json!({"name": "X"})).is_err());
    }
}
