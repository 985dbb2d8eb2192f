//! `ecr_repository`: an ECR repository for the application's images.
//!
//! ```yaml
//! ecr_repository.app:
//!   name: eks-devops
//!   image_tag_mutability: IMMUTABLE   # MUTABLE | IMMUTABLE
//!   scan_on_push: true
//!   encryption: AES256                # AES256 | KMS (with kms_key); fixed at creation
//!   force_destroy: false              # delete even when it still holds images
//!   tags: { team: platform }
//! ```

use super::{config, owned_tags, parse_as, tag_delta, Attrs, Desired, Kind, Live, PropError};
use crate::aws;
use crate::engine::diff::FieldChange;
use crate::engine::Ctx;
use crate::error::Result;
use async_trait::async_trait;
use aws_sdk_ecr::types::{EncryptionConfiguration, EncryptionType, ImageScanningConfiguration, ImageTagMutability, Tag};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;

pub struct EcrRepository;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Mutability {
    Mutable,
    Immutable,
}

impl Mutability {
    fn sdk(self) -> ImageTagMutability {
        match self {
            Mutability::Mutable => ImageTagMutability::Mutable,
            Mutability::Immutable => ImageTagMutability::Immutable,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Encryption {
    #[serde(rename = "AES256")]
    Aes256,
    #[serde(rename = "KMS")]
    Kms,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Props {
    name: String,
    #[serde(default)]
    image_tag_mutability: Option<Mutability>,
    #[serde(default)]
    scan_on_push: Option<bool>,
    #[serde(default)]
    encryption: Option<Encryption>,
    #[serde(default)]
    kms_key: Option<String>,
    #[serde(default)]
    force_destroy: bool,
    #[serde(default)]
    tags: BTreeMap<String, String>,
}

/// The compared state.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct State {
    name: String,
    image_tag_mutability: Option<Mutability>,
    scan_on_push: Option<bool>,
    encryption: Option<Encryption>,
    kms_key: Option<String>,
    tags: BTreeMap<String, String>,
}

fn sdk_tags(tags: &BTreeMap<String, String>) -> Vec<Tag> {
    tags.iter().map(|(k, v)| Tag::builder().key(k).value(v).build().expect("key and value set")).collect()
}

#[async_trait]
impl Kind for EcrRepository {
    fn kind(&self) -> &'static str {
        "ecr_repository"
    }

    fn attributes(&self) -> &'static [&'static str] {
        &["name", "arn", "uri", "registry_id"]
    }

    fn check(&self, props: &Value) -> Result<(), PropError> {
        let p: Props = parse_as(props)?;
        let ok = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-/".contains(c);
        if !super::is_interpolated(&p.name) && (p.name.len() < 2 || p.name.len() > 256 || !p.name.chars().all(ok)) {
            return Err(PropError {
                path: vec![crate::stack::node::PathSeg::Key("name".into())],
                message: format!("invalid ECR repository name `{}`", p.name),
                help: Some("use 2-256 lowercase letters, digits, `.`, `_`, `-` or `/`".into()),
            });
        }
        Ok(())
    }

    fn desired(&self, ctx: &Ctx, props: &Value) -> Result<Desired> {
        let p: Props = serde_json::from_value(props.clone()).map_err(|e| crate::Error::user(e.to_string(), "check the stack"))?;
        let state = State {
            name: p.name.clone(),
            image_tag_mutability: p.image_tag_mutability,
            scan_on_push: p.scan_on_push,
            encryption: p.encryption,
            kms_key: p.kms_key,
            tags: owned_tags(ctx, &p.tags),
        };
        Ok(Desired {
            name: p.name,
            state: serde_json::to_value(state).expect("serialisable"),
            options: json!({ "force_destroy": p.force_destroy }),
        })
    }

    fn attrs(&self, ctx: &Ctx, desired: &Desired, live: Option<&Live>) -> Attrs {
        let name = &desired.name;
        let mut a = Attrs::new();
        a.insert("name".into(), Some(name.clone()));
        a.insert("arn".into(), Some(ctx.arn("ecr", &format!("repository/{name}"))));
        a.insert("uri".into(), Some(format!("{}.dkr.ecr.{}.amazonaws.com/{name}", ctx.account_id, ctx.region)));
        a.insert("registry_id".into(), Some(ctx.account_id.clone()));
        if let Some(l) = live {
            for (k, v) in &l.attrs {
                a.insert(k.clone(), Some(v.clone()));
            }
        }
        a
    }

    fn immutable(&self) -> &'static [(&'static str, &'static str)] {
        &[
            ("name", "a repository cannot be renamed"),
            ("encryption", "ECR fixes a repository's encryption when it is created"),
            ("kms_key", "ECR fixes a repository's encryption key when it is created"),
        ]
    }

