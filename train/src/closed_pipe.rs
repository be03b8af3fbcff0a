//! `guardtune ... | head` ends quietly when the reader goes away.
//!
//! Rust ignores SIGPIPE, so a write to a closed pipe returns an error, and `println!` panics on
//! it (exit code 101 and a panic message). Restoring the default action makes the process end
//! the way `cat` or `grep` do: killed by SIGPIPE, silently, as soon as nobody reads its output.
//! Checkpoints, results and exports are written to a staging name and renamed into place, so a
//! run ended this way leaves no half-written file. (Sockets are not affected: the standard
//! library sends with MSG_NOSIGNAL.)

/// Restores the default SIGPIPE action; call once at start-up.
pub fn end_quietly_on_closed_pipe() {
    #[cfg(unix)]
    // Safety: sets a signal's disposition to its default, before any other thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
