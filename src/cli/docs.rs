//! `erpgate completions SHELL` and `erpgate man`: shell completions and a man page generated
//! from the CLI definition itself, so they never drift from it.

use clap::{Args, CommandFactory, ValueEnum};

use super::{Cli, CliResult};

/// `erpgate completions`.
#[derive(Args, Debug)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    pub shell: Shell,
}

/// Shells completions are generated for.
#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum Shell {
    /// bash (source it, or put it in /etc/bash_completion.d/erpgate).
    Bash,
    /// zsh (put it in a directory of `$fpath` as `_erpgate`).
    Zsh,
    /// fish (put it in ~/.config/fish/completions/erpgate.fish).
    Fish,
}

/// Prints the completion script for `args.shell`.
pub fn completions(args: &CompletionsArgs) -> CliResult {
    let shell = match args.shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
    };
    let mut cmd = Cli::command();
    // Into memory first: the generator panics on a failed write (a closed pipe).
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, "erpgate", &mut out);
    use std::io::Write as _;
    std::io::stdout().write_all(&out).map_err(super::failed)
}

/// Prints the man page (roff): `erpgate man > /usr/share/man/man1/erpgate.1`.
pub fn man() -> CliResult {
    let page = clap_mangen::Man::new(Cli::command());
    let mut out = Vec::new();
    page.render(&mut out)
        .and_then(|()| {
            // Each subcommand gets its own section after the main page.
            for sub in Cli::command().get_subcommands() {
                let name = format!("erpgate-{}", sub.get_name());
                clap_mangen::Man::new(sub.clone())
                    .title(name)
                    .render(&mut out)?;
            }
            Ok(())
        })
        .map_err(super::failed)?;
    use std::io::Write as _;
    std::io::stdout().write_all(&out).map_err(super::failed)
}
