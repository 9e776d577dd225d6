//! Off-chain storage of ciphertext objects — the cloud service provider (CSP) of seed 000.
//!
//! Objects are content-addressed: an object's address is the SHA-256 of its bytes, so the
//! chain can commit to an address and anyone fetching the object can tell whether the
//! provider returned what was stored. [`Store::get`] checks every object it returns and
//! reports a mismatch as [`StoreError::Tampered`]. The provider is honest-but-curious at
//! best: it only ever sees ciphertext.
//!
//! Backends come from the `object_store` crate: a local directory (the default; every
//! write is fsync'd, file and directories, before it is acknowledged), any S3-compatible
//! service ([`S3Config`]; a PUT is acknowledged by the service once stored durably, and
//! HTTPS goes through vendored OpenSSL), and memory (tests).
//! Objects live under `objects/<first two hex digits>/<address in hex>`.
//!
//! Beside the objects, a **record index** (`index/<record id>/<version>`) publishes where
//! each version's entry is stored. It is a hint, not a source of truth: whoever reads it
//! checks every entry against the digest chain logged on the ledger.

pub mod testing;

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use healthchain_crypto::hash::sha256;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

/// The SHA-256 of an object's bytes, which is also its name.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectAddress(pub [u8; 32]);

impl ObjectAddress {
    /// The address of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Self(sha256(bytes))
    }

    /// Where the object lives inside the backend: `objects/<first two hex digits>/<hex>`.
    pub fn key(&self) -> ObjectPath {
        let hex = self.to_string();
        ObjectPath::from(format!("objects/{}/{hex}", &hex[..2]))
    }
}

impl fmt::Display for ObjectAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for ObjectAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ObjectAddress({self})")
    }
}

impl FromStr for ObjectAddress {
    type Err = StoreError;

    fn from_str(s: &str) -> Result<Self, StoreError> {
        let invalid = || StoreError::InvalidAddress(s.to_string());
        let bytes = hex::decode(s.strip_prefix("0x").unwrap_or(s)).map_err(|_| invalid())?;
        Ok(Self(bytes.try_into().map_err(|_| invalid())?))
    }
}

fn index_key(record: &[u8; 32], version: u64) -> ObjectPath {
    ObjectPath::from(format!("index/{}/{version:020}", hex::encode(record)))
}

/// Why a storage operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The provider returned bytes whose hash is not the address asked for.
    #[error("object {address} is tampered: its bytes hash to {actual}")]
    Tampered {
        /// The address requested.
        address: ObjectAddress,
        /// The hash of what came back.
        actual: ObjectAddress,
    },
    /// No object at that address.
    #[error("object {0} not found")]
    NotFound(ObjectAddress),
    /// Not a 32-byte hex address.
    #[error("'{0}' is not an object address (64 hex digits)")]
    InvalidAddress(String),
    /// The backend failed.
    #[error("storage backend: {0}")]
    Backend(#[from] object_store::Error),
    /// A local durability step (fsync) failed; the write is not acknowledged.
    #[error("cannot make {path} durable: {source}")]
    Durability {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

impl StoreError {
    /// Whether the storage backend failed (unreachable, full, not durable), as opposed to an
    /// object that is missing, altered or misaddressed.
    pub fn is_failure(&self) -> bool {
        matches!(self, StoreError::Backend(_) | StoreError::Durability { .. })
    }
}

enum Durability {
    /// Files under this root are fsync'd after each write.
    LocalFiles(PathBuf),
    /// The service makes writes durable before it acknowledges them (S3 semantics).
    Service,
    /// Nothing to make durable.
    Volatile,
}

/// Where an S3-compatible bucket is and how to reach it.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct S3Config {
    /// The bucket (must exist).
    pub bucket: String,
    /// The region (any value for most S3-compatible services).
    pub region: String,
    /// The endpoint URL for S3-compatible services (none: AWS for the region).
    pub endpoint: Option<String>,
    /// Access key id.
    pub access_key_id: String,
    /// Secret access key.
    pub secret_access_key: String,
    /// Allow plain `http://` endpoints (e.g. a service on the same host); off by default.
    #[serde(default)]
    pub allow_http: bool,
}

impl fmt::Debug for S3Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Config")
            .field("bucket", &self.bucket)
            .field("region", &self.region)
            .field("endpoint", &self.endpoint)
            .field("access_key_id", &self.access_key_id)
            .field("allow_http", &self.allow_http)
            .finish_non_exhaustive()
    }
}

