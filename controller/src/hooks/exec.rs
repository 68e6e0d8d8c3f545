//! Exec hooks: run a program with the call as JSON on stdin and `PRESCIENT_IDEMPOTENCY_KEY` in
//! its environment; exit status 0 is success. A program still running at the timeout is killed
//! (and reaped), so a hung script never holds a delivery slot for ever.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use super::Attempt;

/// One run of `program`.
pub async fn run(
    program: &Path,
    args: &[String],
    key: &str,
    body: &[u8],
    timeout: Duration,
) -> Attempt {
    let mut child = match Command::new(program)
        .args(args)
        .env("PRESCIENT_IDEMPOTENCY_KEY", key)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
    {
        Ok(c) => c,
        Err(e) => return Attempt::Failed(None, format!("{}: {e}", program.display())),
    };
    let run = async {
        if let Some(mut stdin) = child.stdin.take() {
            // A program that does not read its input is not an error: it closed the pipe.
            let _ = stdin.write_all(body).await;
            drop(stdin);
        }
        child.wait_with_output().await
    };
    match tokio::time::timeout(timeout, run).await {
        Err(_) => Attempt::Failed(
            None,
            format!(
                "{}: still running after {timeout:?}, killed",
                program.display()
            ),
        ),
        Ok(Err(e)) => Attempt::Failed(None, format!("{}: {e}", program.display())),
        Ok(Ok(out)) if out.status.success() => Attempt::Done(0),
        Ok(Ok(out)) => {
            let err = String::from_utf8_lossy(&out.stderr);
            let err = err.trim();
            let tail = err.get(err.len().saturating_sub(200)..).unwrap_or(err);
            Attempt::Failed(
                out.status.code(),
                format!("{} exited with {}: {tail}", program.display(), out.status),
            )
        }
    }
}
