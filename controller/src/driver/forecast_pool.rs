//! The threads the control tick runs on: one per core, at a lower scheduling priority than
//! the rest of the controller.
//!
//! The tick's forecast round spreads over every core (`core/observing.rs`), and so do the
//! OpenFlow session threads that answer packet-ins. At one priority the kernel shares the cores
//! evenly between them, so a packet-in read during a round waited for a time slice behind
//! forecasting work that could as well wait. These threads run at a nice value [`NICE_OFFSET`]
//! above the process's own (Linux keeps a nice value per thread): a session thread that wakes
//! takes a core at once, and when the cores are otherwise idle the round has all of them. The
//! round decides the same on any number of threads (the core test
//! `a_tick_decides_and_reports_the_same_on_one_core_and_on_several`).
//!
//! The whole tick runs here, not only its parallel part: its serial part (the traffic matrix,
//! the planners) is a fifth of it at 40,000 series, and left at the controller's priority it
//! kept packet-ins answered during a tick as slow as before (`bench openflow
//! --forecast-series`, docs/benchmarks.md). It runs in slices (`SharedCore::tick_in_slices`), so
//! the core's lock is held a few milliseconds at a time, not for the whole tick.

use std::future::Future;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};

/// How much nicer than the process the tick's threads run. At 10 the kernel gives a thread of
/// the process's own priority about nine tenths of a contended core (weights 1024 and 110),
/// so a round under a packet-in storm still advances, slower, and the stride governor spreads
/// it over more ticks.
pub const NICE_OFFSET: i32 = 10;

/// The highest (nicest) value Linux allows.
const NICE_MAX: i32 = 19;

/// The tick's thread pool.
pub struct ForecastPool {
    pool: rayon::ThreadPool,
}

impl std::fmt::Debug for ForecastPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ForecastPool")
            .field("threads", &self.pool.current_num_threads())
            .finish()
    }
}

/// One thread per core.
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

impl ForecastPool {
    /// Starts `threads` threads named `forecast-N` (0: one per core), each lowering its own
    /// priority by [`NICE_OFFSET`] as it starts.
    pub fn start(threads: usize) -> Result<Self, rayon::ThreadPoolBuildError> {
        let threads = match threads {
            0 => default_threads(),
            n => n,
        };
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("forecast-{i}"))
            .start_handler(|_| lower_own_priority())
            .build()?;
        Ok(ForecastPool { pool })
    }

    /// Runs `op` on one of the pool's threads (its parallel iterators spread over the others),
    /// leaving the caller's thread free; a panic in `op` resumes in the caller's task.
    pub fn run<R: Send + 'static>(
        &self,
        op: impl FnOnce() -> R + Send + 'static,
    ) -> impl Future<Output = R> + Send + 'static {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.pool.spawn(move || {
            // Caught so it reaches the caller: rayon aborts the process on a spawned panic.
            let _ = tx.send(catch_unwind(AssertUnwindSafe(op)));
        });
        async move {
            match rx.await {
                Ok(Ok(r)) => r,
                Ok(Err(panic)) => resume_unwind(panic),
                // The job always sends before its sender drops, panic or not.
                Err(_) => unreachable!("the forecast pool dropped a job"),
            }
        }
    }
}

/// Raises the calling thread's nice value by [`NICE_OFFSET`], from the process's own (already
/// nice under `nice`, it goes further, up to 19). Linux applies `setpriority(PRIO_PROCESS, 0)`
/// to the calling thread alone. A thread may always make itself nicer, so a failure means a
/// sandbox forbids the call: the thread then runs at the process's priority, as a plain rayon
/// pool would, and the log says so.
fn lower_own_priority() {
    let lowered = rustix::process::getpriority_process(None).and_then(|nice| {
        rustix::process::setpriority_process(None, (nice + NICE_OFFSET).min(NICE_MAX))
    });
    if let Err(e) = lowered {
        tracing::warn!(
            "forecast thread keeps the controller's priority (setpriority: {e}): packet-ins share the cores evenly with the forecast round"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The nice value in `/proc/thread-self/stat` (what `ps -L -o ni` shows): the 19th field,
    /// the 17th after the command name in parentheses.
    fn own_nice_and_name() -> (i32, String) {
        let stat = std::fs::read_to_string("/proc/thread-self/stat").expect("stat");
        let (head, tail) = stat.rsplit_once(')').expect("comm");
        let name = head.split_once('(').expect("comm").1.to_string();
        let nice = tail.split_whitespace().nth(16).expect("nice field");
        (nice.parse().expect("a number"), name)
    }

    #[test]
    fn the_tick_runs_on_named_threads_nicer_than_the_process() {
        let (mine, _) = own_nice_and_name();
        let pool = ForecastPool::start(2).expect("pool");
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        let (nice, name) = rt.block_on(pool.run(own_nice_and_name));
        assert!(name.starts_with("forecast-"), "{name}");
        assert_eq!(nice, (mine + NICE_OFFSET).min(NICE_MAX));
        // Every thread of the pool, not only the one that ran the job.
        let all: Vec<(i32, String)> =
            rt.block_on(pool.run(|| rayon::broadcast(|_| own_nice_and_name())));
        assert_eq!(all.len(), 2);
        assert!(all.iter().all(|(n, _)| *n == nice), "{all:?}");
    }

    #[test]
    fn a_panic_in_the_tick_reaches_the_caller_and_the_pool_goes_on() {
        let pool = ForecastPool::start(1).expect("pool");
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        let failed = rt.block_on(async {
            tokio::spawn(pool.run(|| -> u32 { panic!("a bad tick") }))
                .await
                .expect_err("the panic")
        });
        assert!(failed.is_panic());
        assert_eq!(rt.block_on(pool.run(|| 7)), 7);
    }
}
