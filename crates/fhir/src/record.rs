//! Entry points: validating single resources, record bundles and record updates, and the
//! record context that updates are validated against.

use crate::error::{ErrorKind, ValidationError};
use crate::json::parse_json;
use crate::primitive::shorten;
use crate::validate::{self, RefUse, rest_tail, target_allowed};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;

/// Identity of a resource inside a record: its type and logical id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ResourceKey {
    /// Resource type, e.g. `Patient`.
    pub resource_type: String,
    /// Logical id.
    pub id: String,
}

impl fmt::Display for ResourceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.resource_type, self.id)
    }
}

/// One entry of a validated bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryInfo {
    /// `Bundle.entry.fullUrl`, if given.
    pub full_url: Option<String>,
    /// Type of `Bundle.entry.resource` (empty if the entry has no resource, which only
    /// [`validate_resource`] accepts).
    pub resource_type: String,
    /// Logical id of the resource, if given.
    pub id: Option<String>,
}

impl EntryInfo {
    /// `Type/id`, if the resource has an id.
    pub fn key(&self) -> Option<ResourceKey> {
        self.id.as_ref().map(|id| ResourceKey { resource_type: self.resource_type.clone(), id: id.clone() })
    }
}

/// A resource (of any type) that passed [`validate_resource`].
#[derive(Debug, Clone, PartialEq)]
pub struct ValidatedResource {
    value: Value,
}

impl ValidatedResource {
    /// The parsed JSON.
    pub fn json(&self) -> &Value {
        &self.value
    }
    /// The parsed JSON, by value.
    pub fn into_json(self) -> Value {
        self.value
    }
    /// `resourceType`.
    pub fn resource_type(&self) -> &str {
        self.value.get("resourceType").and_then(Value::as_str).unwrap_or("")
    }
}

/// A Bundle that passed [`validate_bundle`] or [`validate_update`].
#[derive(Debug, Clone, PartialEq)]
pub struct ValidatedBundle {
    value: Value,
    entries: Vec<EntryInfo>,
}

impl ValidatedBundle {
    /// The parsed JSON of the whole bundle.
    pub fn json(&self) -> &Value {
        &self.value
    }
    /// The parsed JSON, by value.
    pub fn into_json(self) -> Value {
        self.value
    }
    /// `Bundle.type`.
    pub fn bundle_type(&self) -> &str {
        self.value.get("type").and_then(Value::as_str).unwrap_or("")
    }
    /// Identity of every entry, in order.
    pub fn entries(&self) -> &[EntryInfo] {
        &self.entries
    }
    /// The entry resources, in order.
    pub fn resources(&self) -> impl Iterator<Item = &Value> {
        self.value.get("entry").and_then(Value::as_array).into_iter().flatten().filter_map(|e| e.get("resource"))
    }
    /// The Patient entry, if the bundle has exactly one.
    pub fn patient(&self) -> Option<&EntryInfo> {
        let mut it = self.entries.iter().filter(|e| e.resource_type == "Patient");
        let first = it.next()?;
        it.next().is_none().then_some(first)
    }
}

/// Identity of the record's patient.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PatientIdentity {
    /// `Patient/id`, if the Patient had an id.
    pub key: Option<ResourceKey>,
    /// The Patient's `fullUrl`, if it had one.
    pub full_url: Option<String>,
}

/// What a record already holds: the identities of all resources of earlier versions and the
/// record's Patient.  Updates are validated against it ([`validate_update`]); after an update
/// is accepted, [`RecordContext::add`] it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordContext {
    patient: Option<PatientIdentity>,
    full_urls: BTreeMap<String, String>,
    keys: BTreeSet<ResourceKey>,
    versions: u32,
    resources: u64,
}

impl RecordContext {
    /// An empty record (before version 1).
    pub fn new() -> Self {
        Self::default()
    }