/// Which backend a store uses: the form operators write in configuration files (JSON:
/// `{"backend": "local", "path": "..."}`, `{"backend": "s3", "bucket": ..., ...}` or
/// `{"backend": "memory"}`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "backend", rename_all = "lowercase")]
pub enum StoreConfig {
    /// A local directory.
    Local {
        /// The directory.
        path: PathBuf,
    },
    /// An S3-compatible bucket.
    S3(S3Config),
    /// Memory (tests).
    Memory,
}

/// How many objects [`Store::get_many_as_stored`] reads at once: enough to overlap file or
/// network latency, few enough not to flood a remote store.
pub const READ_CONCURRENCY: usize = 16;

/// A content-addressed object store.
pub struct Store {
    backend: Arc<dyn ObjectStore>,
    durability: Durability,
}

impl Store {
    /// Objects in the local directory `root` (created if missing).
    pub fn local(root: impl AsRef<Path>) -> Result<Self, StoreError> {
        let root = root.as_ref();
        std::fs::create_dir_all(root)
            .and_then(|()| root.canonicalize())
            .map_err(|source| StoreError::Durability { path: root.to_path_buf(), source })
            .and_then(|root| {
                let backend = LocalFileSystem::new_with_prefix(&root)?;
                Ok(Self { backend: Arc::new(backend), durability: Durability::LocalFiles(root) })
            })
    }

    /// The store a configuration names.
    pub fn open(config: &StoreConfig) -> Result<Self, StoreError> {
        match config {
            StoreConfig::Local { path } => Self::local(path),
            StoreConfig::S3(s3) => Self::s3(s3),
            StoreConfig::Memory => Ok(Self::memory()),
        }
    }

    /// Objects in an S3-compatible bucket (path-style requests, which every S3-compatible
    /// service accepts).
    pub fn s3(config: &S3Config) -> Result<Self, StoreError> {
        let mut builder = object_store::aws::AmazonS3Builder::new()
            .with_bucket_name(&config.bucket)
            .with_region(&config.region)
            .with_access_key_id(&config.access_key_id)
            .with_secret_access_key(&config.secret_access_key)
            .with_allow_http(config.allow_http)
            .with_virtual_hosted_style_request(false);
        if let Some(endpoint) = &config.endpoint {
            builder = builder.with_endpoint(endpoint);
        }
        // Transient failures (5xx, 429, connection errors) are retried by the client with
        // object_store's defaults: up to 10 retries, backoff from 100 ms to 15 s, within
        // 3 minutes. Objects are content-addressed, so a repeated PUT is harmless.
        Ok(Self { backend: Arc::new(builder.build()?), durability: Durability::Service })
    }

    /// Checks that the backend answers and its bucket exists, so a misconfigured store fails
    /// when it is opened rather than at the first write (some S3-compatible servers create a
    /// missing bucket on the first PUT instead of refusing it). Lists a prefix nothing is
    /// stored under: one request, whatever the store holds.
    pub async fn check(&self) -> Result<(), StoreError> {
        self.backend.list_with_delimiter(Some(&ObjectPath::from("healthchain-check"))).await?;
        Ok(())
    }

    /// Objects in memory, gone when the store is dropped (tests).
    pub fn memory() -> Self {
        Self { backend: Arc::new(InMemory::new()), durability: Durability::Volatile }
    }

    /// The underlying `object_store` backend: what a (possibly malicious) provider
    /// controls; tests use it to play that provider.
    pub fn backend(&self) -> &Arc<dyn ObjectStore> {
        &self.backend
    }

    /// The file holding the object, for the local backend (operators and tests inspecting
    /// what the provider holds); `None` for other backends.
    pub fn local_file(&self, address: &ObjectAddress) -> Option<PathBuf> {
        match &self.durability {
            Durability::LocalFiles(root) => Some(root.join(address.key().as_ref())),
            Durability::Service | Durability::Volatile => None,
        }
    }

