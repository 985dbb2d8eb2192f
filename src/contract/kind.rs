//! The kind contract. A kind writes a field table (`Schema`), one typed state struct, and the SDK
//! mapping (`Resource`); the engine sees every kind through the object-safe `Kind`, which the
//! blanket implementation below derives from `Resource` (typed state <-> the engine's JSON).
//!
//! What the engine does once for every kind, and kinds therefore never do: ownership tags in the
//! create call and their reconcile (`Resource::tag` is only the service's tagging call), the
//! stack address on every error, not-found / already-exists classification from the table,
//! defaults, the diff, and progress.

use super::schema::{Ownership, PropError, Schema};
use super::state::{Attrs, Found, Tags};
use super::{Ctx, Op, ADDRESS_TAG, CREATED_TAG, OWNER_TAG};
use crate::aws::Reads;
use crate::Result;
use async_trait::async_trait;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// A resource as it exists, in a kind's own typed state.
#[derive(Debug, Clone)]
pub struct Live<S> {
    pub state: S,
    /// Identifiers only known once it exists (ARNs with generated parts, ids).
    pub attrs: BTreeMap<String, String>,
    /// Status worth showing that is not drift.
    pub notes: Vec<String>,
    /// For `Ownership::Record` kinds: the owning stack and the address it recorded. Tagged kinds
    /// leave these empty: the engine reads them from the state's tags.
    pub owner: Option<String>,
    pub address: Option<String>,
}

impl<S> Live<S> {
    pub fn new(state: S) -> Self {
        Live { state, attrs: BTreeMap::new(), notes: Vec::new(), owner: None, address: None }
    }
    pub fn attr(mut self, key: &str, value: impl Into<String>) -> Self {
        self.attrs.insert(key.to_string(), value.into());
        self
    }
    pub fn note(mut self, text: impl Into<String>) -> Self {
        self.notes.push(text.into());
        self
    }
}

