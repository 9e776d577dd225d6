//! Typed validation errors.
//!
//! Every problem the validator finds is a [`ValidationError`]: a fine-grained [`ErrorKind`]
//! (what went wrong), the FHIR path of the offending element (FHIRPath style, e.g.
//! `Bundle.entry[3].resource.effectiveDateTime`) and a human-readable message.  Each kind maps
//! to the FHIR `IssueType` code ([`IssueType`]) that the HL7 Java validator reports for the
//! same fault, which is what `shared/data/fhir/invalid/MANIFEST.json` records as `code`.

use serde::{Deserialize, Serialize};
use std::fmt;

/// What kind of problem a [`ValidationError`] describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The input is not well-formed JSON (syntax error, comment, duplicate property, ...).
    Json,
    /// The input could not be read at all (I/O error, not UTF-8).
    Unreadable,
    /// The JSON is not a FHIR resource: not an object, or no `resourceType` string.
    NotAResource,
    /// `resourceType` names no FHIR R4 resource.
    UnknownResourceType,
    /// A property that the type of its parent element does not define.
    UnknownElement,
    /// A JSON value of the wrong kind (e.g. a number where a string is expected).
    WrongType,
    /// An array where a single value is expected or the other way round.
    Cardinality,
    /// An empty array, object or string (FHIR forbids empty values).
    Empty,
    /// A mandatory element is missing.
    Required,
    /// A resource id that is not `[A-Za-z0-9\-.]{1,64}`.
    InvalidId,
    /// A `date`, `dateTime`, `instant` or `time` with a bad format or impossible value.
    InvalidDate,
    /// Any other primitive value with a bad lexical form (code, uri, integer range, ...).
    InvalidValue,
    /// A `base64Binary` value that is not valid base64.
    InvalidBase64,
    /// A code outside the value set that a `required` binding demands.
    InvalidCode,
    /// A FHIR invariant is violated (e.g. `per-1`: a period's start after its end).
    Invariant,
    /// Two elements contradict each other (e.g. `Attachment.size` and the data's length).
    Inconsistent,
    /// The XHTML narrative is not allowed (unsafe element or attribute, bad entity, not
    /// well-formed).
    Narrative,
    /// A string value with embedded HTML markup (rejected for security).
    UnsafeContent,
    /// A bundle-level rule is broken (fullUrl form, link relations, entry request/response).
    Bundle,
    /// A reference with a malformed value or pointing at a type the element does not allow.
    InvalidReference,
    /// A reference that does not resolve inside the resource, bundle or record.
    UnresolvedReference,
    /// The same resource occurs twice (in a bundle, or again in an update of a record).
    Duplicate,
    /// An entry is about a different patient than the record, or the record has no single
    /// Patient.
    PatientMismatch,
}

impl ErrorKind {
    /// The FHIR `IssueType` code the HL7 validator uses for this kind of fault.
    ///
    /// This is the `code` in `MANIFEST.json`.  The Java validator is not fully consistent
    /// (it reports bad base64 as `invalid` in `Attachment.data` but as `structure` inside a
    /// `Parameters` value), so this is the usual mapping, not a promise for every case.
    pub fn issue_type(self) -> IssueType {
        match self {
            ErrorKind::Json
            | ErrorKind::WrongType
            | ErrorKind::Cardinality
            | ErrorKind::Empty
            | ErrorKind::InvalidId
            | ErrorKind::InvalidDate
            | ErrorKind::InvalidValue
            | ErrorKind::InvalidBase64
            | ErrorKind::Narrative
            | ErrorKind::UnsafeContent
            | ErrorKind::Bundle => IssueType::Invalid,
            ErrorKind::Unreadable => IssueType::Exception,
            ErrorKind::NotAResource
            | ErrorKind::UnknownResourceType
            | ErrorKind::UnknownElement
            | ErrorKind::Required
            | ErrorKind::Inconsistent
            | ErrorKind::InvalidReference
            | ErrorKind::UnresolvedReference => IssueType::Structure,
            ErrorKind::InvalidCode => IssueType::CodeInvalid,
            ErrorKind::Invariant => IssueType::Invariant,
            ErrorKind::Duplicate => IssueType::Duplicate,
            ErrorKind::PatientMismatch => IssueType::BusinessRule,
        }
    }
}

/// FHIR R4 `IssueType` codes (the subset this crate reports).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum IssueType {
    /// `invalid`: content invalid against the specification or a profile.
    Invalid,
    /// `structure`: a structural issue in the content.
    Structure,
    /// `invariant`: a content or business rule (invariant) has been violated.
    Invariant,
    /// `code-invalid`: the code or system could not be understood or is not valid.
    CodeInvalid,
    /// `duplicate`: an attempt was made to create a duplicate record.
    Duplicate,
    /// `business-rule`: the content violates a business rule.
    BusinessRule,
    /// `exception`: an unexpected internal error (here: the file could not be read).
    Exception,
}

impl IssueType {
    /// The code as written in FHIR (`OperationOutcome.issue.code`).
    pub fn code(self) -> &'static str {
        match self {
            IssueType::Invalid => "invalid",
            IssueType::Structure => "structure",
            IssueType::Invariant => "invariant",
            IssueType::CodeInvalid => "code-invalid",
            IssueType::Duplicate => "duplicate",
            IssueType::BusinessRule => "business-rule",
            IssueType::Exception => "exception",
        }
    }
}

impl fmt::Display for IssueType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// One problem found in a FHIR document.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, thiserror::Error)]
pub struct ValidationError {
    /// What kind of problem this is.
    pub kind: ErrorKind,
    /// FHIRPath-style location, e.g. `Bundle.entry[3].resource.effectiveDateTime`; empty when
    /// the document could not be parsed at all (the message then gives line and column).
    pub path: String,
    /// Human-readable description.
    pub message: String,
}

impl ValidationError {
    /// Build an error.
    pub fn new(kind: ErrorKind, path: impl Into<String>, message: impl Into<String>) -> Self {
        ValidationError { kind, path: path.into(), message: message.into() }
    }

    /// Shorthand for `self.kind.issue_type()`.
    pub fn issue_type(&self) -> IssueType {
        self.kind.issue_type()
    }
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() { f.write_str(&self.message) } else { write!(f, "{}: {}", self.path, self.message) }
    }
}

/// Errors of operations that need a valid record bundle first (splitting).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FhirError {
    /// The input failed validation.
    #[error("invalid FHIR ({} error(s)); first: {}", .0.len(), first(.0))]
    Invalid(Vec<ValidationError>),
}

fn first(errors: &[ValidationError]) -> String {
    errors.first().map(ToString::to_string).unwrap_or_default()
}
