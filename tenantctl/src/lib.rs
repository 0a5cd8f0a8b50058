//! `tenantctl`: the command line over `pki-core` and `kubeconfig`. All I/O lives here.

mod cli;
pub mod cluster;
mod create;
pub mod credentials;
mod error;
pub mod fs;
pub mod kubeadm_config;
mod kubeconfigs;
mod lifecycle;
mod pki_init;
pub mod pki_ops;
pub mod tenant;

pub use cli::{
    CaHashArgs, CheckArgs, Cli, ClusterArgs, Command, CreateArgs, CsrArgs, Format, InitArgs,
    ListArgs, PkiArgs, PkiCommand, PkiRenewArgs, RenewArgs, RevokeArgs, ShowArgs, SignerKind,
    parse_duration,
};
pub use create::{CreatePlan, create_online, verify};
pub use error::{Error, ExitCodes};
pub use lifecycle::{print_list, print_record, renew_online, revoke_online};

/// Writes a line to the command's output; a failed write is an [`Error::Write`] on `<stdout>`.
#[macro_export]
#[doc(hidden)]
macro_rules! say {
    ($out:expr, $($arg:tt)*) => {
        writeln!($out, $($arg)*).map_err(|source| $crate::Error::Write {
            path: std::path::PathBuf::from("<stdout>"),
            source,
        })?
    };
}

/// Runs a future on a single-threaded tokio runtime (the CLI's cluster calls are sequential).
pub(crate) fn block_on<T>(fut: impl Future<Output = Result<T, Error>>) -> Result<T, Error> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|source| Error::Write {
            path: std::path::PathBuf::from("<tokio runtime>"),
            source,
        })?
        .block_on(fut)
}

/// Runs a parsed command line, printing to stdout.
pub fn run(cli: Cli) -> Result<(), Error> {
    run_with_output(cli, &mut std::io::stdout().lock())
}

/// Runs a parsed command line, printing to `out`.
pub fn run_with_output(cli: Cli, out: &mut impl std::io::Write) -> Result<(), Error> {
    match cli.command {
        Command::Pki(PkiCommand::Init(args)) => pki_init::run(&args, out),
        Command::Pki(PkiCommand::Check(args)) => pki_ops::check(&args, out),
        Command::Pki(PkiCommand::Renew(args)) => pki_ops::renew(&args, out),
        Command::Pki(PkiCommand::CaHash(args)) => pki_ops::ca_hash(&args, out),
        Command::Pki(PkiCommand::Csr(args)) => pki_ops::csr(&args, out),
        Command::Create(args) => create::run(&args, out),
        Command::List(args) => lifecycle::list(&args, out),
        Command::Show(args) => lifecycle::show(&args, out),
        Command::Renew(args) => lifecycle::renew(&args, out),
        Command::Revoke(args) => lifecycle::revoke(&args, out),
    }
}

/// Prints rows as a table: columns padded to their widest cell, three spaces apart.
pub(crate) fn print_table<const N: usize>(
    rows: &[[String; N]],
    out: &mut impl std::io::Write,
) -> Result<(), Error> {
    let mut widths = [0usize; N];
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    for row in rows {
        let mut line = String::new();
        for (cell, w) in row.iter().zip(widths) {
            line.push_str(&format!("{cell:<w$}   "));
        }
        say!(out, "{}", line.trim_end());
    }
    Ok(())
}
