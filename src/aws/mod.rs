//! AWS configuration, clients and the error model for failed calls. Credentials come from the
//! SDK's standard chain (environment, profiles, SSO, assume-role, web identity, IMDS), or from
//! `crate::mfa` for profiles with `mfa_serial`, which the chain does not support; endpoints
//! from `--endpoint-url` or the standard `AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_<SERVICE>`
//! variables. Production and the local emulator run the same code; only endpoints differ.

pub mod assume;
pub mod reads;
pub mod retry;

pub use reads::Reads;

use crate::contract::{AssumeRole, Settings};
use crate::error::{CallError, Class};
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
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
    /// Credentials made by provision itself (an MFA profile's session), instead of the chain.
    pub credentials: Option<aws_credential_types::Credentials>,
    /// A role the credentials assume for every call (the stack's `assume_role`, `--assume-role`),
    /// with the session name to use when the role names none.
    pub assume_role: Option<(AssumeRole, String)>,
}

/// Lazily built, shared clients (one HTTP connection pool per service).
pub struct Aws {
    pub config: SdkConfig,
    /// True when requests go to a custom endpoint (emulator or proxy): S3 then uses path-style.
    pub custom_endpoint: bool,
    /// The profile named on the command line or in AWS_PROFILE, for error messages.
    pub profile: Option<String>,
    iam: OnceLock<aws_sdk_iam::Client>,
    ecr: OnceLock<aws_sdk_ecr::Client>,
    sts: OnceLock<aws_sdk_sts::Client>,
    s3: OnceLock<aws_sdk_s3::Client>,
    sns: OnceLock<aws_sdk_sns::Client>,
    codebuild: OnceLock<aws_sdk_codebuild::Client>,
    codepipeline: OnceLock<aws_sdk_codepipeline::Client>,
    connections: OnceLock<aws_sdk_codestarconnections::Client>,
    eks: OnceLock<aws_sdk_eks::Client>,
    tagging: OnceLock<aws_sdk_resourcegroupstagging::Client>,
    events: OnceLock<aws_sdk_eventbridge::Client>,
}

macro_rules! client {
    ($name:ident, $sdk:ident) => {
        pub fn $name(&self) -> &$sdk::Client {
            self.$name.get_or_init(|| $sdk::Client::new(&self.config))
        }
    };
}

impl Aws {
    /// The configuration for a run; a profile named by `--profile` or `AWS_PROFILE` must exist,
    /// otherwise the SDK would quietly fall back to other credentials (or to none).
    pub async fn load(opts: &Options, settings: &Settings) -> crate::Result<Self> {
        let profile = opts.profile.clone().or_else(|| std::env::var("AWS_PROFILE").ok().filter(|p| !p.is_empty()));
        if let Some(p) = &profile {
            check_profile(p).await?;
        }
        // Throttling and transient 5xx are retried by the SDK's standard strategy: exponential
        // backoff with full jitter. More attempts than the default 3: applies run many calls at once.
        // (Not the adaptive mode: after a few throttles its client-side limiter fell to about one
        // call every few seconds, 3 roles took 26 s; `contract::Limits` bounds writes instead.)
        let retry = RetryConfig::standard().with_max_attempts(8).with_initial_backoff(Duration::from_millis(200)).with_max_backoff(Duration::from_secs(20));
        // Every wait is bounded: a silent endpoint fails within these, never hangs.
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(settings.connect_timeout)
            .read_timeout(settings.attempt_timeout)
            .operation_attempt_timeout(settings.attempt_timeout)
            .operation_timeout(settings.call_timeout)
            .build();
        let mut loader = aws_config::defaults(BehaviorVersion::latest()).retry_config(retry).timeout_config(timeouts);
        if let Some(r) = &opts.region {
            loader = loader.region(Region::new(r.clone()));
        }
        if let Some(p) = &opts.profile {
            loader = loader.profile_name(p);
        }
        if let Some(e) = &opts.endpoint_url {
            loader = loader.endpoint_url(e);
        }
        if let Some(c) = &opts.credentials {
            loader = loader.credentials_provider(c.clone());
        }
        let mut config = loader.load().await;
        if let Some((role, session_name)) = &opts.assume_role {
            let provider = assume::assume(&config, role, session_name).await?;
            config = config.into_builder().credentials_provider(provider).build();
        }
        let custom_endpoint = opts.endpoint_url.is_some() || std::env::vars().any(|(k, v)| k.starts_with("AWS_ENDPOINT_URL") && !v.is_empty());
        Ok(Aws::from_config(config, custom_endpoint, profile))
    }

