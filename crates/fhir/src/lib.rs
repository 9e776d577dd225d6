//! FHIR R4 for healthchain: validation of what the enclave accepts, splitting a patient
//! bundle into a record history, and typed features for computations.
//!
//! | item | what |
//! |---|---|
//! | [`validate_resource`] | any R4 resource as a standalone document (`healthchain fhir validate`) |
//! | [`validate_bundle`] | a self-contained record entry: a Bundle whose references all resolve inside it |
//! | [`validate_update`] + [`RecordContext`] | a new version of a record: references may point into earlier versions, same patient, no rewriting history |
//! | [`split_into_versions`] | one patient bundle → version 1 + one update per encounter, in date order ([`split`] documents the rule) |
//! | [`RecordFeatures`] | age, sex, Observation values by LOINC, Conditions by SNOMED CT |
//! | [`validate_files`] / [`Report`] | the `fhir validate FILE...` command's work and output |
//!
//! Errors are [`ValidationError`]s: an [`ErrorKind`], the FHIRPath of the element
//! (`Bundle.entry[3].resource.effectiveDateTime`) and a message; each kind maps to the FHIR
//! `IssueType` code ([`IssueType`]) that the HL7 validator reports for the same fault.
//!
//! The validator is a focused one over `serde_json::Value`, driven by a table of every R4
//! resource, data type and backbone element ([`spec`]), generated from the R4 4.0.1
//! StructureDefinitions.  No input makes it panic; malformed input of any kind yields errors.
//!
//! ```
//! use healthchain_fhir::{Date, RecordContext, RecordFeatures, split_into_versions, validate_update};
//!
//! let bundle = include_bytes!("../tests/data/record-small.json");
//! let versions = split_into_versions(bundle)?;
//! let mut record = RecordContext::new();
//! let mut features = RecordFeatures::default();
//! for v in &versions {
//!     // what the enclave does for every version it receives
//!     let accepted = validate_update(&v.bytes, &record).expect("valid version");
//!     record.add(&accepted);
//!     features.add_bundle(accepted.json());
//! }
//! assert_eq!(versions.len(), 2);
//! assert_eq!(features.age_at(Date::new(2020, 3, 1).unwrap()), Some(49));
//! # Ok::<(), healthchain_fhir::FhirError>(())
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod datetime;
pub mod error;
pub mod json;
mod primitive;
pub mod record;
pub mod spec;
mod validate;
mod xhtml;

pub use datetime::{Date, DateTime, Time};
pub use error::{ErrorKind, FhirError, IssueType, ValidationError};
pub use json::parse_json;
pub use record::{
    EntryInfo, PatientIdentity, RecordContext, ResourceKey, ValidatedBundle, ValidatedResource, validate_bundle,
    validate_resource, validate_update,
};
pub use spec::{is_resource_type, resource_types};
pub use validate::FULLY_CHECKED;
pub mod report;
pub use report::{FileReport, Mode, Report, validate_files};
pub mod features;
pub mod split;
pub use features::{ConditionFeature, ObservationFeature, ObservationValue, PatientInfo, RecordFeatures, Sex};
pub use split::{RecordVersion, split_into_versions};
