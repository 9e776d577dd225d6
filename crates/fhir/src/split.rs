//! Splitting one patient bundle (e.g. a Synthea export) into a record history: version 1
//! and a sequence of incremental updates, one per encounter, in date order.
//!
//! # The rule
//! 1. Encounters are ordered by `period.start` (then `period.end`, then bundle order;
//!    encounters without a date keep their bundle position relative to each other and sort
//!    after dated ones).  Encounter number *k* in that order anchors version *k*.
//! 2. A resource that references an encounter of the bundle (anywhere inside it:
//!    `encounter`, `context`, `Claim.item.encounter`, ...) goes with that encounter; if it
//!    references several, with the latest of them.
//! 3. Any other resource with a clinical date (`effective[x]`, `onset[x]`, `performed[x]`,
//!    `occurrence[x]`, `authoredOn`, `issued`, `recordedDate`, `period`, `billablePeriod`,
//!    `created`, `date`, `started`, `startDate`) goes with the nearest encounter starting at
//!    or before that date, or in version 1 if it predates every encounter.
//! 4. Everything else (Patient, Organization, Practitioner, Medication, ...) goes in
//!    version 1.
//! 5. Then, until nothing changes, a resource moves up to the version of anything it
//!    references, so that every reference resolves within the record so far.
//! 6. Empty versions are dropped and the rest renumbered 1, 2, ...
//!
//! Each version is a `collection` Bundle holding its entries in their original bundle order,
//! each as `{"fullUrl": ..., "resource": ...}` with the resource's JSON text copied byte for
//! byte (transaction `request`s are dropped).  The output is a pure function of the input
//! bytes.

use crate::datetime::DateTime;
use crate::error::FhirError;
use crate::json::strip_bom;
use crate::record::{Index, RecordContext, Target, validate_update};
use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

/// One version of a record produced by [`split_into_versions`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordVersion {
    /// 1-based version number.
    pub number: u32,
    /// Start of the earliest encounter in this version, as written in the data.
    pub date: Option<String>,
    /// Number of entries.
    pub entries: usize,
    /// The version as a FHIR `collection` Bundle (JSON).
    pub bytes: Vec<u8>,
}

#[derive(Deserialize)]
struct RawBundle<'a> {
    #[serde(borrow, default)]
    entry: Vec<RawEntry<'a>>,
}

#[derive(Deserialize)]
struct RawEntry<'a> {
    #[serde(rename = "fullUrl")]
    full_url: Option<String>,
    #[serde(borrow)]
    resource: Option<&'a RawValue>,
}

