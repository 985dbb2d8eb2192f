//! Test harness: a private emulator per test (moto + the project's extensions + the Kubernetes
//! double), the real `provision` binary run against it, and SDK clients to look behind its back.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

pub const ACCOUNT: &str = "123456789012";
pub const REGION: &str = "us-east-1";

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub struct Emulator {
    child: Child,
    pub url: String,
}

impl Emulator {
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// Start with extra launcher flags, e.g. `["--cluster", "eksdemo1", "--seed-aws-auth"]`.
    pub fn start_with(args: &[&str]) -> Self {
        let root = repo_root();
        let python = root.join(".venv/bin/python");
        assert!(python.exists(), "no emulator venv at {}: run `make venv` (make test does it)", python.display());
        let mut child = Command::new(python)
            .arg(root.join("emulator/run.py"))
            .args(["--port", "0"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the emulator");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = BufReader::new(stdout).lines();
        let url = loop {
            match lines.next() {
                Some(Ok(l)) => {
                    if let Some(u) = l.strip_prefix("PROVISION_EMULATOR_READY ") {
                        break u.trim().to_string();
                    }
                }
                _ => panic!("emulator exited before it was ready"),
            }
        };
        // Keep draining stdout so the emulator never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Emulator { child, url }
    }

    /// POST/GET/DELETE to the emulator's admin API; returns the JSON answer.
    pub fn admin(&self, method: &str, path: &str, body: Option<serde_json::Value>) -> serde_json::Value {
        let url = format!("{}/_emulator/{}", self.url, path.trim_start_matches('/'));
        let out = blocking_http(method, &url, body.map(|b| b.to_string()));
        serde_json::from_str(&out).unwrap_or(serde_json::Value::Null)
    }

    /// Make the next `count` calls of `service`.`operation` fail with `kind`
    /// (`not_authorized`, `throttle`, `server_error`; -1 = forever).
    pub fn fault(&self, service: &str, operation: &str, kind: &str, count: i64) {
        self.admin("POST", "faults", Some(serde_json::json!({"service": service, "operation": operation, "kind": kind, "count": count})));
    }

    /// Number of AWS calls seen, by `service.Operation`.
    pub fn calls(&self) -> serde_json::Value {
        self.admin("GET", "calls", None)
    }

    pub fn reset_calls(&self) {
        self.admin("DELETE", "calls", None);
    }

    /// Write calls (anything but Get/List/Describe/Head) seen so far.
    pub fn write_calls(&self) -> Vec<String> {
        let c = self.calls();
        let mut out: Vec<String> = c["by_operation"].as_object().map(|m| m.keys().cloned().collect()).unwrap_or_default();
        out.retain(|op| {
            let name = op.split('.').nth(1).unwrap_or(op);
            !["Get", "List", "Describe", "Head", "BatchGet"].iter().any(|p| name.starts_with(p))
        });
        out.sort();
        out
    }

    pub async fn sdk_config(&self) -> aws_config::SdkConfig {
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(REGION))
            .endpoint_url(&self.url)
            .credentials_provider(aws_credential_types::Credentials::new("testing", "testing", None, None, "test"))
            .load()
            .await
    }

    /// Run the provision binary against this emulator from directory `dir`.
    pub fn provision(&self, dir: &Path, args: &[&str]) -> Run {
        self.provision_with_env(dir, args, &[])
    }

    /// Same, with extra environment variables.
    pub fn provision_with_env(&self, dir: &Path, args: &[&str], extra: &[(&str, &str)]) -> Run {
        let out = self.command(dir, args).envs(extra.iter().copied()).output().expect("run provision");
        Run::from(out)
    }

    /// The provision command, set up for this emulator, not yet started.
    pub fn command(&self, dir: &Path, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_provision"));
        c.current_dir(dir)
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", dir)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", REGION)
            .env("AWS_ENDPOINT_URL", &self.url)
            .env("AWS_CONFIG_FILE", dir.join("no-aws-config"))
            .env("AWS_SHARED_CREDENTIALS_FILE", dir.join("no-aws-credentials"))
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null());
        c
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The result of one `provision` run.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(o: Output) -> Self {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

impl Run {
    #[track_caller]
    pub fn ok(&self) -> &Self {
        assert_eq!(self.code, 0, "provision failed\n--- stdout\n{}\n--- stderr\n{}", self.stdout, self.stderr);
        self
    }
    #[track_caller]
    pub fn code(&self, code: i32) -> &Self {
        assert_eq!(self.code, code, "unexpected exit code\n--- stdout\n{}\n--- stderr\n{}", self.stdout, self.stderr);
        self
    }
    #[track_caller]
    pub fn has(&self, needle: &str) -> &Self {
        assert!(
            self.stdout.contains(needle) || self.stderr.contains(needle),
            "expected {needle:?} in output\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout,
            self.stderr
        );
        self
    }
    #[track_caller]
    pub fn lacks(&self, needle: &str) -> &Self {
        assert!(
            !self.stdout.contains(needle) && !self.stderr.contains(needle),
            "did not expect {needle:?} in output\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout,
            self.stderr
        );
        self
    }
}

/// A project directory with `stacks/<name>.yaml` and optional policy files.
pub struct Project {
    pub dir: tempfile::TempDir,
}

impl Project {
    pub fn new(stack_yaml: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("stacks")).unwrap();
        std::fs::create_dir_all(dir.path().join("policies")).unwrap();
        std::fs::write(dir.path().join("stacks/test.yaml"), stack_yaml).unwrap();
        Project { dir }
    }

    /// The seed stack and its policies, copied from the repository.
    pub fn seed(stack_file: &str) -> Self {
        let root = repo_root();
        let text = std::fs::read_to_string(root.join("stacks").join(stack_file)).unwrap();
        let p = Project::new(&text);
        for e in std::fs::read_dir(root.join("policies")).unwrap() {
            let e = e.unwrap();
            std::fs::copy(e.path(), p.dir.path().join("policies").join(e.file_name())).unwrap();
        }
        p
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn write_stack(&self, yaml: &str) {
        std::fs::write(self.dir.path().join("stacks/test.yaml"), yaml).unwrap();
    }

    pub fn write(&self, rel: &str, text: &str) {
        let p = self.dir.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
}

/// Tiny blocking HTTP client for the admin API (loopback, plain HTTP, no extra dependency).
fn blocking_http(method: &str, url: &str, body: Option<String>) -> String {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").expect("admin API is plain http");
    let (host, path) = rest.split_once('/').map(|(h, p)| (h, format!("/{p}"))).unwrap_or((rest, "/".into()));
    let mut s = std::net::TcpStream::connect(host).expect("connect to emulator");
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let body = body.unwrap_or_default();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    let (head, body) = resp.split_once("\r\n\r\n").unwrap_or((&resp, ""));
    assert!(head.starts_with("HTTP/1.1 2") || head.starts_with("HTTP/1.0 2"), "admin call {method} {path} failed: {head}\n{body}");
    body.to_string()
}
