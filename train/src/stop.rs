//! A graceful stop for `guardtune train`: the first SIGINT or SIGTERM only raises a flag, which
//! the trainer reads after each optimizer step (it then writes a checkpoint and returns
//! [`Stopped`]) and before each (a signal during setup or a checkpoint's writing: nothing new to
//! save); a second one ends the process at once, which is safe because checkpoints are
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

/// The error a run stopped on request ends with.
#[derive(Debug)]
pub struct Stopped {
    /// SIGINT or SIGTERM.
    pub signal: i32,
    /// Optimizer steps done (all saved).
    pub step: usize,
    /// Where they are saved: the checkpoint written on the way out, or the newest one when the
    /// signal came between steps (`None` before the first checkpoint).
    pub checkpoint: Option<PathBuf>,
    /// Whether `checkpoint` was written because of the signal.
    pub written: bool,
}

impl Stopped {
    /// Stopped after `step` steps, saved on the way out in `checkpoint`.
    pub fn after(step: usize, checkpoint: PathBuf) -> Stopped {
        Stopped { signal: received(), step, checkpoint: Some(checkpoint), written: true }
    }

    /// Stopped before step `step` (0-based) began, with nothing left to save: every step done
    /// is in `last`, the newest checkpoint, if any.
    pub fn before(step: usize, last: Option<PathBuf>) -> Stopped {
        Stopped { signal: received(), step, checkpoint: last, written: false }
    }

    /// The conventional exit code: 128 + the signal's number (130 for SIGINT, 143 for SIGTERM).
    pub fn exit_code(&self) -> u8 {
        (128 + self.signal) as u8
    }
}

/// The signal that raised the flag.
fn received() -> i32 {
    FLAGS.get().map_or(SIGINT, |f| f.signal.load(Ordering::SeqCst) as i32)
}

impl std::fmt::Display for Stopped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let signal = name(self.signal);
        match (&self.checkpoint, self.written) {
            (Some(dir), true) => write!(
                f,
                "stopped by {signal} after step {}; checkpoint saved in {}",
                self.step,
                dir.display()
            ),
            (Some(dir), false) => write!(
                f,
                "stopped by {signal} before step {}; nothing new to save (the last checkpoint is {})",
                self.step + 1,
                dir.display()
            ),
            (None, _) => write!(
                f,
                "stopped by {signal} before step {}; no checkpoint yet, nothing to save",
                self.step + 1
            ),
        }
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
