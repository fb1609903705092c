//! Thin entry point: everything lives in the library, which forbids `unsafe`; the one process-wide
//! signal setting that needs it is made here, before any thread starts.

use clap::Parser;
use scitex_orochi::cli::Cli;

/// glibc's malloc took a fifth of the hub's CPU while a fleet reconnected (perf): its arenas'
/// locks and trims. mimalloc keeps free lists per thread.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    #[cfg(unix)]
    if !cli.is_long_running() {
        // SAFETY: no other thread exists yet; SIG_DFL is a valid disposition for SIGPIPE.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    scitex_orochi::cli::run(cli)
}
