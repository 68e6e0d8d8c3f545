//! CPU time of whole processes (every thread), read from Linux's `/proc/PID/stat`, so a bench
//! can say how many cores the generator and the controller under test used while measured.

use std::time::{Duration, Instant};

/// `/proc` reports CPU times in USER_HZ ticks, which Linux fixes at 100 per second for user
/// space on every architecture it exports them on.
const TICKS_PER_SEC: f64 = 100.0;

/// Which process to account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Process {
    /// This process.
    Own,
    /// Another process by id.
    Pid(u32),
}

/// User plus system CPU ticks of `process`, every thread included; `None` when it cannot be
/// read (not Linux, no such process).
pub fn ticks(process: Process) -> Option<u64> {
    let path = match process {
        Process::Own => "/proc/self/stat".to_string(),
        Process::Pid(pid) => format!("/proc/{pid}/stat"),
    };
    parse_ticks(&std::fs::read_to_string(path).ok()?)
}

/// utime + stime from a `/proc/PID/stat` line (proc(5): fields 14 and 15). The command name in
/// field 2 may hold spaces and parentheses, so fields are counted after its last `)`.
pub fn parse_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// A reading of one process's CPU time at one instant.
#[derive(Debug, Clone, Copy)]
pub struct Mark {
    process: Process,
    ticks: Option<u64>,
    at: Instant,
}

impl Mark {
    /// Reads `process` now.
    pub fn now(process: Process) -> Mark {
        Mark {
            process,
            ticks: ticks(process),
            at: Instant::now(),
        }
    }

    /// Cores `process` kept busy on average since this mark (1.0: one core all the time);
    /// `None` when either reading failed or no time passed.
    pub fn cores_since(&self) -> Option<f64> {
        let end = ticks(self.process)?;
        let spent = end.checked_sub(self.ticks?)? as f64 / TICKS_PER_SEC;
        let elapsed = self.at.elapsed();
        (elapsed > Duration::ZERO).then(|| spent / elapsed.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_read_after_the_command_name() {
        // A command name holding ") 1 2 3" must not shift the fields.
        let line = "4242 (a) 1 2 3) S 1 4242 4242 0 -1 4194560 500 0 0 0 1234 56 0 0 20 0 9 0 \
                    100 200000 300 18446744073709551615";
        assert_eq!(parse_ticks(line), Some(1290));
        assert_eq!(parse_ticks("4242 (x) S 1 2"), None);
        assert_eq!(parse_ticks("no parenthesis"), None);
    }

    #[test]
    fn a_busy_process_is_seen_using_cpu() {
        let mark = Mark::now(Process::Own);
        let mut x = 0u64;
        // Spin until the kernel has charged this process at least two ticks.
        while ticks(Process::Own)
            .zip(mark.ticks)
            .is_some_and(|(t, m)| t < m + 2)
        {
            x = std::hint::black_box(x.wrapping_add(1));
        }
        let cores = mark.cores_since().expect("this process's own /proc entry");
        assert!(cores > 0.0, "spinning used no CPU: {cores}");
        assert_eq!(ticks(Process::Pid(u32::MAX)), None, "no such process");
    }
}
