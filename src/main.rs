//! Thin entry point: everything lives in the library.
fn main() -> std::process::ExitCode {
    // Die quietly when stdout is closed early (`scitex-orochi skills list | head`), as CLI tools do.
    #[cfg(unix)]
    // SAFETY: restoring the default disposition of SIGPIPE before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    scitex_orochi::cli::main()
}