    pub fn from_config(config: SdkConfig, custom_endpoint: bool, profile: Option<String>) -> Self {
        Aws {
            config,
            custom_endpoint,
            profile,
            iam: OnceLock::new(),
            ecr: OnceLock::new(),
            sts: OnceLock::new(),
            s3: OnceLock::new(),
            sns: OnceLock::new(),
            codebuild: OnceLock::new(),
            codepipeline: OnceLock::new(),
            connections: OnceLock::new(),
            eks: OnceLock::new(),
            tagging: OnceLock::new(),
            events: OnceLock::new(),
        }
    }

    pub fn region(&self) -> Option<String> {
        self.config.region().map(|r| r.to_string())
    }

    client!(iam, aws_sdk_iam);
    client!(ecr, aws_sdk_ecr);
    client!(sns, aws_sdk_sns);
    client!(codebuild, aws_sdk_codebuild);
    client!(codepipeline, aws_sdk_codepipeline);
    client!(connections, aws_sdk_codestarconnections);
    client!(eks, aws_sdk_eks);
    client!(tagging, aws_sdk_resourcegroupstagging);
    client!(events, aws_sdk_eventbridge);

    /// STS answers the first call of every run (who am I): a wrong endpoint or missing network
    /// shows there, so it gets few retries and the user an answer in about a second, not after the
    /// full backoff other calls are allowed.
    pub fn sts(&self) -> &aws_sdk_sts::Client {
        self.sts.get_or_init(|| {
            let retry = RetryConfig::standard().with_max_attempts(3).with_initial_backoff(Duration::from_millis(200));
            aws_sdk_sts::Client::from_conf(aws_sdk_sts::config::Builder::from(&self.config).retry_config(retry).build())
        })
    }

    pub fn s3(&self) -> &aws_sdk_s3::Client {
        self.s3.get_or_init(|| {
            let conf = aws_sdk_s3::config::Builder::from(&self.config).force_path_style(self.custom_endpoint).build();
            aws_sdk_s3::Client::from_conf(conf)
        })
    }
}

/// A named profile must be defined in the AWS config or credentials file.
async fn check_profile(name: &str) -> crate::Result<()> {
    use aws_runtime::env_config::file::EnvConfigFiles;
    use aws_types::os_shim_internal::{Env, Fs};
    let config = std::env::var("AWS_CONFIG_FILE").unwrap_or_else(|_| "~/.aws/config".into());
    let set = aws_config::profile::load(&Fs::real(), &Env::real(), &EnvConfigFiles::default(), None)
        .await
        .map_err(|e| crate::Error::user(format!("cannot read the AWS configuration ({config}): {e}"), "fix the file, or unset AWS_CONFIG_FILE"))?;
    if set.get_profile(name).is_some() {
        return Ok(());
    }
    let mut known: Vec<&str> = set.profiles().collect();
    known.sort();
    let known = if known.is_empty() { "none are defined".to_string() } else { format!("defined: {}", known.join(", ")) };
    Err(crate::Error::user(
        format!("AWS profile `{name}` is not defined in {config} or the credentials file"),
        format!("check the name given with --profile or AWS_PROFILE ({known}); `aws configure list-profiles` lists them"),
    ))
}

/// The code, message and class of a failed AWS call.
#[derive(Debug, Clone)]
pub struct AwsError {
    pub code: String,
    pub message: String,
    pub class: Class,
    /// The HTTP status, when a response came back.
    pub status: Option<u16>,
}

impl AwsError {
    pub fn is(&self, code: &str) -> bool {
        self.code == code
    }

    /// Into a user-facing error about `operation`; the engine adds the stack address.
    pub fn op(self, operation: &str) -> crate::Error {
        let help = if self.message.contains("sts:AssumeRole") && matches!(self.class, Class::AccessDenied | Class::BadCredentials) {
            Some(ASSUME_ROLE_HELP.to_string())
        } else {
            help_for(self.class, &self.code)
        };
        crate::Error::Call(Box::new(CallError {
            address: None,
            operation: operation.to_string(),
            class: self.class,
            code: self.code,
            message: self.message,
            help,
        }))
    }
}

/// `e.op("CreateRole")` for SDK results.
pub trait CallResult<T> {
    fn op(self, operation: &str) -> crate::Result<T>;
}

impl<T, E, R> CallResult<T> for Result<T, SdkError<E, R>>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + HttpStatus + 'static,
{
    fn op(self, operation: &str) -> crate::Result<T> {
        self.map_err(|e| error(e).op(operation))
    }
}

/// The HTTP status of a raw response (for S3's bodiless 404 / 403).
pub trait HttpStatus {
    fn status(&self) -> u16;
}

