//! A graceful stop for `guardtune train`: the first SIGINT or SIGTERM only raises a flag, which
//! the trainer reads after each optimizer step (it then writes a checkpoint and returns
//! [`Stopped`]); a second one ends the process at once, which is safe because checkpoints are
//! written atomically. Until [`install`] is called (the command line calls it for `train` only)
//! signals keep their default effect and [`requested`] is always false.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use anyhow::{Context, Result};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::flag;

/// Raised by the first signal; the signal's number.
struct Flags {
    raised: Arc<AtomicBool>,
    signal: Arc<AtomicUsize>,
}

static FLAGS: OnceLock<Flags> = OnceLock::new();

/// Installs the handlers (once per process; later calls do nothing).
pub fn install() -> Result<()> {
    if FLAGS.get().is_some() {
        return Ok(());
    }
    let flags = Flags { raised: Arc::new(AtomicBool::new(false)), signal: Arc::default() };
    for signal in [SIGINT, SIGTERM] {
        // Registered first, so it sees the flag before this signal raises it: only a second
        // signal exits, with the shell's code for death by that signal.
        flag::register_conditional_shutdown(signal, 128 + signal, Arc::clone(&flags.raised))
            .and_then(|_| flag::register_usize(signal, Arc::clone(&flags.signal), signal as usize))
            .and_then(|_| flag::register(signal, Arc::clone(&flags.raised)))
            .with_context(|| format!("cannot handle signal {}", name(signal)))?;
    }
    let _ = FLAGS.set(flags);
    Ok(())
}

/// Whether a stop was asked for.
pub fn requested() -> bool {
    FLAGS.get().is_some_and(|f| f.raised.load(Ordering::SeqCst))
}

/// The error a run stopped on request ends with, once its checkpoint is written.
#[derive(Debug)]
pub struct Stopped {
    /// SIGINT or SIGTERM.
    pub signal: i32,
    /// Optimizer steps done (all saved in `checkpoint`).
    pub step: usize,
    pub checkpoint: PathBuf,
}

impl Stopped {
    /// The stop asked for by the signal received, after `step` steps saved in `checkpoint`.
    pub fn after(step: usize, checkpoint: PathBuf) -> Stopped {
        let signal = FLAGS.get().map_or(SIGINT, |f| f.signal.load(Ordering::SeqCst) as i32);
        Stopped { signal, step, checkpoint }
    }

    /// The conventional exit code: 128 + the signal's number (130 for SIGINT, 143 for SIGTERM).
    pub fn exit_code(&self) -> u8 {
        (128 + self.signal) as u8
    }
}

impl std::fmt::Display for Stopped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "stopped by {} after step {}; checkpoint saved in {}",
            name(self.signal),
            self.step,
            self.checkpoint.display()
        )
    }
}

impl std::error::Error for Stopped {}

fn name(signal: i32) -> &'static str {
    match signal {
        SIGINT => "SIGINT",
        SIGTERM => "SIGTERM",
        _ => "a signal",
    }
}
