//! JSON arrays of objects and JSON lines.

use super::Record;
use crate::error::{DataError, RowError};
use serde_json::{Map, Value};
use std::path::Path;

/// A `.json` file: a JSON array of row objects, or JSON lines when the first non-blank character
/// is not `[` (the Hub serves some JSON-lines files as `.json`).
pub(super) fn read_json(bytes: &[u8], path: &Path, file: &str) -> Result<Vec<Record>, DataError> {
    match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'[') => {}
        _ => return read_json_lines(bytes, file),
    }
    let rows: Vec<Value> = serde_json::from_slice(bytes).map_err(|e| {
        DataError::file(
            path,
            format!("invalid JSON array at line {} column {}: {e}", e.line(), e.column()),
        )
    })?;
    Ok(rows
        .into_iter()
        .enumerate()
        .map(|(index, value)| {
            let row = index + 1;
            Record { row, fields: into_object(value, file, row) }
        })
        .collect())
}

/// JSON lines: one object per line; blank lines are ignored; the row number is the line number.
pub(super) fn read_json_lines(bytes: &[u8], file: &str) -> Result<Vec<Record>, DataError> {
    let mut records = Vec::new();
    for (index, line) in bytes.split(|&b| b == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let row = index + 1;
        let fields = serde_json::from_slice::<Value>(line)
            .map_err(|e| RowError {
                file: file.to_string(),
                row,
                field: "(row)".into(),
                expected: "a JSON object on one line".into(),
                found: format!("invalid JSON ({e})"),
            })
            .and_then(|value| into_object(value, file, row));
        records.push(Record { row, fields });
    }
    Ok(records)
}

fn into_object(value: Value, file: &str, row: usize) -> Result<Map<String, Value>, RowError> {
    match value {
        Value::Object(map) => Ok(map),
        other => Err(RowError {
            file: file.to_string(),
            row,
            field: "(row)".into(),
            expected: "a JSON object".into(),
            found: super::describe(Some(&other)),
        }),
    }
}
