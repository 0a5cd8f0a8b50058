//! `tenantctl`: the command line over `pki-core` and `kubeconfig`. All I/O lives here.

mod cli;
mod error;
pub mod fs;
mod kubeconfigs;
mod pki_init;

pub use cli::{Cli, Command, InitArgs, PkiCommand, parse_duration};
pub use error::{Error, ExitCodes};

/// Runs a parsed command line, printing to stdout.
pub fn run(cli: Cli) -> Result<(), Error> {
    run_with_output(cli, &mut std::io::stdout().lock())
}

/// Runs a parsed command line, printing to `out`.
pub fn run_with_output(cli: Cli, out: &mut impl std::io::Write) -> Result<(), Error> {
    match cli.command {
        Command::Pki(PkiCommand::Init(args)) => pki_init::run(&args, out),
    }
}
