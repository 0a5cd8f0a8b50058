//! `tenantctl`: the command line over `pki-core` and `kubeconfig`. All I/O lives here.
//!
//! One folder per domain, dependencies pointing one way:
//!
//! - command domains — [`pki`] (the cluster PKI), [`tenant`] (tenants and their ledger),
//!   [`join`] (bootstrap tokens for node join), [`controller`] (Tenant objects reconciled in the
//!   cluster), [`webhook`] (the authorization webhook that denies revoked certificates),
//!   [`docs`] (completions and man pages) — read what they need, call pure planning functions,
//!   then write;
//! - service modules — [`cli`] (clap types), [`output`] (the only writer to stdout/stderr),
//!   [`fs`] (atomic writes, modes, locks), [`cluster`] (the only module that talks to an API
//!   server), [`error`], [`time`] — never import a command domain.

pub mod cli;
pub mod cluster;
pub mod controller;
pub mod docs;
pub mod error;
pub mod fs;
pub mod join;
pub mod output;
pub mod pki;
pub mod tenant;
pub mod time;
pub mod webhook;

pub use cli::{Cli, Command, ControllerCommand, PkiCommand, TokenCommand, WebhookCommand};
pub use error::{Error, ExitCodes};
pub use output::Output;

/// Runs a parsed command line on stdout and stderr.
pub fn run(cli: Cli) -> Result<(), Error> {
    output::with_stdio(|out| run_with(cli, out))
}

/// Runs a parsed command line: its result to `out`'s stdout side, messages to its stderr side.
pub fn run_with(cli: Cli, out: &mut Output<'_>) -> Result<(), Error> {
    match cli.command {
        Command::Pki(PkiCommand::Init(args)) => pki::init::run(&args, out),
        Command::Pki(PkiCommand::Check(args)) => pki::check::run(&args, out),
        Command::Pki(PkiCommand::Renew(args)) => pki::renew::run(&args, out),
        Command::Pki(PkiCommand::CaHash(args)) => pki::ca_hash::run(&args, out),
        Command::Pki(PkiCommand::Csr(args)) => pki::csr::run(&args, out),
        Command::Pki(PkiCommand::UploadCerts(args)) => pki::upload_certs::run(&args, out),
        Command::Pki(PkiCommand::RotateCa(args)) => pki::rotate::run(&args, out),
        Command::Create(args) => tenant::create(&args, out),
        Command::Apply(args) => tenant::apply(&args, out),
        Command::List(args) => tenant::list(&args, out),
        Command::Show(args) => tenant::show(&args, out),
        Command::Renew(args) => tenant::renew(&args, out),
        Command::Revoke(args) => tenant::revoke(&args, out),
        Command::Token(TokenCommand::Create(args)) => join::token::create(&args, out),
        Command::Token(TokenCommand::List(args)) => join::token::list(&args, out),
        Command::Token(TokenCommand::Delete(args)) => join::token::delete(&args, out),
        Command::BootstrapSetup(args) => join::bootstrap_setup::run(&args, out),
        Command::Join(args) => join::node::run(&args, out),
        Command::Controller(ControllerCommand::Run(args)) => controller::run(&args, out),
        Command::Controller(ControllerCommand::Manifests(args)) => {
            controller::manifests(&args, out)
        }
        Command::Webhook(WebhookCommand::Setup(args)) => webhook::setup::run(&args, out),
        Command::Webhook(WebhookCommand::Serve(args)) => webhook::serve(&args, out),
        Command::Webhook(WebhookCommand::Status(args)) => webhook::status::run(&args, out),
        Command::Completion(args) => docs::completion(&args, out),
        Command::Man(args) => docs::man(&args, out),
    }
}
