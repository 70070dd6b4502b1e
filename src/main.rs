//! The `discogan` command: train, resume, translate, import and export.

mod cli;

fn main() -> std::process::ExitCode {
    discogan::malloc::tune();
    // Crash points of the fault-injection tests, from FAILPOINTS (nothing in a normal build).
    let _failpoints = fail::FailScenario::setup();
    match cli::run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
