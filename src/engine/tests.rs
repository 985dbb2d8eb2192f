//! The engine end to end with a fake in-memory kind: planning, ordering, failures blocking only
//! their dependents, destroy order, interruption, stale plans, and resources that left the stack.
//! No I/O: the fake keeps its "account" in memory.

use super::{apply, plan};
use crate::aws::Reads;
use crate::contract::schema::*;
use crate::contract::*;
use crate::stack::{self, Stack};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Default)]
struct Fake {
    store: Mutex<BTreeMap<String, Item>>,
    log: Mutex<Vec<String>>,
    fail: Mutex<BTreeSet<String>>,
    delay: Duration,
    /// Creates running now, and the most ever at once.
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Item {
    name: String,
    size: Option<i64>,
    tags: Tags,
}

static SCHEMA: Schema = Schema {
    kind: "fake",
    summary: "",
    notes: "",
    fields: &[field("name", STRING, "").required().replace("names are fixed"), field("size", Ty::Int(0, 99), ""), TAGS],
    attributes: &[attr("name", ""), attr("arn", "")],
    identity: &["name"],
    unique: true,
    ownership: Ownership::Tags,
    rank: 1,
    not_found: &[],
    already_exists: &[],
};

impl Fake {
    fn record(&self, what: &str, name: &str) {
        self.log.lock().unwrap().push(format!("{what} {name}"));
    }
    fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
}

#[async_trait]
impl Resource for Fake {
    type State = Item;

    fn schema(&self) -> &'static Schema {
        &SCHEMA
    }

    fn attrs(&self, _ctx: &Ctx, s: &Item, _live: Option<&Live<Item>>) -> Attrs {
        Attrs::from([("name".to_string(), Some(s.name.clone())), ("arn".to_string(), Some(format!("arn:fake:{}", s.name)))])
    }

    async fn inventory(&self, ctx: &Ctx, _reads: &Reads, wanted: &[Item]) -> crate::Result<Vec<Live<Item>>> {
        let wanted: BTreeSet<&str> = wanted.iter().map(|w| w.name.as_str()).collect();
        let store = self.store.lock().unwrap();
        Ok(store.values().filter(|i| wanted.contains(i.name.as_str()) || i.tags.get(OWNER_TAG) == Some(&ctx.stack)).map(|i| Live::new(i.clone())).collect())
    }

    async fn create(&self, _op: &Op<'_>, s: &Item) -> crate::Result<BTreeMap<String, String>> {
        self.record("create", &s.name);
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        tokio::time::sleep(self.delay).await;
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        if self.fail.lock().unwrap().contains(&s.name) {
            return Err(crate::Error::user(format!("{} refused", s.name), "it always is"));
        }
        self.store.lock().unwrap().insert(s.name.clone(), s.clone());
        Ok(BTreeMap::new())
    }

    async fn update(&self, _op: &Op<'_>, s: &Item, _live: &Live<Item>) -> crate::Result<()> {
        self.record("update", &s.name);
        self.store.lock().unwrap().insert(s.name.clone(), s.clone());
        Ok(())
    }

    async fn delete(&self, _op: &Op<'_>, live: &Live<Item>, _desired: Option<&Item>) -> crate::Result<()> {
        self.record("delete", &live.state.name);
        tokio::time::sleep(self.delay).await;
        self.store.lock().unwrap().remove(&live.state.name);
        Ok(())
    }
}

struct One(&'static [&'static dyn Kind]);

impl Registry for One {
    fn kinds(&self) -> &[&'static dyn Kind] {
        self.0
    }
}

fn setup(delay: Duration) -> (&'static Fake, One) {
    let fake: &'static Fake = Box::leak(Box::new(Fake { delay, ..Fake::default() }));
    let kinds: &'static [&'static dyn Kind] = Box::leak(Box::new([fake as &dyn Kind]));
    (fake, One(kinds))
}

fn ctx(parallelism: usize) -> Ctx {
    Ctx::offline("s", "1", "r", Settings { parallelism, ..Settings::default() })
}

fn stack(registry: &One, yaml: &str) -> Stack {
    let parsed = stack::load::load_bytes(Path::new("stacks/t.yaml"), yaml.as_bytes().to_vec()).unwrap();
    stack::validate(parsed, registry, &[]).unwrap()
}

/// a <- b <- c (each tags the one before), and d on its own.
const CHAIN: &str = "stack: s\nresources:\n  fake.a:\n    name: a\n  fake.b:\n    name: b\n    tags: { after: \"${fake.a.arn}\" }\n  fake.c:\n    name: c\n    tags: { after: \"${fake.b.arn}\" }\n  fake.d:\n    name: d\n";

async fn run(ctx: &Ctx, st: &Stack, registry: &One, mode: Mode) -> apply::Outcome {
    let p = plan::plan(ctx, st, registry, &plan::Options { mode, partial: None }).await.unwrap();
    apply::apply(ctx, st, registry, &p, &Silent, std::future::pending()).await
}

fn pos(log: &[String], entry: &str) -> usize {
    log.iter().position(|l| l == entry).unwrap_or_else(|| panic!("{entry} not in {log:?}"))
}

