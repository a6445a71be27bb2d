//! OCI lifecycle hooks: each runs with the container state JSON on stdin, its own
//! argv (args[0] is argv[0]) and environment, and an optional timeout in seconds.

use std::io::Write;
use std::os::fd::AsFd;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

use oci_spec::runtime::Hook;

use crate::error::{ContainerError, Result};

/// Run `hooks` in order; the first failure stops the sequence and is returned.
pub fn run_hooks(kind: &'static str, hooks: Option<&Vec<Hook>>, state_json: &[u8]) -> Result<()> {
    for h in hooks.into_iter().flatten() {
        run_hook(kind, h, state_json)?;
    }
    Ok(())
}

/// Run one hook.
pub fn run_hook(kind: &'static str, h: &Hook, state_json: &[u8]) -> Result<()> {
    let err = |message: String| ContainerError::Hook {
        kind,
        path: h.path().clone(),
        message,
    };
    let mut cmd = Command::new(h.path());
    let args = h.args().as_deref().unwrap_or(&[]);
    if let Some(a0) = args.first() {
        cmd.arg0(a0);
    }
    cmd.args(args.iter().skip(1));
    cmd.env_clear();
    for kv in h.env().as_deref().unwrap_or(&[]) {
        if let Some((k, v)) = kv.split_once('=') {
            cmd.env(k, v);
        }
    }
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit());
    let mut child = cmd.spawn().map_err(|e| err(format!("cannot start: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that does not read its stdin gets EPIPE here; that is not an error.
        let _ = stdin.write_all(state_json);
    }
    let status = match h.timeout() {
        None => child.wait().map_err(|e| err(format!("wait: {e}")))?,
        Some(secs) => {
            let pid = i32::try_from(child.id()).expect("pid fits");
            let pidfd = caisson_sys::pidfd_open(pid)?;
            let mut fds = [nix::poll::PollFd::new(
                pidfd.as_fd(),
                nix::poll::PollFlags::POLLIN,
            )];
            let ms = u16::try_from(secs.saturating_mul(1000).min(i64::from(u16::MAX)))
                .unwrap_or(u16::MAX);
            let ready = nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(ms))
                .map_err(|e| err(format!("poll: {e}")))?;
            if ready == 0 {
                let _ = child.kill();
                let _ = child.wait();
                return Err(err(format!("timed out after {secs}s")));
            }
            child.wait().map_err(|e| err(format!("wait: {e}")))?
        }
    };
    if status.success() {
        Ok(())
    } else {
        Err(err(format!("failed: {status}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hook(json: &str) -> Hook {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn hook_gets_state_on_stdin_and_its_env() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let h = hook(&format!(
            r#"{{"path":"/bin/sh","args":["sh","-c","cat > {} ; echo \"$FOO\" >> {}"],"env":["FOO=bar"]}}"#,
            out.display(),
            out.display()
        ));
        run_hook("prestart", &h, br#"{"id":"x"}"#).unwrap();
        assert_eq!(
            std::fs::read_to_string(&out).unwrap(),
            "{\"id\":\"x\"}bar\n"
        );
    }

    #[test]
    fn failing_and_slow_hooks_are_errors() {
        let h = hook(r#"{"path":"/bin/false"}"#);
        let e = run_hook("poststart", &h, b"{}").unwrap_err().to_string();
        assert!(e.contains("poststart hook /bin/false"), "{e}");
        let h = hook(r#"{"path":"/bin/sleep","args":["sleep","5"],"timeout":1}"#);
        let t = std::time::Instant::now();
        let e = run_hook("prestart", &h, b"{}").unwrap_err().to_string();
        assert!(e.contains("timed out"), "{e}");
        assert!(t.elapsed() < std::time::Duration::from_secs(4));
    }
}
