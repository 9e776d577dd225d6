//! The structural walk: element names, JSON shapes, cardinality, primitive formats,
//! required bindings, narrative, and the invariants that can be checked inside one resource.
//! References are collected for resolution at bundle / record level (see `bundle.rs`).

use crate::datetime::DateTime;
use crate::error::{ErrorKind, ValidationError};
use crate::primitive::{self, shorten};
use crate::spec::{self, Element, Kind, Spec, TypeDef};
use crate::xhtml;
use serde_json::{Map, Value};
use std::collections::HashSet;

/// A literal reference found during the walk.
#[derive(Debug, Clone)]
pub(crate) struct RefUse {
    /// Path of the `reference` property.
    pub path: String,
    /// The reference string.
    pub reference: String,
    /// Types the element allows (`Resource` = any; empty = not constrained).
    pub targets: &'static [&'static str],
    /// Index of the top-level bundle entry this reference is in.
    pub entry: Option<usize>,
    /// Name of the element holding the Reference (e.g. `subject`).
    pub element: &'static str,
    /// The Reference is a direct child of a resource (entry resource or contained).
    pub top_level: bool,
}

/// Where a resource sits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pos {
    Root,
    TopEntry(usize),
    Contained,
    Nested,
}

struct Scope {
    contained: Vec<String>,
    referenced: HashSet<String>,
    /// Contained resources (by index) that refer to their container with `#`.
    refers_back: HashSet<usize>,
    current: Option<usize>,
}

/// Result of walking one document.
pub(crate) struct Walk {
    pub errors: Vec<ValidationError>,
    pub refs: Vec<RefUse>,
}

/// Walk a parsed document whose root must be a resource.
pub(crate) fn walk(root: &Value) -> Walk {
    let mut w =
        Walker { spec: spec::spec(), errors: Vec::new(), refs: Vec::new(), scopes: Vec::new(), entry: None, depth: 0 };
    w.resource(root, None, Pos::Root);
    Walk { errors: w.errors, refs: w.refs }
}

struct Walker {
    spec: &'static Spec,
    errors: Vec<ValidationError>,
    refs: Vec<RefUse>,
    scopes: Vec<Scope>,
    entry: Option<usize>,
    /// Number of resources currently being walked.
    depth: usize,
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() { name.to_string() } else { format!("{path}.{name}") }
}

fn kind_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Codes of `coding[].code` (or `code`) of a CodeableConcept / Coding value.
fn concept_codes(v: Option<&Value>) -> Vec<&str> {
    let Some(v) = v else { return Vec::new() };
    let mut out: Vec<&str> = Vec::new();
    if let Some(c) = v.get("code").and_then(Value::as_str) {
        out.push(c);
    }
    if let Some(codings) = v.get("coding").and_then(Value::as_array) {
        out.extend(codings.iter().filter_map(|c| c.get("code").and_then(Value::as_str)));
    }
    out
}

impl Walker {
    fn err(&mut self, kind: ErrorKind, path: impl Into<String>, message: impl Into<String>) {
        // Bound the output on hostile input.
        if self.errors.len() < 10_000 {
            self.errors.push(ValidationError::new(kind, path, message));
        }
    }