#[tokio::test]
async fn creates_follow_references_and_destroy_goes_in_reverse() {
    let (fake, registry) = setup(Duration::from_millis(5));
    let (ctx, st) = (ctx(4), stack(&registry, CHAIN));
    let out = run(&ctx, &st, &registry, Mode::Apply).await;
    assert!(out.ok(), "{out:?}");
    let log = fake.log();
    assert!(pos(&log, "create a") < pos(&log, "create b") && pos(&log, "create b") < pos(&log, "create c"), "{log:?}");
    // Ownership tags were in the create call.
    assert_eq!(fake.store.lock().unwrap()["b"].tags.get(OWNER_TAG).map(String::as_str), Some("s"));
    assert_eq!(fake.store.lock().unwrap()["b"].tags.get(ADDRESS_TAG).map(String::as_str), Some("fake.b"));
    // A second plan has nothing to do.
    let p = plan::plan(&ctx, &st, &registry, &plan::Options { mode: Mode::Apply, partial: None }).await.unwrap();
    assert!(!p.has_changes(), "{:?}", p.steps);

    let out = run(&ctx, &st, &registry, Mode::Destroy).await;
    assert!(out.ok(), "{out:?}");
    let log = fake.log();
    assert!(pos(&log, "delete c") < pos(&log, "delete b") && pos(&log, "delete b") < pos(&log, "delete a"), "{log:?}");
    assert!(fake.store.lock().unwrap().is_empty());
}

/// Stacks of one run in one account share the limit on changes in flight per service: two stacks,
/// each allowed four changes at once, never run more than the shared two together.
#[tokio::test]
async fn stacks_in_one_account_share_the_limit_on_changes_per_service() {
    let (fake, registry) = setup(Duration::from_millis(20));
    let shared = Arc::new(Shared::new(&Settings { parallelism: 2, ..Settings::default() }));
    let four = |name: &str| format!("stack: {name}\nresources:\n{}", (0..4).map(|i| format!("  fake.r{i}:\n    name: {name}-{i}\n")).collect::<String>());
    let (mut one, mut two) = (ctx(4), ctx(4));
    (one.stack, two.stack) = ("one".into(), "two".into());
    (one.shared, two.shared) = (shared.clone(), shared);
    let (a, b) = (stack(&registry, &four("one")), stack(&registry, &four("two")));
    let (x, y) = tokio::join!(run(&one, &a, &registry, Mode::Apply), run(&two, &b, &registry, Mode::Apply));
    assert!(x.ok() && y.ok(), "{x:?} {y:?}");
    assert_eq!(fake.store.lock().unwrap().len(), 8);
    assert_eq!(fake.max_in_flight.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_failure_blocks_only_what_depends_on_it() {
    let (fake, registry) = setup(Duration::ZERO);
    fake.fail.lock().unwrap().insert("b".into());
    let (ctx, st) = (ctx(4), stack(&registry, CHAIN));
    let out = run(&ctx, &st, &registry, Mode::Apply).await;
    assert_eq!(out.failed.iter().map(|(a, _)| a.to_string()).collect::<Vec<_>>(), vec!["fake.b"]);
    assert_eq!(out.skipped.iter().map(|a| a.to_string()).collect::<Vec<_>>(), vec!["fake.c"]);
    let done: BTreeSet<String> = out.done.iter().map(|(a, _)| a.to_string()).collect();
    assert_eq!(done, BTreeSet::from(["fake.a".to_string(), "fake.d".to_string()]));
    assert!(!fake.log().contains(&"create c".to_string()), "c never started");
    // The failure names the stack address, once.
    assert_eq!(out.failed[0].1.to_string(), "fake.b: b refused");
}

#[tokio::test]
async fn an_interruption_finishes_what_runs_and_starts_nothing_more() {
    let (fake, registry) = setup(Duration::from_millis(100));
    let (ctx, st) = (ctx(1), stack(&registry, CHAIN));
    let p = plan::plan(&ctx, &st, &registry, &plan::Options { mode: Mode::Apply, partial: None }).await.unwrap();
    let out = apply::apply(&ctx, &st, &registry, &p, &Silent, tokio::time::sleep(Duration::from_millis(20))).await;
    assert!(out.interrupted);
    assert_eq!(out.done.len(), 1, "the step in flight finished: {out:?}");
    assert_eq!(out.not_started.len(), 3, "{out:?}");
    assert_eq!(fake.store.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_plan_that_no_longer_matches_the_stack_is_stale_and_changes_nothing() {
    let (fake, registry) = setup(Duration::ZERO);
    let ctx = ctx(4);
    let st = stack(&registry, "stack: s\nresources:\n  fake.a:\n    name: a\n    size: 1\n");
    let p = plan::plan(&ctx, &st, &registry, &plan::Options { mode: Mode::Apply, partial: None }).await.unwrap();
    let edited = stack(&registry, "stack: s\nresources:\n  fake.a:\n    name: a\n    size: 2\n");
    let out = apply::apply(&ctx, &edited, &registry, &p, &Silent, std::future::pending()).await;
    assert!(out.failed[0].1.to_string().contains("the plan is stale"), "{out:?}");
    assert!(fake.store.lock().unwrap().is_empty());
}

#[tokio::test]
async fn what_leaves_the_stack_file_is_deleted_after_everything_else() {
    let (fake, registry) = setup(Duration::ZERO);
    let ctx = ctx(4);
    assert!(run(&ctx, &stack(&registry, CHAIN), &registry, Mode::Apply).await.ok());
    let without_d = stack(&registry, &CHAIN.replace("  fake.d:\n    name: d\n", "  fake.e:\n    name: e\n"));
    let p = plan::plan(&ctx, &without_d, &registry, &plan::Options { mode: Mode::Apply, partial: None }).await.unwrap();
    let d = p.steps.iter().find(|s| s.identity == "d").expect("d is in the plan");
    assert_eq!((d.action, d.delete_reason.clone()), (Action::Delete, Some(DeleteReason::Removed)));
    let out = apply::apply(&ctx, &without_d, &registry, &p, &Silent, std::future::pending()).await;
    assert!(out.ok(), "{out:?}");
    let log = fake.log();
    assert!(pos(&log, "create e") < pos(&log, "delete d"), "creates first, then what left the stack: {log:?}");
    assert!(!fake.store.lock().unwrap().contains_key("d"));
}
