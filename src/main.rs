//! The `erpgate` binary: argument parsing only; every subcommand lives in `erpgate::cli`.

use clap::Parser;

fn main() {
    let cli = erpgate::cli::Cli::parse();
    if cli.runs_gateway() {
        // Before any thread starts: the gateway runs with its allocator settings
        // (`erpgate::allocator`); this returns only when they are in force already, when the
        // operator chose others, or when starting again failed.
        if let Err(e) = erpgate::allocator::reexec_tuned() {
            eprintln!(
                "erpgate: cannot start with the allocator settings ({e}); glibc's defaults apply"
            );
        }
    }
    std::process::exit(erpgate::cli::run(cli));
}
