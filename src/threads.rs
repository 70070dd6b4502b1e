//! The thread a command runs on: one of rayon's workers, not the main thread.
//!
//! Every parallel operation started from outside rayon's pool is injected into it, and the
//! calling thread then sleeps on a lock until a worker has finished it: two thread wake-ups per
//! operation, thousands of operations per training iteration. Started from a worker, the
//! operation is split in place and the other workers steal their part, while the caller works
//! on its own. In a `discogan bench --preset paper` run (`perf stat -e context-switches`, 2-core
//! AMD EPYC) that took the process from about 40,000 context switches to 7,000 (BENCHMARKS.md).
//!
//! The binary runs its whole command through [`on_worker`], and so do the timing programs of
//! `examples/`, so that what they time is what the binary runs.

use crate::error::{Error, Result};

/// Stack of rayon's workers: the main thread's 8 MiB, since the command's call depth was
/// sized for the main thread (rayon's default is the platform's 2 MiB for spawned threads).
const WORKER_STACK: usize = 8 << 20;

/// Starts rayon's global pool (threads from `RAYON_NUM_THREADS`, else one per logical CPU) and
/// runs `work` on one of its workers; with a single worker, on the calling thread instead.
///
/// Why not with one: a command that waits on a thread of its own which itself runs parallel
/// work (the data loader's prefetch thread) would hold the only worker while that work waits
/// for it: the run hung (`tests/run.rs`, one worker thread).
///
/// # Errors
/// [`Error::Threads`] if the pool was already started (call this once, first thing) or its
/// threads could not be spawned.
pub fn on_worker<R: Send>(work: impl FnOnce() -> R + Send) -> Result<R> {
    rayon::ThreadPoolBuilder::new()
        .stack_size(WORKER_STACK)
        .build_global()
        .map_err(Error::Threads)?;
    Ok(if rayon::current_num_threads() > 1 {
        // Outside the pool, `scope` injects its body into it and waits: the body runs on a
        // worker, and everything parallel inside it starts from there.
        rayon::scope(|_| work())
    } else {
        work()
    })
}
