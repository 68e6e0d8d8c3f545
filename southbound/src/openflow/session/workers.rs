//! Session threads: each runs a single-threaded tokio runtime, and every switch's session
//! lives on one of them for its whole life.
//!
//! A session's work is a read, the inline app, a write: nothing in it gains from moving between
//! threads, and a work-stealing runtime moves it anyway (its socket wakes it on whichever worker
//! polled the reactor), paying cross-thread wake-ups and cold caches on every batch. Pinned
//! sessions answer on the thread that read the packet-ins, and spreading switches over one
//! thread per core keeps every core busy. New sessions go to the thread with the fewest.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::runtime::Handle;
use tokio::sync::OwnedSemaphorePermit;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::driver;
use super::error::SessionError;
use super::shared::Ctx;

struct Worker {
    handle: Handle,
    sessions: Arc<AtomicUsize>,
}

/// The session threads of one controller.
pub(crate) struct Workers {
    workers: Vec<Worker>,
}

impl Workers {
    /// Starts `n` session threads (at least one), each busy-polling for up to `busy_poll`
    /// ([`super::busy_poll`]); they stop, dropping whatever sessions they still run, when
    /// `stop` is cancelled.
    pub(crate) fn start(
        n: usize,
        busy_poll: Duration,
        stop: &CancellationToken,
    ) -> Result<Workers, SessionError> {
        let mut workers = Vec::with_capacity(n.max(1));
        for i in 0..n.max(1) {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| SessionError::Runtime {
                    reason: e.to_string(),
                })?;
            let handle = rt.handle().clone();
            let stop = stop.clone();
            std::thread::Builder::new()
                .name(format!("of-sessions-{i}"))
                .spawn(move || {
                    rt.block_on(async move {
                        if !busy_poll.is_zero() {
                            tokio::spawn(super::busy_poll::run(busy_poll));
                        }
                        stop.cancelled().await
                    })
                })
                .map_err(|e| SessionError::Runtime {
                    reason: e.to_string(),
                })?;
            workers.push(Worker {
                handle,
                sessions: Arc::new(AtomicUsize::new(0)),
            });
        }
        Ok(Workers { workers })
    }

    /// Runs the session of an accepted connection on the least busy thread.
    pub(crate) fn spawn(
        &self,
        stream: TcpStream,
        peer: SocketAddr,
        ctx: Arc<Ctx>,
        permit: OwnedSemaphorePermit,
        tracker: &TaskTracker,
    ) {
        let Some(w) = self
            .workers
            .iter()
            .min_by_key(|w| w.sessions.load(Ordering::Relaxed))
        else {
            return;
        };
        // The socket is registered with the accepting runtime's reactor; it moves to the
        // session thread's reactor through its plain file descriptor.
        let std_stream = match stream.into_std() {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(%peer, "connection not handed to a session thread: {e}");
                return;
            }
        };
        let count = Arc::clone(&w.sessions);
        count.fetch_add(1, Ordering::Relaxed);
        w.handle.spawn(tracker.track_future(async move {
            match TcpStream::from_std(std_stream) {
                Ok(stream) => driver::accept(stream, peer, ctx, permit).await,
                Err(e) => tracing::warn!(%peer, "connection lost moving threads: {e}"),
            }
            count.fetch_sub(1, Ordering::Relaxed);
        }));
    }
}
