//! `provision whoami`: who the AWS calls run as, and which source of the credential chain supplied
//! the credentials. Nothing secret is printed: no secret key, no session token.

use crate::aws::{Aws, CallResult};
use aws_credential_types::provider::ProvideCredentials;

/// The caller, as STS sees it, and where its credentials came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub arn: String,
    pub account: String,
    pub user_id: String,
    /// The SDK provider that supplied the credentials (`EnvironmentVariable`, `SSO`, ...).
    pub provider: Option<String>,
    pub profile: Option<String>,
    pub region: Option<String>,
}

/// The credential source in words, from the SDK provider's name.
pub fn describe_source(provider: &str) -> String {
    match provider {
        "EnvironmentVariable" => "environment variables (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)".into(),
        "ProfileFile" => "static keys of a profile (~/.aws/credentials or ~/.aws/config)".into(),
        "AssumeRoleProvider" => "a role assumed through a profile's role_arn".into(),
        "SSO" => "IAM Identity Center (SSO) through a profile's sso_session".into(),
        "WebIdentityToken" => "a web identity token (AWS_WEB_IDENTITY_TOKEN_FILE: GitHub Actions OIDC, EKS IRSA)".into(),
        "CredentialProcess" => "a profile's credential_process".into(),
        "EcsContainer" => "the container credentials endpoint (ECS task role, EKS Pod Identity)".into(),
        "IMDSv2" => "the EC2 instance role (instance metadata, IMDSv2)".into(),
        "Login" => "an `aws login` session".into(),
        crate::aws::assume::PROVIDER => "a role provision assumed (the stack's `assume_role`, or --assume-role)".into(),
        crate::mfa::SESSION_PROVIDER => "an MFA session of the profile's own keys (mfa_serial, GetSessionToken), cached until it expires".into(),
        crate::mfa::PROVIDER => "a role assumed with an MFA code (the profile's mfa_serial), cached until it expires".into(),
        other => format!("the `{other}` credentials provider"),
    }
}

/// The name of the provider that made `creds`. aws-credential-types 1.3 keeps it private and shows
/// it only in `Debug` (which redacts the secret), so it is read from there; a test pins the format.
fn provider_name(creds: &aws_credential_types::Credentials) -> Option<String> {
    let text = format!("{creds:?}");
    let rest = text.split_once("provider_name: \"")?.1;
    Some(rest.split_once('"')?.0.to_string())
}

pub async fn whoami(aws: &Aws) -> crate::Result<Identity> {
    // The provider's name travels with the credentials it returns. A failure to load them is
    // reported by the STS call below, which classifies it with the same words as every other call.
    let provider = match aws.config.credentials_provider() {
        Some(p) => p.provide_credentials().await.ok().and_then(|c| provider_name(&c)),
        None => None,
    };
    let who = aws.sts().get_caller_identity().send().await.op("GetCallerIdentity")?;
    Ok(Identity {
        arn: who.arn().unwrap_or_default().to_string(),
        account: who.account().unwrap_or_default().to_string(),
        user_id: who.user_id().unwrap_or_default().to_string(),
        provider,
        profile: aws.profile.clone(),
        region: aws.region(),
    })
}

pub fn render(id: &Identity) -> String {
    let source = match &id.provider {
        Some(p) => format!("{} [{p}]", describe_source(p)),
        None => "unknown".into(),
    };
    let mut out = format!("caller:      {}\naccount:     {}\nuser id:     {}\ncredentials: {source}\n", id.arn, id.account, id.user_id);
    if let Some(p) = &id.profile {
        out.push_str(&format!("profile:     {p}\n"));
    }
    out.push_str(&format!("region:      {}\n", id.region.as_deref().unwrap_or("(none configured)")));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_provider_name_is_read_from_the_credentials() {
        let c = aws_credential_types::Credentials::new("AKID", "secret", None, None, "EnvironmentVariable");
        assert_eq!(provider_name(&c).as_deref(), Some("EnvironmentVariable"));
    }

    #[test]
    fn sources_are_named_in_words_with_the_provider() {
        let id = Identity {
            arn: "arn:aws:sts::1:assumed-role/r/s".into(),
            account: "1".into(),
            user_id: "AROA:s".into(),
            provider: Some("WebIdentityToken".into()),
            profile: None,
            region: Some("eu-west-1".into()),
        };
        let text = render(&id);
        assert!(text.contains("credentials: a web identity token (AWS_WEB_IDENTITY_TOKEN_FILE: GitHub Actions OIDC, EKS IRSA) [WebIdentityToken]"), "{text}");
        assert!(text.contains("account:     1\n"), "{text}");
        assert_eq!(describe_source("Custom"), "the `Custom` credentials provider");
    }
}
