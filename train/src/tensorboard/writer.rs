//! Writing scalar summaries to a TensorBoard event file.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::event::{Event, EventWhat, SummaryValue};
use super::record::encode_record;
use super::with_path;

/// File header every event file starts with; version 2 tells TensorBoard to honour
/// `SessionLog.START` events when a run is resumed.
pub const FILE_VERSION: &str = "brain.Event:2";

/// How many `.1`, `.2`, ... suffixes to try when a file name is already taken (several
/// writers started in the same second in the same directory).
const MAX_NAME_ATTEMPTS: u32 = 1000;

/// Appends events to one `events.out.tfevents.<unix-secs>.<hostname>` file.
///
/// Records are buffered; call [`EventWriter::flush`] at points where a crash should not
/// lose data (e.g. after each logging step). Dropping the writer flushes the buffer but
/// cannot report errors and does not fsync.
#[derive(Debug)]
pub struct EventWriter {
    path: PathBuf,
    file: BufWriter<File>,
}

impl EventWriter {
    /// Creates `dir` if needed and a new event file in it, headed by the file-version
    /// record (written to disk before returning, so TensorBoard sees the run at once).
    pub fn create(dir: impl AsRef<Path>) -> io::Result<Self> {
        let dir = dir.as_ref();
        fs::create_dir_all(dir).map_err(|e| with_path(e, dir))?;
        let (path, file) = create_unique_file(
            dir,
            &format!("events.out.tfevents.{}.{}", since_epoch().as_secs(), hostname()),
        )?;
        let mut writer = EventWriter { path, file: BufWriter::new(file) };
        writer.write_event(&Event {
            wall_time: now(),
            step: 0,
            what: EventWhat::FileVersion(FILE_VERSION.into()),
        })?;
        writer.flush()?;
        Ok(writer)
    }

    /// Continues the run in `dir` after a restart from a checkpoint: a new event file (the
    /// old ones stay) starting with a `SessionLog.START` event at `next_step`, the first
    /// step the resumed run will log. TensorBoard then drops every point the crashed run
    /// logged at `next_step` or later, so the curves do not double back.
    pub fn resume(dir: impl AsRef<Path>, next_step: i64) -> io::Result<Self> {
        let mut writer = Self::create(dir)?;
        writer.write_event(&Event {
            wall_time: now(),
            step: next_step,
            what: EventWhat::SessionStart,
        })?;
        writer.flush()?;
        Ok(writer)
    }

    /// The event file being written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Logs `value` for the series `tag` at `step`, timestamped now.
    pub fn add_scalar(&mut self, tag: &str, value: f32, step: i64) -> io::Result<()> {
        let value = SummaryValue { tag: tag.to_owned(), simple_value: Some(value) };
        self.write_event(&Event { wall_time: now(), step, what: EventWhat::Summary(vec![value]) })
    }

    /// Writes buffered records and fsyncs the file, so a later crash leaves only whole
    /// records behind (a crash during a write can at worst cut off the final record,
    /// which the reader reports and skips).
    pub fn flush(&mut self) -> io::Result<()> {
        self.file.flush().map_err(|e| with_path(e, &self.path))?;
        self.file.get_ref().sync_data().map_err(|e| with_path(e, &self.path))
    }

    fn write_event(&mut self, event: &Event) -> io::Result<()> {
        let mut record = Vec::new();
        encode_record(&event.encode(), &mut record);
        self.file.write_all(&record).map_err(|e| with_path(e, &self.path))
    }
}

/// Creates `dir/base`, or `dir/base.1`, `dir/base.2`, ... if taken; never truncates an
/// existing file.
fn create_unique_file(dir: &Path, base: &str) -> io::Result<(PathBuf, File)> {
    for attempt in 0..MAX_NAME_ATTEMPTS {
        let name = if attempt == 0 { base.to_owned() } else { format!("{base}.{attempt}") };
        let path = dir.join(name);
        match OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(file) => return Ok((path, file)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(with_path(e, &path)),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        format!("{}: {MAX_NAME_ATTEMPTS} event files named {base}* already exist", dir.display()),
    ))
}

fn now() -> f64 {
    since_epoch().as_secs_f64()
}

fn since_epoch() -> Duration {
    // A clock set before 1970 is not worth failing a training run over: log time 0.
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default()
}

/// The machine's name for the file name (TensorBoard shows it nowhere; it only keeps
/// files from different machines writing into one shared directory apart).
fn hostname() -> String {
    let name = fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .unwrap_or_default();
    let name: String = name
        .trim()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '.' { c } else { '_' })
        .collect();
    if name.is_empty() {
        "localhost".into()
    } else {
        name
    }
}