    /// The context after the given versions, in order.
    pub fn from_versions<'a>(versions: impl IntoIterator<Item = &'a ValidatedBundle>) -> Self {
        let mut ctx = Self::new();
        for v in versions {
            ctx.add(v);
        }
        ctx
    }

    /// Record an accepted version.
    pub fn add(&mut self, version: &ValidatedBundle) {
        for e in &version.entries {
            if self.patient.is_none() && e.resource_type == "Patient" {
                self.patient = Some(PatientIdentity { key: e.key(), full_url: e.full_url.clone() });
            }
            if let Some(u) = &e.full_url {
                self.full_urls.insert(u.clone(), e.resource_type.clone());
            }
            if let Some(k) = e.key() {
                self.keys.insert(k);
            }
            self.resources += 1;
        }
        self.versions += 1;
    }

    /// Appends what later versions added (a context built by [`RecordContext::from_versions`]
    /// over just those versions), so a record's context can be kept as per-version parts.
    pub fn extend(&mut self, later: RecordContext) {
        if self.patient.is_none() {
            self.patient = later.patient;
        }
        self.full_urls.extend(later.full_urls);
        self.keys.extend(later.keys);
        self.versions += later.versions;
        self.resources += later.resources;
    }

    /// Number of versions added so far.
    pub fn versions(&self) -> u32 {
        self.versions
    }

    /// The record's Patient, once version 1 is added.
    pub fn patient(&self) -> Option<&PatientIdentity> {
        self.patient.as_ref()
    }

    /// Whether a resource with this identity is already in the record.
    pub fn contains_key(&self, key: &ResourceKey) -> bool {
        self.keys.contains(key)
    }

    /// Whether an entry with this fullUrl is already in the record.
    pub fn contains_full_url(&self, full_url: &str) -> bool {
        self.full_urls.contains_key(full_url)
    }

    /// Number of resources (entries) in the record.
    pub fn len(&self) -> u64 {
        self.resources
    }

    /// Whether the record holds no resource yet.
    pub fn is_empty(&self) -> bool {
        self.resources == 0
    }
}

/// Validate any FHIR R4 resource (including a Bundle of any type) as a standalone document:
/// JSON well-formedness, element names and types, cardinality, primitive formats, required
/// bindings, narrative, invariants.  References must resolve when they can only be local:
/// `#id` to a contained resource and, inside a Bundle, `urn:uuid:`/`urn:oid:` to an entry.
/// Relative and absolute references may point outside the document.
pub fn validate_resource(bytes: &[u8]) -> Result<ValidatedResource, Vec<ValidationError>> {
    let value = parse_json(bytes).map_err(|e| vec![e])?;
    let walk = validate::walk(&value);
    let mut errors = walk.errors;
    if value.get("resourceType").and_then(Value::as_str) == Some("Bundle") {
        let index = Index::new(&value);
        for r in &walk.refs {
            if r.entry.is_none() {
                continue;
            }
            match index.resolve(&r.reference, None) {
                Target::Entry(i) => check_target(r, index.type_of(i), &mut errors),
                Target::Unresolved if r.reference.starts_with("urn:") => {
                    errors.push(unresolved(r, "no entry in the bundle has this fullUrl"))
                }
                _ => {}
            }
        }
    }
    if errors.is_empty() { Ok(ValidatedResource { value }) } else { Err(errors) }
}

/// Validate a Bundle as a self-contained record entry: everything [`validate_resource`]
/// checks, and also: the type is `collection`, `transaction`, `batch` or `document`; every
/// entry has a resource (and, in transactions, a POST or PUT request); every resource has an
/// identity (fullUrl or id) that occurs once; every literal reference resolves to an entry
/// of the bundle with a type the element allows.
pub fn validate_bundle(bytes: &[u8]) -> Result<ValidatedBundle, Vec<ValidationError>> {
    validate_record(bytes, None)
}

/// Validate a new version of a record against what the record already holds.
///
/// Everything [`validate_bundle`] checks, except that references may also resolve to
/// resources of earlier versions (`ctx`), plus:
/// - no resource of the update is already in the record (no rewriting history);
/// - version 1 (empty `ctx`) contains exactly one Patient; later versions contain none;
/// - every `subject`, `patient` and `beneficiary` reference of a resource (entry or
///   contained) resolves to the record's Patient.
pub fn validate_update(bytes: &[u8], ctx: &RecordContext) -> Result<ValidatedBundle, Vec<ValidationError>> {
    validate_record(bytes, Some(ctx))
}

const RECORD_BUNDLE_TYPES: &[&str] = &["collection", "transaction", "batch", "document"];

