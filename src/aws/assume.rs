//! `assume_role:` in a stack, or `--assume-role`: the credentials of the standard chain (or of an
//! MFA profile) assume a role, and every call of the run acts in the role's account. The first
//! AssumeRole happens at connect, so a refusal is reported there with both halves of the trust
//! (identity policy and trust policy); later ones are made by the SDK's identity cache shortly
//! before the session expires, so an apply may outlast the session.

use super::{error, AwsError};
use crate::contract::AssumeRole;
use aws_config::SdkConfig;
use aws_credential_types::provider::{self, error::CredentialsError, ProvideCredentials, SharedCredentialsProvider};
use aws_credential_types::Credentials;
use std::sync::Mutex;
use std::time::{Duration, UNIX_EPOCH};

/// The provider name `provision whoami` shows for these credentials.
pub const PROVIDER: &str = "ProvisionAssumeRole";

#[derive(Debug)]
struct Provider {
    sts: aws_sdk_sts::Client,
    role: AssumeRole,
    session_name: String,
    /// The session made at connect, handed out once.
    first: Mutex<Option<Credentials>>,
}

impl Provider {
    async fn assume(&self) -> Result<Credentials, AwsError> {
        let out = self
            .sts
            .assume_role()
            .role_arn(&self.role.role_arn)
            .role_session_name(&self.session_name)
            .set_external_id(self.role.external_id.clone())
            .send()
            .await
            .map_err(error)?;
        let c = out.credentials.ok_or_else(|| AwsError {
            code: "NoCredentials".into(),
            message: "AssumeRole returned no credentials".into(),
            class: crate::error::Class::Other,
            status: None,
        })?;
        let expires = UNIX_EPOCH + Duration::from_secs(u64::try_from(c.expiration.secs()).unwrap_or(0));
        Ok(Credentials::new(c.access_key_id, c.secret_access_key, Some(c.session_token), Some(expires), PROVIDER))
    }
}

impl ProvideCredentials for Provider {
    fn provide_credentials<'a>(&'a self) -> provider::future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        provider::future::ProvideCredentials::new(async move {
            if let Some(c) = self.first.lock().unwrap_or_else(|e| e.into_inner()).take() {
                return Ok(c);
            }
            self.assume().await.map_err(|e| CredentialsError::provider_error(format!("AssumeRole {}: {}: {}", self.role.role_arn, e.code, e.message)))
        })
    }
}

/// Assume `role` with the credentials of `base`; the provider that keeps the session fresh.
pub async fn assume(base: &SdkConfig, role: &AssumeRole, default_session_name: &str) -> crate::Result<SharedCredentialsProvider> {
    let provider = Provider {
        sts: aws_sdk_sts::Client::new(base),
        role: role.clone(),
        session_name: role.session_name.clone().unwrap_or_else(|| default_session_name.to_string()),
        first: Mutex::new(None),
    };
    let first = provider.assume().await.map_err(|e| e.op("AssumeRole").at(format!("assume_role {}", role.role_arn)))?;
    *provider.first.lock().unwrap_or_else(|e| e.into_inner()) = Some(first);
    Ok(SharedCredentialsProvider::new(provider))
}