    async fn read(&self, ctx: &Ctx, desired: &Desired) -> Result<Option<Live>> {
        let ecr = ctx.aws.ecr();
        let address = format!("ecr_repository {}", desired.name);
        let repo = match ecr.describe_repositories().repository_names(&desired.name).send().await {
            Ok(out) => out.repositories.unwrap_or_default().into_iter().next(),
            Err(e) => {
                let e = aws::error(e);
                if e.is("RepositoryNotFoundException") {
                    None
                } else {
                    return Err(e.at(address, "DescribeRepositories"));
                }
            }
        };
        let Some(repo) = repo else { return Ok(None) };
        let arn = repo.repository_arn().unwrap_or_default().to_string();
        let tags: BTreeMap<String, String> = ecr
            .list_tags_for_resource()
            .resource_arn(&arn)
            .send()
            .await
            .map_err(|e| aws::error(e).at(&address, "ListTagsForResource"))?
            .tags
            .unwrap_or_default()
            .into_iter()
            .map(|t| (t.key, t.value))
            .collect();
        let mutability = match repo.image_tag_mutability() {
            Some(ImageTagMutability::Immutable) => Some(Mutability::Immutable),
            Some(ImageTagMutability::Mutable) => Some(Mutability::Mutable),
            _ => None,
        };
        let state = State {
            name: repo.repository_name().unwrap_or_default().to_string(),
            image_tag_mutability: mutability,
            scan_on_push: repo.image_scanning_configuration().map(|c| c.scan_on_push),
            encryption: repo.encryption_configuration().map(|e| match e.encryption_type() {
                EncryptionType::Kms | EncryptionType::KmsDsse => Encryption::Kms,
                _ => Encryption::Aes256,
            }),
            kms_key: repo.encryption_configuration().and_then(|e| e.kms_key()).map(str::to_string),
            tags: tags.clone(),
        };
        let mut live = Live::new(serde_json::to_value(state).expect("serialisable"), &tags);
        live.attrs.insert("arn".into(), arn);
        if let Some(uri) = repo.repository_uri() {
            live.attrs.insert("uri".into(), uri.to_string());
        }
        Ok(Some(live))
    }

    async fn create(&self, ctx: &Ctx, desired: &Desired) -> Result<BTreeMap<String, String>> {
        let s: State = config(&desired.state)?;
        let mut req = ctx.aws.ecr().create_repository().repository_name(&s.name).set_tags(Some(sdk_tags(&s.tags)));
        if let Some(m) = s.image_tag_mutability {
            req = req.image_tag_mutability(m.sdk());
        }
        if let Some(scan) = s.scan_on_push {
            req = req.image_scanning_configuration(ImageScanningConfiguration::builder().scan_on_push(scan).build());
        }
        if let Some(enc) = &s.encryption {
            let t = match enc {
                Encryption::Aes256 => EncryptionType::Aes256,
                Encryption::Kms => EncryptionType::Kms,
            };
            let conf = EncryptionConfiguration::builder()
                .encryption_type(t)
                .set_kms_key(s.kms_key.clone())
                .build()
                .map_err(|e| crate::Error::user(e.to_string(), "check `encryption` and `kms_key`"))?;
            req = req.encryption_configuration(conf);
        }
        let out = req.send().await.map_err(|e| aws::error(e).at(format!("ecr_repository {}", s.name), "CreateRepository"))?;
        let mut attrs = BTreeMap::new();
        if let Some(r) = out.repository {
            attrs.extend(r.repository_arn.map(|v| ("arn".to_string(), v)));
            attrs.extend(r.repository_uri.map(|v| ("uri".to_string(), v)));
        }
        Ok(attrs)
    }

