//! An output folder written as a whole: the files go into a staging folder beside it, which
//! replaces it only once everything is written. A folder that already holds files is refused
//! unless `force` is given, and is then replaced, so no file of an earlier export (a
//! `model.safetensors` beside a new sharded index, which transformers would load instead)
//! survives. A failed write leaves the old folder as it was.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

/// The staging folder of an output folder; removed on drop unless committed.
#[derive(Debug)]
pub struct StagedDir {
    out: PathBuf,
    /// A uniquely named hidden folder beside `out` (so the final rename stays on one file
    /// system); `TempDir` removes it on drop, so a failed export leaves nothing behind.
    staging: tempfile::TempDir,
}

impl StagedDir {
    /// Prepares to write `out`. Refuses a non-empty `out` without `force`, and with it an `out`
    /// that is or contains one of `inputs` (the folders being read).
    pub fn new(out: &Path, force: bool, inputs: &[&Path]) -> Result<StagedDir> {
        let out = absolute(out)?;
        if out.exists() && !out.is_dir() {
            bail!("{} exists and is not a folder", out.display());
        }
        let holds_files = out.is_dir()
            && std::fs::read_dir(&out)
                .with_context(|| format!("{}: cannot read", out.display()))?
                .next()
                .is_some();
        if holds_files && !force {
            bail!(
                "{} is not empty: pass --force to replace everything in it, or choose another folder",
                out.display()
            );
        }
        for input in inputs {
            if let Ok(input) = std::fs::canonicalize(input) {
                if input.starts_with(&out) {
                    bail!(
                        "{} holds the input {}: choose another output folder",
                        out.display(),
                        input.display()
                    );
                }
            }
        }
        let (Some(parent), Some(name)) = (out.parent(), out.file_name()) else {
            bail!("{} cannot be an output folder", out.display());
        };
        std::fs::create_dir_all(parent)
            .with_context(|| format!("{}: cannot create", parent.display()))?;
        let staging = tempfile::Builder::new()
            .prefix(&format!(".{}.partial-", name.to_string_lossy()))
            .tempdir_in(parent)
            .with_context(|| format!("{}: cannot create a staging folder", parent.display()))?;
        Ok(StagedDir { out, staging })
    }

    /// Where to write the files.
    pub fn path(&self) -> &Path {
        self.staging.path()
    }

    /// Puts the written folder in place of `out` (whose old contents are removed). On an error
    /// the staging folder is still removed on drop, and `out` is as it was.
    pub fn commit(self) -> Result<()> {
        let (staging, out) = (self.staging.path(), &self.out);
        if out.exists() {
            let mut old = staging.as_os_str().to_owned();
            old.push(".old");
            let old = PathBuf::from(old);
            std::fs::rename(out, &old)
                .with_context(|| format!("{}: cannot move aside", out.display()))?;
            if let Err(e) = std::fs::rename(staging, out) {
                let _ = std::fs::rename(&old, out);
                return Err(e)
                    .with_context(|| format!("{}: cannot rename into place", out.display()));
            }
            std::fs::remove_dir_all(&old)
                .with_context(|| format!("{}: cannot remove", old.display()))?;
        } else {
            std::fs::rename(staging, out)
                .with_context(|| format!("{}: cannot rename into place", out.display()))?;
        }
        // The staging folder is now `out`: nothing is left for the drop to remove.
        let _ = self.staging.keep();
        Ok(())
    }
}

/// `path` made absolute (and resolved, when it exists), so `.` has a parent and a name.
fn absolute(path: &Path) -> Result<PathBuf> {
    if path.exists() {
        return std::fs::canonicalize(path)
            .with_context(|| format!("{}: cannot resolve", path.display()));
    }
    std::path::absolute(path).with_context(|| format!("{}: cannot resolve", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `dir/name`, a folder holding one file.
    fn folder_holding(dir: &Path, name: &str, file: &str) -> PathBuf {
        let folder = dir.join(name);
        std::fs::create_dir(&folder).unwrap();
        std::fs::write(folder.join(file), b"{}").unwrap();
        folder
    }

    #[test]
    fn a_folder_with_files_is_refused_without_force_and_replaced_with_it() {
        let dir = tempfile::tempdir().unwrap();
        let out = folder_holding(dir.path(), "out", "model.safetensors");
        let err = StagedDir::new(&out, false, &[]).unwrap_err().to_string();
        assert!(err.contains("--force"), "{err}");

        let staged = StagedDir::new(&out, true, &[]).unwrap();
        std::fs::write(staged.path().join("new.json"), b"new").unwrap();
        staged.commit().unwrap();
        let names: Vec<_> =
            std::fs::read_dir(&out).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec!["new.json"]);
        let siblings = std::fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(siblings, 1, "no staging folder left beside it");
    }

    #[test]
    fn an_output_folder_holding_an_input_is_refused_even_with_force() {
        let dir = tempfile::tempdir().unwrap();
        let model = folder_holding(dir.path(), "model", "config.json");
        assert!(StagedDir::new(&model, true, &[&model]).is_err());
        assert!(StagedDir::new(dir.path(), true, &[&model]).is_err());
    }

    #[test]
    fn a_failed_export_leaves_the_old_folder_and_no_staging() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        std::fs::create_dir(&out).unwrap();
        std::fs::write(out.join("keep"), b"old").unwrap();
        let staged = StagedDir::new(&out, true, &[]).unwrap();
        std::fs::write(staged.path().join("half"), b"x").unwrap();
        drop(staged);
        assert_eq!(std::fs::read(out.join("keep")).unwrap(), b"old");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
