//! Flags of `completion` and `man`.

use std::path::PathBuf;

use clap::Args;
use clap_complete::Shell;

pub(super) const COMPLETION_HELP: &str = "\
Install:
  bash        tenantctl completion bash > /etc/bash_completion.d/tenantctl
              (or, for this shell only: source <(tenantctl completion bash))
  zsh         tenantctl completion zsh > \"${fpath[1]}/_tenantctl\"
  fish        tenantctl completion fish > ~/.config/fish/completions/tenantctl.fish
  powershell  tenantctl completion powershell | Out-String | Invoke-Expression";

/// Flags of `completion`.
#[derive(Debug, Args)]
pub struct CompletionArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: Shell,
}

/// Flags of `man`.
#[derive(Debug, Args)]
pub struct ManArgs {
    /// Where to write the pages (created if missing); existing pages are replaced.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub out_dir: PathBuf,
}
