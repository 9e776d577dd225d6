//! Standard output that tolerates its reader going away (`healthchain … | head`):
//! `println!` would panic; here later output is dropped and the command finishes normally,
//! so its clean-up (stopping the enclave process, removing temporary files) still runs.

use std::io::{ErrorKind, Write};
use std::sync::atomic::{AtomicBool, Ordering};

static READER_GONE: AtomicBool = AtomicBool::new(false);

/// Writes `text` to standard output. After a closed pipe, output is dropped; any other
/// write failure ends the program with an error message.
pub fn write(text: std::fmt::Arguments<'_>) {
    if READER_GONE.load(Ordering::Relaxed) {
        return;
    }
    let mut stdout = std::io::stdout().lock();
    if let Err(error) = stdout.write_fmt(text).and_then(|()| stdout.flush()) {
        if error.kind() == ErrorKind::BrokenPipe {
            READER_GONE.store(true, Ordering::Relaxed);
            return;
        }
        eprintln!("error: cannot write to standard output: {error}");
        std::process::exit(1);
    }
}

/// `println!` through [`write`].
macro_rules! say {
    () => { $crate::output::write(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::output::write(format_args!("{}\n", format_args!($($arg)*))) };
}
pub(crate) use say;

/// An amount of wei in ether, without trailing zeros ("0.000005", "12").
pub fn ether(wei: alloy_primitives::U256) -> String {
    let text = alloy_primitives::utils::format_ether(wei);
    match text.split_once('.') {
        Some((whole, fraction)) if fraction.trim_end_matches('0').is_empty() => whole.to_string(),
        Some((whole, fraction)) => format!("{whole}.{}", fraction.trim_end_matches('0')),
        None => text,
    }
}

/// Progress of a long operation on standard error: an `indicatif` bar on a terminal, one
/// line per step otherwise (so logs and CI show it too).
pub struct Progress {
    bar: Option<indicatif::ProgressBar>,
    label: String,
    unit: &'static str,
    total: usize,
}

impl Progress {
    /// `total` steps of `unit` (e.g. "versions") under `label`.
    pub fn new(label: impl Into<String>, total: usize, unit: &'static str) -> Progress {
        let label = label.into();
        let bar = std::io::IsTerminal::is_terminal(&std::io::stderr()).then(|| {
            let style = indicatif::ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} {prefix} ({elapsed})")
                .expect("a valid progress template")
                .progress_chars("#>-");
            let bar = indicatif::ProgressBar::new(total as u64).with_style(style).with_message(label.clone());
            bar.set_prefix(unit);
            bar
        });
        Progress { bar, label, unit, total }
    }

    /// `done` of the steps are done.
    pub fn set(&self, done: usize) {
        match &self.bar {
            Some(bar) => {
                bar.set_position(done as u64);
                if done >= self.total {
                    bar.finish();
                }
            }
            None => eprintln!("{}: {} {done}/{}", self.label, self.unit.trim_end_matches('s'), self.total),
        }
    }
}
