//! Bad input gets an error naming file, line and column, with a `help:` line, exit code 1, never a
//! panic. These run `provision validate`, which needs no AWS.

mod common;

use common::{Project, Run};
use std::process::Command;

fn validate(p: &Project) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_provision"))
        .current_dir(p.path())
        .args(["validate", "-s", "stacks/test.yaml"])
        .env("NO_COLOR", "1")
        .output()
        .expect("run provision");
    Run::from(out)
}

/// Assert one error: exit 1, the message, `file:line:col`, a help line, and no panic.
#[track_caller]
fn expect_error(yaml: &str, files: &[(&str, &str)], message: &str, at: &str) -> Run {
    let p = Project::new(yaml);
    for (path, text) in files {
        p.write(path, text);
    }
    let r = validate(&p);
    r.code(1).has(message).has(&format!("--> {at}")).has("= help:").lacks("panicked");
    r
}

const HEAD: &str = "stack: t\nresources:\n";

#[test]
fn unknown_top_level_key() {
    expect_error("stack: t\nregoin: us-east-1\nresources: {}\n", &[], "unknown key `regoin`", "stacks/test.yaml:2:1")
        .has("valid top-level keys are: stack, region");
}

#[test]
fn assume_role_is_checked_before_any_call() {
    let y = |body: &str| format!("stack: t\nassume_role:\n{body}resources: {{}}\n");
    expect_error(&y("  role_arn: arn:aws:iam::12345:role/x\n"), &[], "is not a valid `assume_role.role_arn`", "stacks/test.yaml:3:13")
        .has("arn:aws:iam::111122223333:role/provision-applier");
    expect_error(&y("  role_arn: arn:aws:iam::111122223333:role/${var.r}\n"), &[], "`assume_role.role_arn` cannot use `${}`", "stacks/test.yaml:3:13")
        .has("--assume-role");
    expect_error(&y("  rol_arn: x\n"), &[], "unknown key `rol_arn` in `assume_role`", "stacks/test.yaml:3:3");
    expect_error(
        &y("  role_arn: arn:aws:iam::111122223333:role/a\n  session_name: \"has space\"\n"),
        &[],
        "not a valid `assume_role.session_name`",
        "stacks/test.yaml:4:17",
    );
}

#[test]
fn misspelt_property_points_at_the_key() {
    let y = format!("{HEAD}  ecr_repository.app:\n    name: app\n    scan_on_pus: true\n");
    expect_error(&y, &[], "unknown field `scan_on_pus`", "stacks/test.yaml:5:5");
}

#[test]
fn wrong_type_points_at_the_value() {
    // `yes` is a string under YAML 1.2 rules, not a boolean.
    let y = format!("{HEAD}  ecr_repository.app:\n    name: app\n    scan_on_push: yes\n");
    expect_error(&y, &[], "expected a boolean", "stacks/test.yaml:5:19");
}

#[test]
fn invalid_enum_value() {
    let y = format!("{HEAD}  ecr_repository.app:\n    name: app\n    image_tag_mutability: IMUTABLE\n");
    expect_error(&y, &[], "unknown variant `IMUTABLE`", "stacks/test.yaml:5:27").has("IMMUTABLE");
}

#[test]
fn dangling_reference_points_into_the_string() {
    let y = format!("{HEAD}  ecr_repository.app:\n    name: app\n    tags:\n      owner: \"team-${{iam_role.missing.arn}}\"\n");
    expect_error(&y, &[], "reference to undeclared resource `iam_role.missing`", "stacks/test.yaml:6:20").has("declared resources: ecr_repository.app");
}

#[test]
fn unknown_attribute() {
    let y = format!("{HEAD}  ecr_repository.a:\n    name: repo-a\n  ecr_repository.b:\n    name: repo-b\n    tags: {{ x: \"${{ecr_repository.a.nope}}\" }}\n");
    expect_error(&y, &[], "`ecr_repository` has no attribute `nope`", "stacks/test.yaml:7:17").has("arn");
}

#[test]
fn undefined_variable() {
    let y = "stack: t\nvars:\n  team: x\nresources:\n  ecr_repository.app:\n    name: ${var.nmae}\n";
    expect_error(y, &[], "undefined variable `nmae`", "stacks/test.yaml:6:11").has("declared: team");
}

