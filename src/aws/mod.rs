//! AWS configuration and clients. Credentials come only from the SDK's standard chain (environment,
//! profiles, SSO, assume-role, IMDS); endpoints from `--endpoint-url` or the standard
//! `AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_<SERVICE>` variables. Production and the local emulator
//! run the same code; only endpoints differ.

pub mod retry;

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use std::sync::OnceLock;
use std::time::Duration;

#[derive(Debug, Clone, Default)]
pub struct Options {
    pub region: Option<String>,
    pub profile: Option<String>,
    pub endpoint_url: Option<String>,
}

/// Lazily built, shared clients (one HTTP connection pool per service).
pub struct Aws {
    pub config: SdkConfig,
    /// True when requests go to a custom endpoint (emulator or proxy): S3 then uses path-style.
    pub custom_endpoint: bool,
    iam: OnceLock<aws_sdk_iam::Client>,
    ecr: OnceLock<aws_sdk_ecr::Client>,
    sts: OnceLock<aws_sdk_sts::Client>,
    s3: OnceLock<aws_sdk_s3::Client>,
    sns: OnceLock<aws_sdk_sns::Client>,
    codebuild: OnceLock<aws_sdk_codebuild::Client>,
    codepipeline: OnceLock<aws_sdk_codepipeline::Client>,
    connections: OnceLock<aws_sdk_codestarconnections::Client>,
    eks: OnceLock<aws_sdk_eks::Client>,
}

macro_rules! client {
    ($name:ident, $sdk:ident) => {
        pub fn $name(&self) -> &$sdk::Client {
            self.$name.get_or_init(|| $sdk::Client::new(&self.config))
        }
    };
}

impl Aws {
    pub async fn load(opts: &Options) -> Self {
        // Throttling and transient 5xx are retried by the SDK's standard strategy: exponential
        // backoff with full jitter. More attempts than the default 3: applies run many calls at once.
        let retry = RetryConfig::standard()
            .with_max_attempts(8)
            .with_initial_backoff(Duration::from_millis(200))
            .with_max_backoff(Duration::from_secs(20));
        let mut loader = aws_config::defaults(BehaviorVersion::latest()).retry_config(retry);
        if let Some(r) = &opts.region {
            loader = loader.region(Region::new(r.clone()));
        }
        if let Some(p) = &opts.profile {
            loader = loader.profile_name(p);
        }
        if let Some(e) = &opts.endpoint_url {
            loader = loader.endpoint_url(e);
        }
        let config = loader.load().await;
        let custom_endpoint = opts.endpoint_url.is_some()
            || std::env::vars().any(|(k, v)| k.starts_with("AWS_ENDPOINT_URL") && !v.is_empty());
        Aws {
            config,
            custom_endpoint,
            iam: OnceLock::new(),
            ecr: OnceLock::new(),
            sts: OnceLock::new(),
            s3: OnceLock::new(),
            sns: OnceLock::new(),
            codebuild: OnceLock::new(),
            codepipeline: OnceLock::new(),
            connections: OnceLock::new(),
            eks: OnceLock::new(),
        }
    }

    pub fn region(&self) -> Option<String> {
        self.config.region().map(|r| r.to_string())
    }

    client!(iam, aws_sdk_iam);
    client!(ecr, aws_sdk_ecr);
    client!(sts, aws_sdk_sts);
    client!(sns, aws_sdk_sns);
    client!(codebuild, aws_sdk_codebuild);
    client!(codepipeline, aws_sdk_codepipeline);
    client!(connections, aws_sdk_codestarconnections);
    client!(eks, aws_sdk_eks);

    pub fn s3(&self) -> &aws_sdk_s3::Client {
        self.s3.get_or_init(|| {
            let conf = aws_sdk_s3::config::Builder::from(&self.config).force_path_style(self.custom_endpoint).build();
            aws_sdk_s3::Client::from_conf(conf)
        })
    }
}

/// The code and message of a failed AWS call.
#[derive(Debug, Clone)]
pub struct AwsError {
    pub code: String,
    pub message: String,
}

impl AwsError {
    pub fn is(&self, code: &str) -> bool {
        self.code == code
    }

    /// Into a user-facing error about resource `address` and operation `op`.
    pub fn at(self, address: impl std::fmt::Display, op: &str) -> crate::Error {
        let help = help_for(&self.code, &self.message);
        crate::Error::Aws { address: address.to_string(), operation: op.to_string(), code: self.code, message: self.message, help }
    }
}

/// Extract code and message from any SDK error. Transport failures (no connection, timeouts) get
/// a synthetic code so callers can still branch on `code`.
pub fn error<E, R>(e: SdkError<E, R>) -> AwsError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match &e {
        SdkError::ServiceError(se) => {
            let err = se.err();
            AwsError {
                code: err.code().unwrap_or("Unknown").to_string(),
                message: err.message().map(str::to_string).unwrap_or_else(|| err.to_string()),
            }
        }
        SdkError::DispatchFailure(d) => AwsError { code: "ConnectionError".into(), message: format!("{:?}", d) },
        SdkError::TimeoutError(_) => AwsError { code: "Timeout".into(), message: "the request timed out".into() },
        _ => {
            let code = e.code().unwrap_or("Unknown").to_string();
            let mut message = e.message().map(str::to_string).unwrap_or_default();
            if message.is_empty() {
                message = std::error::Error::source(&e).map(|s| s.to_string()).unwrap_or_else(|| e.to_string());
            }
            AwsError { code, message }
        }
    }
}

/// The result of a delete-like call where "already gone" is success: a re-run after a crash, or
/// someone else deleted it first.
pub fn gone_ok<T, E, R>(result: Result<T, SdkError<E, R>>, gone: &[&str], address: impl std::fmt::Display, op: &str) -> crate::Result<()>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match result {
        Ok(_) => Ok(()),
        Err(e) => {
            let e = error(e);
            if gone.iter().any(|g| e.is(g)) {
                Ok(())
            } else {
                Err(e.at(address, op))
            }
        }
    }
}

fn help_for(code: &str, message: &str) -> Option<String> {
    let h = match code {
        "ConnectionError" | "Timeout" => "check the network and the endpoint (--endpoint-url / AWS_ENDPOINT_URL)",
        "AccessDenied" | "AccessDeniedException" | "UnauthorizedOperation" => {
            "the credentials in use lack this permission; check the IAM policy of the caller (`aws sts get-caller-identity` shows who that is)"
        }
        "ExpiredToken" | "ExpiredTokenException" => "your session expired: refresh it (e.g. `aws sso login`) and run again",
        "InvalidClientTokenId" | "UnrecognizedClientException" | "SignatureDoesNotMatch" => {
            "the credentials were rejected: check AWS_PROFILE / AWS_ACCESS_KEY_ID and the region"
        }
        "Throttling" | "ThrottlingException" | "TooManyRequestsException" => {
            "AWS kept throttling after all retries; lower `settings.parallelism` and run again"
        }
        "LimitExceeded" | "LimitExceededException" => "an account quota was reached; raise it or remove unused resources",
        _ if message.contains("not authorized") => "check the IAM permissions named in the message",
        _ => return None,
    };
    Some(h.to_string())
}
