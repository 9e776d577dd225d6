//! Test support: a real S3-compatible server for tests of the S3 backend ([`S3Server`]), and
//! a backend that injects storage faults under a real one ([`with_faults`]).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::ops::Range;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::stream::BoxStream;
use object_store::path::Path as ObjectPath;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore, PutMultipartOptions,
    PutOptions, PutPayload, PutResult, RenameOptions,
};

use crate::{S3Config, Store};

/// A moto S3 server child process on a loopback port, killed by its PID when dropped.
pub struct S3Server {
    child: Child,
    port: u16,
}

/// The bucket [`S3Server::start`] creates.
pub const BUCKET: &str = "healthchain";

impl S3Server {
    /// Starts moto's S3 server (`python3 -m moto.server`, installed by
    /// `pip install -r tools/requirements-test.txt`) on a free loopback port, waits (at most
    /// 30 s) until it accepts connections, and creates the bucket [`BUCKET`].
    pub fn start() -> Result<S3Server, String> {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("no free loopback port: {e}"))?
            .port();
        let child = Command::new("python3")
            .args(["-m", "moto.server", "-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot run python3: {e}"))?;
        let mut server = S3Server { child, port };
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = server.child.try_wait() {
                return Err(format!(
                    "the S3 test server exited ({status}); install it with: python3 -m pip install -r tools/requirements-test.txt"
                ));
            }
            if Instant::now() > deadline {
                return Err("the S3 test server did not start within 30 s".into());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        server.create_bucket(BUCKET)?;
        Ok(server)
    }

    /// Creates a bucket.
    pub fn create_bucket(&mut self, bucket: &str) -> Result<(), String> {
        let io = |e: std::io::Error| format!("creating bucket {bucket}: {e}");
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).map_err(io)?;
        stream.set_read_timeout(Some(Duration::from_secs(10))).map_err(io)?;
        let port = self.port;
        write!(
            stream,
            "PUT /{bucket} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )
        .map_err(io)?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer).map_err(io)?;
        match answer.split_whitespace().nth(1) {
            Some("200") => Ok(()),
            _ => Err(format!("creating bucket {bucket}: {}", answer.lines().next().unwrap_or("no answer"))),
        }
    }

    /// A configuration for [`BUCKET`] (plain HTTP allowed: the server is on loopback).
    pub fn config(&self) -> S3Config {
        S3Config {
            bucket: BUCKET.into(),
            region: "us-east-1".into(),
            endpoint: Some(format!("http://127.0.0.1:{}", self.port)),
            access_key_id: "test".into(),
            secret_access_key: "test".into(),
            allow_http: true,
        }
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
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
