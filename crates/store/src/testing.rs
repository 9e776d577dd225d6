//! Test support: a real S3-compatible server for tests of the S3 backend.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::S3Config;

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
