//! The FHIR R4 element table: every resource, data type and backbone element with its child
//! elements (name, type, cardinality, choice group, required value set, reference targets).
//!
//! The table is `spec/r4.txt`, generated from the R4 4.0.1 StructureDefinitions by
//! `tools/gen_r4_tables.py` (see there for the format and provenance), embedded in the
//! binary and parsed once on first use.

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

const TABLE: &str = include_str!("spec/r4.txt");

/// What a [`TypeDef`] describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Resource,
    Abstract,
    Complex,
    Primitive,
    Backbone,
}

/// One child element of a type.
#[derive(Debug)]
pub(crate) struct Element {
    /// JSON property name (choice types expanded: `valueQuantity`).
    pub name: &'static str,
    /// Type name: a primitive (`string`), a data type (`Period`), `Resource`, or a backbone
    /// type named by its path (`Patient.contact`).
    pub ty: &'static str,
    /// Minimum cardinality is 1 (for a choice: one of the group is required).
    pub required: bool,
    /// Maximum cardinality above 1: the JSON value is an array.
    pub many: bool,
    /// Choice group (`value` for `value[x]`).
    pub choice: Option<&'static str>,
    /// Value set of a `required` binding.
    pub value_set: Option<&'static str>,
    /// Allowed reference target types (`Resource` = any); empty for non-references.
    pub targets: Vec<&'static str>,
}

/// A type: its kind and its child elements.
#[derive(Debug)]
pub(crate) struct TypeDef {
    pub kind: Kind,
    pub elements: Vec<Element>,
    index: HashMap<&'static str, usize>,
}

impl TypeDef {
    /// The child element with this JSON name.
    pub fn element(&self, name: &str) -> Option<&Element> {
        self.index.get(name).and_then(|&i| self.elements.get(i))
    }
}

/// Codes of one value set, per code system.
#[derive(Debug, Default)]
pub(crate) struct ValueSet {
    pub systems: Vec<(&'static str, HashSet<&'static str>)>,
}

impl ValueSet {
    /// Whether `code` is in the value set under any system.
    pub fn contains_code(&self, code: &str) -> bool {
        self.systems.iter().any(|(_, codes)| codes.contains(code))
    }

    /// `Some(contains)` if the value set draws codes from `system`, `None` if it does not.
    pub fn contains_in_system(&self, system: &str, code: &str) -> Option<bool> {
        let mut seen = false;
        for (s, codes) in &self.systems {
            if *s == system {
                seen = true;
                if codes.contains(code) {
                    return Some(true);
                }
            }
        }
        seen.then_some(false)
    }
}

/// The whole table.
#[derive(Debug, Default)]
pub(crate) struct Spec {
    types: HashMap<&'static str, TypeDef>,
    value_sets: HashMap<&'static str, ValueSet>,
    /// Lines that could not be parsed (a table bug; a unit test keeps this at zero).
    pub malformed: usize,
}

impl Spec {
    /// A type by name.
    pub fn type_def(&self, name: &str) -> Option<&TypeDef> {
        self.types.get(name)
    }

    /// A resource type by name (`None` for data types and unknown names).
    pub fn resource(&self, name: &str) -> Option<&TypeDef> {
        self.types.get(name).filter(|t| t.kind == Kind::Resource)
    }

    /// A value set by canonical URL (without version).
    pub fn value_set(&self, url: &str) -> Option<&ValueSet> {
        self.value_sets.get(url)
    }

    /// Names of all resource types, sorted.
    pub fn resource_names(&self) -> Vec<&'static str> {
        let mut names: Vec<_> = self.types.iter().filter(|(_, t)| t.kind == Kind::Resource).map(|(n, _)| *n).collect();
        names.sort_unstable();
        names
    }

    fn parse(table: &'static str) -> Spec {
        let mut spec = Spec::default();
        let mut current: Option<(&'static str, TypeDef)> = None;
        for line in table.lines() {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let fields: Vec<&'static str> = line.split('\t').collect();
            match fields.as_slice() {
                ["T", name, kind] => {
                    let kind = match *kind {
                        "resource" => Kind::Resource,
                        "abstract" => Kind::Abstract,
                        "complex" => Kind::Complex,
                        "primitive" => Kind::Primitive,
                        "backbone" => Kind::Backbone,
                        _ => {
                            spec.malformed += 1;
                            continue;
                        }
                    };
                    if let Some((n, t)) = current.take() {
                        spec.types.insert(n, t);
                    }
                    current = Some((name, TypeDef { kind, elements: Vec::new(), index: HashMap::new() }));
                }
                ["E", name, ty, min, many, choice, vs, targets] => {
                    let Some((_, t)) = current.as_mut() else {
                        spec.malformed += 1;
                        continue;
                    };
                    let opt = |s: &'static str| (s != "-").then_some(s);
                    t.index.insert(name, t.elements.len());
                    t.elements.push(Element {
                        name,
                        ty,
                        required: *min == "1",
                        many: *many == "1",
                        choice: opt(choice),
                        value_set: opt(vs),
                        targets: opt(targets).map(|s| s.split(',').collect()).unwrap_or_default(),
                    });
                }
                ["V", url, system, codes @ ..] if !codes.is_empty() => {
                    spec.value_sets.entry(url).or_default().systems.push((system, codes.iter().copied().collect()));
                }
                _ => spec.malformed += 1,
            }
        }
        if let Some((n, t)) = current.take() {
            spec.types.insert(n, t);
        }
        spec
    }
}

static SPEC: LazyLock<Spec> = LazyLock::new(|| Spec::parse(TABLE));

/// The parsed R4 table.
pub(crate) fn spec() -> &'static Spec {
    &SPEC
}

/// Whether `name` is a FHIR R4 resource type (e.g. `Observation`).
pub fn is_resource_type(name: &str) -> bool {
    spec().resource(name).is_some()
}

/// All FHIR R4 resource type names, sorted.
pub fn resource_types() -> Vec<&'static str> {
    spec().resource_names()
}

/// Whether a type name is a FHIR primitive type (`string`, `dateTime`, ..., `xhtml`).
pub(crate) fn is_primitive(ty: &str) -> bool {
    ty.as_bytes().first().is_some_and(u8::is_ascii_lowercase)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_parses_completely() {
        let s = spec();
        assert_eq!(s.malformed, 0);
        assert_eq!(s.resource_names().len(), 146);
        let obs = s.resource("Observation").expect("Observation");
        let status = obs.element("status").expect("status");
        assert!(status.required && !status.many);
        assert_eq!(status.value_set, Some("http://hl7.org/fhir/ValueSet/observation-status"));
        let subject = obs.element("subject").expect("subject");
        assert_eq!(subject.targets, ["Patient", "Group", "Device", "Location"]);
        assert_eq!(obs.element("valueQuantity").and_then(|e| e.choice), Some("value"));
        assert!(s.type_def("Patient.contact").is_some());
        let vs = s.value_set("http://hl7.org/fhir/ValueSet/encounter-status").expect("encounter-status");
        assert!(vs.contains_code("finished") && !vs.contains_code("completed"));
    }

    #[test]
    fn every_element_type_is_defined() {
        let s = spec();
        for t in s.types.values() {
            for e in &t.elements {
                assert!(e.ty == "Resource" || s.type_def(e.ty).is_some(), "{} has undefined type {}", e.name, e.ty);
                for target in &e.targets {
                    assert!(
                        *target == "Resource" || s.type_def(target).is_some(),
                        "{} targets unknown {target}",
                        e.name
                    );
                }
            }
        }
    }
}
