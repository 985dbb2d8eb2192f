//! Profiles with `mfa_serial`, which the AWS SDK for Rust does not support (aws-sdk-rust #527):
//! `role_arn` + `source_profile` + `mfa_serial` (the role is assumed with the code), or static keys
//! and `mfa_serial` alone (GetSessionToken with the code: the same user, with MFA present, for
//! policies that require `aws:MultiFactorAuthPresent`). The code comes from `--mfa-code` or a
//! prompt on the terminal; the session is cached owner-only (0600) until shortly before it
//! expires, as the aws CLI does, so the next runs ask nothing. Every other profile is left to the
//! SDK's chain.

use crate::aws::CallResult;
use crate::Error;
use aws_credential_types::Credentials;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The provider names of credentials made here (`provision whoami` shows them).
pub const PROVIDER: &str = "MfaAssumeRole";
pub const SESSION_PROVIDER: &str = "MfaSessionToken";

/// A cached session is used only while it has at least this long left.
const MARGIN: Duration = Duration::from_secs(300);

/// What a profile with `mfa_serial` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MfaProfile {
    pub name: String,
    /// The role to assume; none: a session of the profile's own user (GetSessionToken).
    pub role_arn: Option<String>,
    /// Whose keys call STS: `source_profile`, or the profile itself when it assumes no role.
    pub source_profile: String,
    pub mfa_serial: String,
    pub session_name: Option<String>,
    pub external_id: Option<String>,
    pub duration_seconds: Option<i32>,
}

#[derive(Serialize, Deserialize)]
struct Cached {
    access_key_id: String,
    secret_access_key: String,
    session_token: String,
    /// Seconds since the epoch.
    expires: u64,
}

/// The profiles of an AWS config file: `[profile NAME]` / `[default]` sections of `key = value`.
fn sections(text: &str) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut out: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with(';')) {
        if let Some(h) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            let h = h.trim();
            current = match h.strip_prefix("profile ") {
                Some(n) => Some(n.trim().to_string()),
                None if h == "default" => Some(h.to_string()),
                None => None, // sso-session, services: not profiles
            };
        } else if let (Some(c), Some((k, v))) = (&current, line.split_once('=')) {
            out.entry(c.clone()).or_default().insert(k.trim().to_string(), v.trim().to_string());
        }
    }
    out
}

/// The profile in use, if it is an MFA role profile. `None`: the SDK's chain handles it.
pub fn profile(config_text: &str, name: &str) -> Option<MfaProfile> {
    let all = sections(config_text);
    let p = all.get(name)?;
    let mfa_serial = p.get("mfa_serial")?;
    let role_arn = p.get("role_arn").cloned();
    let source_profile = match &role_arn {
        Some(_) => p.get("source_profile").cloned().unwrap_or_else(|| "default".into()),
        None => name.to_string(),
    };
    Some(MfaProfile {
        name: name.to_string(),
        role_arn,
        source_profile,
        mfa_serial: mfa_serial.clone(),
        session_name: p.get("role_session_name").cloned(),
        external_id: p.get("external_id").cloned(),
        duration_seconds: p.get("duration_seconds").and_then(|d| d.parse().ok()),
    })
}

fn config_path() -> Option<PathBuf> {
    match std::env::var_os("AWS_CONFIG_FILE") {
        Some(p) if !p.is_empty() => Some(PathBuf::from(p)),
        _ => std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".aws/config")),
    }
}

/// One cache file per (role, device, session name).
fn cache_file(p: &MfaProfile) -> Option<PathBuf> {
    use sha2::Digest;
    let whose = p.role_arn.clone().unwrap_or_else(|| format!("session of profile {}", p.name));
    let key = format!("{whose}\n{}\n{}", p.mfa_serial, p.session_name.as_deref().unwrap_or(""));
    let digest = sha2::Sha256::digest(key.as_bytes());
    let name: String = digest.iter().take(12).map(|b| format!("{b:02x}")).collect();
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".provision/sessions").join(format!("{name}.json")))
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

fn to_credentials(p: &MfaProfile, c: &Cached) -> Credentials {
    let provider = if p.role_arn.is_some() { PROVIDER } else { SESSION_PROVIDER };
    Credentials::new(&c.access_key_id, &c.secret_access_key, Some(c.session_token.clone()), Some(UNIX_EPOCH + Duration::from_secs(c.expires)), provider)
}

fn read_cache(path: &Path) -> Option<Cached> {
    let c: Cached = serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
    (c.expires > now() + MARGIN.as_secs()).then_some(c)
}

