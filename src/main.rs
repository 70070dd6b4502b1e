//! The `discogan` command: train, resume, translate, import and export.

mod cli;

// Training frees and reallocates the same large tensors every iteration; mimalloc keeps and
// reuses that memory where the system allocator returns it to the kernel and takes fresh,
// zeroed pages again (BENCHMARKS.md).
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    match cli::run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
