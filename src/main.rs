//! The `erpgate` binary: argument parsing only; every subcommand lives in `erpgate::cli`.

use clap::Parser;

fn main() {
    let cli = erpgate::cli::Cli::parse();
    std::process::exit(erpgate::cli::run(cli));
}
