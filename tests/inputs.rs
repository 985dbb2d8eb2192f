//! Hostile or broken input files: each is refused with a located error and a `help:` line, in
//! bounded time and memory, and never reads outside the project. The last test mutates the seed
//! stack at random and checks the loader and validator never panic and stay fast.

mod common;

use common::{repo_root, Project, Run};
use proptest::prelude::*;
use provision::resources::Kinds;
use provision::stack;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// `provision validate` (no AWS), timed; its peak memory is measured with /usr/bin/time when present.
fn validate_args(p: &Project, args: &[&str]) -> (Run, Duration) {
    let t = Instant::now();
    let out =
        Command::new(env!("CARGO_BIN_EXE_provision")).current_dir(p.path()).arg("validate").args(args).env("NO_COLOR", "1").output().expect("run provision");
    (Run::from(out), t.elapsed())
}

fn validate(p: &Project) -> Run {
    let (r, took) = validate_args(p, &["-s", "stacks/test.yaml"]);
    assert!(took < Duration::from_secs(5), "validate took {took:?}");
    r
}

/// Refused: exit 1, the reason, the place, a help line, short output.
#[track_caller]
fn refused(r: &Run, reason: &str, at: &str) {
    r.code(1).has(reason).has(&format!("--> {at}")).has("help:").lacks("panicked");
    assert!(r.stdout.len() + r.stderr.len() < 2000, "error output too long: {} bytes", r.stdout.len() + r.stderr.len());
}

fn include(path: &str) -> String {
    format!("stack: t\nresources:\n  iam_policy.p:\n    name: p\n    document: {{ file: \"{path}\" }}\n")
}

const AT: &str = "stacks/test.yaml:5:23";

#[test]
fn device_files_are_not_read() {
    let p = Project::new(&include("policies/zero.json"));
    std::os::unix::fs::symlink("/dev/zero", p.path().join("policies/zero.json")).unwrap();
    refused(&validate(&p), "cannot read policy file `policies/zero.json`", AT);
    // Even named directly as the stack file, /dev/zero is refused before a byte is read.
    let (r, took) = validate_args(&p, &["-s", "/dev/zero"]);
    r.code(1).has("cannot read stack file /dev/zero: it is not a regular file").has("help: pass a readable stack file");
    assert!(took < Duration::from_secs(5));
}

#[test]
fn a_named_pipe_does_not_block() {
    let p = Project::new(&include("policies/pipe.json"));
    let made = Command::new("mkfifo").arg(p.path().join("policies/pipe.json")).status().unwrap();
    assert!(made.success());
    refused(&validate(&p), "cannot read policy file `policies/pipe.json`: it is not a regular file", AT);
}

#[test]
fn absolute_paths_are_refused() {
    let p = Project::new(&include("/etc/passwd"));
    refused(&validate(&p), "cannot read policy file `/etc/passwd`: absolute paths are not allowed", AT);
}

#[test]
fn parent_directory_escapes_are_refused() {
    let p = Project::new(&include("policies/../../secret.json"));
    refused(&validate(&p), "`..` is not allowed", AT);
}

#[test]
fn symlinks_out_of_the_project_are_refused() {
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret.json"), "{\"Version\": \"2012-10-17\", \"Statement\": []}").unwrap();
    let p = Project::new(&include("policies/link.json"));
    std::os::unix::fs::symlink(outside.path().join("secret.json"), p.path().join("policies/link.json")).unwrap();
    refused(&validate(&p), "resolves (through a symbolic link) to a file outside the project", AT);
}

#[test]
fn oversized_files_are_refused_by_size() {
    let p = Project::new(&include("policies/big.json"));
    p.write("policies/big.json", &format!("{{\"Sid\": \"{}\"}}", "x".repeat(1_100_000)));
    refused(&validate(&p), "the limit is 1048576", AT);
}

#[test]
fn invalid_utf8_is_located() {
    let p = Project::new("");
    std::fs::write(p.path().join("stacks/test.yaml"), b"stack: t\nresources:\n  ecr_repository.app:\n    name: caf\xe9\n").unwrap();
    refused(&validate(&p), "the stack file is not valid UTF-8", "stacks/test.yaml:4:14");
    let p = Project::new(&include("policies/bad.json"));
    std::fs::write(p.path().join("policies/bad.json"), b"{\n  \"Sid\": \"\xff\"\n}\n").unwrap();
    refused(&validate(&p), "the policy file is not valid UTF-8", "policies/bad.json:2:11");
}

