//! `erpgate killswitch on|off|status`: the global kill switch, persisted in the store.
//! A running gateway sees the change within one store poll interval.

use clap::{Args, ValueEnum};

use super::{CliResult, ConfigArg};
use crate::service::killswitch;

/// Arguments of `erpgate killswitch`.
#[derive(Args, Debug)]
pub struct KillswitchArgs {
    /// on, off or status.
    pub action: Action,
    #[command(flatten)]
    config: ConfigArg,
}

/// What to do with the kill switch.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Action {
    /// Block all public API traffic.
    On,
    /// Resume public API traffic.
    Off,
    /// Show the current state.
    Status,
}

/// Runs the command.
pub fn run(args: &KillswitchArgs) -> CliResult {
    let (snapshot, mut store) = super::config_and_store(&args.config.config)?;
    let on = match args.action {
        Action::Status => {
            let on = store.killswitch()?;
            println!(
                "kill switch is {}",
                if on {
                    "ON: public API traffic is blocked"
                } else {
                    "off"
                }
            );
            return Ok(());
        }
        Action::On => true,
        Action::Off => false,
    };
    let master = super::load_master(&snapshot)?;
    let mut op = super::operator(&mut store, &master);
    killswitch::set(&mut op, on, |&prev| {
        let now = if on { "ON" } else { "off" };
        if prev == on {
            println!("kill switch was already {now}");
        } else {
            println!("kill switch is now {now} (running gateways apply it within a second)");
        }
    })?;
    Ok(())
}

/// The operator, for recording who acted: the login name of the process's real uid (never
/// `$USER`); see [`super::operator`].
pub fn whoami() -> String {
    super::operator::whoami()
}
