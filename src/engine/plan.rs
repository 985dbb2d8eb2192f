//! Build a plan: resolve every resource, take the inventory of what the account holds (in batches,
//! every kind at once), and decide.

use super::decide::{self, Want};
use super::diff;
use super::graph;
use super::resolve::Env;
use crate::aws::Reads;
use crate::contract::schema::{check_text, Field, Ty};
use crate::contract::{Address, Attrs, Ctx, Found, Kind, Mode, Partial, Plan, Registry, FORMAT_VERSION, UNKNOWN};
use crate::error::Diagnostics;
use crate::stack::interp;
use crate::stack::node::Node;
use crate::stack::{Resource, Stack, VarSource};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};

#[derive(Debug, Clone)]
pub struct Options {
    pub mode: Mode,
    pub partial: Option<Partial>,
}

fn kind_of(registry: &dyn Registry, r: &Resource) -> &'static dyn Kind {
    registry.get(&r.address.kind).expect("kinds are checked when the stack is validated")
}

/// A resource's desired state: references resolved against what is known so far, table defaults
/// filled, then the kind's normal form.
pub fn desired(ctx: &Ctx, stack: &Stack, r: &Resource, kind: &dyn Kind, attrs: &HashMap<Address, Attrs>) -> crate::Result<Value> {
    let env = Env { stack, account_id: &ctx.account_id, region: &ctx.region, attrs };
    let props = env.resolve(&r.props);
    kind.desired(ctx, &kind.schema().with_defaults(&props)).map_err(|e| e.at(&r.address))
}

/// Everything every kind finds in the account for this stack, all kinds at once.
pub async fn inventory(ctx: &Ctx, registry: &dyn Registry, reads: &Reads, wanted: &BTreeMap<&str, Vec<Value>>) -> crate::Result<BTreeMap<String, Vec<Found>>> {
    let none: Vec<Value> = Vec::new();
    let none = &none;
    let found = futures::future::try_join_all(registry.kinds().iter().map(|k| async move {
        let w = wanted.get(k.name()).unwrap_or(none);
        k.inventory(ctx, reads, w).await.map(|f| (k.name().to_string(), f)).map_err(|e| e.at(format!("{} inventory", k.name())))
    }))
    .await?;
    Ok(found.into_iter().collect())
}

pub async fn plan(ctx: &Ctx, stack: &Stack, registry: &dyn Registry, opts: &Options) -> crate::Result<Plan> {
    let order = graph::topo_order(stack);

    // 1. With what is known without reading (names, deterministic ARNs), so that every read goes
    //    out at once.
    let mut attrs: HashMap<Address, Attrs> = HashMap::new();
    let mut first: Vec<Value> = vec![Value::Null; stack.resources.len()];
    for &i in &order {
        let r = &stack.resources[i];
        let kind = kind_of(registry, r);
        let d = desired(ctx, stack, r, kind, &attrs)?;
        attrs.insert(r.address.clone(), kind.attrs(ctx, &d, None)?);
        first[i] = d;
    }
    let mut wanted: BTreeMap<&str, Vec<Value>> = BTreeMap::new();
    for (i, r) in stack.resources.iter().enumerate() {
        wanted.entry(kind_of(registry, r).name()).or_default().push(first[i].clone());
    }
    let reads = Reads::sharing(&ctx.stack, ctx.shared.reads.clone());
    let mut found = inventory(ctx, registry, &reads, &wanted).await?;

    // 2. Again in dependency order, now with live attributes (the ARN of an existing connection).
    attrs.clear();
    let mut wants = Vec::new();
    let mut late = Diagnostics::default();
    for &i in &order {
        let r = &stack.resources[i];
        let kind = kind_of(registry, r);
        let schema = kind.schema();
        let d = desired(ctx, stack, r, kind, &attrs)?;
        let identity = schema.identity_of(&d);
        if identity != schema.identity_of(&first[i]) {
            // The identity depended on something only known after reading: look for it too.
            let more = kind.inventory(ctx, &reads, std::slice::from_ref(&d)).await.map_err(|e| e.at(&r.address))?;
            let list = found.entry(schema.kind.to_string()).or_default();
            for f in more.into_iter().filter(|f| f.identity == identity) {
                if !list.contains(&f) {
                    list.push(f);
                }
            }
        }
        let (live, _) = decide::matching(schema, &ctx.stack, &identity, found.get(schema.kind).map(Vec::as_slice).unwrap_or(&[]));
        let owned = live.filter(|l| l.owner.as_deref() == Some(ctx.stack.as_str()));
        // A replacement gets fresh identifiers: only what follows from the desired state is known.
        let replaced = owned.is_some_and(|l| diff::diff(schema, &d, &l.state, &r.guards.ignore_changes).iter().any(|c| c.replace.is_some()));
        attrs.insert(r.address.clone(), kind.attrs(ctx, &d, owned.filter(|_| !replaced))?);
        late_checks(stack, &r.props, schema.fields, &d, &mut late);
        wants.push(Want {
            address: r.address.clone(),
            schema,
            identity,
            create_notes: if opts.mode == Mode::Apply { kind.notes(ctx, &d) } else { Vec::new() },
            desired: d,
            deps: r.deps.iter().cloned().collect(),
            guards: &r.guards,
        });
    }
    late.into_result()?;

    let schema_of = |k: &str| registry.get(k).map(|k| k.schema());
    let steps =
        decide::decide(decide::Input { stack: &ctx.stack, mode: opts.mode, wants, found: &found, schema_of: &schema_of, partial: opts.partial.as_ref() })
            .map_err(|refusals| {
                let mut d = Diagnostics::default();
                for r in refusals {
                    let pos = stack.resource(&r.address).map(|x| x.pos).unwrap_or_default();
                    d.push(stack.diagnostic(pos, r.message, "remove `protect: true` from its `lifecycle` first if this is really meant, then plan again"));
                }
                crate::Error::Stack(d)
            })?;
    Ok(Plan {
        format_version: FORMAT_VERSION,
        stack: stack.name.clone(),
        mode: opts.mode,
        account_id: ctx.account_id.clone(),
        region: ctx.region.clone(),
        source_digest: stack.digest.clone(),
        partial: opts.partial.clone(),
        steps,
        notes: Vec::new(),
        vars: stack.vars.iter().filter_map(|(n, v)| var_origin(n, &v.source).map(|o| (n.clone(), o))).collect(),
    })
}