fn validate_record(bytes: &[u8], ctx: Option<&RecordContext>) -> Result<ValidatedBundle, Vec<ValidationError>> {
    let value = parse_json(bytes).map_err(|e| vec![e])?;
    let walk = validate::walk(&value);
    let mut errors = walk.errors;
    match value.get("resourceType").and_then(Value::as_str) {
        Some("Bundle") => {}
        Some(other) => {
            errors.push(ValidationError::new(ErrorKind::Bundle, shorten(other), "a record entry must be a Bundle"));
            return Err(errors);
        }
        None => return Err(errors),
    }
    let bundle_type = value.get("type").and_then(Value::as_str).unwrap_or("");
    if !RECORD_BUNDLE_TYPES.contains(&bundle_type) {
        errors.push(ValidationError::new(
            ErrorKind::Bundle,
            "Bundle.type",
            format!(
                "a record entry must be a {} bundle, not '{}'",
                RECORD_BUNDLE_TYPES.join(" / "),
                shorten(bundle_type)
            ),
        ));
    }
    let index = Index::new(&value);
    let raw_entries = value.get("entry").and_then(Value::as_array);
    // entries: resource present, request method, identity, duplicates
    let mut seen_urls: HashMap<&str, usize> = HashMap::new();
    let mut seen_keys: HashMap<(&str, &str), usize> = HashMap::new();
    for (i, e) in raw_entries.into_iter().flatten().enumerate() {
        let ep = format!("Bundle.entry[{i}]");
        if index.entries.get(i).is_some_and(|x| x.resource_type == "Bundle") {
            errors.push(ValidationError::new(
                ErrorKind::Bundle,
                format!("{ep}.resource"),
                "a record entry cannot nest another Bundle (its references could not be checked)",
            ));
        }
        if e.get("resource").is_none() {
            errors.push(ValidationError::new(
                ErrorKind::Required,
                &ep,
                "a record entry needs a resource (records are append-only: no deletes)",
            ));
            continue;
        }
        if let Some(method) = e.get("request").and_then(|r| r.get("method")).and_then(Value::as_str)
            && !matches!(method, "POST" | "PUT")
        {
            errors.push(ValidationError::new(
                ErrorKind::Bundle,
                format!("{ep}.request.method"),
                format!("a record entry can only add resources (POST or PUT), not {method}"),
            ));
        }
        let info = index.entries.get(i);
        let full = info.and_then(|x| x.full_url.as_deref());
        let key = info.and_then(|x| x.id.as_deref().map(|id| (x.resource_type.as_str(), id)));
        if full.is_none() && key.is_none() {
            errors.push(ValidationError::new(
                ErrorKind::Required,
                &ep,
                "a record entry needs a fullUrl or a resource id",
            ));
        }
        if let Some(u) = full {
            if let Some(j) = seen_urls.insert(u, i) {
                errors.push(ValidationError::new(
                    ErrorKind::Duplicate,
                    format!("{ep}.fullUrl"),
                    format!("fullUrl '{}' is also used by entry[{j}]", shorten(u)),
                ));
            }
            if ctx.is_some_and(|c| c.contains_full_url(u)) {
                errors.push(ValidationError::new(
                    ErrorKind::Duplicate,
                    format!("{ep}.fullUrl"),
                    format!("'{}' is already in the record (an update cannot rewrite history)", shorten(u)),
                ));
            }
        }
        if let Some((t, id)) = key {
            if let Some(j) = seen_keys.insert((t, id), i) {
                errors.push(ValidationError::new(
                    ErrorKind::Duplicate,
                    format!("{ep}.resource.id"),
                    format!("{t}/{} is also entry[{j}]", shorten(id)),
                ));
            }
            let k = ResourceKey { resource_type: t.to_string(), id: id.to_string() };
            if ctx.is_some_and(|c| c.contains_key(&k)) {
                errors.push(ValidationError::new(
                    ErrorKind::Duplicate,
                    format!("{ep}.resource.id"),
                    format!("{k} is already in the record (an update cannot rewrite history)"),
                ));
            }
        }
    }
    // patient
    let patients: Vec<usize> =
        index.entries.iter().enumerate().filter(|(_, e)| e.resource_type == "Patient").map(|(i, _)| i).collect();
    let record_patient: Option<PatientIdentity> = match ctx {
        None => None,
        Some(c) => match c.patient() {
            Some(p) => {
                for i in &patients {
                    errors.push(ValidationError::new(
                        ErrorKind::PatientMismatch,
                        format!("Bundle.entry[{i}].resource"),
                        "an update cannot add a Patient: the record already has its patient",
                    ));
                }
                Some(p.clone())
            }
            None => {
                if patients.len() != 1 {
                    errors.push(ValidationError::new(
                        ErrorKind::PatientMismatch,
                        "Bundle",
                        format!("version 1 of a record must contain exactly one Patient, found {}", patients.len()),
                    ));
                }
                patients
                    .first()
                    .and_then(|&i| index.entries.get(i))
                    .map(|e| PatientIdentity { key: e.key(), full_url: e.full_url.clone() })
            }
        },
    };
    // references
    for r in &walk.refs {
        if r.entry.is_none() {
            continue;
        }
        let target = index.resolve(&r.reference, ctx);
        let resolved_type = match &target {
            Target::Entry(i) => Some(index.type_of(*i)),
            Target::Context { resource_type, .. } => Some(resource_type.as_str()),
            Target::External | Target::Unresolved => None,
        };
        let Some(rt) = resolved_type else {
            let why = if ctx.is_some() {
                "the reference does not resolve inside the record"
            } else {
                "the reference does not resolve inside the bundle"
            };
            errors.push(unresolved(r, why));
            continue;
        };
        check_target(r, rt, &mut errors);
        if ctx.is_some() && r.top_level && is_patient_element(r.element) {
            let is_record_patient = match (&target, &record_patient) {
                (_, None) => true, // reported above (no single Patient)
                (Target::Entry(i), Some(p)) => index.entries.get(*i).is_some_and(|e| {
                    e.resource_type == "Patient"
                        && (e.key().is_some() && e.key() == p.key || e.full_url.is_some() && e.full_url == p.full_url)
                }),
                (Target::Context { key, full_url, .. }, Some(p)) => {
                    (key.is_some() && *key == p.key) || (full_url.is_some() && *full_url == p.full_url)
                }
                _ => false,
            };
            if !is_record_patient {
                errors.push(ValidationError::new(
                    ErrorKind::PatientMismatch,
                    &r.path,
                    format!("{} '{}' is not the record's patient", r.element, shorten(&r.reference)),
                ));
            }
        }
    }
    if errors.is_empty() { Ok(ValidatedBundle { entries: index.entries, value }) } else { Err(errors) }
}