    async fn update(&self, ctx: &Ctx, desired: &Desired, live: &Live, changes: &[FieldChange]) -> Result<()> {
        let s: State = config(&desired.state)?;
        let l: State = config(&live.state)?;
        let ecr = ctx.aws.ecr();
        let address = format!("ecr_repository {}", s.name);
        let changed = |f: &str| changes.iter().any(|c| c.field() == f);
        if let (true, Some(m)) = (changed("image_tag_mutability"), s.image_tag_mutability) {
            ecr.put_image_tag_mutability()
                .repository_name(&s.name)
                .image_tag_mutability(m.sdk())
                .send()
                .await
                .map_err(|e| aws::error(e).at(&address, "PutImageTagMutability"))?;
        }
        if let (true, Some(scan)) = (changed("scan_on_push"), s.scan_on_push) {
            ecr.put_image_scanning_configuration()
                .repository_name(&s.name)
                .image_scanning_configuration(ImageScanningConfiguration::builder().scan_on_push(scan).build())
                .send()
                .await
                .map_err(|e| aws::error(e).at(&address, "PutImageScanningConfiguration"))?;
        }
        if changed("tags") {
            let arn = live.attrs.get("arn").cloned().unwrap_or_else(|| ctx.arn("ecr", &format!("repository/{}", s.name)));
            let (set, remove) = tag_delta(&s.tags, &l.tags);
            if !set.is_empty() {
                ecr.tag_resource()
                    .resource_arn(&arn)
                    .set_tags(Some(sdk_tags(&set)))
                    .send()
                    .await
                    .map_err(|e| aws::error(e).at(&address, "TagResource"))?;
            }
            if !remove.is_empty() {
                ecr.untag_resource()
                    .resource_arn(&arn)
                    .set_tag_keys(Some(remove))
                    .send()
                    .await
                    .map_err(|e| aws::error(e).at(&address, "UntagResource"))?;
            }
        }
        Ok(())
    }

    async fn delete(&self, ctx: &Ctx, desired: &Desired, _live: &Live) -> Result<()> {
        let force = desired.options["force_destroy"].as_bool().unwrap_or(false);
        let address = format!("ecr_repository {}", desired.name);
        match ctx.aws.ecr().delete_repository().repository_name(&desired.name).force(force).send().await {
            Ok(_) => Ok(()),
            Err(e) => {
                let e = aws::error(e);
                if e.is("RepositoryNotFoundException") {
                    Ok(())
                } else if e.is("RepositoryNotEmptyException") {
                    Err(e.at(address, "DeleteRepository").with_help(
                        "the repository still holds images; delete them, or set `force_destroy: true` on it in the stack to delete them with it",
                    ))
                } else {
                    Err(e.at(address, "DeleteRepository"))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::plan::{decide, Action};

    fn desired(m: &str, scan: Option<bool>) -> Desired {
        Desired {
            name: "eks-devops".into(),
            state: json!({"name": "eks-devops", "image_tag_mutability": m, "scan_on_push": scan, "encryption": null, "kms_key": null, "tags": {"provision:stack": "s"}}),
            options: json!({}),
        }
    }

    fn live(m: &str, scan: bool, owner: Option<&str>) -> Live {
        let mut tags = BTreeMap::new();
        if let Some(o) = owner {
            tags.insert("provision:stack".to_string(), o.to_string());
        }
        Live::new(json!({"name": "eks-devops", "image_tag_mutability": m, "scan_on_push": scan, "encryption": "AES256", "kms_key": null, "tags": tags}), &tags)
    }

    #[test]
    fn absent_is_create_equal_is_noop() {
        assert_eq!(decide(&EcrRepository, "s", &desired("IMMUTABLE", Some(true)), None).0, Action::Create);
        assert_eq!(decide(&EcrRepository, "s", &desired("IMMUTABLE", Some(true)), Some(&live("IMMUTABLE", true, Some("s")))).0, Action::NoOp);
    }

    #[test]
    fn mutability_change_is_an_in_place_update_of_one_field() {
        let (a, changes, _) = decide(&EcrRepository, "s", &desired("IMMUTABLE", None), Some(&live("MUTABLE", true, Some("s"))));
        assert_eq!(a, Action::Update);
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].path, "image_tag_mutability");
    }

    #[test]
    fn encryption_change_is_a_replace_with_reason() {
        let mut d = desired("IMMUTABLE", Some(true));
        d.state["encryption"] = json!("KMS");
        let (a, _, reasons) = decide(&EcrRepository, "s", &d, Some(&live("IMMUTABLE", true, Some("s"))));
        assert_eq!(a, Action::Replace);
        assert!(reasons[0].contains("encryption"), "{reasons:?}");
    }

    #[test]
    fn unowned_or_foreign_is_never_touched() {
        assert_eq!(decide(&EcrRepository, "s", &desired("IMMUTABLE", None), Some(&live("MUTABLE", true, None))).0, Action::Unowned);
        assert_eq!(decide(&EcrRepository, "s", &desired("IMMUTABLE", None), Some(&live("MUTABLE", true, Some("other")))).0, Action::Unowned);
    }
}
