//! What the `oddsmatch` binary's tests share: scratch directories and a running server.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// A scratch directory for one test, emptied first and removed when the test is done with it
/// (journals preallocate their segments: left behind, every run's would add up to gigabytes).
pub fn scratch(prefix: &str, test: &str) -> Scratch {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{prefix}-{test}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    Scratch(dir)
}

/// A directory removed on drop; it reads as its path.
#[derive(Debug)]
pub struct Scratch(PathBuf);

impl std::ops::Deref for Scratch {
    type Target = Path;

    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for Scratch {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<std::ffi::OsStr> for Scratch {
    fn as_ref(&self) -> &std::ffi::OsStr {
        self.0.as_os_str()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Starts `oddsmatch serve` with its data in `dir/data` and the bootstrap file
/// `dir/bootstrap.jsonl`, on a free loopback port, plus `extra` flags; returns the process
/// and the order-entry address it printed.
pub fn serve(dir: &Path, extra: &[&str]) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_oddsmatch"))
        .arg("serve")
        .arg("--data-dir")
        .arg(dir.join("data"))
        .arg("--bootstrap")
        .arg(dir.join("bootstrap.jsonl"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--market-data-listen",
            "127.0.0.1:0",
        ])
        .args(["--market-data-quic", "127.0.0.1:0", "--log", "warn"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .split("order entry on ")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .unwrap_or_else(|| panic!("serve printed {line:?}"))
        .to_owned();
    (child, addr)
}

/// Asks a server to stop with SIGTERM and waits for it.
pub fn terminate(child: &mut Child) -> std::process::ExitStatus {
    // SAFETY: kill(2) with a pid we own and a valid signal number.
    let sent = unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    assert_eq!(sent, 0);
    child.wait().unwrap()
}
