use std::process::ExitCode;

use clap::Parser as _;

fn main() -> ExitCode {
    let cli = tenantctl::Cli::parse();
    match tenantctl::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tenantctl::output::report_error(&err);
            ExitCode::from(err.exit_code())
        }
    }
}
