//! Parquet files (as the Hugging Face Hub serves datasets), read with the `parquet` crate's row API.

use super::Record;
use crate::error::{DataError, RowError};
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::Field;
use serde_json::{Map, Number, Value};
use std::cell::Cell;
use std::panic::UnwindSafe;
use std::path::Path;
use std::sync::Once;

/// Reads every row of a Parquet file as a JSON object.
///
/// The `parquet` crate panics on many malformed files (fuzzing found out-of-bounds indexing,
/// unwraps and failed assertions in its metadata and page decoding), so a panic while reading is
/// caught and reported as this file's error, without the panic's own message on stderr.
pub(super) fn read(path: &Path) -> Result<Vec<Record>, DataError> {
    quietly_caught(|| read_unguarded(path)).unwrap_or_else(|panic| {
        let detail = panic
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| panic.downcast_ref::<&str>().copied())
            .unwrap_or("unknown failure");
        Err(DataError::file(path, format!("not a readable Parquet file (malformed: {detail})")))
    })
}

thread_local! {
    /// Set while this thread runs [`quietly_caught`]: its panics are caught, not printed.
    static QUIET: Cell<bool> = const { Cell::new(false) };
}

/// `catch_unwind(f)` without the panic's message on stderr. The process-wide panic hook is
/// wrapped once, never swapped per call: swapping it (take, set, restore) from two threads at
/// once could swallow another thread's panic message or leave the silent hook installed. The
/// wrapper stays quiet only on a thread inside this function.
fn quietly_caught<T>(f: impl FnOnce() -> T + UnwindSafe) -> std::thread::Result<T> {
    static WRAP_HOOK: Once = Once::new();
    WRAP_HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !QUIET.with(Cell::get) {
                previous(info);
            }
        }));
    });
    QUIET.with(|quiet| quiet.set(true));
    let outcome = std::panic::catch_unwind(f);
    QUIET.with(|quiet| quiet.set(false));
    outcome
}

fn read_unguarded(path: &Path) -> Result<Vec<Record>, DataError> {
    let file = std::fs::File::open(path).map_err(|e| DataError::io(path, e))?;
    let reader = SerializedFileReader::new(file)
        .map_err(|e| DataError::file(path, format!("not a readable Parquet file: {e}")))?;
    let rows = reader
        .get_row_iter(None)
        .map_err(|e| DataError::file(path, format!("cannot read Parquet rows: {e}")))?;
    let file_label = path.display().to_string();
    let mut records = Vec::new();
    for (index, row) in rows.enumerate() {
        let row_number = index + 1;
        // A page that fails to decode fails the whole file: later rows cannot be located either.
        let row = row.map_err(|e| DataError::file(path, format!("row {row_number}: {e}")))?;
        let fields = row
            .get_column_iter()
            .map(|(name, field)| {
                to_json(field).map(|value| (name.clone(), value)).map_err(|found| RowError {
                    file: file_label.clone(),
                    row: row_number,
                    field: name.clone(),
                    expected: "a string, number, boolean, list, struct or null".into(),
                    found,
                })
            })
            .collect::<Result<Map<String, Value>, RowError>>();
        records.push(Record { row: row_number, fields });
    }
    Ok(records)
}

/// Converts a Parquet value to JSON; `Err` describes values with no JSON counterpart.
fn to_json(field: &Field) -> Result<Value, String> {
    let number = |n: f64| {
        Number::from_f64(n).map(Value::Number).ok_or_else(|| format!("the non-finite number {n}"))
    };
    Ok(match field {
        Field::Null => Value::Null,
        Field::Bool(b) => Value::Bool(*b),
        Field::Byte(n) => Value::from(*n),
        Field::Short(n) => Value::from(*n),
        Field::Int(n) => Value::from(*n),
        Field::Long(n) => Value::from(*n),
        Field::UByte(n) => Value::from(*n),
        Field::UShort(n) => Value::from(*n),
        Field::UInt(n) => Value::from(*n),
        Field::ULong(n) => Value::from(*n),
        Field::Float(n) => number(f64::from(*n))?,
        Field::Double(n) => number(*n)?,
        Field::Str(s) => Value::String(s.clone()),
        Field::Bytes(bytes) => match std::str::from_utf8(bytes.data()) {
            Ok(text) => Value::String(text.to_string()),
            Err(_) => return Err("binary data that is not UTF-8".into()),
        },
        Field::ListInternal(list) => {
            Value::Array(list.elements().iter().map(to_json).collect::<Result<_, _>>()?)
        }
        Field::Group(row) => Value::Object(
            row.get_column_iter()
                .map(|(name, value)| to_json(value).map(|v| (name.clone(), v)))
                .collect::<Result<_, _>>()?,
        ),
        other => return Err(format!("the Parquet value {other}")),
    })
}
