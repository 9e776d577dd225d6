//! Property tests: no input makes the crate panic, and whatever it accepts it splits into
//! versions that validate in order.

use healthchain_fhir::{
    RecordContext, RecordFeatures, parse_json, split_into_versions, validate_bundle, validate_resource, validate_update,
};
use proptest::prelude::*;
use serde_json::{Value, json};

const SMALL: &[u8] = include_bytes!("data/record-small.json");

fn exercise(bytes: &[u8]) {
    let _ = validate_resource(bytes);
    let _ = validate_bundle(bytes);
    let _ = validate_update(bytes, &RecordContext::new());
    if let Ok(v) = parse_json(bytes) {
        let f = RecordFeatures::from_resources([&v]);
        let _ = f.age_at(healthchain_fhir::Date::new(2020, 1, 1).expect("date"));
    }
    if let Ok(versions) = split_into_versions(bytes) {
        let mut ctx = RecordContext::new();
        for v in &versions {
            let accepted =
                validate_update(&v.bytes, &ctx).unwrap_or_else(|e| panic!("split produced an invalid version: {e:?}"));
            ctx.add(&accepted);
        }
    }
}

/// Values that tend to hit validator corners.
fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|i| json!(i)),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(|f| json!(f)),
        prop::sample::select(vec![
            "",
            " ",
            "Patient",
            "Observation",
            "Bundle",
            "Encounter",
            "final",
            "collection",
            "transaction",
            "urn:uuid:00000000-0000-4000-8000-000000000001",
            "urn:uuid:00000000-0000-4000-8000-000000000005",
            "Patient/p1",
            "Encounter/e1",
            "#",
            "#x",
            "2019-02-29",
            "2020-03-01T09:00:00+01:00",
            "2019-01-10T10:00",
            "9999",
            "<div xmlns=\"http://www.w3.org/1999/xhtml\">&reg;<p>",
            "<script>",
            "Zm9v",
            "%%",
            "http://x/Patient/p1/_history/1",
            "é\u{0}\u{7f}",
            "a/b/c",
            "Patient?x=1",
        ])
        .prop_map(|s| Value::String(s.to_string())),
        "\\PC{0,12}".prop_map(Value::String),
    ]
}

fn arb_json() -> impl Strategy<Value = Value> {
    let keys = prop::sample::select(vec![
        "resourceType",
        "id",
        "type",
        "entry",
        "resource",
        "fullUrl",
        "reference",
        "subject",
        "patient",
        "encounter",
        "status",
        "code",
        "text",
        "div",
        "contained",
        "extension",
        "url",
        "valueString",
        "valueQuantity",
        "value",
        "period",
        "start",
        "end",
        "_id",
        "_given",
        "given",
        "name",
        "request",
        "method",
        "coding",
        "system",
        "data",
    ]);
    leaf().prop_recursive(5, 64, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((keys.clone(), inner), 0..6)
                .prop_map(|kv| { Value::Object(kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect()) }),
        ]
    })
}

/// Every node of `v` as a JSON pointer.
fn pointers(v: &Value, here: String, out: &mut Vec<String>) {
    out.push(here.clone());
    match v {
        Value::Object(o) => {
            for (k, x) in o {
                pointers(x, format!("{here}/{}", k.replace('~', "~0").replace('/', "~1")), out);
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                pointers(x, format!("{here}/{i}"), out);
            }
        }
        _ => {}
    }
}

/// Apply one mutation at node `pick` of `v`.
fn mutate(v: &mut Value, pick: usize, op: u8, new: Value) {
    let mut ptrs = Vec::new();
    pointers(v, String::new(), &mut ptrs);
    let Some(p) = ptrs.get(pick % ptrs.len().max(1)).cloned() else {
        return;
    };
    match op % 4 {
        0 => {
            if let Some(node) = v.pointer_mut(&p) {
                *node = new;
            }
        }
        1 => {
            // remove the node from its parent
            let Some((parent, last)) = p.rsplit_once('/') else { return };
            match v.pointer_mut(parent) {
                Some(Value::Object(o)) => {
                    o.remove(&last.replace("~1", "/").replace("~0", "~"));
                }
                Some(Value::Array(a)) => {
                    if let Ok(i) = last.parse::<usize>()
                        && i < a.len()
                    {
                        a.remove(i);
                    }
                }
                _ => {}
            }
        }
        2 => {
            // duplicate an array item / add a property
            match v.pointer_mut(&p) {
                Some(Value::Array(a)) => {
                    if let Some(first) = a.first().cloned() {
                        a.push(first);
                    }
                }
                Some(Value::Object(o)) => {
                    o.insert("extra".into(), new);
                }
                _ => {}
            }
        }
        _ => {
            // copy the node into another place
            let node = v.pointer(&p).cloned().unwrap_or(Value::Null);
            if let Some(target) = ptrs.get((pick / 7) % ptrs.len().max(1))
                && let Some(t) = v.pointer_mut(target)
            {
                *t = node;
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        exercise(&bytes);
    }

    #[test]
    fn random_json_never_panics(v in arb_json()) {
        exercise(&serde_json::to_vec(&v).expect("json"));
        let mut resource = v;
        if let Value::Object(o) = &mut resource {
            o.insert("resourceType".into(), json!("Bundle"));
        }
        exercise(&serde_json::to_vec(&resource).expect("json"));
    }

    #[test]
    fn mutated_records_never_panic(
        muts in prop::collection::vec((any::<usize>(), any::<u8>(), leaf()), 1..4)
    ) {
        let mut v: Value = serde_json::from_slice(SMALL).expect("record-small.json");
        for (pick, op, new) in muts {
            mutate(&mut v, pick, op, new);
        }
        exercise(&serde_json::to_vec(&v).expect("json"));
    }

    #[test]
    fn truncated_and_flipped_bytes_never_panic(cut in 0usize..SMALL.len(), flip in any::<u8>()) {
        exercise(&SMALL[..cut]);
        let mut b = SMALL.to_vec();
        if let Some(x) = b.get_mut(cut) {
            *x ^= flip;
        }
        exercise(&b);
    }
}