    /// Validate a resource. `path` is `None` for the root (its path is its type name).
    fn resource(&mut self, v: &Value, path: Option<&str>, pos: Pos) {
        let shown = path.unwrap_or("");
        let Value::Object(obj) = v else {
            self.err(
                ErrorKind::NotAResource,
                shown,
                format!("a resource must be a JSON object, found {}", kind_name(v)),
            );
            return;
        };
        let rt = match obj.get("resourceType") {
            Some(Value::String(s)) => s.as_str(),
            Some(other) => {
                self.err(
                    ErrorKind::NotAResource,
                    shown,
                    format!("resourceType must be a string, found {}", kind_name(other)),
                );
                return;
            }
            None => {
                self.err(ErrorKind::NotAResource, shown, "no resourceType property: not a FHIR resource");
                return;
            }
        };
        let Some(def) = self.spec.resource(rt) else {
            self.err(ErrorKind::UnknownResourceType, shown, format!("unknown resource type '{}'", shorten(rt)));
            return;
        };
        let path = path.map_or_else(|| rt.to_string(), str::to_string);

        let saved_entry = self.entry;
        match pos {
            Pos::TopEntry(i) => self.entry = Some(i),
            Pos::Nested => self.entry = None,
            Pos::Root | Pos::Contained => {}
        }
        let own_scope = pos != Pos::Contained;
        if own_scope {
            let contained = obj
                .get("contained")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(|r| r.get("id").and_then(Value::as_str)).map(str::to_string).collect())
                .unwrap_or_default();
            self.scopes.push(Scope {
                contained,
                referenced: HashSet::new(),
                refers_back: HashSet::new(),
                current: None,
            });
        } else {
            self.contained_rules(obj, &path);
        }
        self.depth += 1;
        self.object(obj, def, rt, &path, true);
        self.depth -= 1;
        self.resource_rules(rt, obj, &path);
        if own_scope && let Some(scope) = self.scopes.pop() {
            for (i, id) in scope.contained.iter().enumerate() {
                if !scope.referenced.contains(id) && !scope.refers_back.contains(&i) {
                    self.err(
                            ErrorKind::Invariant,
                            format!("{path}.contained[{i}]"),
                            format!(
                                "the contained resource '{}' is not referenced from elsewhere in the containing resource nor does it refer to the containing resource (dom-3)",
                                shorten(id)
                            ),
                        );
                }
            }
        }
        self.entry = saved_entry;
    }

    /// dom-2, dom-4, dom-5 and the id rule for a contained resource.
    fn contained_rules(&mut self, obj: &Map<String, Value>, path: &str) {
        if obj.contains_key("contained") {
            self.err(
                ErrorKind::Invariant,
                join(path, "contained"),
                "a contained resource SHALL NOT contain nested resources (dom-2)",
            );
        }
        if !obj.contains_key("id") {
            self.err(ErrorKind::Required, path, "a contained resource needs an id to be referenced");
        }
        if let Some(meta) = obj.get("meta") {
            if meta.get("versionId").is_some() || meta.get("lastUpdated").is_some() {
                self.err(
                    ErrorKind::Invariant,
                    join(path, "meta"),
                    "a contained resource SHALL NOT have meta.versionId or meta.lastUpdated (dom-4)",
                );
            }
            if meta.get("security").is_some() {
                self.err(
                    ErrorKind::Invariant,
                    join(path, "meta"),
                    "a contained resource SHALL NOT have security labels (dom-5)",
                );
            }
        }
    }

    /// Walk the properties of an object of type `def`.
    fn object(
        &mut self,
        obj: &Map<String, Value>,
        def: &'static TypeDef,
        ty_name: &str,
        path: &str,
        is_resource: bool,
    ) {
        if obj.is_empty() || (is_resource && obj.len() == 1) {
            self.err(
                ErrorKind::Empty,
                path,
                "object has no content (ele-1: all elements must have a value or children)",
            );
        }
        let mut groups: Vec<(&'static str, usize)> = Vec::new();
        for (key, val) in obj {
            if key == "resourceType" {
                if !is_resource {
                    self.err(
                        ErrorKind::UnknownElement,
                        join(path, key),
                        "unrecognized property 'resourceType' (only resources have one)",
                    );
                }
                continue;
            }
            if let Some(base) = key.strip_prefix('_') {
                match def.element(base) {
                    Some(el) if spec::is_primitive(el.ty) => {
                        self.companion(el, val, obj.get(base), &join(path, key));
                        if let Some(c) = el.choice
                            && !obj.contains_key(base)
                        {
                            count(&mut groups, c);
                        }
                    }
                    _ => self.err(
                        ErrorKind::UnknownElement,
                        join(path, key),
                        format!("unrecognized property '{}'", shorten(key)),
                    ),
                }
                continue;
            }
            let Some(el) = def.element(key) else {
                self.err(
                    ErrorKind::UnknownElement,
                    join(path, key),
                    format!("unrecognized property '{}' in {ty_name}", shorten(key)),
                );
                continue;
            };
            if let Some(c) = el.choice {
                count(&mut groups, c);
            }
            let p = join(path, key);
            if el.many {
                let Value::Array(items) = val else {
                    self.err(
                        ErrorKind::Cardinality,
                        p,
                        format!("the property {key} must be a JSON array, not {}", kind_name(val)),
                    );
                    continue;
                };
                if items.is_empty() {
                    self.err(
                        ErrorKind::Empty,
                        p,
                        "array cannot be empty - the property should not be present if it has no values",
                    );
                    continue;
                }
                let companion = obj.get(&format!("_{key}")).and_then(Value::as_array);
                for (i, item) in items.iter().enumerate() {
                    let ip = format!("{p}[{i}]");
                    if item.is_null() {
                        let has_ext =
                            spec::is_primitive(el.ty) && companion.and_then(|c| c.get(i)).is_some_and(Value::is_object);
                        if !has_ext {
                            self.err(
                                ErrorKind::WrongType,
                                ip,
                                "null is only allowed in a primitive array where the matching _ entry has an extension",
                            );
                        }
                        continue;
                    }
                    self.value(el, item, &ip, is_resource);
                }
            } else {
                if val.is_array() {
                    self.err(
                        ErrorKind::Cardinality,
                        p,
                        format!("the property {key} must be a single value, not a JSON array"),
                    );
                    continue;
                }
                if val.is_null() {
                    self.err(ErrorKind::WrongType, p, "null is not a valid value");
                    continue;
                }
                self.value(el, val, &p, is_resource);
            }
        }
        for (group, n) in &groups {
            if *n > 1 {
                self.err(
                    ErrorKind::Cardinality,
                    path,
                    format!("only one {group}[x] element may be present, found {n}"),
                );
            }
        }
        // required elements (all data types; resources only when fully checked)
        let owner = ty_name.split('.').next().unwrap_or(ty_name);
        if matches!(def.kind, Kind::Resource | Kind::Backbone) && !is_fully_checked(owner) {
            return;
        }
        let mut seen_groups: Vec<&str> = Vec::new();
        for el in def.elements.iter().filter(|e| e.required) {
            let present = |name: &str| obj.contains_key(name) || obj.contains_key(&format!("_{name}"));
            if let Some(g) = el.choice {
                if seen_groups.contains(&g) {
                    continue;
                }
                seen_groups.push(g);
                let any = def.elements.iter().filter(|e| e.choice == Some(g)).any(|e| present(e.name));
                if !any {
                    self.err(
                        ErrorKind::Required,
                        path,
                        format!("{ty_name}.{g}[x]: minimum required = 1, but only found 0"),
                    );
                }
            } else if !present(el.name) {
                self.err(
                    ErrorKind::Required,
                    path,
                    format!("{ty_name}.{}: minimum required = 1, but only found 0", el.name),
                );
            }
        }
    }

    /// `_name` companion of a primitive: `{id, extension}` (or an array of those / nulls).
    fn companion(&mut self, el: &Element, val: &Value, base: Option<&Value>, path: &str) {
        let Some(element) = self.spec.type_def("Element") else {
            return;
        };
        let one = |w: &mut Walker, v: &Value, p: &str| match v {
            Value::Object(o) => w.object(o, element, "Element", p, false),
            other => w.err(
                ErrorKind::WrongType,
                p,
                format!("primitive extension data must be a JSON object, found {}", kind_name(other)),
            ),
        };
        if el.many {
            let Value::Array(items) = val else {
                self.err(ErrorKind::Cardinality, path, "the property must be a JSON array like its primitive values");
                return;
            };
            if let Some(Value::Array(values)) = base
                && values.len() != items.len()
            {
                self.err(
                    ErrorKind::Cardinality,
                    path,
                    format!("array has {} items but the primitive array has {}", items.len(), values.len()),
                );
            }
            for (i, item) in items.iter().enumerate() {
                if item.is_null() {
                    let has_value = base.and_then(Value::as_array).and_then(|a| a.get(i)).is_some_and(|v| !v.is_null());
                    if !has_value {
                        self.err(
                            ErrorKind::WrongType,
                            format!("{path}[{i}]"),
                            "both the value and its extension are null",
                        );
                    }
                    continue;
                }
                one(self, item, &format!("{path}[{i}]"));
            }
        } else {
            one(self, val, path);
        }
    }

    /// Validate one (non-array) value of element `el`.
    fn value(&mut self, el: &'static Element, v: &Value, path: &str, parent_is_resource: bool) {
        let ty = el.ty;
        if ty == "xhtml" {
            match v {
                Value::String(s) => {
                    for m in xhtml::check_narrative(s) {
                        self.err(ErrorKind::Narrative, path, m);
                    }
                }
                other => self.err(
                    ErrorKind::WrongType,
                    path,
                    format!("xhtml must be a JSON string, found {}", kind_name(other)),
                ),
            }
            return;
        }
        if spec::is_primitive(ty) {
            if let Err((kind, m)) = primitive::check(ty, v) {
                self.err(kind, path, m);
                return;
            }
            if let Value::String(s) = v {
                if matches!(ty, "string" | "markdown") && xhtml::looks_like_html(s) {
                    self.err(
                        ErrorKind::UnsafeContent,
                        path,
                        "the string value contains text that looks like embedded HTML tags, which are not allowed for security reasons",
                    );
                }
                if ty == "code"
                    && let Some(vs) = el.value_set.and_then(|u| self.spec.value_set(u))
                    && !vs.contains_code(s)
                {
                    self.err(
                        ErrorKind::InvalidCode,
                        path,
                        format!(
                            "the code '{}' is not in the required value set {}",
                            shorten(s),
                            el.value_set.unwrap_or_default()
                        ),
                    );
                }
            }
            return;
        }
        if ty == "Resource" {
            let pos = if el.name == "contained" {
                Pos::Contained
            } else if el.name == "resource" && self.depth == 1 && path.starts_with("Bundle.entry[") {
                match entry_index(path) {
                    Some(i) => Pos::TopEntry(i),
                    None => Pos::Nested,
                }
            } else {
                Pos::Nested
            };
            if pos == Pos::Contained
                && let (Some(scope), Some(i)) = (self.scopes.last_mut(), contained_index(path))
            {
                scope.current = Some(i);
            }
            self.resource(v, Some(path), pos);
            if pos == Pos::Contained
                && let Some(scope) = self.scopes.last_mut()
            {
                scope.current = None;
            }
            return;
        }
        let Value::Object(obj) = v else {
            self.err(ErrorKind::WrongType, path, format!("{ty} must be a JSON object, found {}", kind_name(v)));
            return;
        };
        let Some(def) = self.spec.type_def(ty) else {
            return;
        };
        if def.kind == Kind::Primitive {
            return;
        }
        self.object(obj, def, ty, path, false);
        self.datatype_rules(el, ty, obj, path, parent_is_resource);
    }

    /// Invariants of data types and backbone elements.
    fn datatype_rules(
        &mut self,
        el: &'static Element,
        ty: &str,
        obj: &Map<String, Value>,
        path: &str,
        parent_is_resource: bool,
    ) {
        match ty {
            "Period" => {
                let get = |k: &str| obj.get(k).and_then(Value::as_str).and_then(|s| DateTime::parse(s).ok());
                if let (Some(s), Some(e)) = (get("start"), get("end"))
                    && s.bounds().0 > e.bounds().1
                {
                    self.err(
                        ErrorKind::Invariant,
                        path,
                        format!("per-1: if present, start SHALL have a lower value than end ({s} > {e})"),
                    );
                }
            }
            "Reference" => self.reference(el, obj, path, parent_is_resource),
            "Extension" => {
                let has_value = obj.keys().any(|k| {
                    let k = k.strip_prefix('_').unwrap_or(k);
                    k.starts_with("value") && k.len() > 5
                });
                if has_value && obj.contains_key("extension") {
                    self.err(
                        ErrorKind::Invariant,
                        path,
                        "ext-1: an extension must have either extensions or value[x], not both",
                    );
                }
            }
            "Quantity" | "Age" | "Count" | "Distance" | "Duration" | "MoneyQuantity" | "SimpleQuantity"
                if obj.contains_key("code") && !obj.contains_key("system") =>
            {
                self.err(
                    ErrorKind::Invariant,
                    path,
                    "qty-3: if a code for the unit is present, the system SHALL also be present",
                );
            }
            "Attachment" => {
                if obj.contains_key("data") && !obj.contains_key("contentType") {
                    self.err(
                        ErrorKind::Invariant,
                        path,
                        "att-1: if the attachment has data, it SHALL have a contentType",
                    );
                }
                let data = obj.get("data").and_then(Value::as_str);
                // a bad base64 value is reported by the base64Binary check already
                if let Some(Ok(len)) = data.map(primitive::check_base64)
                    && let Some(size) = obj.get("size").and_then(Value::as_u64)
                    && size != len as u64
                {
                    self.err(
                        ErrorKind::Inconsistent,
                        path,
                        format!("stated attachment size {size} does not match actual attachment size {len}"),
                    );
                }
            }
            "Coding" | "CodeableConcept" => {
                let Some(vs) = el.value_set.and_then(|u| self.spec.value_set(u)) else {
                    return;
                };
                let codings: Vec<(String, &Map<String, Value>)> = if ty == "Coding" {
                    vec![(path.to_string(), obj)]
                } else {
                    obj.get("coding")
                        .and_then(Value::as_array)
                        .map(|a| {
                            a.iter()
                                .enumerate()
                                .filter_map(|(i, c)| c.as_object().map(|o| (format!("{path}.coding[{i}]"), o)))
                                .collect()
                        })
                        .unwrap_or_default()
                };
                for (p, c) in codings {
                    let (Some(sys), Some(code)) =
                        (c.get("system").and_then(Value::as_str), c.get("code").and_then(Value::as_str))
                    else {
                        continue;
                    };
                    if vs.contains_in_system(sys, code) == Some(false) {
                        self.err(
                            ErrorKind::InvalidCode,
                            join(&p, "code"),
                            format!(
                                "the code '{}' from {sys} is not in the required value set {}",
                                shorten(code),
                                el.value_set.unwrap_or_default()
                            ),
                        );
                    }
                }
            }
            "RiskAssessment.prediction" => {
                if let Some(p) = obj.get("probabilityDecimal").and_then(Value::as_f64)
                    && p > 100.0
                {
                    self.err(ErrorKind::Invariant, path, "ras-2: probability must be <= 100");
                }
                if let Some(r) = obj.get("probabilityRange") {
                    let over = ["low", "high"].iter().any(|k| {
                        r.get(k).and_then(|q| q.get("value")).and_then(Value::as_f64).is_some_and(|v| v > 100.0)
                    });
                    if over {
                        self.err(ErrorKind::Invariant, path, "ras-1: probability range must be <= 100");
                    }
                }
            }
            "CarePlan.activity" if obj.contains_key("reference") && obj.contains_key("detail") => {
                self.err(ErrorKind::Invariant, path, "cpl-3: provide a reference or detail, not both");
            }
            "Patient.contact"
                if !["name", "telecom", "address", "organization"].iter().any(|k| obj.contains_key(*k)) =>
            {
                self.err(
                    ErrorKind::Invariant,
                    path,
                    "pat-1: SHALL at least contain a contact's details or a reference to an organization",
                );
            }
            _ => {}
        }
    }

    /// Check a Reference: syntax, local (`#`) resolution, declared target type; collect it.
    fn reference(&mut self, el: &'static Element, obj: &Map<String, Value>, path: &str, parent_is_resource: bool) {
        let Some(Value::String(r)) = obj.get("reference") else {
            return;
        };
        let rpath = join(path, "reference");
        if let Some(local) = r.strip_prefix('#') {
            if let Some(scope) = self.scopes.last_mut() {
                if local.is_empty() {
                    if let Some(i) = scope.current {
                        scope.refers_back.insert(i);
                    }
                } else if scope.contained.iter().any(|c| c == local) {
                    scope.referenced.insert(local.to_string());
                } else {
                    self.err(
                        ErrorKind::UnresolvedReference,
                        rpath,
                        format!("unable to resolve '{}': no contained resource has that id (ref-1)", shorten(r)),
                    );
                }
            }
            return;
        }
        let target_type = match parse_reference(r) {
            Ok(t) => t,
            Err(m) => {
                self.err(ErrorKind::InvalidReference, rpath, m);
                return;
            }
        };
        let declared = obj.get("type").and_then(Value::as_str);
        if let (Some(t), Some(d)) = (target_type, declared)
            && t != d
        {
            self.err(
                ErrorKind::InvalidReference,
                rpath.clone(),
                format!("the reference points to a {t} but Reference.type says {d}"),
            );
        }
        self.refs.push(RefUse {
            path: rpath,
            reference: r.clone(),
            targets: &el.targets,
            entry: self.entry,
            element: el.name,
            top_level: parent_is_resource,
        });
    }

    /// Invariants of whole resources.
    fn resource_rules(&mut self, rt: &str, obj: &Map<String, Value>, path: &str) {
        let has_value = || obj.keys().any(|k| k.starts_with("value") && k.len() > 5);
        match rt {
            "Observation" if obj.contains_key("dataAbsentReason") && has_value() => {
                self.err(
                    ErrorKind::Invariant,
                    path,
                    "obs-6: dataAbsentReason SHALL only be present if Observation.value[x] is not present",
                );
            }
            "Condition" => {
                let clinical = concept_codes(obj.get("clinicalStatus"));
                let verification = concept_codes(obj.get("verificationStatus"));
                let abated = obj.keys().any(|k| k.starts_with("abatement"));
                if abated
                    && !clinical.is_empty()
                    && !clinical.iter().any(|c| matches!(*c, "inactive" | "resolved" | "remission"))
                {
                    self.err(
                        ErrorKind::Invariant,
                        path,
                        "con-4: if the condition is abated, clinicalStatus must be inactive, resolved or remission",
                    );
                }
                if verification.contains(&"entered-in-error") && !clinical.is_empty() {
                    self.err(
                        ErrorKind::Invariant,
                        path,
                        "con-5: clinicalStatus SHALL NOT be present if verificationStatus is entered-in-error",
                    );
                }
            }
            "AllergyIntolerance" => {
                let verification = concept_codes(obj.get("verificationStatus"));
                let eie = verification.contains(&"entered-in-error");
                let has_clinical = obj.contains_key("clinicalStatus");
                if eie && has_clinical {
                    self.err(
                        ErrorKind::Invariant,
                        path,
                        "ait-2: clinicalStatus SHALL NOT be present if verificationStatus is entered-in-error",
                    );
                }
                if !eie && !has_clinical {
                    self.err(
                        ErrorKind::Invariant,
                        path,
                        "ait-1: clinicalStatus SHALL be present if verificationStatus is not entered-in-error",
                    );
                }
            }
            "Bundle" => self.bundle_rules(obj, path),
            _ => {}
        }
    }

    /// Bundle invariants bdl-1..bdl-12, fullUrl form, unique link relations.
    fn bundle_rules(&mut self, obj: &Map<String, Value>, path: &str) {
        let ty = obj.get("type").and_then(Value::as_str).unwrap_or("");
        if obj.contains_key("total") && !matches!(ty, "searchset" | "history") {
            self.err(ErrorKind::Invariant, join(path, "total"), "bdl-1: total only when a search or history");
        }
        if let Some(links) = obj.get("link").and_then(Value::as_array) {
            let mut seen: Vec<&str> = Vec::new();
            for (i, l) in links.iter().enumerate() {
                if let Some(rel) = l.get("relation").and_then(Value::as_str) {
                    if seen.contains(&rel) {
                        self.err(
                            ErrorKind::Bundle,
                            format!("{path}.link[{i}]"),
                            format!("the link relationship type '{}' can only occur once", shorten(rel)),
                        );
                    } else {
                        seen.push(rel);
                    }
                }
            }
        }
        if ty == "document" {
            let ident_ok = obj.get("identifier").is_some_and(|i| i.get("system").is_some() && i.get("value").is_some());
            if !ident_ok {
                self.err(
                    ErrorKind::Invariant,
                    path,
                    "bdl-9: a document must have an identifier with a system and a value",
                );
            }
            if !obj.contains_key("timestamp") {
                self.err(ErrorKind::Invariant, path, "bdl-10: a document must have a date");
            }
        }
        let entries = obj.get("entry").and_then(Value::as_array);
        let first_type = entries
            .and_then(|e| e.first())
            .and_then(|e| e.get("resource"))
            .and_then(|r| r.get("resourceType"))
            .and_then(Value::as_str);
        if ty == "document" && first_type != Some("Composition") {
            self.err(ErrorKind::Invariant, path, "bdl-11: a document must have a Composition as the first resource");
        }
        if ty == "message" && first_type != Some("MessageHeader") {
            self.err(ErrorKind::Invariant, path, "bdl-12: a message must have a MessageHeader as the first resource");
        }
        let Some(entries) = entries else { return };
        let mut full_urls: Vec<(&str, Option<&str>)> = Vec::new();
        for (i, e) in entries.iter().enumerate() {
            let ep = format!("{path}.entry[{i}]");
            let Some(e) = e.as_object() else { continue };
            let has = |k: &str| e.contains_key(k);
            if !has("resource") && !has("request") && !has("response") {
                self.err(ErrorKind::Invariant, &ep, "bdl-5: entry must contain a resource or a request or a response");
            }
            if has("search") && ty != "searchset" {
                self.err(ErrorKind::Invariant, join(&ep, "search"), "bdl-2: entry.search only when a search");
            }
            let needs_request = matches!(ty, "batch" | "transaction" | "history");
            if has("request") != needs_request {
                self.err(
                    ErrorKind::Invariant,
                    &ep,
                    if needs_request {
                        "bdl-3: entry.request is mandatory for batch, transaction and history bundles"
                    } else {
                        "bdl-3: entry.request is only allowed in batch, transaction and history bundles"
                    },
                );
            }
            let needs_response = matches!(ty, "batch-response" | "transaction-response" | "history");
            if has("response") != needs_response {
                self.err(
                    ErrorKind::Invariant,
                    &ep,
                    if needs_response {
                        "bdl-4: entry.response is mandatory for batch-response, transaction-response and history bundles"
                    } else {
                        "bdl-4: entry.response is only allowed in batch-response, transaction-response and history bundles"
                    },
                );
            }
            let Some(full) = e.get("fullUrl").and_then(Value::as_str) else {
                continue;
            };
            if !is_absolute_url(full) {
                self.err(
                    ErrorKind::Bundle,
                    join(&ep, "fullUrl"),
                    format!("the fullUrl must be an absolute URL (not '{}')", shorten(full)),
                );
            }
            if full.contains("/_history/") {
                self.err(
                    ErrorKind::Invariant,
                    join(&ep, "fullUrl"),
                    "bdl-8: fullUrl cannot be a version specific reference",
                );
            }
            let res = e.get("resource");
            let version = res.and_then(|r| r.get("meta")).and_then(|m| m.get("versionId")).and_then(Value::as_str);
            if ty != "history" && full_urls.contains(&(full, version)) {
                self.err(
                    ErrorKind::Duplicate,
                    join(&ep, "fullUrl"),
                    format!("bdl-7: fullUrl '{}' occurs more than once (with the same versionId)", shorten(full)),
                );
            }
            full_urls.push((full, version));
        }
    }
}