#[test]
fn reference_cycle() {
    let y = format!(
        "{HEAD}  ecr_repository.a:\n    name: repo-a\n    tags: {{ x: \"${{ecr_repository.b.arn}}\" }}\n  ecr_repository.b:\n    name: repo-b\n    tags: {{ x: \"${{ecr_repository.a.arn}}\" }}\n"
    );
    expect_error(&y, &[], "reference cycle: ecr_repository.a -> ecr_repository.b -> ecr_repository.a", "stacks/test.yaml:3:3");
}

#[test]
fn duplicate_resource_address() {
    let y = format!("{HEAD}  ecr_repository.app:\n    name: a\n  ecr_repository.app:\n    name: b\n");
    expect_error(&y, &[], "invalid YAML: duplicate mapping key: ecr_repository.app", "stacks/test.yaml:5:3").lacks("DuplicateKeyPolicy");
}

#[test]
fn duplicate_aws_name() {
    let y = format!("{HEAD}  ecr_repository.a:\n    name: same\n  ecr_repository.b:\n    name: same\n");
    expect_error(&y, &[], "duplicate name", "stacks/test.yaml:6:11").has("test.yaml:3:3");
}

#[test]
fn yaml_syntax_error() {
    let y = format!("{HEAD}  ecr_repository.app:\n    name: [app\n");
    let p = Project::new(&y);
    let r = validate(&p);
    r.code(1).has("invalid YAML").has("--> stacks/test.yaml:").lacks("panicked");
}

#[test]
fn unterminated_reference() {
    let y = format!("{HEAD}  ecr_repository.app:\n    name: \"x-${{var.a\"\n");
    expect_error(&y, &[], "unterminated `${`", "stacks/test.yaml:4:14");
}

#[test]
fn missing_required_property() {
    let y = format!("{HEAD}  ecr_repository.app:\n    scan_on_push: true\n");
    expect_error(&y, &[], "missing field `name`", "stacks/test.yaml:4:5");
}

#[test]
fn unknown_kind_lists_the_known_ones() {
    let y = format!("{HEAD}  ecr_repo.app:\n    name: app\n");
    expect_error(&y, &[], "unknown resource kind `ecr_repo`", "stacks/test.yaml:3:3").has("ecr_repository");
}

#[test]
fn unreadable_policy_file() {
    let y = format!("{HEAD}  ecr_repository.app:\n    name: app\n    tags: {{ file: policies/missing.json }}\n");
    expect_error(&y, &[], "cannot read policy file", "stacks/test.yaml:5:19");
}

#[test]
fn invalid_json_in_policy_file_points_into_that_file() {
    let y = format!("{HEAD}  ecr_repository.app:\n    name: app\n    tags: {{ file: policies/bad.json }}\n");
    let bad = "{\n  \"Version\": \"2012-10-17\",\n  \"Statement\": [\n    { \"Effect\": \"Allow\" \"Action\": \"s3:*\" }\n  ]\n}\n";
    expect_error(&y, &[("policies/bad.json", bad)], "invalid JSON", "policies/bad.json:4:25");
}

#[test]
fn all_problems_are_reported_together() {
    let y = "stack: t\nbogus: 1\nresources:\n  ecr_repository.app:\n    name: app\n    scan_on_pus: true\n";
    let p = Project::new(y);
    validate(&p).code(1).has("unknown key `bogus`").has("unknown field `scan_on_pus`").has("2 problems");
}

#[test]
fn valid_stack_passes() {
    let y = format!("{HEAD}  ecr_repository.app:\n    name: app\n    image_tag_mutability: IMMUTABLE\n");
    let p = Project::new(&y);
    validate(&p).ok().has("is valid (1 resources)");
}

#[test]
fn the_stack_file_is_chosen_or_the_choices_are_listed() {
    let p = Project::new("stack: t\nresources:\n  ecr_repository.app:\n    name: app\n");
    let run = |dir: &std::path::Path| {
        Run::from(Command::new(env!("CARGO_BIN_EXE_provision")).current_dir(dir).arg("validate").env("NO_COLOR", "1").output().unwrap())
    };
    run(p.path()).ok().has("stacks/test.yaml: stack `t` is valid");
    p.write("stacks/other.yaml", "stack: o\nresources: {}\n");
    run(p.path()).code(1).has("holds several").has("stacks/other.yaml, stacks/test.yaml").has("-s/--stack");
}
