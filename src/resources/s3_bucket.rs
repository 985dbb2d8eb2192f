//! `s3_bucket`: the pipeline's artifact store.

use crate::aws::{self, CallResult, Reads};
use crate::contract::schema::*;
use crate::contract::{Attrs, Ctx, Live, Op, Resource, Tags};
use crate::Result;
use async_trait::async_trait;
use aws_sdk_s3::types::{
    BucketLocationConstraint, BucketVersioningStatus, CreateBucketConfiguration, Delete, ObjectIdentifier, PublicAccessBlockConfiguration,
    ServerSideEncryption, ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration, ServerSideEncryptionRule, Tag, Tagging, VersioningConfiguration,
};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

pub struct S3Bucket;

const NAME: Pattern = Pattern {
    describe: "lowercase letters, digits, `-` or `.`, starting and ending with a letter or digit",
    check: |n| {
        n.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
            && n.starts_with(|c: char| c.is_ascii_alphanumeric())
            && n.ends_with(|c: char| c.is_ascii_alphanumeric())
            && !n.contains("..")
    },
};

pub static SCHEMA: Schema = Schema {
    kind: "s3_bucket",
    summary: "An S3 bucket: the pipeline's artifact store.",
    notes: "Bucket names are global: put `${account_id}` and `${region}` in it. The tags are set in the create call itself.",
    fields: &[
        field("name", text_matching(3, 63, NAME), "global bucket name").required().replace("S3 buckets cannot be renamed"),
        field("encryption", Ty::Enum(&["AES256", "aws:kms"]), "default encryption"),
        field("kms_key_id", STRING, "the KMS key for `aws:kms`"),
        field("block_public_access", Ty::Bool, "all four public-access-block flags"),
        field("versioning", Ty::Bool, "keep every version of every object"),
        field("force_destroy", Ty::Bool, "let destroy delete every object version first; otherwise a non-empty bucket is refused").behaviour(Lit::Bool(false)),
        TAGS,
    ],
    attributes: &[attr("name", "bucket name"), attr("arn", "bucket ARN")],
    identity: &["name"],
    unique: true,
    ownership: Ownership::Tags,
    rank: 5,
    not_found: &["NoSuchBucket"],
    already_exists: &["BucketAlreadyOwnedByYou"],
};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct State {
    name: String,
    encryption: Option<String>,
    kms_key_id: Option<String>,
    block_public_access: Option<bool>,
    versioning: Option<bool>,
    force_destroy: bool,
    tags: Tags,
}

fn sdk_tags(tags: &Tags) -> Vec<Tag> {
    tags.iter().map(|(k, v)| Tag::builder().key(k).value(v).build().expect("key and value set")).collect()
}

#[async_trait]
impl Resource for S3Bucket {
    type State = State;