/// A resource kind, typed. Everything the engine needs beyond the table.
#[async_trait]
pub trait Resource: Send + Sync + 'static {
    /// The state: desired (from the stack, defaults filled, then `normalize`d) and live (read)
    /// share this one shape, whose fields are the table's.
    type State: Serialize + DeserializeOwned + Clone + Send + Sync + 'static;

    fn schema(&self) -> &'static Schema;

    /// Rules across fields that the table cannot say, on the declared properties (references
    /// not yet resolved: skip values containing `${`).
    fn check(&self, _props: &Value) -> Vec<PropError> {
        Vec::new()
    }

    /// Spell the desired state the way AWS reports it (policy names to ARNs, sorted sets).
    fn normalize(&self, _ctx: &Ctx, _state: &mut Self::State) {}

    /// Attribute values known at plan time: from the desired state and, if it exists, the live one.
    fn attrs(&self, ctx: &Ctx, state: &Self::State, live: Option<&Live<Self::State>>) -> Attrs;

    /// Notes for a resource about to be created (what the user must do next).
    fn notes(&self, _ctx: &Ctx, _state: &Self::State) -> Vec<String> {
        Vec::new()
    }

    /// Everything of this kind that the stack owns, plus whatever holds one of the `wanted`
    /// identities (whoever owns it); read in batches (`reads` shares account-wide listings
    /// between kinds for one run).
    async fn inventory(&self, ctx: &Ctx, reads: &Reads, wanted: &[Self::State]) -> Result<Vec<Live<Self::State>>>;

    /// Create, with the tags in the create call itself; returns attributes now known.
    async fn create(&self, op: &Op<'_>, state: &Self::State) -> Result<BTreeMap<String, String>>;

    /// Bring an owned resource to `state` (fields the stack leaves unset hold the live value, and
    /// tags are the engine's): compare field by field and call what differs.
    async fn update(&self, op: &Op<'_>, state: &Self::State, live: &Live<Self::State>) -> Result<()>;

    /// The service's tagging calls (`Ownership::Tags` kinds).
    async fn tag(&self, _op: &Op<'_>, _live: &Live<Self::State>, _set: &Tags, _remove: &[String]) -> Result<()> {
        Ok(())
    }

    /// Delete an owned resource. `desired` is there when the stack still declares it (destroy)
    /// and carries its behaviour switches (`force_destroy`).
    async fn delete(&self, op: &Op<'_>, live: &Live<Self::State>, desired: Option<&Self::State>) -> Result<()>;
}

/// The engine's view of a kind: JSON states.
#[async_trait]
pub trait Kind: Send + Sync {
    fn schema(&self) -> &'static Schema;
    fn name(&self) -> &'static str {
        self.schema().kind
    }
    fn check(&self, props: &Value) -> Vec<PropError>;
    /// Resolved properties with defaults filled -> the desired state.
    fn desired(&self, ctx: &Ctx, props: &Value) -> Result<Value>;
    fn attrs(&self, ctx: &Ctx, desired: &Value, live: Option<&Found>) -> Result<Attrs>;
    fn notes(&self, ctx: &Ctx, desired: &Value) -> Vec<String>;
    async fn inventory(&self, ctx: &Ctx, reads: &Reads, wanted: &[Value]) -> Result<Vec<Found>>;
    async fn create(&self, op: &Op<'_>, desired: &Value) -> Result<BTreeMap<String, String>>;
    async fn update(&self, op: &Op<'_>, effective: &Value, live: &Found) -> Result<()>;
    async fn tag(&self, op: &Op<'_>, live: &Found, set: &Tags, remove: &[String]) -> Result<()>;
    async fn delete(&self, op: &Op<'_>, live: &Found, desired: Option<&Value>) -> Result<()>;
}

/// Every kind the tool knows; the stack language and the engine take it as a parameter.
pub trait Registry: Sync {
    fn kinds(&self) -> &[&'static dyn Kind];
    fn get(&self, name: &str) -> Option<&'static dyn Kind> {
        self.kinds().iter().copied().find(|k| k.name() == name)
    }
    fn names(&self) -> Vec<&'static str> {
        self.kinds().iter().map(|k| k.name()).collect()
    }
}

fn typed<S: DeserializeOwned>(kind: &str, v: &Value) -> Result<S> {
    serde_json::from_value(v.clone()).map_err(|e| crate::Error::internal(format!("{kind}: a state does not match its table: {e}")))
}

fn json<S: Serialize>(s: &S) -> Value {
    serde_json::to_value(s).expect("states serialise")
}

fn tag_of(state: &Value, key: &str) -> Option<String> {
    state["tags"][key].as_str().map(str::to_string)
}

fn to_found<R: Resource>(r: &R, live: Live<R::State>) -> Found {
    let schema = r.schema();
    let state = json(&live.state);
    let (owner, address, created) = match schema.ownership {
        Ownership::Tags => (tag_of(&state, OWNER_TAG), tag_of(&state, ADDRESS_TAG), tag_of(&state, CREATED_TAG)),
        Ownership::Record => (live.owner, live.address, None),
    };
    Found { identity: schema.identity_of(&state), state, owner, address, created, attrs: live.attrs, notes: live.notes }
}

fn from_found<R: Resource>(r: &R, f: &Found) -> Result<Live<R::State>> {
    Ok(Live { state: typed(r.schema().kind, &f.state)?, attrs: f.attrs.clone(), notes: f.notes.clone(), owner: f.owner.clone(), address: f.address.clone() })
}

#[async_trait]
impl<R: Resource> Kind for R {
    fn schema(&self) -> &'static Schema {
        Resource::schema(self)
    }

    fn check(&self, props: &Value) -> Vec<PropError> {
        Resource::check(self, props)
    }

    fn desired(&self, ctx: &Ctx, props: &Value) -> Result<Value> {
        let mut s: R::State = typed(Resource::schema(self).kind, props)?;
        self.normalize(ctx, &mut s);
        Ok(json(&s))
    }

    fn attrs(&self, ctx: &Ctx, desired: &Value, live: Option<&Found>) -> Result<Attrs> {
        let s: R::State = typed(Resource::schema(self).kind, desired)?;
        let live = live.map(|f| from_found(self, f)).transpose()?;
        Ok(Resource::attrs(self, ctx, &s, live.as_ref()))
    }

    fn notes(&self, ctx: &Ctx, desired: &Value) -> Vec<String> {
        match typed::<R::State>(Resource::schema(self).kind, desired) {
            Ok(s) => Resource::notes(self, ctx, &s),
            Err(_) => Vec::new(),
        }
    }

    async fn inventory(&self, ctx: &Ctx, reads: &Reads, wanted: &[Value]) -> Result<Vec<Found>> {
        let kind = Resource::schema(self).kind;
        let wanted: Vec<R::State> = wanted.iter().map(|w| typed(kind, w)).collect::<Result<_>>()?;
        let found = Resource::inventory(self, ctx, reads, &wanted).await?;
        Ok(found.into_iter().map(|l| to_found(self, l)).collect())
    }

    async fn create(&self, op: &Op<'_>, desired: &Value) -> Result<BTreeMap<String, String>> {
        let s: R::State = typed(Resource::schema(self).kind, desired)?;
        Resource::create(self, op, &s).await
    }

    async fn update(&self, op: &Op<'_>, effective: &Value, live: &Found) -> Result<()> {
        let s: R::State = typed(Resource::schema(self).kind, effective)?;
        Resource::update(self, op, &s, &from_found(self, live)?).await
    }

    async fn tag(&self, op: &Op<'_>, live: &Found, set: &Tags, remove: &[String]) -> Result<()> {
        Resource::tag(self, op, &from_found(self, live)?, set, remove).await
    }

    async fn delete(&self, op: &Op<'_>, live: &Found, desired: Option<&Value>) -> Result<()> {
        let desired: Option<R::State> = desired.map(|d| typed(Resource::schema(self).kind, d)).transpose()?;
        Resource::delete(self, op, &from_found(self, live)?, desired.as_ref()).await
    }
}