/// Resource types checked in full, including minimum cardinality: the clinical types the
/// enclave works with, Bundle, and the other types Synthea records contain.  Other
/// resource types are checked for well-formedness (element names, JSON shapes, primitive
/// formats, bindings, data-type invariants) but not for missing mandatory elements.
pub const FULLY_CHECKED: &[&str] = &[
    "AllergyIntolerance",
    "Bundle",
    "CarePlan",
    "Claim",
    "Condition",
    "DiagnosticReport",
    "Encounter",
    "ExplanationOfBenefit",
    "Goal",
    "ImagingStudy",
    "Immunization",
    "MedicationRequest",
    "Observation",
    "Organization",
    "Patient",
    "Practitioner",
    "Procedure",
];

fn is_fully_checked(resource_type: &str) -> bool {
    FULLY_CHECKED.binary_search(&resource_type).is_ok()
}

fn count(groups: &mut Vec<(&'static str, usize)>, g: &'static str) {
    match groups.iter_mut().find(|(n, _)| *n == g) {
        Some((_, c)) => *c += 1,
        None => groups.push((g, 1)),
    }
}

/// The entry index in `Bundle.entry[N].resource`.
fn entry_index(path: &str) -> Option<usize> {
    let rest = path.strip_prefix("Bundle.entry[")?;
    let end = rest.find(']')?;
    rest.get(..end)?.parse().ok()
}

/// The index in `....contained[N]`.
fn contained_index(path: &str) -> Option<usize> {
    let start = path.rfind("contained[")? + "contained[".len();
    let rest = path.get(start..)?;
    rest.get(..rest.find(']')?)?.parse().ok()
}

/// Whether a reference to `ty` is allowed by `targets`.
pub(crate) fn target_allowed(targets: &[&str], ty: &str) -> bool {
    targets.is_empty() || targets.iter().any(|t| *t == ty || *t == "Resource")
}

/// `scheme:` URL (`urn:uuid:...`, `http://...`).
pub(crate) fn is_absolute_url(s: &str) -> bool {
    match s.split_once(':') {
        Some((scheme, rest)) => {
            !scheme.is_empty()
                && scheme.as_bytes().first().is_some_and(u8::is_ascii_alphabetic)
                && scheme.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
                && !rest.is_empty()
                && !s.chars().any(char::is_whitespace)
        }
        None => false,
    }
}

/// The `Type/id` at the end of a RESTful URL (ignoring `/_history/v`).
pub(crate) fn rest_tail(url: &str) -> Option<(&str, &str)> {
    let url = url.split_once("/_history/").map_or(url, |(a, _)| a);
    let (head, id) = url.rsplit_once('/')?;
    let ty = head.rsplit('/').next()?;
    (spec::is_resource_type(ty) && primitive::check_id(id).is_ok()).then_some((ty, id))
}

/// Check a (non-local) reference string; returns the type it names, if it names one.
pub(crate) fn parse_reference(r: &str) -> Result<Option<&str>, String> {
    if r.is_empty() || r.chars().any(char::is_whitespace) {
        return Err(format!("invalid reference '{}'", shorten(r)));
    }
    if r.starts_with("urn:uuid:") {
        return if primitive::is_urn_uuid(r) {
            Ok(None)
        } else {
            Err(format!("invalid urn:uuid reference '{}'", shorten(r)))
        };
    }
    if r.starts_with("urn:oid:") {
        return if primitive::check("oid", &Value::String(r.to_string())).is_ok() {
            Ok(None)
        } else {
            Err(format!("invalid urn:oid reference '{}'", shorten(r)))
        };
    }
    if r.contains("://") {
        return Ok(rest_tail(r).map(|(t, _)| t));
    }
    // relative: Type/id[/_history/vid] or a conditional Type?search
    let ty_end = r.find(['/', '?']).unwrap_or(r.len());
    let ty = r.get(..ty_end).unwrap_or("");
    if !spec::is_resource_type(ty) {
        return Err(format!("invalid reference '{}': does not start with a resource type", shorten(r)));
    }
    let rest = r.get(ty_end..).unwrap_or("");
    if rest.starts_with('?') {
        return Ok(Some(ty));
    }
    let rest = rest.strip_prefix('/').unwrap_or("");
    let (id, version) = match rest.split_once("/_history/") {
        Some((id, v)) => (id, Some(v)),
        None => (rest, None),
    };
    if primitive::check_id(id).is_err() || version.is_some_and(|v| primitive::check_id(v).is_err()) {
        return Err(format!("invalid reference '{}': expected {ty}/[id]", shorten(r)));
    }
    Ok(Some(ty))
}
