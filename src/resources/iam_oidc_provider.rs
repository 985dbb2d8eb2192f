//! `iam_oidc_provider`: an IAM OpenID Connect identity provider (GitHub Actions, an EKS cluster's
//! issuer for IRSA). The URL is the identity: IAM names the provider by it and cannot change it.

use super::iam::sdk_tags;
use crate::aws::{self, CallResult, Reads};
use crate::contract::schema::*;
use crate::contract::{Attrs, Ctx, Live, Op, Resource, Tags, OWNER_TAG};
use crate::Result;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

pub struct IamOidcProvider;

const URL: Pattern = Pattern { describe: "an `https://` URL without query or fragment", check: |s| s.starts_with("https://") && !s.contains(['?', '#', ' ']) };
/// An audience: any text of 1-255 characters.
const CLIENT_ID: Ty = Ty::Str(Text { min: 1, max: 255, pattern: None });
const THUMBPRINT: Ty = text_matching(40, 40, HEX);
const HEX: Pattern = Pattern { describe: "40 hexadecimal digits (a SHA-1 fingerprint)", check: |s| s.chars().all(|c| c.is_ascii_hexdigit()) };

pub static SCHEMA: Schema = Schema {
    kind: "iam_oidc_provider",
    summary: "An IAM OpenID Connect identity provider: lets tokens of an issuer (GitHub Actions, an EKS cluster) assume roles.",
    notes: "Left out, `thumbprints` is AWS's choice (IAM trusts the issuer's certificate authority for well-known issuers such as GitHub) and is not compared.",
    fields: &[
        field("url", text_matching(9, 255, URL), "the issuer URL, e.g. `https://token.actions.githubusercontent.com`")
            .required()
            .replace("IAM names an OIDC provider by its URL"),
        field("client_ids", Ty::Set(&CLIENT_ID), "the audiences accepted (`aud`), e.g. `sts.amazonaws.com`").default(Lit::EmptyList),
        field("thumbprints", Ty::Set(&THUMBPRINT), "the server certificate thumbprints"),
        TAGS,
    ],
    attributes: &[attr("arn", "provider ARN, for `Federated` principals in trust policies"), attr("url", "the issuer URL")],
    identity: &["url"],
    unique: true,
    ownership: Ownership::Tags,
    // Roles trusting the provider are removed first.
    rank: 2,
    not_found: &["NoSuchEntity"],
    already_exists: &["EntityAlreadyExists"],
};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct State {
    url: String,
    client_ids: Vec<String>,
    thumbprints: Option<Vec<String>>,
    tags: Tags,
}

/// `https://Host/path/` and IAM's `host/path` both become `https://host/path`: IAM keeps the
/// URL without its scheme, and a host name has no case.
fn normal_url(u: &str) -> String {
    let rest = u.strip_prefix("https://").unwrap_or(u).trim_end_matches('/');
    let (host, path) = rest.split_once('/').map(|(h, p)| (h, format!("/{p}"))).unwrap_or((rest, String::new()));
    format!("https://{}{path}", host.to_ascii_lowercase())
}

fn arn(ctx: &Ctx, url: &str) -> String {
    ctx.global_arn("iam", &format!("oidc-provider/{}", url.trim_start_matches("https://")))
}

fn live_arn(op: &Op<'_>, live: &Live<State>) -> String {
    live.attrs.get("arn").cloned().unwrap_or_else(|| arn(op, &live.state.url))
}

fn sorted(v: &mut Vec<String>) {
    v.sort();
    v.dedup();
}

#[async_trait]
impl Resource for IamOidcProvider {
    type State = State;

