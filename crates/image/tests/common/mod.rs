//! Shared by the image crate's integration tests: the project's peers
//! (`../shared/peers/peers.sh`) and the real registry on 127.0.0.1:5000.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

/// The registry `peers.sh registry start` runs.
pub const REGISTRY: &str = "127.0.0.1:5000";

/// `../shared/peers/peers.sh`, relative to the repository root.
pub fn peers_sh() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/peers/peers.sh")
}

/// Run peers.sh; `Err` carries its status and output.
pub fn run_peers(args: &[&str]) -> Result<String, String> {
    let out = Command::new("bash")
        .arg(peers_sh())
        .args(args)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", peers_sh().display()))?;
    let text = format!(
        "status {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() {
        Ok(text)
    } else {
        Err(text)
    }
}

/// Start the real registry and push the busybox image (once per test process);
/// panics with peers.sh's output when that is not possible.
pub fn real_registry() {
    static READY: OnceLock<Result<(), String>> = OnceLock::new();
    let r = READY.get_or_init(|| {
        run_peers(&["registry", "start"])
            .map_err(|e| format!("peers.sh registry start failed:\n{e}"))?;
        // other test binaries may run `images` at the same time (it rebuilds under
        // one build directory): one more try before failing
        if let Err(first) = run_peers(&["images"]) {
            std::thread::sleep(Duration::from_secs(2));
            run_peers(&["images"])
                .map_err(|e| format!("peers.sh images failed twice:\n{first}\n---\n{e}"))?;
        }
        Ok(())
    });
    if let Err(e) = r {
        panic!("the real registry on {REGISTRY} is not available:\n{e}");
    }
}
