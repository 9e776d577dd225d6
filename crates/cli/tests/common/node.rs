//! `healthchain node` as a process for the tests that run nodes: started on a loopback port
//! of its choosing, talked to over plain HTTP/1.1, crashed (SIGKILL) or stopped (SIGTERM)
//! by its PID; and the CLI with a test keystore.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Runs `healthchain ARGS` with the keystore `keys` (passphrase from the environment) and
/// returns its output.
pub fn cli_with_keys(keys: std::path::PathBuf) -> impl Fn(&[&str]) -> std::process::Output + Clone {
    move |args| run_with_keys(Command::new(env!("CARGO_BIN_EXE_healthchain")), args, &keys)
}

/// Runs `command` (the CLI, or a shell that execs it) with `args`, the keystore `keys` and
/// the tests' passphrase; returns its output.
pub fn run_with_keys(mut command: Command, args: &[&str], keys: &std::path::Path) -> std::process::Output {
    command
        .args(args)
        .arg("--keystore")
        .arg(keys)
        .env("HEALTHCHAIN_PASSPHRASE", "s3cret")
        .output()
        .expect("the CLI runs")
}

/// A `healthchain node` process, stopped by its PID (SIGKILL) if a test fails before
/// stopping it properly.
pub struct NodeProcess {
    pub child: Child,
    pub address: String,
    /// Reads its standard error (echoed to the test's) until the process closes it.
    logs: Option<std::thread::JoinHandle<Vec<String>>>,
}

impl NodeProcess {
    /// Starts `healthchain node` on `home` on a free loopback port with `extra` arguments.
    pub fn start(home: &std::path::Path, extra: &[&str]) -> NodeProcess {
        Self::start_on(home, "127.0.0.1:0", extra)
    }

    /// Starts `healthchain node` on `home`, listening on `listen`.
    pub fn start_on(home: &std::path::Path, listen: &str, extra: &[&str]) -> NodeProcess {
        let mut child = Command::new(env!("CARGO_BIN_EXE_healthchain"))
            .args(["node", "--listen", listen, "--home"])
            .arg(home)
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("healthchain node starts");
        let stderr = child.stderr.take().expect("stderr");
        let logs = std::thread::spawn(move || {
            let mut lines = Vec::new();
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("node: {line}");
                lines.push(line);
            }
            lines
        });
        let stdout = child.stdout.take().expect("stdout");
        // the address line, read on a thread so a node that never prints cannot hang the test
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(rest) = line.trim().strip_prefix("HTTP API on http://") {
                    let address = rest.split('/').next().unwrap_or_default().to_string();
                    let _ = sender.send(address);
                }
            }
        });
        let mut node = NodeProcess { child, address: String::new(), logs: Some(logs) };
        node.address = receiver.recv_timeout(Duration::from_secs(180)).expect("the node prints its address");
        node
    }

    /// `GET path` over plain HTTP/1.1: status and JSON body.
    pub fn get(&self, path: &str) -> (u16, Value) {
        let mut stream = TcpStream::connect(&self.address).expect("connect");
        stream.set_read_timeout(Some(Duration::from_secs(60))).expect("timeout");
        write!(stream, "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n", self.address).expect("send");
        let mut response = String::new();
        stream.read_to_string(&mut response).expect("response");
        let (head, body) = response.split_once("\r\n\r\n").expect("a response");
        let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("a status");
        (status, serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}")))
    }

    /// `POST path` with a JSON body over plain HTTP/1.1: status and JSON body.
    pub fn post(&self, path: &str, body: &str) -> (u16, Value) {
        let mut stream = TcpStream::connect(&self.address).expect("connect");
        stream.set_read_timeout(Some(Duration::from_secs(60))).expect("timeout");
        write!(
            stream,
            "POST {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.address,
            body.len()
        )
        .expect("send");
        let mut response = String::new();
        stream.read_to_string(&mut response).expect("response");
        let (head, body) = response.split_once("\r\n\r\n").expect("a response");
        let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("a status");
        (status, serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}")))
    }

    /// Its enclave process (a child of one of its threads), if running.
    pub fn enclave_pid(&self) -> Option<u32> {
        let tasks = std::fs::read_dir(format!("/proc/{}/task", self.child.id())).ok()?;
        tasks
            .flatten()
            .filter_map(|task| std::fs::read_to_string(task.path().join("children")).ok())
            .flat_map(|children| children.split_whitespace().filter_map(|pid| pid.parse().ok()).collect::<Vec<u32>>())
            .next()
    }

    /// SIGKILL to its PID: a crash, with no clean-up at all; waits for it to die.
    pub fn crash(mut self) {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill").args(["-KILL", &pid]).status().expect("kill").success());
        let _ = self.child.wait();
        if let Some(reader) = self.logs.take() {
            let _ = reader.join();
        }
    }

    /// SIGTERM to its PID; waits (bounded) for a clean exit; returns its log lines.
    pub fn stop(mut self) -> Vec<String> {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().expect("kill");
        assert!(sent.success());
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                assert!(status.success(), "the node exited with {status}");
                let reader = self.logs.take().expect("the log reader");
                return reader.join().expect("the log reader thread");
            }
            assert!(Instant::now() < deadline, "the node did not stop within 60 s of SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
