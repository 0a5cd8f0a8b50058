//! `tenantctl completion SHELL` and `tenantctl man`: generated from the clap types, so they
//! never drift from `--help`.

use std::path::Path;

use clap::CommandFactory as _;

use crate::{
    cli::{Cli, CompletionArgs, ManArgs},
    error::Error,
    fs,
    output::{Output, progress, say},
};

/// Prints the completion script for `args.shell` on stdout.
pub fn completion(args: &CompletionArgs, out: &mut Output<'_>) -> Result<(), Error> {
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "tenantctl", &mut script);
    say!(out, "{}", String::from_utf8_lossy(&script).trim_end());
    Ok(())
}

/// Writes `tenantctl.1` and one page per subcommand (`tenantctl-pki-init.1`, …) to
/// `args.out_dir`, each replaced atomically.
pub fn man(args: &ManArgs, out: &mut Output<'_>) -> Result<(), Error> {
    fs::create_dirs(&args.out_dir)?;
    let mut written = Vec::new();
    write_pages(Cli::command(), "tenantctl", &args.out_dir, &mut written)?;
    progress!(
        out,
        "wrote {} man pages to {}",
        written.len(),
        args.out_dir.display()
    );
    for path in written {
        say!(out, "{path}");
    }
    Ok(())
}

fn write_pages(
    cmd: clap::Command,
    name: &str,
    dir: &Path,
    written: &mut Vec<String>,
) -> Result<(), Error> {
    let cmd = cmd.name(name.to_owned());
    let mut page = Vec::new();
    clap_mangen::Man::new(cmd.clone())
        .render(&mut page)
        .map_err(|source| Error::Write {
            path: dir.join(format!("{name}.1")),
            source,
        })?;
    let path = dir.join(format!("{name}.1"));
    fs::replace_file(&path, &page, false)?;
    written.push(path.display().to_string());
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        if sub.get_name() == "help" {
            continue;
        }
        let sub_name = format!("{name}-{}", sub.get_name());
        write_pages(sub.clone(), &sub_name, dir, written)?;
    }
    Ok(())
}