    /// Stores `bytes` and returns their address once they are durable.
    pub async fn put(&self, bytes: impl Into<Bytes>) -> Result<ObjectAddress, StoreError> {
        let bytes = bytes.into();
        let address = ObjectAddress::of(&bytes);
        let key = address.key();
        self.backend.put(&key, PutPayload::from_bytes(bytes)).await?;
        self.make_durable(&address)?;
        Ok(address)
    }

    /// Fetches the object at `address`, checking that its bytes hash to the address.
    pub async fn get(&self, address: &ObjectAddress) -> Result<Bytes, StoreError> {
        let bytes = match self.backend.get(&address.key()).await {
            Ok(result) => result.bytes().await?,
            Err(object_store::Error::NotFound { .. }) => return Err(StoreError::NotFound(*address)),
            Err(e) => return Err(e.into()),
        };
        let actual = ObjectAddress::of(&bytes);
        if actual != *address {
            return Err(StoreError::Tampered { address: *address, actual });
        }
        Ok(bytes)
    }

    /// The bytes stored under `address` exactly as the provider returns them, unchecked:
    /// for callers that check them themselves (the enclave re-hashes inside).
    pub async fn get_as_stored(&self, address: &ObjectAddress) -> Result<Option<Bytes>, StoreError> {
        match self.backend.get(&address.key()).await {
            Ok(result) => Ok(Some(result.bytes().await?)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Many objects as stored (unchecked, as [`Store::get_as_stored`]), in order, read
    /// [`READ_CONCURRENCY`] at a time.
    pub async fn get_many_as_stored(&self, addresses: &[ObjectAddress]) -> Result<Vec<Option<Bytes>>, StoreError> {
        futures::stream::iter(addresses)
            .map(|address| self.get_as_stored(address))
            .buffered(READ_CONCURRENCY)
            .try_collect()
            .await
    }

    /// Whether an object exists at `address` (without fetching or checking it).
    pub async fn contains(&self, address: &ObjectAddress) -> Result<bool, StoreError> {
        match self.backend.head(&address.key()).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Publishes the index entry of `version` of `record` (replacing an earlier one).
    pub async fn put_index(&self, record: &[u8; 32], version: u64, bytes: impl Into<Bytes>) -> Result<(), StoreError> {
        let key = index_key(record, version);
        self.backend.put(&key, PutPayload::from_bytes(bytes.into())).await?;
        self.make_path_durable(&key)
    }

    /// The index entries of `record`, by version in increasing order.
    pub async fn index(&self, record: &[u8; 32]) -> Result<Vec<(u64, Bytes)>, StoreError> {
        let prefix = ObjectPath::from(format!("index/{}", hex::encode(record)));
        let listed: Vec<_> = self.backend.list(Some(&prefix)).try_collect().await?;
        let mut entries = Vec::with_capacity(listed.len());
        for meta in listed {
            let Some(version) = meta.location.filename().and_then(|name| name.parse::<u64>().ok()) else {
                continue;
            };
            let bytes = self.backend.get(&meta.location).await?.bytes().await?;
            entries.push((version, bytes));
        }
        entries.sort_by_key(|(version, _)| *version);
        Ok(entries)
    }

    /// fsync the object file and the directories leading to it, so an acknowledged write
    /// survives a crash of the process or the machine.
    fn make_durable(&self, address: &ObjectAddress) -> Result<(), StoreError> {
        self.make_path_durable(&address.key())
    }

    fn make_path_durable(&self, key: &ObjectPath) -> Result<(), StoreError> {
        let Durability::LocalFiles(root) = &self.durability else {
            return Ok(());
        };
        let file = root.join(key.as_ref());
        let sync = |path: &Path| {
            std::fs::File::open(path)
                .and_then(|f| f.sync_all())
                .map_err(|source| StoreError::Durability { path: path.to_path_buf(), source })
        };
        sync(&file)?;
        let mut dir = file.parent();
        while let Some(path) = dir {
            sync(path)?;
            if path == root {
                break;
            }
            dir = path.parent();
        }
        Ok(())
    }
}
