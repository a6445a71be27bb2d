//! Shared helpers of caisson's integration tests: the binaries under test and a
//! runner whose output goes through temporary files (a container's monitor may
//! inherit stdout/stderr and hold a pipe open long after `caisson` exited).
#![allow(dead_code)]

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

/// The caisson binary under test.
pub fn caisson() -> &'static str {
    env!("CARGO_BIN_EXE_caisson")
}

/// The release caisson-runtime the engine drives in these tests.
pub fn runtime() -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/release/caisson-runtime");
    assert!(
        p.exists(),
        "{} is missing: build the workspace first (cargo build --release)",
        p.display()
    );
    p
}

/// What one command did.
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    /// Standard output as JSON (panics naming the output if it is not).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}\n{}", self.stdout, self.stderr))
    }
}

/// Runs `caisson --root ROOT ARGS` with stdin from `stdin` (else /dev/null) and the
/// extra environment `env`. The host's policy (`$CAISSON_POLICY`) never leaks in.
pub fn run_caisson(
    root: &Path,
    args: &[&str],
    stdin: Option<&Path>,
    env: &[(&str, &OsStr)],
) -> Out {
    let out = tempfile::tempfile().unwrap();
    let err = tempfile::tempfile().unwrap();
    let input = match stdin {
        Some(p) => Stdio::from(std::fs::File::open(p).unwrap()),
        None => Stdio::null(),
    };
    let st = Command::new(caisson())
        .arg("--root")
        .arg(root)
        .args(args)
        .env("CAISSON_POLICY", "")
        .envs(env.iter().copied())
        .stdin(input)
        .stdout(out.try_clone().unwrap())
        .stderr(err.try_clone().unwrap())
        .status()
        .unwrap();
    let read = |mut f: std::fs::File| {
        use std::io::{Read, Seek};
        let mut s = String::new();
        f.seek(std::io::SeekFrom::Start(0)).unwrap();
        f.read_to_string(&mut s).unwrap();
        s
    };
    Out {
        code: st.code().unwrap_or(-1),
        stdout: read(out),
        stderr: read(err),
    }
}

/// Runs caisson driving the release runtime ([`runtime`]).
pub fn run_in(root: &Path, args: &[&str]) -> Out {
    let rt = runtime();
    run_caisson(root, args, None, &[("CAISSON_RUNTIME", rt.as_os_str())])
}

/// Runs caisson for commands that start nothing (no runtime needed).
pub fn run_bare(root: &Path, args: &[&str]) -> Out {
    run_caisson(root, args, None, &[])
}

/// Asserts the exit code of `o` (the output of `caisson ARGS`).
pub fn check(o: Out, args: &[&str], code: i32) -> Out {
    assert_eq!(
        o.code, code,
        "caisson {args:?}:\nstdout: {}\nstderr: {}",
        o.stdout, o.stderr
    );
    o
}

/// [`run_in`] and check the exit code.
pub fn expect(root: &Path, args: &[&str], code: i32) -> Out {
    check(run_in(root, args), args, code)
}

/// [`run_in`], exit 0, standard output.
pub fn ok(root: &Path, args: &[&str]) -> String {
    expect(root, args, 0).stdout
}
