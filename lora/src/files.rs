//! Writing files so that a crash or Ctrl-C never leaves a half-written one: write a temporary
//! file beside the target, fsync it, rename it over the target, fsync the folder.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use crate::error::LoraError;

/// Writes `path` atomically; `write` fills the temporary file.
pub fn write_atomically(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<File>) -> std::io::Result<()>,
) -> Result<(), LoraError> {
    let tmp = path
        .with_extension(format!("{}.tmp", path.extension().and_then(|e| e.to_str()).unwrap_or("")));
    let result = (|| {
        let mut out = BufWriter::new(File::create(&tmp)?);
        write(&mut out)?;
        let file = out.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)?;
        sync_dir(path.parent().unwrap_or(Path::new(".")))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(|e| LoraError::io(path, e))
}

/// Makes a rename inside `dir` durable.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Writes JSON text atomically, pretty-printed with a trailing newline.
pub fn write_json(path: &Path, value: &serde_json::Value) -> Result<(), LoraError> {
    let text = serde_json::to_string_pretty(value).expect("JSON values serialise");
    write_atomically(path, |out| writeln!(out, "{text}"))
}
