//! Adaptive busy polling for a single-threaded tokio runtime that serves a stream of short
//! request/answer exchanges (a session thread, a load generator).
//!
//! Why: such a thread does a few microseconds of work per batch, then sleeps in `epoll_wait`
//! until its peer writes again. On a virtual machine an idle vCPU halts, and waking it costs
//! an exit to the hypervisor and back, tens of microseconds, every time; with a window of
//! packet-ins going back and forth the two processes end up taking turns, each asleep while the
//! other works, and neither fills a core. Polling the sockets for a short while before sleeping
//! keeps the vCPU running through those gaps.
//!
//! How long to poll adapts like Linux's cpuidle haltpoll governor: the window grows (doubling,
//! up to the configured most) when the thread slept for less than that most, so more polling
//! would have caught the work, and shrinks (halving, to nothing) when it slept longer, so an
//! idle or lightly loaded thread hardly polls at all. The poller is a task of the runtime: each
//! round yields, the runtime then polls its sockets without blocking and runs the tasks they
//! woke, and tasks report work with [`note_work`].
//!
//! Polling pays only with a core to poll on: with more busy threads than cores it delays the
//! peer it waits for (measured: a 5 ms window on 2 vCPUs shared with a load generator and
//! other builds cut answers tenfold), so it is off unless configured.

use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

/// The smallest window worth polling for; a shorter one shrinks to nothing.
const MIN_WINDOW: Duration = Duration::from_micros(5);

thread_local! {
    /// Batches of work the tasks of this thread reported.
    static WORK: Cell<u64> = const { Cell::new(0) };
    /// The poller of this thread, while it sleeps waiting for work.
    static SLEEPER: RefCell<Option<Waker>> = const { RefCell::new(None) };
}

/// Tells this thread's poller (if it runs one) that a task just did work, so it polls for more
/// before the thread sleeps. Cheap: a thread-local counter, and a wake-up only when the poller
/// sleeps.
pub fn note_work() {
    WORK.with(|w| w.set(w.get().wrapping_add(1)));
    if let Some(waker) = SLEEPER.with(|s| s.borrow_mut().take()) {
        waker.wake();
    }
}

fn work() -> u64 {
    WORK.with(Cell::get)
}

/// The adaptive poll window (no I/O: fed sleep lengths, it says how long to poll next).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    most: Duration,
    now: Duration,
}

impl Window {
    /// A window that starts closed and may grow to `most` (zero: never poll).
    pub fn new(most: Duration) -> Self {
        Window {
            most,
            now: Duration::ZERO,
        }
    }

    /// How long to poll for work before sleeping.
    pub fn current(&self) -> Duration {
        self.now
    }

    /// The thread slept for `slept` after its last poll: grow the window when polling up to
    /// `most` would have caught the work, shrink it when the work came later than that.
    pub fn slept(&mut self, slept: Duration) {
        if self.most.is_zero() {
            return;
        }
        self.now = if slept < self.most {
            (self.now * 2).clamp(MIN_WINDOW, self.most)
        } else {
            let half = self.now / 2;
            if half < MIN_WINDOW {
                Duration::ZERO
            } else {
                half
            }
        };
    }
}

/// Runs the poller of the current thread until dropped (spawn it on the runtime to poll:
/// `tokio::spawn(busy_poll::run(most))`). `most` zero: it only sleeps.
pub async fn run(most: Duration) {
    let mut window = Window::new(most);
    let mut seen = work();
    loop {
        // Sleep until a task reports work.
        let slept_at = Instant::now();
        poll_fn(|cx| {
            let now = work();
            if now != seen {
                seen = now;
                return Poll::Ready(());
            }
            SLEEPER.with(|s| *s.borrow_mut() = Some(cx.waker().clone()));
            Poll::Pending
        })
        .await;
        window.slept(slept_at.elapsed());
        let limit = window.current();
        if limit.is_zero() {
            continue;
        }
        // Poll until no work came for `limit`. Each round also offers the core to any other
        // runnable thread (sched_yield): a poller that kept it would make a peer sharing the
        // core (the load generator, the other session thread) wait for the end of its time
        // slice, milliseconds, which costs far more than the wake-up polling saves.
        let mut last_work = Instant::now();
        loop {
            std::thread::yield_now();
            tokio::task::yield_now().await;
            let now = work();
            let at = Instant::now();
            if now != seen {
                seen = now;
                last_work = at;
            } else if at.duration_since(last_work) >= limit {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const US: Duration = Duration::from_micros(1);

    #[test]
    fn the_window_grows_while_work_comes_soon_and_closes_when_it_does_not() {
        let mut w = Window::new(200 * US);
        assert_eq!(w.current(), Duration::ZERO, "starts closed");
        w.slept(30 * US);
        assert_eq!(w.current(), MIN_WINDOW);
        for _ in 0..10 {
            w.slept(30 * US);
        }
        assert_eq!(w.current(), 200 * US, "capped at the most");
        w.slept(5 * 200 * US);
        assert_eq!(w.current(), 100 * US);
        for _ in 0..10 {
            w.slept(Duration::from_millis(10));
        }
        assert_eq!(w.current(), Duration::ZERO, "an idle thread stops polling");
        let mut off = Window::new(Duration::ZERO);
        off.slept(US);
        assert_eq!(off.current(), Duration::ZERO, "zero never polls");
    }
}
