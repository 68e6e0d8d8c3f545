//! The controller's long-running tasks, watched.
//!
//! Tokio catches a panic in a spawned task and lets the rest of the process run on. For the
//! controller that is the worst outcome: with the driver loop gone it still answers REST calls
//! but no longer forecasts, reserves or reacts to switches; with the persister gone it accepts
//! changes it never stores. A task that panics, or that ends while the controller is still
//! meant to run, is therefore reported ([`Tasks::failure`]), and `prescient run` stops as a
//! crashed process would and exits non-zero. Its supervisor (systemd, Kubernetes) restarts it
//! from the state store, which holds every change that was answered; in a cluster, another
//! node takes over when the lease expires.

use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures::FutureExt;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Why a watched task stopped while the controller was running.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the {task} task {how}")]
pub struct TaskFailure {
    /// The task's name (`driver`, `persister`, …).
    pub task: &'static str,
    /// `panicked: <message>`, or that it ended on its own.
    pub how: String,
}

/// Spawns and tracks the controller's tasks; keeps the first failure.
#[derive(Debug, Clone)]
pub struct Tasks {
    tracker: TaskTracker,
    cancel: CancellationToken,
    failed: Arc<watch::Sender<Option<TaskFailure>>>,
}

impl Tasks {
    /// Tasks that are meant to run until `cancel` is cancelled.
    pub fn new(cancel: CancellationToken) -> Self {
        Tasks {
            tracker: TaskTracker::new(),
            cancel,
            failed: Arc::new(watch::channel(None).0),
        }
    }

    /// Spawns `task` under `name`: a panic, or an end before the cancellation, is a failure.
    pub fn spawn(&self, name: &'static str, task: impl Future<Output = ()> + Send + 'static) {
        self.watch(name, task, false);
    }

    /// Spawns `task` under `name`, which may end on its own (a P4Runtime device's task gives
    /// up on a device that refuses it, and says why): only a panic is a failure.
    pub fn spawn_may_end(
        &self,
        name: &'static str,
        task: impl Future<Output = ()> + Send + 'static,
    ) {
        self.watch(name, task, true);
    }

    fn watch(
        &self,
        name: &'static str,
        task: impl Future<Output = ()> + Send + 'static,
        may_end: bool,
    ) {
        let cancel = self.cancel.clone();
        let failed = Arc::clone(&self.failed);
        self.tracker.spawn(async move {
            let how = match AssertUnwindSafe(task).catch_unwind().await {
                Ok(()) if may_end || cancel.is_cancelled() => return,
                Ok(()) => "ended while the controller was running".to_string(),
                Err(panic) => format!("panicked: {}", panic_message(panic.as_ref())),
            };
            tracing::error!("the {name} task {how}");
            let failure = TaskFailure { task: name, how };
            // The first failure is the cause; what fails after it is likely its consequence.
            failed.send_if_modified(|slot| {
                let first = slot.is_none();
                if first {
                    *slot = Some(failure);
                }
                first
            });
        });
    }

    /// Resolves with the first failure (at once if one happened already).
    pub fn failure(&self) -> impl Future<Output = TaskFailure> + Send + 'static {
        let mut seen = self.failed.subscribe();
        async move {
            let failure = match seen.wait_for(Option::is_some).await {
                Ok(slot) => slot.clone(),
                // Unreachable while `self.failed` lives in this future's owner; pend forever
                // rather than invent a failure.
                Err(_) => None,
            };
            match failure {
                Some(f) => f,
                None => std::future::pending().await,
            }
        }
    }

    /// Closes the tracker and waits for every task to end.
    pub async fn wait(&self) {
        self.tracker.close();
        self.tracker.wait().await;
    }
}

/// The text a panic was raised with (`panic!` with a literal or a formatted message).
fn panic_message(panic: &(dyn Any + Send)) -> &str {
    if let Some(s) = panic.downcast_ref::<&'static str>() {
        s
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s
    } else {
        "(no message)"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_task_that_panics_is_reported_with_its_name_and_message() {
        let cancel = CancellationToken::new();
        let tasks = Tasks::new(cancel.clone());
        tasks.spawn("idle", cancel.clone().cancelled_owned());
        tasks.spawn("driver", async {
            let value: Option<u32> = None;
            panic!("forecast of {value:?}");
        });
        let failure = tokio::time::timeout(Duration::from_secs(10), tasks.failure())
            .await
            .expect("the failure is reported");
        assert_eq!(failure.task, "driver");
        assert_eq!(failure.how, "panicked: forecast of None");
        assert_eq!(
            failure.to_string(),
            "the driver task panicked: forecast of None"
        );
        // A second look sees the same first failure at once.
        assert_eq!(tasks.failure().await, failure);
        cancel.cancel();
        tasks.wait().await;
    }

    #[tokio::test]
    async fn a_task_that_ends_early_is_a_failure_and_only_the_first_is_kept() {
        let cancel = CancellationToken::new();
        let tasks = Tasks::new(cancel.clone());
        tasks.spawn("persister", async {});
        let first = tasks.failure().await;
        assert_eq!(
            first.to_string(),
            "the persister task ended while the controller was running"
        );
        tasks.spawn("hooks", async { panic!("later") });
        tasks.wait().await;
        assert_eq!(tasks.failure().await, first);
    }

    #[tokio::test]
    async fn a_task_that_may_end_fails_only_by_panicking() {
        let cancel = CancellationToken::new();
        let tasks = Tasks::new(cancel.clone());
        tasks.spawn_may_end("P4Runtime device", async {});
        tasks.wait().await;
        let none = tokio::time::timeout(Duration::from_millis(50), tasks.failure()).await;
        assert!(none.is_err(), "a device task that gave up is no failure");
        let tasks = Tasks::new(cancel.clone());
        tasks.spawn_may_end("P4Runtime device", async { panic!("bad entry") });
        assert_eq!(
            tasks.failure().await.to_string(),
            "the P4Runtime device task panicked: bad entry"
        );
        tasks.wait().await;
    }

    #[tokio::test]
    async fn tasks_that_end_on_cancellation_are_no_failure() {
        let cancel = CancellationToken::new();
        let tasks = Tasks::new(cancel.clone());
        for name in ["driver", "persister", "hooks"] {
            tasks.spawn(name, cancel.clone().cancelled_owned());
        }
        cancel.cancel();
        tasks.wait().await;
        let failure = tasks.failure();
        assert!(
            tokio::time::timeout(Duration::from_millis(50), failure)
                .await
                .is_err(),
            "no failure after an orderly stop"
        );
    }
}
