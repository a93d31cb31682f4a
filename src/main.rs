//! The `erpgate` binary: argument parsing only; every subcommand lives in `erpgate::cli`.

use std::io::Write;

use clap::Parser;
use erpgate::allocator::NotTuned;

fn main() {
    let cli = erpgate::cli::Cli::parse();
    if cli.runs_gateway() {
        // Before any thread starts: the gateway runs with its allocator settings
        // (`erpgate::allocator`); this returns only when they are in force already, when the
        // operator chose others, or when starting again failed.
        match erpgate::allocator::reexec_tuned() {
            Ok(()) => {}
            Err(e @ NotTuned::Locate(_)) => {
                let _ = writeln!(
                    std::io::stderr(),
                    "erpgate: allocator settings not applied ({e}); glibc's defaults apply"
                );
            }
            Err(e @ NotTuned::Exec(_)) => {
                let _ = writeln!(
                    std::io::stderr(),
                    "erpgate: {e}. It starts itself once more to apply its allocator settings \
                     (GLIBC_TUNABLES); set GLIBC_TUNABLES yourself (empty for glibc's defaults) \
                     to start without that step"
                );
                std::process::exit(1);
            }
        }
    }
    std::process::exit(erpgate::cli::run(cli));
}
