//! The EKS bearer token, minted without the aws CLI: `k8s-aws-v1.` + base64url (no padding) of a
//! SigV4-presigned STS `GetCallerIdentity` URL that signs the header `x-k8s-aws-id: <cluster>`.
//! The API server's authenticator replays the URL against STS to learn who is calling.

use aws_credential_types::provider::ProvideCredentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SignatureLocation, SigningSettings};
use aws_sigv4::sign::v4;
use base64::Engine;
use std::time::{Duration, SystemTime};

pub const PREFIX: &str = "k8s-aws-v1.";
/// What aws-iam-authenticator expects; the server refuses tokens older than 15 minutes anyway.
const EXPIRES: Duration = Duration::from_secs(60);

/// The STS endpoint to presign against: a configured override (the emulator, a VPC endpoint), or
/// the regional endpoint.
pub fn sts_endpoint(config: &aws_types::SdkConfig, region: &str) -> String {
    if let Ok(e) = std::env::var("AWS_ENDPOINT_URL_STS") {
        if !e.is_empty() {
            return e;
        }
    }
    match config.endpoint_url() {
        Some(e) => e.to_string(),
        None => format!("https://sts.{region}.amazonaws.com"),
    }
}

pub async fn mint(config: &aws_types::SdkConfig, region: &str, cluster: &str) -> crate::Result<String> {
    let provider = config
        .credentials_provider()
        .ok_or_else(|| crate::Error::user("no AWS credentials provider configured", "configure credentials (AWS_PROFILE, SSO, environment)"))?;
    let creds = provider
        .provide_credentials()
        .await
        .map_err(|e| crate::Error::user(format!("cannot load AWS credentials: {e}"), "check AWS_PROFILE / `aws sso login`"))?;
    presign(&creds, &sts_endpoint(config, region), region, cluster, SystemTime::now())
}

pub fn presign(creds: &aws_credential_types::Credentials, endpoint: &str, region: &str, cluster: &str, at: SystemTime) -> crate::Result<String> {
    let bad = |e: String| crate::Error::user(format!("cannot sign the EKS token: {e}"), "check the region and the STS endpoint");
    let url = format!("{}/?Action=GetCallerIdentity&Version=2011-06-15", endpoint.trim_end_matches('/'));
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(EXPIRES);
    let identity = creds.clone().into();
    let params =
        v4::SigningParams::builder().identity(&identity).region(region).name("sts").time(at).settings(settings).build().map_err(|e| bad(e.to_string()))?.into();
    let request =
        SignableRequest::new("GET", url.clone(), std::iter::once(("x-k8s-aws-id", cluster)), SignableBody::Bytes(&[])).map_err(|e| bad(e.to_string()))?;
    let (instructions, _) = sign(request, &params).map_err(|e| bad(e.to_string()))?.into_parts();
    let mut req = http::Request::builder().method("GET").uri(&url).body(()).map_err(|e| bad(e.to_string()))?;
    instructions.apply_to_request_http1x(&mut req);
    let signed = req.uri().to_string();
    Ok(format!("{PREFIX}{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(signed)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_is_a_presigned_get_caller_identity_naming_the_cluster() {
        let creds = aws_credential_types::Credentials::new("AKIDEXAMPLE", "secret", None, None, "test");
        let t = presign(&creds, "https://sts.us-east-1.amazonaws.com", "us-east-1", "eksdemo1", SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000))
            .unwrap();
        let b64 = t.strip_prefix(PREFIX).expect("prefix");
        assert!(!b64.contains('=') && !b64.contains('+') && !b64.contains('/'), "base64url without padding");
        let url = String::from_utf8(base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(b64).unwrap()).unwrap();
        assert!(url.starts_with("https://sts.us-east-1.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15"), "{url}");
        assert!(url.contains("X-Amz-Expires=60"), "{url}");
        assert!(url.contains("X-Amz-SignedHeaders=host%3Bx-k8s-aws-id"), "{url}");
        assert!(url.contains("X-Amz-Credential=AKIDEXAMPLE%2F20231114%2Fus-east-1%2Fsts%2Faws4_request"), "{url}");
        assert!(url.contains("X-Amz-Signature="), "{url}");
        assert!(!url.contains("secret"), "the secret key never appears");
    }
}
