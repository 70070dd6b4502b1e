//! The `discogan` command: train, resume, translate, import and export.

mod cli;

fn main() -> std::process::ExitCode {
    discogan::malloc::tune();
    // Crash points of the fault-injection tests, from FAILPOINTS (nothing in a normal build).
    let _failpoints = fail::FailScenario::setup();
    match on_worker_thread(cli::run) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Runs `command` on one of rayon's worker threads when the pool has more than one.
///
/// Every parallel operation started from outside the pool (the main thread) is injected into
/// it and then waited for on a lock: two thread wake-ups per operation, thousands of them an
/// iteration. Started from a worker, the operation is split in place and the other workers
/// steal their part. With the paper networks that took the process from about 40,000 context
/// switches to 7,000 in a `bench` run (`perf stat -e context-switches`, 2-core AMD EPYC).
/// With one thread the command stays on the main thread: the worker would block waiting for
/// the data loader's thread, whose own parallel work would then have no thread to run on.
fn on_worker_thread(command: impl FnOnce() -> anyhow::Result<()> + Send) -> anyhow::Result<()> {
    // Larger stacks than rayon's default (the main thread's 8 MiB): the command's call depth
    // was sized for the main thread.
    rayon::ThreadPoolBuilder::new()
        .stack_size(8 << 20)
        .build_global()
        .map_err(|error| anyhow::anyhow!("cannot start the worker threads: {error}"))?;
    if rayon::current_num_threads() > 1 {
        rayon::scope(|_| command())
    } else {
        command()
    }
}