impl HttpStatus for aws_smithy_runtime_api::http::Response {
    fn status(&self) -> u16 {
        self.status().as_u16()
    }
}

/// Extract code, message and class from any SDK error. Transport and credential failures get a
/// synthetic code and a one-line message, never a `Debug` dump.
pub fn error<E, R>(e: SdkError<E, R>) -> AwsError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + HttpStatus + 'static,
{
    let status = e.raw_response().map(HttpStatus::status);
    if let SdkError::ServiceError(se) = &e {
        let err = se.err();
        let code = err.code().unwrap_or("").to_string();
        let message = err.message().map(str::to_string).unwrap_or_else(|| err.to_string());
        let class = classify_code(&code, status, &message);
        return AwsError { code: if code.is_empty() { status.map(|s| format!("HTTP {s}")).unwrap_or_default() } else { code }, message, class, status };
    }
    // Credentials are resolved before the request is sent; depending on the SDK version a failure
    // arrives as a dispatch or a construction failure, so look for it whatever the variant.
    if let Some((class, message)) = credentials_problem(&e) {
        return AwsError { code: "CredentialsError".into(), message, class, status };
    }
    match &e {
        SdkError::TimeoutError(_) => AwsError { code: "Timeout".into(), message: "no answer within the time allowed".into(), class: Class::Timeout, status },
        SdkError::DispatchFailure(d) => {
            let (class, message) = transport(&e, d.is_timeout());
            let code = if class == Class::Timeout { "Timeout" } else { "ConnectionError" };
            AwsError { code: code.into(), message, class, status }
        }
        _ => {
            let code = e.code().unwrap_or("").to_string();
            let mut message = e.message().map(str::to_string).unwrap_or_default();
            if message.is_empty() {
                message = innermost(&e);
            }
            AwsError { class: classify_code(&code, status, &message), code, message, status }
        }
    }
}

