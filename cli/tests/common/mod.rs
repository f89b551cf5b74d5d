//! Helpers of the CLI's integration tests: run the built `oxbpf`, as this user or as
//! `nobody`, with a timeout; parse its JSON; find the fixtures.
#![allow(dead_code)]

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_oxbpf");

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("cli/ has a parent")
        .to_path_buf()
}

/// A path under `tests/fixtures/`.
pub fn fixture(rel: &str) -> String {
    repo()
        .join("tests/fixtures")
        .join(rel)
        .display()
        .to_string()
}

/// The demo object.
pub fn demo() -> String {
    repo().join("cli/bpf/demo.bpf.o").display().to_string()
}

/// What a run printed and how it ended.
#[derive(Debug)]
pub struct Out {
    /// Exit status (-1 when killed by a signal).
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Out {
    /// The standard output as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}\nstderr: {}", self.stdout, self.stderr))
    }

    /// Asserts the exit status, showing the output otherwise.
    pub fn expect(&self, code: i32) -> &Out {
        assert_eq!(
            self.code, code,
            "exit status\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        assert!(
            !self.stderr.contains("panicked") && !self.stderr.contains("RUST_BACKTRACE"),
            "a panic: {}",
            self.stderr
        );
        self
    }
}

/// Waits for `child` at most `limit`, killing it past that.
pub fn wait(mut child: Child, limit: Duration) -> Out {
    let start = Instant::now();
    let mut stdout = child.stdout.take().expect("piped");
    let mut stderr = child.stderr.take().expect("piped");
    let out_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait") {
            break st;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            break child.wait().expect("wait");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Out {
        code: status.code().unwrap_or(-1),
        stdout: out_reader.join().unwrap_or_default(),
        stderr: err_reader.join().unwrap_or_default(),
    }
}

/// Starts `oxbpf ARGS`.
pub fn spawn(args: &[&str]) -> Child {
    Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn oxbpf")
}

/// Runs `oxbpf ARGS` (60 s at most).
pub fn oxbpf(args: &[&str]) -> Out {
    wait(spawn(args), Duration::from_secs(60))
}

/// Whether this process is root.
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Runs `oxbpf ARGS` without privileges: as uid/gid 65534 through `setpriv` when root,
/// else as this (already unprivileged) user. `None` if setpriv is missing.
pub fn oxbpf_unprivileged(args: &[&str]) -> Option<Out> {
    if !is_root() {
        return Some(oxbpf(args));
    }
    let child = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", BIN])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .ok()?;
    Some(wait(child, Duration::from_secs(60)))
}

/// Skips the calling test (with a printed reason) unless running as root.
#[macro_export]
macro_rules! require_root {
    () => {
        if !$crate::common::is_root() {
            eprintln!("SKIPPED {}: needs root", module_path!());
            return;
        }
    };
}

/// Serializes the tests of one binary that create links or pins (their checks look at the
/// whole system's links).
pub fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// A bpffs mounted on a temporary directory, unmounted (dropping its pins) on drop.
pub struct Bpffs {
    dir: tempfile::TempDir,
}

impl Bpffs {
    /// Mounts one.
    pub fn mount() -> Bpffs {
        let dir = tempfile::tempdir().expect("tempdir");
        nix::mount::mount(
            Some("bpf"),
            dir.path(),
            Some("bpf"),
            nix::mount::MsFlags::empty(),
            None::<&str>,
        )
        .expect("mount bpffs");
        Bpffs { dir }
    }

    /// A path inside it.
    pub fn path(&self, rel: &str) -> String {
        self.dir.path().join(rel).display().to_string()
    }
}

impl Drop for Bpffs {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(self.dir.path(), nix::mount::MntFlags::MNT_DETACH);
    }
}
