//! Test support: a real S3-compatible server for tests of the S3 backend ([`S3Server`]), and
//! a backend that injects storage faults under a real one ([`with_faults`]).

use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpStream};
use std::ops::Range;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::stream::BoxStream;
use object_store::path::Path as ObjectPath;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore, PutMultipartOptions,
    PutOptions, PutPayload, PutResult, RenameOptions,
};

use crate::{S3Config, Store};

/// The S3 server the tests run: `s3s-fs`, an S3 implementation backed by the file system,
/// from crates.io, pinned (`.ci/run` installs it with [`S3S_FS_INSTALL`]).
pub const S3S_FS: &str = "s3s-fs";

/// How to install [`S3S_FS`] at the pinned version.
pub const S3S_FS_INSTALL: &str = "cargo install --locked s3s-fs@0.14.1 --features binary";

/// The bucket [`S3Server::start`] creates.
pub const BUCKET: &str = "healthchain";

const ACCESS_KEY: &str = "healthchain-test";
const SECRET_KEY: &str = "healthchain-test-secret";

/// How long [`S3Server::start`] waits for the server to listen.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// An `s3s-fs` S3 server child process on a loopback port, serving a fresh temporary
/// directory with authentication on; killed by its PID when dropped, and the directory
/// removed.
pub struct S3Server {
    child: Child,
    address: SocketAddr,
    /// The server's root: one directory per bucket. Dropped after the child is killed.
    _root: tempfile::TempDir,
}