#[test]
fn a_huge_stack_file_is_refused_and_the_error_stays_short() {
    let p = Project::new(&format!("stack: t\nresources:\n  ecr_repository.app:\n    name: \"{}\"\n", "a".repeat(10 << 20)));
    let r = validate(&p);
    r.code(1).has("cannot read stack file stacks/test.yaml: it is 10485").has("the limit is 1048576").has("help: keep the stack small");
    assert!(r.stderr.len() < 500, "{} bytes of error", r.stderr.len());
}

#[test]
fn a_huge_value_under_the_size_limit_is_excerpted() {
    let p = Project::new(&format!("stack: t\nresources:\n  ecr_repository.app:\n    name: \"{}\"\n", "a".repeat(900_000)));
    let r = validate(&p);
    refused(&r, "`name` must be at most 256 characters, found 900000", "stacks/test.yaml:4:11");
}

#[test]
fn a_variable_that_refers_to_itself_is_a_located_cycle() {
    let p = Project::new("stack: t\nvars:\n  a: \"x-${var.a}\"\nresources:\n  ecr_repository.app:\n    name: ${var.a}\n");
    refused(&validate(&p), "variable loop: a -> a", "stacks/test.yaml:3:6");
}

#[test]
fn a_path_as_region_is_refused() {
    let p = Project::new("stack: t\nregion: \"../../evil\"\nresources: {}\n");
    refused(&validate(&p), "`../../evil` is not an AWS region name", "stacks/test.yaml:2:9");
}

/// The seed stack, its path (so includes resolve against the repository's `policies/`).
fn seed() -> (std::path::PathBuf, Vec<u8>) {
    let path = repo_root().join("stacks/eks-devops.yaml");
    let bytes = std::fs::read(&path).unwrap();
    (path, bytes)
}

#[derive(Debug, Clone)]
enum Mutation {
    DeleteLine(usize),
    DuplicateLine(usize),
    FlipByte(usize, u8),
    Truncate(usize),
}

fn mutate(bytes: &[u8], muts: &[Mutation]) -> Vec<u8> {
    let mut b = bytes.to_vec();
    for m in muts {
        let lines: Vec<&[u8]> = b.split_inclusive(|&c| c == b'\n').collect();
        b = match *m {
            Mutation::DeleteLine(i) => lines.iter().enumerate().filter(|(n, _)| *n != i % lines.len().max(1)).flat_map(|(_, l)| l.to_vec()).collect(),
            Mutation::DuplicateLine(i) => {
                let at = i % lines.len().max(1);
                lines.iter().enumerate().flat_map(|(n, l)| if n == at { [*l, *l].concat() } else { l.to_vec() }).collect()
            }
            Mutation::FlipByte(i, x) => {
                let mut v = b.clone();
                if !v.is_empty() {
                    let at = i % v.len();
                    v[at] ^= x.max(1);
                }
                v
            }
            Mutation::Truncate(i) => b[..i % (b.len() + 1)].to_vec(),
        };
    }
    b
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<usize>().prop_map(Mutation::DeleteLine),
        any::<usize>().prop_map(Mutation::DuplicateLine),
        (any::<usize>(), any::<u8>()).prop_map(|(i, x)| Mutation::FlipByte(i, x)),
        any::<usize>().prop_map(Mutation::Truncate),
    ]
}

fn load_and_validate(path: &Path, bytes: Vec<u8>) -> provision::Result<stack::Stack> {
    let parsed = stack::load::load_bytes(path, bytes)?;
    stack::validate(parsed, &Kinds, &[])
}

#[test]
fn the_seed_stack_itself_is_valid() {
    let (path, bytes) = seed();
    load_and_validate(&path, bytes).expect("the seed stack validates");
}

proptest! {
    // 256 cases of a few mutations each: a few seconds in a debug build.
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]
    #[test]
    fn mutated_stacks_never_panic_and_stay_fast(muts in proptest::collection::vec(mutation(), 1..4)) {
        let (path, bytes) = seed();
        let input = mutate(&bytes, &muts);
        let t = Instant::now();
        let result = std::panic::catch_unwind(|| load_and_validate(&path, input).map(|_| ()));
        prop_assert!(result.is_ok(), "panicked on {:?}", muts);
        prop_assert!(t.elapsed() < Duration::from_secs(1), "{:?} took {:?}", muts, t.elapsed());
        if let Ok(Err(provision::Error::Stack(d))) = result {
            // Every problem found is located and short.
            let text = d.to_string();
            prop_assert!(text.contains("--> "), "unlocated: {}", text);
        }
    }
}
