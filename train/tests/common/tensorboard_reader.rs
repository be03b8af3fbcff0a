//! Reading TensorBoard event files back, for the tests: checksummed records, decoded events,
//! scalar series. The library only writes them.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use guardtune::tensorboard::{split_records, Event, EventWhat};

/// Prefixes an I/O error with the path it concerns, keeping its kind.
fn with_path(error: io::Error, path: &Path) -> io::Error {
    io::Error::new(error.kind(), format!("{}: {error}", path.display()))
}

/// The events of one file, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct EventFile {
    /// Every complete event.
    pub events: Vec<Event>,
    /// Whether the file ends in a partial record (a crash mid-write); it is skipped.
    pub truncated_tail: bool,
}

/// One logged scalar.
#[derive(Debug, Clone, PartialEq)]
pub struct Scalar {
    /// Series name, e.g. `"train/loss"`.
    pub tag: String,
    /// Training step.
    pub step: i64,
    /// Logged value.
    pub value: f32,
    /// Seconds since the Unix epoch when it was logged.
    pub wall_time: f64,
}

/// The scalars of a run, as TensorBoard would show them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ScalarLog {
    /// Scalars in file order, after dropping points superseded by a resumed run.
    pub scalars: Vec<Scalar>,
    /// Event files that end in a partial record (skipped).
    pub truncated_files: Vec<PathBuf>,
}

impl ScalarLog {
    /// The `(step, value)` points of series `tag`, in logging order.
    pub fn series(&self, tag: &str) -> Vec<(i64, f32)> {
        self.scalars.iter().filter(|s| s.tag == tag).map(|s| (s.step, s.value)).collect()
    }
}

/// Reads every event of one file, verifying both checksums of each record.
///
/// A partial final record is not an error (see [`EventFile::truncated_tail`]); a bad
/// checksum or an undecodable event is, reported with the path and the record's byte
/// offset or index.
pub fn read_event_file(path: impl AsRef<Path>) -> io::Result<EventFile> {
    let path = path.as_ref();
    let bytes = fs::read(path).map_err(|e| with_path(e, path))?;
    let split = split_records(&bytes).map_err(|e| invalid_data(path, e))?;
    let events = split
        .records
        .iter()
        .enumerate()
        .map(|(index, record)| {
            Event::decode(record).map_err(|e| invalid_data(path, format!("record #{index}: {e}")))
        })
        .collect::<io::Result<_>>()?;
    Ok(EventFile { events, truncated_tail: split.truncated_at.is_some() })
}

/// Reads the scalars of an event file, or of a run directory: every file whose name
/// contains `tfevents`, in name order (creation order for `EventWriter`'s
/// names), as TensorBoard does. A directory without event files gives an empty log.
///
/// A `SessionLog.START` event at step `s` (see `EventWriter::resume`) drops the
/// scalars read so far with step `>= s`, matching TensorBoard's purge of orphaned data.
pub fn read_scalars(path: impl AsRef<Path>) -> io::Result<ScalarLog> {
    let path = path.as_ref();
    let files = if path.is_dir() { event_files_in(path)? } else { vec![path.to_path_buf()] };
    let mut log = ScalarLog::default();
    for file in files {
        let contents = read_event_file(&file)?;
        for event in contents.events {
            match event.what {
                EventWhat::Summary(values) => {
                    log.scalars.extend(values.into_iter().filter_map(|value| {
                        Some(Scalar {
                            tag: value.tag,
                            step: event.step,
                            value: value.simple_value?,
                            wall_time: event.wall_time,
                        })
                    }))
                }
                EventWhat::SessionStart => log.scalars.retain(|scalar| scalar.step < event.step),
                EventWhat::FileVersion(_) | EventWhat::Other => {}
            }
        }
        if contents.truncated_tail {
            log.truncated_files.push(file);
        }
    }
    Ok(log)
}

fn event_files_in(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| with_path(e, dir))? {
        let path = entry.map_err(|e| with_path(e, dir))?.path();
        if path.is_file()
            && path.file_name().is_some_and(|name| name.to_string_lossy().contains("tfevents"))
        {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

fn invalid_data(path: &Path, error: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("{}: {error}", path.display()))
}
