//! `erpgate killswitch on|off|status`: the global kill switch, persisted in the store.
//! A running gateway sees the change within one store poll interval.

use clap::{Args, ValueEnum};

use super::ConfigArg;

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
pub fn run(args: &KillswitchArgs) -> i32 {
    let (snapshot, mut store) = match super::config_and_store(&args.config.config) {
        Ok(x) => x,
        Err(c) => return c,
    };
    let master = match args.action {
        Action::Status => None,
        Action::On | Action::Off => match super::load_master(&snapshot) {
            Ok(m) => Some(m),
            Err(c) => return c,
        },
    };
    let actor = format!("cli:{}", whoami());
    let result = match args.action {
        Action::Status => store.killswitch().map(|on| {
            println!(
                "kill switch is {}",
                if on {
                    "ON: public API traffic is blocked"
                } else {
                    "off"
                }
            );
        }),
        Action::On | Action::Off => {
            let on = matches!(args.action, Action::On);
            store.set_killswitch(on, &actor).map(|prev| {
                let now = if on { "ON" } else { "off" };
                if prev == on {
                    println!("kill switch was already {now}");
                } else {
                    println!(
                        "kill switch is now {now} (running gateways apply it within a second)"
                    );
                }
            })
        }
    };
    if let Err(e) = result {
        return super::fail(e);
    }
    match (master, args.action) {
        (Some(m), Action::On | Action::Off) => {
            let verb = if matches!(args.action, Action::On) {
                "killswitch.on"
            } else {
                "killswitch.off"
            };
            match super::audit_admin(&mut store, &m, verb, "killswitch", None) {
                Ok(()) => 0,
                Err(c) => c,
            }
        }
        _ => 0,
    }
}

/// The operator, for recording who acted: the login name of the process's real uid (never
/// `$USER`); see [`super::operator`].
pub fn whoami() -> String {
    super::operator::whoami()
}
