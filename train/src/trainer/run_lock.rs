//! One process per run folder: an exclusive `flock` on `run.lock` in the folder, held for the
//! whole run. The file holds the owner's pid, so a refused process can say who holds it.
//!
//! The kernel releases the lock when the owner exits, however it exits, so a crashed run never
//! blocks the next one (its stale file is simply taken over). A run that ends normally removes
//! the file while still holding the lock; a process that opened the old file just before
//! and locks it after is detected (the path no longer names the file it locked) and retries.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

/// The lock file's name inside the run folder.
pub const LOCK_FILE: &str = "run.lock";

/// The held lock; released (and its file removed) on drop.
#[derive(Debug)]
pub struct RunLock {
    path: PathBuf,
    file: File,
    /// Whether this process created the file or wrote its pid into it; only then is the file
    /// removed on drop, so a refused run leaves a stale file of a crashed run as it was.
    owned: bool,
}

impl RunLock {
    /// Creates `run_dir` if needed and takes its lock, or says which process holds it. Nothing
    /// else in the folder is touched; the pid is written by [`RunLock::claim`].
    pub fn acquire(run_dir: &Path) -> Result<RunLock> {
        std::fs::create_dir_all(run_dir)
            .with_context(|| format!("{}: cannot create the run folder", run_dir.display()))?;
        let path = run_dir.join(LOCK_FILE);
        loop {
            let open = |create_new: bool| {
                let mut options = OpenOptions::new();
                options.read(true).write(true);
                if create_new {
                    options.create_new(true);
                }
                options.open(&path)
            };
            let (mut file, created) = match open(true) {
                Ok(file) => (file, true),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => match open(false) {
                    Ok(file) => (file, false),
                    // Removed by its owner in between: start over.
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) => Err(e).with_context(|| format!("{}: cannot open", path.display()))?,
                },
                Err(e) => Err(e).with_context(|| format!("{}: cannot create", path.display()))?,
            };
            if !try_lock_exclusive(&file)
                .with_context(|| format!("{}: cannot lock", path.display()))?
            {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = match holder.trim() {
                    "" => "a process that has not written its pid yet".to_string(),
                    pid => format!("pid {pid}"),
                };
                bail!(
                    "{} is in use by another guardtune process ({holder}; lock file {}): wait for it to finish or stop it",
                    run_dir.display(),
                    path.display()
                );
            }
            if names_same_file(&path, &file) {
                return Ok(RunLock { path, file, owned: created });
            }
            // The previous owner removed the file between our open and our lock: start over.
        }
    }

    /// Writes this process's pid into the lock file, for a refused process to name. Called once
    /// the run is allowed to change the folder (an empty lock file left by a refused resume
    /// would not leave the folder as it was).
    pub fn claim(&mut self) -> Result<()> {
        let write = |file: &mut File| -> std::io::Result<()> {
            file.set_len(0)?;
            file.rewind()?;
            writeln!(file, "{}", std::process::id())?;
            file.sync_data()
        };
        self.owned = true;
        write(&mut self.file).with_context(|| format!("{}: cannot write", self.path.display()))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        // Removed while still locked (the file is closed after this), see the module comment.
        if self.owned {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// `flock(LOCK_EX | LOCK_NB)`: true when taken, false when another open file holds it.
#[cfg(unix)]
fn try_lock_exclusive(file: &File) -> std::io::Result<bool> {
    use std::os::fd::AsRawFd;
    // Safety: flock only reads the descriptor number, which `file` keeps open.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
        return Ok(true);
    }
    let err = std::io::Error::last_os_error();
    if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
        Ok(false)
    } else {
        Err(err)
    }
}

/// Without `flock`, [`File::try_lock`] (the same exclusive advisory lock where the platform has
/// one).
#[cfg(not(unix))]
fn try_lock_exclusive(file: &File) -> std::io::Result<bool> {
    match file.try_lock() {
        Ok(()) => Ok(true),
        Err(std::fs::TryLockError::WouldBlock) => Ok(false),
        Err(std::fs::TryLockError::Error(e)) => Err(e),
    }
}

/// Whether `path` still names the open `file` (same device and inode).
#[cfg(unix)]
fn names_same_file(path: &Path, file: &File) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(path), file.metadata()) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

#[cfg(not(unix))]
fn names_same_file(path: &Path, _file: &File) -> bool {
    path.exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_the_same_folder_is_refused_with_the_pid() {
        let dir = tempfile::tempdir().unwrap();
        let mut first = RunLock::acquire(dir.path()).unwrap();
        first.claim().unwrap();
        let err = RunLock::acquire(dir.path()).unwrap_err().to_string();
        assert!(err.contains(&format!("pid {}", std::process::id())), "{err}");
        drop(first);
        assert!(!dir.path().join(LOCK_FILE).exists(), "the lock file is removed on release");
        let again = RunLock::acquire(dir.path()).unwrap();
        assert!(again.path().exists());
    }

    #[test]
    fn a_stale_lock_file_of_a_dead_process_is_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(LOCK_FILE), "999999\n").unwrap();
        let unclaimed = RunLock::acquire(dir.path()).unwrap();
        drop(unclaimed);
        let stale = std::fs::read_to_string(dir.path().join(LOCK_FILE)).unwrap();
        assert_eq!(stale, "999999\n", "an unclaimed lock leaves a stale file as it was");
        let mut lock = RunLock::acquire(dir.path()).unwrap();
        lock.claim().unwrap();
        let text = std::fs::read_to_string(lock.path()).unwrap();
        assert_eq!(text.trim(), std::process::id().to_string());
    }
}