/// The code: the flag, else a prompt on the terminal; no terminal and no flag is an error.
fn code(p: &MfaProfile, given: Option<&str>) -> crate::Result<String> {
    if let Some(c) = given {
        return Ok(c.trim().to_string());
    }
    if !std::io::stdin().is_terminal() {
        let what = match &p.role_arn {
            Some(role) => format!("assumes {role} with MFA"),
            None => "makes an MFA session".to_string(),
        };
        return Err(Error::user(
            format!("profile `{}` {what} ({}), and there is no terminal to ask for the code", p.name, p.mfa_serial),
            "pass the current code with --mfa-code CODE (a session is then cached until it expires), or run in a terminal",
        ));
    }
    eprint!("MFA code for {}: ", p.mfa_serial);
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).map_err(|e| Error::user(format!("cannot read the MFA code: {e}"), "pass it with --mfa-code CODE"))?;
    Ok(line.trim().to_string())
}

/// Credentials for the profile in use when it is an MFA role profile (cached, or assumed now);
/// `None` for any other profile.
pub async fn session(profile: Option<&str>, mfa_code: Option<&str>, region: Option<&str>, endpoint_url: Option<&str>) -> crate::Result<Option<Credentials>> {
    let name = profile.map(str::to_string).or_else(|| std::env::var("AWS_PROFILE").ok().filter(|p| !p.is_empty())).unwrap_or_else(|| "default".into());
    let Some(text) = config_path().and_then(|p| std::fs::read_to_string(p).ok()) else { return Ok(None) };
    let Some(p) = self::profile(&text, &name) else { return Ok(None) };
    let cache = cache_file(&p);
    if let Some(c) = cache.as_deref().and_then(read_cache) {
        return Ok(Some(to_credentials(&p, &c)));
    }
    let code = code(&p, mfa_code)?;
    // STS called as the source profile's own credentials, whatever else the environment holds.
    let source = aws_config::profile::ProfileFileCredentialsProvider::builder().profile_name(&p.source_profile).build();
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest()).profile_name(&p.source_profile).credentials_provider(source);
    if let Some(r) = region {
        loader = loader.region(aws_config::Region::new(r.to_string()));
    }
    if let Some(e) = endpoint_url {
        loader = loader.endpoint_url(e);
    }
    let mut config = loader.load().await;
    if config.region().is_none() {
        config = config.into_builder().region(aws_config::Region::new("us-east-1")).build();
    }
    let sts = aws_sdk_sts::Client::new(&config);
    let c = match &p.role_arn {
        Some(role) => {
            let session_name = p.session_name.clone().unwrap_or_else(|| format!("provision-{}", now()));
            sts.assume_role()
                .role_arn(role)
                .role_session_name(session_name)
                .serial_number(&p.mfa_serial)
                .token_code(code)
                .set_external_id(p.external_id.clone())
                .set_duration_seconds(p.duration_seconds)
                .send()
                .await
                .op("AssumeRole")?
                .credentials
        }
        None => {
            sts.get_session_token()
                .serial_number(&p.mfa_serial)
                .token_code(code)
                .set_duration_seconds(p.duration_seconds)
                .send()
                .await
                .op("GetSessionToken")?
                .credentials
        }
    };
    let c = c.ok_or_else(|| Error::internal("STS returned no credentials"))?;
    let cached = Cached {
        access_key_id: c.access_key_id,
        secret_access_key: c.secret_access_key,
        session_token: c.session_token,
        expires: u64::try_from(c.expiration.secs()).unwrap_or(0),
    };
    if let Some(path) = &cache {
        // A cache that cannot be written only means asking again next time.
        if let Some(dir) = path.parent() {
            let _ = crate::files::private_dir(dir);
        }
        let _ = crate::files::write_private(path, serde_json::to_string(&cached).expect("serialises").as_bytes());
    }
    Ok(Some(to_credentials(&p, &cached)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = "[default]\nregion = us-east-1\n\n[profile admin]\nrole_arn = arn:aws:iam::1:role/admin\nsource_profile = base\nmfa_serial = arn:aws:iam::1:mfa/me\nduration_seconds = 3600\n\n[profile plain]\nrole_arn = arn:aws:iam::1:role/x\nsource_profile = base\n\n[profile keys]\nmfa_serial = arn:aws:iam::1:mfa/me\n\n[sso-session s]\nmfa_serial = no\n";

    #[test]
    fn only_profiles_with_mfa_serial_are_taken() {
        let p = profile(CONFIG, "admin").unwrap();
        assert_eq!(
            (p.role_arn.as_deref(), p.source_profile.as_str(), p.mfa_serial.as_str()),
            (Some("arn:aws:iam::1:role/admin"), "base", "arn:aws:iam::1:mfa/me")
        );
        assert_eq!(p.duration_seconds, Some(3600));
        assert_eq!(profile(CONFIG, "plain"), None);
        // Keys and mfa_serial alone: a session of the profile's own user.
        let own = profile(CONFIG, "keys").unwrap();
        assert_eq!((own.role_arn, own.source_profile.as_str()), (None, "keys"));
        assert_eq!(profile(CONFIG, "default"), None);
        assert_eq!(profile(CONFIG, "s"), None);
    }
}
