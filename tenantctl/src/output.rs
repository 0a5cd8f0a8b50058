//! The only place that writes to stdout and stderr.
//!
//! stdout carries the command's result and nothing else: a table, a JSON or YAML document
//! (`-o json|yaml`), a kubeconfig-free summary line. Everything meant for the person at the
//! terminal — progress, warnings, notes, hints, the error report — goes to stderr, so that
//! `tenantctl … -o json | jq` always parses.

use std::{
    fmt,
    io::{self, IsTerminal as _, Write},
    path::PathBuf,
};

use serde::Serialize;

use crate::{cli::Format, error::Error};

/// Where a command writes: its result (stdout) and its messages for people (stderr).
pub struct Output<'a> {
    result: &'a mut dyn Write,
    messages: &'a mut dyn Write,
    /// `messages` is a terminal: progress may be drawn as a bar.
    terminal: bool,
}

impl<'a> Output<'a> {
    /// Results to `result`, messages to `messages` (in tests: two buffers).
    pub fn new(result: &'a mut dyn Write, messages: &'a mut dyn Write) -> Self {
        Self {
            result,
            messages,
            terminal: false,
        }
    }

    /// A progress bar over `len` steps on stderr when it is a terminal; otherwise nothing is
    /// drawn (a log or a pipe gets the result and the warnings only).
    pub fn bar(&self, len: u64, what: &str) -> Bar {
        if !self.terminal {
            return Bar(None);
        }
        let bar = indicatif::ProgressBar::with_draw_target(
            Some(len),
            indicatif::ProgressDrawTarget::stderr(),
        );
        let style = indicatif::ProgressStyle::with_template(
            "{prefix} [{bar:30}] {pos}/{len} {per_sec} {msg} (eta {eta})",
        )
        .map(|s| s.progress_chars("=> "))
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
        bar.set_style(style);
        bar.set_prefix(what.to_owned());
        Bar(Some(bar))
    }

    /// One line of the result. A failed write (a closed pipe) is an error: the result is lost.
    pub fn line(&mut self, args: fmt::Arguments<'_>) -> Result<(), Error> {
        writeln!(self.result, "{args}").map_err(stdout_error)
    }

    /// A progress line for people. A closed stderr is not worth failing the command for.
    pub fn progress(&mut self, args: fmt::Arguments<'_>) {
        let _ = writeln!(self.messages, "{args}");
    }

    /// `warning: …` on stderr.
    pub fn warning(&mut self, message: impl fmt::Display) {
        self.labelled("warning", message);
    }

    /// `note: …` on stderr.
    pub fn note(&mut self, message: impl fmt::Display) {
        self.labelled("note", message);
    }

    /// `LABEL: message` on stderr.
    fn labelled(&mut self, label: &str, message: impl fmt::Display) {
        let _ = writeln!(self.messages, "{label}: {message}");
    }

    /// Rows as a table on stdout: columns padded to their widest cell, three spaces apart.
    pub fn table<const N: usize>(&mut self, rows: &[[String; N]]) -> Result<(), Error> {
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
            self.line(format_args!("{}", line.trim_end()))?;
        }
        Ok(())
    }

    /// `value` as the result in `format`; `table` renders the human form.
    pub fn document<T: Serialize>(
        &mut self,
        format: Format,
        value: &T,
        table: impl FnOnce(&mut Self, &T) -> Result<(), Error>,
    ) -> Result<(), Error> {
        match format {
            Format::Json => self.line(format_args!("{}", json(value)?)),
            Format::Yaml => self.line(format_args!("{}", yaml(value)?.trim_end())),
            Format::Table => table(self, value),
        }
    }
}

/// Runs `f` with stdout and stderr locked for the whole command.
pub fn with_stdio<T>(f: impl FnOnce(&mut Output<'_>) -> T) -> T {
    let mut stdout = io::stdout().lock();
    let mut stderr = io::stderr().lock();
    let mut out = Output::new(&mut stdout, &mut stderr);
    out.terminal = io::stderr().is_terminal();
    let result = f(&mut out);
    let _ = stdout.flush();
    result
}

/// A progress bar on a terminal's stderr, or nothing.
pub struct Bar(Option<indicatif::ProgressBar>);

impl Bar {
    /// One step done; `message` says how the counts stand.
    pub fn step(&self, message: impl FnOnce() -> String) {
        if let Some(bar) = &self.0 {
            bar.set_message(message());
            bar.inc(1);
        }
    }

    /// Runs `f` (which writes to stderr) with the bar out of the way.
    pub fn suspend<T>(&self, f: impl FnOnce() -> T) -> T {
        match &self.0 {
            Some(bar) => bar.suspend(f),
            None => f(),
        }
    }

    /// Removes the bar.
    pub fn finish(&self) {
        if let Some(bar) = &self.0 {
            bar.finish_and_clear();
        }
    }
}

/// One line for people on stderr, from code that has no [`Output`] at hand (the cluster
/// client's retry lines).
pub fn message(line: &str) {
    let _ = writeln!(io::stderr().lock(), "{line}");
}

/// The error report on stderr: the error, each cause on its own line, then a hint.
pub fn report_error(err: &Error) {
    let (mut none, mut stderr) = (io::sink(), io::stderr().lock());
    let mut out = Output::new(&mut none, &mut stderr);
    out.labelled("error", err);
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        out.labelled("  caused by", cause);
        source = cause.source();
    }
    if let Some(hint) = err.hint() {
        out.labelled("hint", hint);
    }
}

/// Pretty JSON.
pub fn json(value: &impl Serialize) -> Result<String, Error> {
    serde_json::to_string_pretty(value).map_err(|e| Error::Manifest {
        message: e.to_string(),
    })
}

/// YAML, as kubectl prints it.
pub fn yaml(value: &impl Serialize) -> Result<String, Error> {
    serde_saphyr::to_string(value).map_err(|e| Error::Manifest {
        message: e.to_string(),
    })
}

fn stdout_error(source: io::Error) -> Error {
    Error::Write {
        path: PathBuf::from("<stdout>"),
        source,
    }
}

/// A line of the result on stdout; `?` on a failed write.
macro_rules! say {
    ($out:expr, $($arg:tt)*) => {
        $out.line(format_args!($($arg)*))?
    };
}

/// A progress line on stderr.
macro_rules! progress {
    ($out:expr, $($arg:tt)*) => {
        $out.progress(format_args!($($arg)*))
    };
}

pub(crate) use {progress, say};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_and_messages_go_to_their_own_streams() {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let mut o = Output::new(&mut out, &mut err);
        o.warning("careful");
        o.note("fyi");
        progress!(o, "step {}", 1);
        o.table(&[["A".into(), "BB".into()], ["ccc".into(), "d".into()]])
            .unwrap();
        o.document(Format::Json, &serde_json::json!({"k": 1}), |_, _| Ok(()))
            .unwrap();
        let out = String::from_utf8(out).unwrap();
        let err = String::from_utf8(err).unwrap();
        assert_eq!(out, "A     BB\nccc   d\n{\n  \"k\": 1\n}\n");
        assert_eq!(err, "warning: careful\nnote: fyi\nstep 1\n");
    }
}
