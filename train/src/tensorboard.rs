//! TensorBoard event files: writing scalar logs TensorBoard can display. (The tests read them
//! back with `train/tests/common/tensorboard_reader.rs`.)
//!
//! The format is TFRecord framing around protobuf `Event` messages; both are implemented
//! here directly (see the submodules) because scalar logging needs only a sliver of them.

mod crc32c;
mod event;
mod proto;
mod record;
mod writer;

use std::io;
use std::path::Path;

pub use crc32c::{crc32c, masked_crc32c};
pub use event::{Event, EventWhat, SummaryValue};
pub use proto::DecodeError;
pub use record::{encode_record, split_records, CorruptRecord, SplitRecords};
pub use writer::{EventWriter, FILE_VERSION};

/// Prefixes an I/O error with the path it concerns, keeping its kind.
fn with_path(error: io::Error, path: &Path) -> io::Error {
    io::Error::new(error.kind(), format!("{}: {error}", path.display()))
}
