use std::process::ExitCode;

use clap::Parser as _;

fn main() -> ExitCode {
    let cli = tenantctl::Cli::parse();
    match tenantctl::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        // The reader of stdout went away (`| head`): as for any Unix filter, not an error.
        Err(err) if err.is_broken_pipe() => ExitCode::SUCCESS,
        Err(err) => {
            tenantctl::output::report_error(&err);
            ExitCode::from(err.exit_code())
        }
    }
}
