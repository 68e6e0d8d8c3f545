//! What the tests that run `prescient`'s trace commands (`evaluate`, `forecast backtest`) on
//! files they write share: a temp file removed on drop, and the stderr of a refused command.

use std::path::PathBuf;
use std::process::Output;

/// A file under the system temp dir, removed on drop.
pub struct TempFile(pub PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// The command's stderr, asserting it failed.
pub fn refused(out: &Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !out.status.success(),
        "succeeded: {}\n{stderr}",
        String::from_utf8_lossy(&out.stdout)
    );
    stderr
}