    fn schema(&self) -> &'static Schema {
        &SCHEMA
    }

    fn normalize(&self, _ctx: &Ctx, s: &mut State) {
        s.url = normal_url(&s.url);
        sorted(&mut s.client_ids);
        if let Some(t) = s.thumbprints.as_mut() {
            t.iter_mut().for_each(|x| x.make_ascii_lowercase());
            sorted(t);
        }
    }

    fn attrs(&self, ctx: &Ctx, s: &State, _live: Option<&Live<State>>) -> Attrs {
        let mut a = Attrs::new();
        a.insert("arn".into(), Some(arn(ctx, &s.url)));
        a.insert("url".into(), Some(s.url.clone()));
        a
    }

    async fn inventory(&self, ctx: &Ctx, _reads: &Reads, wanted: &[State]) -> Result<Vec<Live<State>>> {
        let iam = ctx.aws.iam();
        let wanted: BTreeSet<String> = wanted.iter().map(|w| arn(ctx, &w.url)).collect();
        let list = iam.list_open_id_connect_providers().send().await.op("ListOpenIDConnectProviders")?;
        let arns: Vec<String> = list.open_id_connect_provider_list().iter().filter_map(|p| p.arn().map(str::to_string)).collect();
        // The listing has only ARNs; the URL, audiences and tags (whose it is) take one call each.
        let all = aws::reads::each(ctx, "iam", arns, |arn| async move {
            let r = iam.get_open_id_connect_provider().open_id_connect_provider_arn(&arn).send().await.op("GetOpenIDConnectProvider");
            // Deleted between the listing and this read: not there.
            Ok(aws::absent(r, &["NoSuchEntity"])?.map(|p| (arn, p)))
        })
        .await?;
        Ok(all
            .into_iter()
            .flatten()
            .filter_map(|(arn, p)| {
                let tags: Tags = p.tags().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect();
                if !wanted.contains(&arn) && tags.get(OWNER_TAG) != Some(&ctx.stack) {
                    return None;
                }
                let mut client_ids = p.client_id_list().to_vec();
                sorted(&mut client_ids);
                let mut thumbprints: Vec<String> = p.thumbprint_list().iter().map(|t| t.to_ascii_lowercase()).collect();
                sorted(&mut thumbprints);
                let state = State { url: normal_url(p.url().unwrap_or_default()), client_ids, thumbprints: Some(thumbprints), tags };
                Some(Live::new(state).attr("arn", arn))
            })
            .collect())
    }

    async fn create(&self, op: &Op<'_>, s: &State) -> Result<BTreeMap<String, String>> {
        let out = op
            .aws
            .iam()
            .create_open_id_connect_provider()
            .url(&s.url)
            .set_client_id_list(Some(s.client_ids.clone()))
            .set_thumbprint_list(s.thumbprints.clone())
            .set_tags(Some(sdk_tags(&s.tags)))
            .send()
            .await
            .op("CreateOpenIDConnectProvider")?;
        Ok(out.open_id_connect_provider_arn.map(|a| ("arn".to_string(), a)).into_iter().collect())
    }

    async fn update(&self, op: &Op<'_>, s: &State, live: &Live<State>) -> Result<()> {
        let (iam, arn) = (op.aws.iam(), live_arn(op, live));
        let l = &live.state;
        for id in s.client_ids.iter().filter(|c| !l.client_ids.contains(c)) {
            iam.add_client_id_to_open_id_connect_provider()
                .open_id_connect_provider_arn(&arn)
                .client_id(id)
                .send()
                .await
                .op("AddClientIDToOpenIDConnectProvider")?;
        }
        for id in l.client_ids.iter().filter(|c| !s.client_ids.contains(c)) {
            iam.remove_client_id_from_open_id_connect_provider()
                .open_id_connect_provider_arn(&arn)
                .client_id(id)
                .send()
                .await
                .op("RemoveClientIDFromOpenIDConnectProvider")?;
        }
        // Thumbprints are replaced as a whole, and only when the stack sets them.
        if let Some(t) = s.thumbprints.as_ref().filter(|t| Some(*t) != l.thumbprints.as_ref()) {
            iam.update_open_id_connect_provider_thumbprint()
                .open_id_connect_provider_arn(&arn)
                .set_thumbprint_list(Some(t.clone()))
                .send()
                .await
                .op("UpdateOpenIDConnectProviderThumbprint")?;
        }
        Ok(())
    }

    async fn tag(&self, op: &Op<'_>, live: &Live<State>, set: &Tags, remove: &[String]) -> Result<()> {
        let (iam, arn) = (op.aws.iam(), live_arn(op, live));
        if !set.is_empty() {
            iam.tag_open_id_connect_provider().open_id_connect_provider_arn(&arn).set_tags(Some(sdk_tags(set))).send().await.op("TagOpenIDConnectProvider")?;
        }
        if !remove.is_empty() {
            iam.untag_open_id_connect_provider()
                .open_id_connect_provider_arn(&arn)
                .set_tag_keys(Some(remove.to_vec()))
                .send()
                .await
                .op("UntagOpenIDConnectProvider")?;
        }
        Ok(())
    }

    async fn delete(&self, op: &Op<'_>, live: &Live<State>, _desired: Option<&State>) -> Result<()> {
        op.aws
            .iam()
            .delete_open_id_connect_provider()
            .open_id_connect_provider_arn(live_arn(op, live))
            .send()
            .await
            .op("DeleteOpenIDConnectProvider")
            .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_compare_as_iam_stores_them() {
        assert_eq!(normal_url("https://Token.Actions.githubusercontent.com/"), "https://token.actions.githubusercontent.com");
        assert_eq!(normal_url("oidc.eks.us-east-1.amazonaws.com/id/ABC"), "https://oidc.eks.us-east-1.amazonaws.com/id/ABC");
    }
}