/// The deepest message in an error's source chain: the one that says what actually happened.
fn innermost(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur: &(dyn std::error::Error + 'static) = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

/// Credentials that could not be loaded: none anywhere, a profile that does not exist, an expired
/// session.
fn credentials_problem(e: &(dyn std::error::Error + 'static)) -> Option<(Class, String)> {
    use aws_credential_types::provider::error::CredentialsError;
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(c) = err.downcast_ref::<CredentialsError>() {
            let why = innermost(c);
            return Some(match c {
                CredentialsError::CredentialsNotLoaded(_) => (Class::NoCredentials, "no AWS credentials found".into()),
                CredentialsError::InvalidConfiguration(_) if why.contains("was not defined") || why.contains("could not find") => (Class::ProfileMissing, why),
                CredentialsError::ProviderTimedOut(_) => (Class::Timeout, format!("loading credentials timed out: {why}")),
                _ if why.to_ascii_lowercase().contains("expired") => (Class::ExpiredCredentials, why),
                _ => (Class::BadCredentials, format!("cannot load AWS credentials: {why}")),
            });
        }
        cur = err.source();
    }
    None
}

/// Why a request never got an answer from the network.
fn transport(e: &(dyn std::error::Error + 'static), timeout: bool) -> (Class, String) {
    let why = innermost(e);
    if timeout || why.to_ascii_lowercase().contains("timed out") || why.to_ascii_lowercase().contains("timeout") {
        (Class::Timeout, format!("no answer from the endpoint in time ({why})"))
    } else {
        (Class::Unreachable, format!("cannot reach the endpoint: {why}"))
    }
}

fn classify_code(code: &str, status: Option<u16>, message: &str) -> Class {
    match code {
        "AccessDenied" | "AccessDeniedException" | "UnauthorizedOperation" | "UnauthorizedException" | "AuthorizationError" => Class::AccessDenied,
        "ExpiredToken" | "ExpiredTokenException" | "RequestExpired" => Class::ExpiredCredentials,
        "InvalidClientTokenId" | "UnrecognizedClientException" | "SignatureDoesNotMatch" | "InvalidAccessKeyId" => Class::BadCredentials,
        "Throttling" | "ThrottlingException" | "TooManyRequestsException" | "RequestLimitExceeded" | "SlowDown" => Class::Throttled,
        "NoSuchEntity"
        | "NotFound"
        | "NotFoundException"
        | "ResourceNotFoundException"
        | "NoSuchBucket"
        | "RepositoryNotFoundException"
        | "PipelineNotFoundException" => Class::NotFound,
        "EntityAlreadyExists"
        | "ResourceAlreadyExistsException"
        | "RepositoryAlreadyExistsException"
        | "BucketAlreadyExists"
        | "BucketAlreadyOwnedByYou"
        | "ResourceInUseException"
        | "DeleteConflict"
        | "ConcurrentModification"
        | "ConcurrentModificationException"
        | "PipelineNameInUseException" => Class::Conflict,
        "ValidationError"
        | "ValidationException"
        | "InvalidInput"
        | "InvalidInputException"
        | "MalformedPolicyDocument"
        | "InvalidParameterException"
        | "InvalidParameterValue"
        | "InvalidStructureException" => Class::Invalid,
        _ => match status {
            Some(s) if s >= 500 => Class::ServerError,
            Some(403) => Class::AccessDenied,
            Some(404) => Class::NotFound,
            _ if message.contains("not authorized") => Class::AccessDenied,
            _ => Class::Other,
        },
    }
}

/// An `sts:AssumeRole` refusal has two halves, and either may be the one missing.
pub const ASSUME_ROLE_HELP: &str = "assuming a role needs both halves: the caller's identity policy must allow sts:AssumeRole on the role (2a), and the role's trust policy must name the caller, or its account (then 2a decides) (2b); `provision whoami` shows who the caller is";

/// The next step for each class of failure, naming the setting involved.
pub fn help_for(class: Class, code: &str) -> Option<String> {
    let h = match class {
        Class::NoCredentials => "provision looked in the environment (AWS_ACCESS_KEY_ID), AWS_PROFILE and ~/.aws/config, SSO, web identity (AWS_WEB_IDENTITY_TOKEN_FILE) and instance/container metadata; configure one of them (e.g. `aws configure`, `aws sso login`)".to_string(),
        Class::ProfileMissing => "check the profile name (--profile or AWS_PROFILE) against `aws configure list-profiles`".to_string(),
        Class::ExpiredCredentials => "your session expired: refresh it (e.g. `aws sso login`) and run again".to_string(),
        Class::BadCredentials => "the credentials were rejected: check AWS_PROFILE / AWS_ACCESS_KEY_ID and the region".to_string(),
        Class::Unreachable => "check the network and the endpoint: --endpoint-url, AWS_ENDPOINT_URL or AWS_ENDPOINT_URL_<SERVICE>".to_string(),
        Class::Timeout => "the endpoint did not answer in time; check it (--endpoint-url / AWS_ENDPOINT_URL), or raise `settings.call_timeout_seconds`".to_string(),
        Class::Throttled => "AWS kept throttling after all retries; lower `settings.parallelism` and run again".to_string(),
        Class::AccessDenied => "the credentials in use lack this permission; `provision whoami` shows who that is, and the message names the action".to_string(),
        Class::ServerError => "AWS returned a server error after all retries; it is usually transient: run again (completed steps are not repeated)".to_string(),
        Class::NotFound | Class::Conflict | Class::Invalid | Class::Other => match code {
            "LimitExceeded" | "LimitExceededException" => "an account quota was reached; raise it or remove unused resources".to_string(),
            _ => return None,
        },
    };
    Some(h)
}

/// The result of a call where "not there" is an answer, not a failure.
pub fn absent<T>(r: crate::Result<T>, codes: &[&str]) -> crate::Result<Option<T>> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.code().is_some_and(|c| codes.contains(&c)) => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_classified() {
        assert_eq!(classify_code("AccessDenied", Some(403), ""), Class::AccessDenied);
        assert_eq!(classify_code("Throttling", Some(400), ""), Class::Throttled);
        assert_eq!(classify_code("InternalFailure", Some(500), ""), Class::ServerError);
        assert_eq!(classify_code("", Some(404), ""), Class::NotFound);
        assert_eq!(classify_code("Weird", Some(400), ""), Class::Other);
    }

    #[test]
    fn an_assume_role_refusal_names_both_halves() {
        let e = AwsError {
            code: "AccessDenied".into(),
            message: "User: arn:aws:iam::1:user/u is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::1:role/r".into(),
            class: Class::AccessDenied,
            status: Some(403),
        };
        let operation = "AssumeRole";
        let help = e.op(operation).help().unwrap().to_string();
        assert!(help.contains("(2a)") && help.contains("(2b)"), "{help}");
    }

    #[test]
    fn every_failure_class_the_user_can_act_on_has_a_help_line() {
        for c in [
            Class::NoCredentials,
            Class::ProfileMissing,
            Class::ExpiredCredentials,
            Class::BadCredentials,
            Class::Unreachable,
            Class::Timeout,
            Class::Throttled,
            Class::AccessDenied,
            Class::ServerError,
        ] {
            assert!(help_for(c, "").is_some(), "{c:?}");
        }
    }
}