    fn schema(&self) -> &'static Schema {
        &SCHEMA
    }

    fn attrs(&self, ctx: &Ctx, s: &State, _live: Option<&Live<State>>) -> Attrs {
        let mut a = Attrs::new();
        a.insert("name".into(), Some(s.name.clone()));
        a.insert("arn".into(), Some(format!("arn:{}:s3:::{}", ctx.partition, s.name)));
        a
    }

    async fn inventory(&self, ctx: &Ctx, reads: &Reads, wanted: &[State]) -> Result<Vec<Live<State>>> {
        let s3 = ctx.aws.s3();
        // The stack's tagged buckets and the account's buckets: both listings at once.
        let (owned, listed) = tokio::try_join!(
            async {
                let tagged = reads.tagged(&ctx.aws, "s3").await?;
                Ok::<BTreeMap<String, Tags>, crate::Error>(
                    tagged.into_iter().map(|t| (t.arn.rsplit(':').next().unwrap_or_default().to_string(), t.tags)).collect(),
                )
            },
            async {
                let out = s3.list_buckets().send().await.op("ListBuckets")?;
                Ok::<BTreeSet<String>, crate::Error>(out.buckets().iter().filter_map(|b| b.name().map(str::to_string)).collect())
            },
        )?;
        let wanted: BTreeMap<&str, &State> = wanted.iter().map(|w| (w.name.as_str(), w)).collect();
        // Bucket names are global: a wanted name not in this account may be someone else's.
        for name in wanted.keys().filter(|n| !listed.contains(**n)) {
            if let Err(e) = s3.head_bucket().bucket(*name).send().await {
                let e = aws::error(e);
                if e.status == Some(403) {
                    return Err(e
                        .op("HeadBucket")
                        .with_help(format!("the bucket name `{name}` is taken by another account (bucket names are global): choose another `name`")));
                }
            }
        }
        let relevant: Vec<(String, Option<Tags>, Option<State>)> = listed
            .iter()
            .filter(|n| owned.contains_key(*n) || wanted.contains_key(n.as_str()))
            .map(|n| (n.clone(), owned.get(n).cloned(), wanted.get(n.as_str()).map(|w| (*w).clone())))
            .collect();
        aws::reads::each(ctx, "s3", relevant, |(name, tags, w)| async move { read(ctx, &name, tags, w.as_ref()).await }).await
    }

    async fn create(&self, op: &Op<'_>, s: &State) -> Result<BTreeMap<String, String>> {
        // Tags in the create call: a crash right after still leaves a bucket the next plan owns.
        let mut conf = CreateBucketConfiguration::builder().set_tags(Some(sdk_tags(&s.tags)));
        if op.region != "us-east-1" {
            conf = conf.location_constraint(BucketLocationConstraint::from(op.region.as_str()));
        }
        op.aws.s3().create_bucket().bucket(&s.name).create_bucket_configuration(conf.build()).send().await.op("CreateBucket")?;
        let none = State { encryption: None, kms_key_id: None, block_public_access: None, versioning: None, ..s.clone() };
        settings(op, s, &none).await?;
        Ok(BTreeMap::new())
    }

    async fn update(&self, op: &Op<'_>, s: &State, live: &Live<State>) -> Result<()> {
        settings(op, s, &live.state).await
    }

    async fn tag(&self, op: &Op<'_>, live: &Live<State>, set: &Tags, remove: &[String]) -> Result<()> {
        // S3 replaces the whole tag set: keep provision's own tags and the untouched ones.
        let mut tags = live.state.tags.clone();
        tags.retain(|k, _| !remove.contains(k));
        tags.extend(set.clone());
        let tagging = Tagging::builder().set_tag_set(Some(sdk_tags(&tags))).build().map_err(|e| crate::Error::internal(e.to_string()))?;
        op.aws.s3().put_bucket_tagging().bucket(&live.state.name).tagging(tagging).send().await.op("PutBucketTagging").map(|_| ())
    }

    async fn delete(&self, op: &Op<'_>, live: &Live<State>, desired: Option<&State>) -> Result<()> {
        let name = &live.state.name;
        if desired.is_some_and(|d| d.force_destroy) {
            empty(op, name).await?;
        }
        op.aws.s3().delete_bucket().bucket(name).send().await.op("DeleteBucket").map(|_| ()).map_err(|e| {
            if e.code() == Some("BucketNotEmpty") {
                e.with_help("the bucket still holds objects; empty it, or set `force_destroy: true` on it in the stack to delete them (every version) with it")
            } else {
                e
            }
        })
    }
}

/// Read what the stack compares: settings it leaves unset are not read.
async fn read(ctx: &Ctx, name: &str, owned_tags: Option<Tags>, want: Option<&State>) -> Result<Live<State>> {
    let s3 = ctx.aws.s3();
    let wants = |f: fn(&State) -> bool| want.is_some_and(f);
    let (tags, encryption, block, versioning) = futures::try_join!(
        async {
            match owned_tags {
                Some(t) => Ok(t),
                None => aws::absent(s3.get_bucket_tagging().bucket(name).send().await.op("GetBucketTagging"), &["NoSuchTagSet"])
                    .map(|o| o.map(|o| o.tag_set().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect()).unwrap_or_default()),
            }
        },
        async {
            if !wants(|w| w.encryption.is_some() || w.kms_key_id.is_some()) {
                return Ok(None);
            }
            let out = aws::absent(
                s3.get_bucket_encryption().bucket(name).send().await.op("GetBucketEncryption"),
                &["ServerSideEncryptionConfigurationNotFoundError"],
            )?;
            Ok(out.and_then(|o| {
                let d = o.server_side_encryption_configuration()?.rules().first()?.apply_server_side_encryption_by_default()?.clone();
                Some((d.sse_algorithm().as_str().to_string(), d.kms_master_key_id().map(str::to_string)))
            }))
        },
        async {
            if !wants(|w| w.block_public_access.is_some()) {
                return Ok(None);
            }
            let out =
                aws::absent(s3.get_public_access_block().bucket(name).send().await.op("GetPublicAccessBlock"), &["NoSuchPublicAccessBlockConfiguration"])?;
            Ok(Some(out.and_then(|o| o.public_access_block_configuration().cloned()).is_some_and(|c| {
                c.block_public_acls() == Some(true)
                    && c.ignore_public_acls() == Some(true)
                    && c.block_public_policy() == Some(true)
                    && c.restrict_public_buckets() == Some(true)
            })))
        },
        async {
            if !wants(|w| w.versioning.is_some()) {
                return Ok(None);
            }
            let out = s3.get_bucket_versioning().bucket(name).send().await.op("GetBucketVersioning")?;
            Ok::<_, crate::Error>(Some(out.status() == Some(&BucketVersioningStatus::Enabled)))
        }
    )?;
    Ok(Live::new(State {
        name: name.to_string(),
        encryption: encryption.as_ref().map(|(a, _)| a.clone()),
        kms_key_id: encryption.and_then(|(_, k)| k),
        block_public_access: block,
        versioning,
        force_destroy: false,
        tags,
    }))
}

