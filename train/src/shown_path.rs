//! Paths as the user should read them in messages: resolved (no `configs/../`), and relative
//! to the current folder when inside it, so they can be pasted into the next command.

use std::path::Path;

/// `path` resolved, relative to the current folder when it lies inside it.
pub fn shown(path: &Path) -> String {
    let resolved = std::fs::canonicalize(path)
        .or_else(|_| std::path::absolute(path))
        .unwrap_or_else(|_| path.to_path_buf());
    let here = std::env::current_dir().and_then(std::fs::canonicalize).ok();
    match here.as_deref().and_then(|here| resolved.strip_prefix(here).ok()) {
        Some(inside) if !inside.as_os_str().is_empty() => inside.display().to_string(),
        _ => resolved.display().to_string(),
    }
}

/// How to run this program again: `guardtune` when that is what `PATH` finds, else its path.
pub fn this_program() -> String {
    let Ok(exe) = std::env::current_exe() else { return "guardtune".into() };
    let on_path = std::env::var_os("PATH").is_some_and(|paths| {
        std::env::split_paths(&paths).any(|dir| {
            std::fs::canonicalize(dir.join("guardtune")).ok() == std::fs::canonicalize(&exe).ok()
        })
    });
    if on_path {
        "guardtune".into()
    } else {
        shown(&exe)
    }
}

/// `text` (a path, an argument) as one POSIX shell word: quoted when a shell would split or
/// expand it.
pub fn shell_word(text: impl AsRef<std::ffi::OsStr>) -> String {
    let text = text.as_ref().to_string_lossy();
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c);
    if !text.is_empty() && text.chars().all(plain) {
        text.into_owned()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn paths_are_resolved_and_made_relative_to_the_current_folder() {
        let here = std::env::current_dir().unwrap();
        let inside = here.join("src/../src/lib.rs");
        assert_eq!(shown(&inside), "src/lib.rs");
        assert_eq!(shown(Path::new("/")), "/");
        assert_eq!(shell_word(PathBuf::from("a b")), "'a b'");
        assert_eq!(shell_word("it's"), r"'it'\''s'");
        assert_eq!(shell_word(PathBuf::from("runs/x-1/adapter")), "runs/x-1/adapter");
    }
}
