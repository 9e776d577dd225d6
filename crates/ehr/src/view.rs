//! Borrowed views of [`EhrRequest`]: the same postcard encoding, decoded without copying
//! EHR bodies or benchmark strings (the batch and Figure 7 paths decode megabytes per
//! request). Every variant mirrors [`EhrRequest`] in order and field layout; the tests
//! below check each one.

use alloy_primitives::{Address, B256};
use serde::Deserialize;

use crate::api::{BenchRequest, EhrRequest, NewEhr, WireWarrant};
use crate::db::bench_table::BenchRowRef;

/// [`EhrRequest`], borrowing from the encoded request.
#[derive(Debug, PartialEq, Deserialize)]
pub(crate) enum RequestView<'a> {
    Create {
        warrant: WireWarrant,
        #[serde(borrow)]
        ehr: EhrView<'a>,
    },
    CreateMany {
        warrants: Vec<WireWarrant>,
        #[serde(borrow)]
        ehrs: Vec<BatchView<'a>>,
    },
    Get {
        patient: Address,
        ehr_id: String,
        version: Option<u64>,
    },
    List {
        patient: Address,
    },
    Update {
        warrant: WireWarrant,
        #[serde(borrow)]
        ehr: EhrView<'a>,
    },
    Delete {
        warrant: WireWarrant,
        ehr_id: String,
    },
    RevokeWarrant {
        warrant: WireWarrant,
    },
    Bench(#[serde(borrow)] BenchView<'a>),
    HospitalFetch {
        patient: Address,
    },
    Preflight {
        warrant: WireWarrant,
        ehr_id: String,
        revision: bool,
    },
}

/// [`NewEhr`], borrowing its id and body.
#[derive(Debug, PartialEq, Deserialize)]
pub(crate) struct EhrView<'a> {
    pub ehr_id: &'a str,
    pub status: u16,
    pub ehr_type: u16,
    pub hospitals: Vec<Address>,
    pub expected_hash: Option<B256>,
    pub body: &'a [u8],
}

/// [`crate::api::BatchEhr`], borrowing.
#[derive(Debug, PartialEq, Deserialize)]
pub(crate) struct BatchView<'a> {
    pub warrant: u32,
    #[serde(borrow)]
    pub ehr: EhrView<'a>,
}

/// [`BenchRequest`], borrowing the rows' text.
#[derive(Debug, PartialEq, Deserialize)]
pub(crate) enum BenchView<'a> {
    Insert {
        #[serde(borrow)]
        rows: Vec<BenchRowRef<'a>>,
    },
    Select {
        t1: i64,
    },
    Update {
        t1: i64,
        new_t1: i64,
    },
    DeleteAll,
}

impl<'a> From<&'a NewEhr> for EhrView<'a> {
    fn from(ehr: &'a NewEhr) -> Self {
        Self {
            ehr_id: &ehr.ehr_id,
            status: ehr.status,
            ehr_type: ehr.ehr_type,
            hospitals: ehr.hospitals.clone(),
            expected_hash: ehr.expected_hash,
            body: &ehr.body,
        }
    }
}

impl<'a> From<&'a EhrRequest> for RequestView<'a> {
    fn from(request: &'a EhrRequest) -> Self {
        match request {
            EhrRequest::Create { warrant, ehr } => Self::Create { warrant: warrant.clone(), ehr: ehr.into() },
            EhrRequest::CreateMany { warrants, ehrs } => Self::CreateMany {
                warrants: warrants.clone(),
                ehrs: ehrs.iter().map(|e| BatchView { warrant: e.warrant, ehr: (&e.ehr).into() }).collect(),
            },
            EhrRequest::Get { patient, ehr_id, version } => {
                Self::Get { patient: *patient, ehr_id: ehr_id.clone(), version: *version }
            }
            EhrRequest::List { patient } => Self::List { patient: *patient },
            EhrRequest::Update { warrant, ehr } => Self::Update { warrant: warrant.clone(), ehr: ehr.into() },
            EhrRequest::Delete { warrant, ehr_id } => Self::Delete { warrant: warrant.clone(), ehr_id: ehr_id.clone() },
            EhrRequest::RevokeWarrant { warrant } => Self::RevokeWarrant { warrant: warrant.clone() },
            EhrRequest::Bench(bench) => Self::Bench(match bench {
                BenchRequest::Insert { rows } => BenchView::Insert { rows: rows.iter().map(|r| r.as_ref()).collect() },
                BenchRequest::Select { t1 } => BenchView::Select { t1: *t1 },
                BenchRequest::Update { t1, new_t1 } => BenchView::Update { t1: *t1, new_t1: *new_t1 },
                BenchRequest::DeleteAll => BenchView::DeleteAll,
            }),
            EhrRequest::HospitalFetch { patient } => Self::HospitalFetch { patient: *patient },
            EhrRequest::Preflight { warrant, ehr_id, revision } => {
                Self::Preflight { warrant: warrant.clone(), ehr_id: ehr_id.clone(), revision: *revision }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{BatchEhr, BenchRow, WireTerm};

    fn warrant() -> WireWarrant {
        WireWarrant {
            patient: Address::repeat_byte(1),
            doctors: vec![WireTerm { doctor: Address::repeat_byte(2), not_before: 3, not_after: 4 }],
            aux: B256::repeat_byte(5),
            signature: vec![6; 65],
        }
    }

    fn ehr(id: &str) -> NewEhr {
        NewEhr {
            ehr_id: id.into(),
            status: 7,
            ehr_type: 8,
            hospitals: vec![Address::repeat_byte(9), Address::repeat_byte(10)],
            expected_hash: Some(B256::repeat_byte(11)),
            body: b"{\"resourceType\":\"Bundle\"}".to_vec(),
        }
    }

    #[test]
    fn every_variant_decodes_the_same_as_a_view() {
        let requests = [
            EhrRequest::Create { warrant: warrant(), ehr: ehr("a") },
            EhrRequest::CreateMany {
                warrants: vec![warrant(), warrant()],
                ehrs: vec![BatchEhr { warrant: 1, ehr: ehr("b") }, BatchEhr { warrant: 0, ehr: ehr("c") }],
            },
            EhrRequest::Get { patient: Address::repeat_byte(1), ehr_id: "d".into(), version: Some(2) },
            EhrRequest::Get { patient: Address::repeat_byte(1), ehr_id: "d".into(), version: None },
            EhrRequest::List { patient: Address::repeat_byte(3) },
            EhrRequest::Update { warrant: warrant(), ehr: ehr("e") },
            EhrRequest::Delete { warrant: warrant(), ehr_id: "f".into() },
            EhrRequest::RevokeWarrant { warrant: warrant() },
            EhrRequest::Bench(BenchRequest::Insert {
                rows: vec![BenchRow { id: 1, t1: -2, t2: 3.5, t3: "four".into() }],
            }),
            EhrRequest::Bench(BenchRequest::Select { t1: 5 }),
            EhrRequest::Bench(BenchRequest::Update { t1: 6, new_t1: 7 }),
            EhrRequest::Bench(BenchRequest::DeleteAll),
            EhrRequest::HospitalFetch { patient: Address::repeat_byte(12) },
            EhrRequest::Preflight { warrant: warrant(), ehr_id: "g".into(), revision: true },
        ];
        for request in &requests {
            let encoded = postcard::to_stdvec(request).unwrap();
            let view: RequestView<'_> = postcard::from_bytes(&encoded).unwrap();
            assert_eq!(view, RequestView::from(request), "{request:?}");
        }
    }
}
