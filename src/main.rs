//! The `discogan` command: train, resume, translate, import and export.

mod cli;

fn main() -> std::process::ExitCode {
    discogan::malloc::tune();
    // Crash points of the fault-injection tests, from FAILPOINTS (nothing in a normal build).
    let _failpoints = fail::FailScenario::setup();
    // On one of rayon's workers: parallel operations then start where they run (src/threads.rs).
    let result = discogan::threads::on_worker(cli::run)
        .map_err(anyhow::Error::from)
        .and_then(|result| result);
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
