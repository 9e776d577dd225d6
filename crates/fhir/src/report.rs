//! `healthchain fhir validate FILE...`: validate files and format the outcome.

use crate::error::{ErrorKind, ValidationError};
use crate::record::{validate_bundle, validate_resource};
use std::fmt;
use std::path::{Path, PathBuf};

/// How strictly files are validated.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Mode {
    /// Any FHIR R4 resource as a standalone document ([`validate_resource`]).
    #[default]
    Resource,
    /// A self-contained record entry: a Bundle whose references all resolve inside it
    /// ([`validate_bundle`]).
    Record,
}

/// The outcome for one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileReport {
    /// The file as given.
    pub path: PathBuf,
    /// Every problem found; empty when the file is valid.
    pub errors: Vec<ValidationError>,
}

impl FileReport {
    /// Whether the file is valid.
    pub fn is_ok(&self) -> bool {
        self.errors.is_empty()
    }
}

/// The outcome for a list of files; `Display` prints `FILE: ok` for a valid file and
/// `FILE: <path>: <message>` for each error of an invalid one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// One entry per file, in the order given.
    pub files: Vec<FileReport>,
}

impl Report {
    /// Whether every file is valid.
    pub fn is_ok(&self) -> bool {
        self.files.iter().all(FileReport::is_ok)
    }

    /// The process exit code: 0 when every file is valid, 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        if self.is_ok() { 0 } else { 1 }
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for file in &self.files {
            let name = file.path.display();
            if file.errors.is_empty() {
                writeln!(f, "{name}: ok")?;
            }
            for e in &file.errors {
                writeln!(f, "{name}: {e}")?;
            }
        }
        Ok(())
    }
}

/// Validate one file's bytes in the given mode.
pub fn validate_bytes(bytes: &[u8], mode: Mode) -> Vec<ValidationError> {
    let result = match mode {
        Mode::Resource => validate_resource(bytes).map(|_| ()),
        Mode::Record => validate_bundle(bytes).map(|_| ()),
    };
    result.err().unwrap_or_default()
}

/// Validate each file (a file that cannot be read gets one [`ErrorKind::Unreadable`] error).
pub fn validate_files<P: AsRef<Path>>(paths: impl IntoIterator<Item = P>, mode: Mode) -> Report {
    let files = paths
        .into_iter()
        .map(|p| {
            let path = p.as_ref().to_path_buf();
            let errors = match std::fs::read(&path) {
                Ok(bytes) => validate_bytes(&bytes, mode),
                Err(e) => vec![ValidationError::new(ErrorKind::Unreadable, "", format!("cannot read file: {e}"))],
            };
            FileReport { path, errors }
        })
        .collect();
    Report { files }
}
