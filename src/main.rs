//! Thin entry point: everything lives in the library.
fn main() -> std::process::ExitCode {
    scitex_orochi::cli::main()
}
