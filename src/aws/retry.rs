//! Retries the SDK cannot know about: IAM is eventually consistent, so a role created a moment ago
//! may not yet be assumable by CodeBuild or CodePipeline ("... is not authorized to perform
//! sts:AssumeRole ..."). Those specific errors are retried with backoff until the configured
//! timeout has passed (not before); anything else fails at once. Throttling is the SDK's.

use super::AwsError;
use std::future::Future;
use std::time::{Duration, Instant};

/// Is this the error AWS gives while a fresh role (or a trust-policy change) has not propagated?
pub fn is_iam_propagation(e: &AwsError) -> bool {
    let m = e.message.to_ascii_lowercase();
    (m.contains("not authorized to perform") && m.contains("assumerole"))
        || (m.contains("cannot be assumed") && m.contains("role"))
        || (e.code == "MalformedPolicyDocument" && m.contains("invalid principal"))
}

/// Run `call` until it succeeds, fails with a non-propagation error, or `timeout` has passed.
/// `waiting(attempt)` is called before each wait; `role` is named in the final error so the user
/// knows whose trust policy to check.
pub async fn iam_propagation<T, F, Fut>(operation: &str, role: &str, timeout: Duration, waiting: impl Fn(u32), mut call: F) -> crate::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, AwsError>>,
{
    let start = Instant::now();
    let mut delay = Duration::from_millis(500);
    let mut attempt = 1;
    loop {
        match call().await {
            Ok(v) => return Ok(v),
            Err(e) if is_iam_propagation(&e) => {
                let left = timeout.saturating_sub(start.elapsed());
                if left.is_zero() {
                    let secs = start.elapsed().as_secs();
                    return Err(e.op(operation).with_help(format!(
                        "role {role} still cannot be assumed after {secs}s of retries: check its trust policy \
                         names the service as principal (and that it exists); the wait is \
                         `settings.iam_propagation_timeout_seconds` in the stack"
                    )));
                }
                waiting(attempt);
                // Full jitter keeps concurrent creates from retrying in lockstep; the last wait
                // ends exactly at the timeout, so the configured time is used in full.
                let sleep = delay.mul_f64(0.5 + fastrand::f64() * 0.5).min(left);
                tokio::time::sleep(sleep).await;
                delay = (delay * 2).min(Duration::from_secs(10));
                attempt += 1;
            }
            Err(e) => return Err(e.op(operation)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Class;

    fn err(code: &str, msg: &str) -> AwsError {
        AwsError { code: code.into(), message: msg.into(), class: Class::Invalid, status: Some(400) }
    }

    #[test]
    fn classifies_propagation_errors() {
        assert!(is_iam_propagation(&err("InvalidInputException", "CodeBuild is not authorized to perform: sts:AssumeRole on arn:aws:iam::1:role/r")));
        assert!(is_iam_propagation(&err("InvalidStructureException", "CodePipeline is not authorized to perform AssumeRole on role arn:aws:iam::1:role/r")));
        assert!(!is_iam_propagation(&err("InvalidInputException", "Invalid image")));
        assert!(!is_iam_propagation(&err("AccessDeniedException", "User is not authorized to perform: codebuild:CreateProject")));
    }

    #[tokio::test]
    async fn gives_up_naming_the_role_only_once_the_timeout_has_passed() {
        let start = Instant::now();
        let e = iam_propagation(
            "CreateProject",
            "arn:aws:iam::1:role/r",
            Duration::from_millis(1200),
            |_| {},
            || async { Err::<(), _>(err("InvalidInputException", "CodeBuild is not authorized to perform: sts:AssumeRole on x")) },
        )
        .await
        .unwrap_err();
        assert!(e.help().unwrap().contains("arn:aws:iam::1:role/r"), "{e:?}");
        assert!(start.elapsed() >= Duration::from_millis(1200), "gave up early: {:?}", start.elapsed());
        assert!(start.elapsed() < Duration::from_millis(2500), "waited too long: {:?}", start.elapsed());
    }

    #[tokio::test]
    async fn recovers_after_transient_failures_and_says_it_waits() {
        let mut n = 0;
        let waits = std::sync::atomic::AtomicU32::new(0);
        let v = iam_propagation(
            "op",
            "r",
            Duration::from_secs(30),
            |_| {
                waits.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            },
            || {
                n += 1;
                let fail = n < 3;
                async move {
                    if fail {
                        Err(err("InvalidInputException", "CodeBuild is not authorized to perform: sts:AssumeRole on x"))
                    } else {
                        Ok(n)
                    }
                }
            },
        )
        .await
        .unwrap();
        assert_eq!(v, 3);
        assert_eq!(waits.load(std::sync::atomic::Ordering::SeqCst), 2);
    }
}
