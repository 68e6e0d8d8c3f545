//! The hooks executor (the IO side of [`crate::services`]): delivers the hook calls the core
//! planned to the configured orchestrator endpoints, HTTP webhooks ([`http`]) and programs
//! ([`exec`]), with retries, and reports each outcome back to the core (a decision and the
//! record `GET /api/v1/hooks` shows).
//!
//! Invariants: the control loop never waits for a hook (calls are taken from the core and each
//! delivery runs in its own task, at most [`HooksConfig::concurrency`] at once); every attempt
//! of one call carries the same idempotency key (`<service>/<decision>`); attempts stop at
//! `max_attempts`, waits between them double from `backoff` up to `backoff_cap`; a permanent
//! refusal (HTTP 4xx other than 408 and 429) is not retried; every call ends in exactly one
//! recorded outcome per matching hook.

pub mod exec;
pub mod http;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::core::SharedCore;
use crate::services::{HookCall, HookKind, HookRecord, HookStatus};

/// Where a hook delivers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HookTarget {
    /// POST the call as JSON to this `http://` URL.
    Http {
        /// The URL.
        url: hyper::Uri,
    },
    /// Run this program with the call as JSON on stdin; exit status 0 is success.
    Exec {
        /// The program.
        program: PathBuf,
        /// Its arguments.
        args: Vec<String>,
    },
}

/// One configured hook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookConfig {
    /// Name in records and logs.
    pub name: String,
    /// Where it delivers.
    pub target: HookTarget,
    /// The actions it receives (all when empty).
    pub actions: Vec<HookKind>,
    /// The services it receives (all when empty).
    pub services: Vec<String>,
    /// Time allowed for one attempt.
    pub timeout: Duration,
    /// Attempts before giving up (at least 1).
    pub max_attempts: u32,
    /// Wait before the first retry; doubled each time.
    pub backoff: Duration,
    /// Longest wait between attempts.
    pub backoff_cap: Duration,
}

impl HookConfig {
    /// Whether this hook receives `call`.
    pub fn wants(&self, call: &HookCall) -> bool {
        (self.actions.is_empty() || self.actions.contains(&call.action))
            && (self.services.is_empty() || self.services.contains(&call.service))
    }

    /// The wait after failed attempt number `attempt` (1-based).
    pub fn backoff_after(&self, attempt: u32) -> Duration {
        let factor = 1u32
            .checked_shl(attempt.saturating_sub(1))
            .unwrap_or(u32::MAX);
        self.backoff.saturating_mul(factor).min(self.backoff_cap)
    }
}

/// Every hook, and how many deliveries may run at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HooksConfig {
    /// The hooks.
    pub hooks: Vec<HookConfig>,
    /// Deliveries in flight at most; further ones wait for a slot in their own task.
    pub concurrency: usize,
}

impl Default for HooksConfig {
    fn default() -> Self {
        HooksConfig {
            hooks: Vec::new(),
            concurrency: 16,
        }
    }
}

/// The result of one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// Accepted (HTTP 2xx, exit 0), with the status or exit code.
    Done(i32),
    /// Refused for good (HTTP 4xx other than 408/429).
    Refused(i32, String),
    /// Failed in a way worth retrying (down, timeout, 5xx, non-zero exit), with a code if any.
    Failed(Option<i32>, String),
}

/// The JSON a hook receives: the call plus its idempotency key under that name.
pub fn payload(call: &HookCall) -> Vec<u8> {
    let mut v = serde_json::to_value(call).unwrap_or(serde_json::Value::Null);
    if let Some(o) = v.as_object_mut() {
        o.insert(
            "idempotency_key".into(),
            serde_json::Value::String(call.key.clone()),
        );
    }
    serde_json::to_vec(&v).unwrap_or_default()
}

/// Delivers `call` to `hook`, retrying as configured; returns the outcome record.
pub async fn deliver(
    hook: &HookConfig,
    client: &http::Client,
    call: &HookCall,
    cancel: &CancellationToken,
    now: impl Fn() -> u64,
) -> HookRecord {
    let body = payload(call);
    let max = hook.max_attempts.max(1);
    let mut attempts = 0;
    let mut last = Attempt::Failed(None, "not attempted".into());
    while attempts < max {
        attempts += 1;
        let attempt = match &hook.target {
            HookTarget::Http { url } => {
                http::post(client, url, &call.key, body.clone(), hook.timeout).await
            }
            HookTarget::Exec { program, args } => {
                exec::run(program, args, &call.key, &body, hook.timeout).await
            }
        };
        last = attempt;
        match &last {
            Attempt::Done(_) | Attempt::Refused(..) => break,
            Attempt::Failed(_, e) => {
                tracing::debug!(hook = %hook.name, key = %call.key, attempt = attempts, "hook attempt failed: {e}");
            }
        }
        if attempts < max {
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = tokio::time::sleep(hook.backoff_after(attempts)) => {}
            }
        }
    }
    let (status, code, error) = match last {
        Attempt::Done(c) => (HookStatus::Delivered, Some(c), None),
        Attempt::Refused(c, e) => (HookStatus::Refused, Some(c), Some(e)),
        Attempt::Failed(c, e) => (HookStatus::GaveUp, c, Some(e)),
    };
    HookRecord {
        key: call.key.clone(),
        hook: hook.name.clone(),
        service: call.service.clone(),
        action: call.action,
        decision: call.decision,
        status,
        attempts,
        code,
        error,
        at_ns: now(),
    }
}

/// Runs until `cancel`: takes the core's hook calls whenever it publishes events (every tick
/// and decision) and delivers each to every hook that wants it, in the background.
pub async fn run(core: Arc<SharedCore>, config: HooksConfig, cancel: CancellationToken) {
    let client = http::client();
    let slots = Arc::new(Semaphore::new(config.concurrency.max(1)));
    let tasks = TaskTracker::new();
    let hooks: Arc<Vec<HookConfig>> = Arc::new(config.hooks);
    let mut events = core.subscribe();
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            // Lagging is fine: the calls wait in the core, the event only wakes us.
            r = events.recv() => if matches!(r, Err(tokio::sync::broadcast::error::RecvError::Closed)) { break },
        }
        let calls = core.apply(|c| c.take_hook_calls());
        for call in calls {
            let wanted: Vec<HookConfig> =
                hooks.iter().filter(|h| h.wants(&call)).cloned().collect();
            if wanted.is_empty() {
                tracing::debug!(key = %call.key, "no hook configured for this call");
            }
            for hook in wanted {
                let (core, client, slots, cancel, call) = (
                    core.clone(),
                    client.clone(),
                    slots.clone(),
                    cancel.clone(),
                    call.clone(),
                );
                tasks.spawn(async move {
                    let Ok(_slot) = slots.acquire_owned().await else {
                        return;
                    };
                    let clock = core.clone();
                    let record =
                        deliver(&hook, &client, &call, &cancel, move || clock.now().nanos()).await;
                    let now = core.now();
                    core.apply(|c| c.hook_finished(now, record));
                });
            }
        }
    }
    tasks.close();
    tasks.wait().await;
}

#[cfg(test)]
mod tests;
