//! TensorBoard event files: writing scalar logs TensorBoard can display, and reading them
//! back (for tests, and for plotting curves without TensorBoard).
//!
//! The format is TFRecord framing around protobuf `Event` messages; both are implemented
//! here directly (see the submodules) because scalar logging needs only a sliver of them.

mod crc32c;
mod event;
mod proto;
mod reader;
mod record;
mod writer;

use std::io;
use std::path::Path;

pub use crc32c::{crc32c, masked_crc32c};
pub use event::{Event, EventWhat, SummaryValue};
pub use proto::DecodeError;
pub use reader::{read_event_file, read_scalars, EventFile, Scalar, ScalarLog};
pub use record::{encode_record, split_records, CorruptRecord, SplitRecords};
pub use writer::{EventWriter, FILE_VERSION};

/// Prefixes an I/O error with the path it concerns, keeping its kind.
fn with_path(error: io::Error, path: &Path) -> io::Error {
    io::Error::new(error.kind(), format!("{}: {error}", path.display()))
}