/// Where a variable's value came from, when it is not the stack file (the plan says so).
fn var_origin(name: &str, source: &VarSource) -> Option<String> {
    match source {
        VarSource::File => None,
        VarSource::Flag => Some("--var".into()),
        VarSource::Env => Some(format!("PROVISION_VAR_{name}")),
    }
}

/// Strings that held references are checked against the table once resolved.
fn late_checks(stack: &Stack, node: &Node, fields: &[Field], v: &Value, out: &mut Diagnostics) {
    for f in fields {
        let (Some(n), Some(val)) = (node.get(f.name), v.get(f.name)) else { continue };
        match (&f.ty, n.as_str(), val) {
            (Ty::Str(t), Some(raw), Value::String(s)) if interp::has_refs(raw) && s != UNKNOWN => {
                if let Err(why) = check_text(s, t) {
                    let shown = crate::error::diag::excerpt(s);
                    out.push(stack.diagnostic(
                        n.pos,
                        format!("`{}` {why}: `{shown}` (after resolving its references)", f.name),
                        format!("`{}` is {}", f.name, crate::contract::schema::describe(&f.ty)),
                    ));
                }
            }
            (Ty::Enum(values), Some(raw), Value::String(s)) if interp::has_refs(raw) && s != UNKNOWN && !values.contains(&s.as_str()) => {
                out.push(stack.diagnostic(
                    n.pos,
                    format!("`{}` resolved to `{}`, which is not one of {}", f.name, crate::error::diag::excerpt(s), values.join(", ")),
                    "check the variable it refers to",
                ));
            }
            (Ty::Struct(inner), _, Value::Object(_)) => late_checks(stack, n, inner, val, out),
            _ => {}
        }
    }
}

/// Every resource's desired state and attributes as far as they follow from the stack alone (no
/// read of the account): what `check` analyses. Values known only once a resource exists are
/// `(known after apply)`.
pub fn resolved(ctx: &Ctx, stack: &Stack, registry: &dyn Registry) -> crate::Result<Vec<(Address, Value, Attrs)>> {
    let mut attrs: HashMap<Address, Attrs> = HashMap::new();
    let mut out = Vec::new();
    for i in graph::topo_order(stack) {
        let r = &stack.resources[i];
        let kind = kind_of(registry, r);
        let d = desired(ctx, stack, r, kind, &attrs)?;
        let a = kind.attrs(ctx, &d, None)?;
        attrs.insert(r.address.clone(), a.clone());
        out.push((r.address.clone(), d, a));
    }
    Ok(out)
}