/// Split a patient bundle into versions (see the module docs for the rule).
///
/// The input must pass [`validate_update`] as version 1 of a new record (one Patient, every
/// reference resolving inside the bundle); otherwise its errors are returned.
pub fn split_into_versions(bytes: &[u8]) -> Result<Vec<RecordVersion>, FhirError> {
    let bundle = validate_update(bytes, &RecordContext::new()).map_err(FhirError::Invalid)?;
    let raw: RawBundle<'_> = serde_json::from_slice(strip_bom(bytes)).map_err(|e| {
        FhirError::Invalid(vec![crate::error::ValidationError::new(
            crate::error::ErrorKind::Json,
            "",
            format!("error parsing JSON: {e}"),
        )])
    })?;
    let resources: Vec<&Value> = bundle.resources().collect();
    let index = Index::new(bundle.json());
    let n = resources.len();

    // references between entries
    let refs: Vec<Vec<usize>> = resources
        .iter()
        .map(|r| {
            let mut out = Vec::new();
            collect_refs(r, &mut |s| {
                if let Target::Entry(i) = index.resolve(s, None)
                    && !out.contains(&i)
                {
                    out.push(i);
                }
            });
            out
        })
        .collect();

    // encounters in date order
    let mut encounters: Vec<(Option<(i64, i64)>, usize)> = resources
        .iter()
        .enumerate()
        .filter(|(_, r)| resource_type(r) == "Encounter")
        .map(|(i, r)| (encounter_bounds(r), i))
        .collect();
    encounters.sort_by(|a, b| match (a.0, b.0) {
        (Some(x), Some(y)) => x.cmp(&y).then(a.1.cmp(&b.1)),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a.1.cmp(&b.1),
    });
    let mut rank = vec![0u32; n];
    for (k, (_, i)) in encounters.iter().enumerate() {
        if let Some(r) = rank.get_mut(*i) {
            *r = k as u32 + 1;
        }
    }

    // anchors
    let mut version: Vec<u32> = (0..n)
        .map(|i| {
            if let Some(&r) = rank.get(i).filter(|r| **r > 0) {
                return r;
            }
            let by_encounter =
                refs.get(i).into_iter().flatten().filter_map(|t| rank.get(*t).copied()).max().unwrap_or(0);
            if by_encounter > 0 {
                return by_encounter;
            }
            let Some(date) = resources.get(i).and_then(|r| clinical_date(r)) else {
                return 1;
            };
            encounters
                .iter()
                .enumerate()
                .filter(|(_, (b, _))| b.is_some_and(|b| b.0 <= date))
                .map(|(k, _)| k as u32 + 1)
                .max()
                .unwrap_or(1)
        })
        .collect();

    // a resource never comes before what it references
    loop {
        let mut changed = false;
        for i in 0..n {
            let need = refs.get(i).into_iter().flatten().filter_map(|t| version.get(*t).copied()).max().unwrap_or(0);
            if let Some(v) = version.get_mut(i)
                && need > *v
            {
                *v = need;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }

    // group, drop empty versions, renumber
    let mut numbers: Vec<u32> = version.clone();
    numbers.sort_unstable();
    numbers.dedup();
    let mut out = Vec::with_capacity(numbers.len());
    for (k, v) in numbers.iter().enumerate() {
        let members: Vec<usize> = (0..n).filter(|i| version.get(*i) == Some(v)).collect();
        let date = encounters.iter().filter(|(_, i)| members.contains(i)).find_map(|(_, i)| {
            resources
                .get(*i)
                .and_then(|r| r.get("period"))
                .and_then(|p| p.get("start"))
                .and_then(Value::as_str)
                .map(str::to_string)
        });
        let mut bytes = Vec::from(&br#"{"resourceType":"Bundle","type":"collection","entry":["#[..]);
        for (j, i) in members.iter().enumerate() {
            let Some(e) = raw.entry.get(*i) else { continue };
            if j > 0 {
                bytes.push(b',');
            }
            bytes.extend_from_slice(b"\n{");
            if let Some(u) = &e.full_url {
                bytes.extend_from_slice(b"\"fullUrl\":");
                bytes.extend_from_slice(serde_json::to_string(u).unwrap_or_default().as_bytes());
                bytes.push(b',');
            }
            bytes.extend_from_slice(b"\"resource\":");
            bytes.extend_from_slice(e.resource.map_or("null", |r| r.get()).as_bytes());
            bytes.push(b'}');
        }
        bytes.extend_from_slice(b"\n]}\n");
        out.push(RecordVersion { number: k as u32 + 1, date, entries: members.len(), bytes });
    }
    Ok(out)
}

fn resource_type(r: &Value) -> &str {
    r.get("resourceType").and_then(Value::as_str).unwrap_or("")
}

/// Call `f` with every `reference` string inside `v`.
fn collect_refs(v: &Value, f: &mut impl FnMut(&str)) {
    match v {
        Value::Object(o) => {
            for (k, x) in o {
                match (k.as_str(), x) {
                    ("reference", Value::String(s)) => f(s),
                    _ => collect_refs(x, f),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| collect_refs(x, f)),
        _ => {}
    }
}

fn parse_bounds(v: Option<&Value>) -> Option<(i64, i64)> {
    v.and_then(Value::as_str).and_then(|s| DateTime::parse(s).ok()).map(|d| d.bounds())
}

/// Sort key of an encounter: bounds of `period.start` (or `period.end`).
fn encounter_bounds(r: &Value) -> Option<(i64, i64)> {
    let p = r.get("period")?;
    parse_bounds(p.get("start")).or_else(|| parse_bounds(p.get("end")))
}

/// Earliest second of the clinical date of a resource, if it has one.
fn clinical_date(r: &Value) -> Option<i64> {
    const DIRECT: &[&str] = &[
        "effectiveDateTime",
        "effectiveInstant",
        "onsetDateTime",
        "performedDateTime",
        "occurrenceDateTime",
        "authoredOn",
        "issued",
        "recordedDate",
        "created",
        "date",
        "started",
        "startDate",
        "recorded",
    ];
    const PERIODS: &[&str] =
        &["effectivePeriod", "onsetPeriod", "performedPeriod", "occurrencePeriod", "period", "billablePeriod"];
    DIRECT
        .iter()
        .find_map(|k| parse_bounds(r.get(*k)))
        .or_else(|| {
            PERIODS.iter().find_map(|k| {
                let p = r.get(*k)?;
                parse_bounds(p.get("start")).or_else(|| parse_bounds(p.get("end")))
            })
        })
        .map(|b| b.0)
}