fn is_patient_element(name: &str) -> bool {
    matches!(name, "subject" | "patient" | "beneficiary")
}

fn unresolved(r: &RefUse, why: &str) -> ValidationError {
    ValidationError::new(
        ErrorKind::UnresolvedReference,
        &r.path,
        format!("unable to resolve reference '{}': {why}", shorten(&r.reference)),
    )
}

fn check_target(r: &RefUse, resolved: &str, errors: &mut Vec<ValidationError>) {
    if !resolved.is_empty() && !target_allowed(r.targets, resolved) {
        errors.push(ValidationError::new(
            ErrorKind::InvalidReference,
            &r.path,
            format!("{} may not refer to a {resolved} (allowed: {})", r.element, r.targets.join(", ")),
        ));
    }
}

/// What a reference points at.
pub(crate) enum Target {
    Entry(usize),
    Context { resource_type: String, key: Option<ResourceKey>, full_url: Option<String> },
    External,
    Unresolved,
}

/// Lookup tables over the entries of a bundle.
pub(crate) struct Index {
    /// Identity of each entry.
    pub entries: Vec<EntryInfo>,
    by_full_url: HashMap<String, usize>,
    by_key: HashMap<(String, String), usize>,
}

impl Index {
    pub(crate) fn new(bundle: &Value) -> Index {
        let entries: Vec<EntryInfo> = bundle
            .get("entry")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|e| {
                let res = e.get("resource");
                EntryInfo {
                    full_url: e.get("fullUrl").and_then(Value::as_str).map(str::to_string),
                    resource_type: res
                        .and_then(|r| r.get("resourceType"))
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string(),
                    id: res.and_then(|r| r.get("id")).and_then(Value::as_str).map(str::to_string),
                }
            })
            .collect();
        let mut by_full_url = HashMap::new();
        let mut by_key = HashMap::new();
        for (i, e) in entries.iter().enumerate() {
            if let Some(u) = &e.full_url {
                by_full_url.entry(u.clone()).or_insert(i);
            }
            if let Some(id) = &e.id {
                by_key.entry((e.resource_type.clone(), id.clone())).or_insert(i);
            }
        }
        Index { entries, by_full_url, by_key }
    }

    fn type_of(&self, i: usize) -> &str {
        self.entries.get(i).map_or("", |e| e.resource_type.as_str())
    }

    pub(crate) fn resolve(&self, r: &str, ctx: Option<&RecordContext>) -> Target {
        let base = r.split_once("/_history/").map_or(r, |(a, _)| a);
        if let Some(&i) = self.by_full_url.get(base) {
            return Target::Entry(i);
        }
        if let Some(c) = ctx
            && let Some(t) = c.full_urls.get(base)
        {
            return Target::Context { resource_type: t.clone(), key: None, full_url: Some(base.to_string()) };
        }
        if base.starts_with("urn:") || base.contains('?') {
            return Target::Unresolved;
        }
        if base.contains("://") {
            return Target::External;
        }
        // relative Type/id: by key, or by a RESTful fullUrl ending in /Type/id
        let Some((t, id)) = rest_tail(base) else {
            return Target::Unresolved;
        };
        if let Some(&i) = self.by_key.get(&(t.to_string(), id.to_string())) {
            return Target::Entry(i);
        }
        let suffix = format!("/{t}/{id}");
        if let Some(i) = self.entries.iter().position(|e| e.full_url.as_deref().is_some_and(|u| u.ends_with(&suffix))) {
            return Target::Entry(i);
        }
        let key = ResourceKey { resource_type: t.to_string(), id: id.to_string() };
        if ctx.is_some_and(|c| c.contains_key(&key)) {
            return Target::Context { resource_type: t.to_string(), key: Some(key), full_url: None };
        }
        Target::Unresolved
    }
}