impl S3Server {
    /// Starts [`S3S_FS`] on 127.0.0.1 on a port the system picks (the server reports it), on
    /// a fresh temporary root holding the bucket [`BUCKET`] (a bucket is a directory of the
    /// root), and waits (at most 30 s) until it accepts connections.
    pub fn start() -> Result<S3Server, String> {
        let root = tempfile::Builder::new()
            .prefix("healthchain-s3s-")
            .tempdir()
            .map_err(|e| format!("no temporary directory for the S3 test server: {e}"))?;
        std::fs::create_dir(root.path().join(BUCKET)).map_err(|e| format!("creating bucket {BUCKET}: {e}"))?;
        let mut child = Command::new(S3S_FS)
            .args(["--host", "127.0.0.1", "--port", "0", "--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
            .arg(root.path())
            // the line announcing the address is logged at INFO
            .env("RUST_LOG", "s3s_fs=info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| {
                format!("cannot run the S3 test server `{S3S_FS}` ({e}); install it with: {S3S_FS_INSTALL}")
            })?;

        // Everything the server prints, kept for error messages; its output is drained until
        // it exits so it never blocks on a full pipe.
        let output = Arc::new(Mutex::new(String::new()));
        let (announced, address) = mpsc::channel();
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        let kept = output.clone();
        let stdout_reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(rest) = line.split("server is running at http://").nth(1)
                    && let Ok(address) = rest.trim().parse::<SocketAddr>()
                {
                    let _ = announced.send(address);
                }
                let mut kept = kept.lock().unwrap_or_else(|e| e.into_inner());
                kept.push_str(&line);
                kept.push('\n');
            }
        });
        let kept = output.clone();
        let stderr_reader = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = BufReader::new(stderr).read_to_string(&mut text);
            kept.lock().unwrap_or_else(|e| e.into_inner()).push_str(&text);
        });
        // what it printed, once it has exited (its pipes are closed then)
        let printed = |output: &Mutex<String>| {
            let _ = stdout_reader.join();
            let _ = stderr_reader.join();
            let printed = output.lock().unwrap_or_else(|e| e.into_inner()).trim().to_string();
            if printed.is_empty() { "(nothing)".to_string() } else { printed }
        };

        let deadline = Instant::now() + START_TIMEOUT;
        let address = loop {
            match address.recv_timeout(Duration::from_millis(100)) {
                Ok(address) => break address,
                Err(mpsc::RecvTimeoutError::Disconnected) => std::thread::sleep(Duration::from_millis(100)),
                Err(mpsc::RecvTimeoutError::Timeout) => {}
            }
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!(
                    "the S3 test server `{S3S_FS}` exited ({status}) before listening; it printed:\n{}\n\
                     (install it with: {S3S_FS_INSTALL})",
                    printed(&output)
                ));
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "the S3 test server `{S3S_FS}` did not listen within {} s; it printed:\n{}",
                    START_TIMEOUT.as_secs(),
                    printed(&output)
                ));
            }
        };
        let server = S3Server { child, address, _root: root };
        TcpStream::connect_timeout(&server.address, Duration::from_secs(5))
            .map_err(|e| format!("the S3 test server does not accept connections on {}: {e}", server.address))?;
        Ok(server)
    }

    /// A configuration for [`BUCKET`] (plain HTTP allowed: the server is on loopback).
    pub fn config(&self) -> S3Config {
        S3Config {
            bucket: BUCKET.into(),
            region: "us-east-1".into(),
            endpoint: Some(format!("http://{}", self.address)),
            access_key_id: ACCESS_KEY.into(),
            secret_access_key: SECRET_KEY.into(),
            allow_http: true,
        }
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        // this child only, by its PID
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The faults a store made by [`with_faults`] injects; the test holding them switches them
/// on and off while the store is in use. Injected failures are `object_store` errors, as the
/// real backend's are: a put fails as a full disk does (`StorageFull`), a get as a read
/// error (`Other`).
#[derive(Debug, Default)]
pub struct Faults {
    full: AtomicBool,
    every_nth_put: AtomicU64,
    every_nth_get: AtomicU64,
    puts: AtomicU64,
    gets: AtomicU64,
    injected: AtomicU64,
}

impl Faults {
    /// While `full`, every put (objects and index entries) fails as on a full disk.
    pub fn set_full(&self, full: bool) {
        self.full.store(full, Ordering::SeqCst);
    }

    /// From now on, the `n`th put, the `2n`th and so on fail (`0`: none).
    pub fn fail_every_nth_put(&self, n: u64) {
        self.puts.store(0, Ordering::SeqCst);
        self.every_nth_put.store(n, Ordering::SeqCst);
    }

    /// From now on, the `n`th get (reads and `head`), the `2n`th and so on fail (`0`: none).
    pub fn fail_every_nth_get(&self, n: u64) {
        self.gets.store(0, Ordering::SeqCst);
        self.every_nth_get.store(n, Ordering::SeqCst);
    }

    /// No more faults.
    pub fn clear(&self) {
        self.set_full(false);
        self.fail_every_nth_put(0);
        self.fail_every_nth_get(0);
    }

    /// How many operations failed by injection so far.
    pub fn injected(&self) -> u64 {
        self.injected.load(Ordering::SeqCst)
    }

    fn put(&self, location: &ObjectPath) -> object_store::Result<()> {
        let count = self.puts.fetch_add(1, Ordering::SeqCst) + 1;
        let nth = self.every_nth_put.load(Ordering::SeqCst);
        if self.full.load(Ordering::SeqCst) || (nth > 0 && count.is_multiple_of(nth)) {
            return Err(self.fault(location, std::io::ErrorKind::StorageFull, "no space left on device"));
        }
        Ok(())
    }

    fn get(&self, location: &ObjectPath) -> object_store::Result<()> {
        let count = self.gets.fetch_add(1, Ordering::SeqCst) + 1;
        let nth = self.every_nth_get.load(Ordering::SeqCst);
        if nth > 0 && count.is_multiple_of(nth) {
            return Err(self.fault(location, std::io::ErrorKind::Other, "input/output error"));
        }
        Ok(())
    }

    fn fault(&self, location: &ObjectPath, kind: std::io::ErrorKind, what: &str) -> object_store::Error {
        self.injected.fetch_add(1, Ordering::SeqCst);
        let source = std::io::Error::new(kind, format!("{location}: {what} (injected fault)"));
        object_store::Error::Generic { store: "FaultyStore", source: Box::new(source) }
    }
}

/// `store` with faults injected in front of its backend, and the switch for them. The
/// result keeps `store`'s durability (a local store still fsyncs what it acknowledges).
pub fn with_faults(store: Store) -> (Store, Arc<Faults>) {
    let faults = Arc::new(Faults::default());
    let backend = Arc::new(FaultyStore { inner: store.backend, faults: faults.clone() });
    (Store { backend, durability: store.durability }, faults)
}

/// The backend [`with_faults`] puts in front of a store's own.
#[derive(Debug)]
struct FaultyStore {
    inner: Arc<dyn ObjectStore>,
    faults: Arc<Faults>,
}

impl std::fmt::Display for FaultyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FaultyStore({})", self.inner)
    }
}

#[async_trait::async_trait]
impl ObjectStore for FaultyStore {
    async fn put_opts(
        &self,
        location: &ObjectPath,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        self.faults.put(location)?;
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &ObjectPath,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.faults.put(location)?;
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &ObjectPath, options: GetOptions) -> object_store::Result<GetResult> {
        self.faults.get(location)?;
        self.inner.get_opts(location, options).await
    }

    async fn get_ranges(&self, location: &ObjectPath, ranges: &[Range<u64>]) -> object_store::Result<Vec<Bytes>> {
        self.faults.get(location)?;
        self.inner.get_ranges(location, ranges).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<ObjectPath>>,
    ) -> BoxStream<'static, object_store::Result<ObjectPath>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&ObjectPath>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    async fn list_with_delimiter(&self, prefix: Option<&ObjectPath>) -> object_store::Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(&self, from: &ObjectPath, to: &ObjectPath, options: CopyOptions) -> object_store::Result<()> {
        self.inner.copy_opts(from, to, options).await
    }

    async fn rename_opts(
        &self,
        from: &ObjectPath,
        to: &ObjectPath,
        options: RenameOptions,
    ) -> object_store::Result<()> {
        self.inner.rename_opts(from, to, options).await
    }
}