/// Bring encryption, public access block and versioning from `l` to `s` (what the stack sets).
async fn settings(op: &Op<'_>, s: &State, l: &State) -> Result<()> {
    let s3 = op.aws.s3();
    if let Some(alg) = s.encryption.as_ref().filter(|a| (Some(*a), &s.kms_key_id) != (l.encryption.as_ref(), &l.kms_key_id)) {
        let default = ServerSideEncryptionByDefault::builder()
            .sse_algorithm(ServerSideEncryption::from(alg.as_str()))
            .set_kms_master_key_id(s.kms_key_id.clone())
            .build()
            .map_err(|e| crate::Error::internal(e.to_string()))?;
        let conf = ServerSideEncryptionConfiguration::builder()
            .rules(ServerSideEncryptionRule::builder().apply_server_side_encryption_by_default(default).build())
            .build()
            .map_err(|e| crate::Error::internal(e.to_string()))?;
        s3.put_bucket_encryption().bucket(&s.name).server_side_encryption_configuration(conf).send().await.op("PutBucketEncryption")?;
    }
    if let Some(block) = s.block_public_access.filter(|b| Some(*b) != l.block_public_access) {
        let conf = PublicAccessBlockConfiguration::builder()
            .block_public_acls(block)
            .ignore_public_acls(block)
            .block_public_policy(block)
            .restrict_public_buckets(block)
            .build();
        s3.put_public_access_block().bucket(&s.name).public_access_block_configuration(conf).send().await.op("PutPublicAccessBlock")?;
    }
    if let Some(on) = s.versioning.filter(|v| Some(*v) != l.versioning) {
        let status = if on { BucketVersioningStatus::Enabled } else { BucketVersioningStatus::Suspended };
        s3.put_bucket_versioning()
            .bucket(&s.name)
            .versioning_configuration(VersioningConfiguration::builder().status(status).build())
            .send()
            .await
            .op("PutBucketVersioning")?;
    }
    Ok(())
}

/// Delete every object version and delete marker, 1000 at a time.
async fn empty(op: &Op<'_>, bucket: &str) -> Result<()> {
    let s3 = op.aws.s3();
    loop {
        let Some(page) = aws::absent(s3.list_object_versions().bucket(bucket).max_keys(1000).send().await.op("ListObjectVersions"), &["NoSuchBucket"])? else {
            return Ok(());
        };
        let versions = page.versions().iter().map(|v| (v.key(), v.version_id()));
        let markers = page.delete_markers().iter().map(|m| (m.key(), m.version_id()));
        let ids: Vec<ObjectIdentifier> = versions
            .chain(markers)
            .filter_map(|(k, v)| ObjectIdentifier::builder().set_key(k.map(str::to_string)).set_version_id(v.map(str::to_string)).build().ok())
            .collect();
        if ids.is_empty() {
            return Ok(());
        }
        let delete = Delete::builder().set_objects(Some(ids)).quiet(true).build().map_err(|e| crate::Error::internal(e.to_string()))?;
        s3.delete_objects().bucket(bucket).delete(delete).send().await.op("DeleteObjects")?;
    }
}
