//! CSV with a header row. Empty cells read as null, so optional columns behave as in JSON.

use super::Record;
use crate::error::{DataError, RowError};
use serde_json::{Map, Value};

/// Reads a CSV file; row numbers count records after the header (a quoted cell may span lines).
pub(super) fn read(bytes: &[u8], file: &str) -> Result<Vec<Record>, DataError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut reader = csv::ReaderBuilder::new().has_headers(true).from_reader(bytes);
    let headers = reader
        .headers()
        .map_err(|e| DataError::File {
            path: file.to_string(),
            detail: format!("invalid CSV header: {e}"),
        })?
        .clone();
    let mut records = Vec::new();
    for (index, record) in reader.records().enumerate() {
        let row = index + 1;
        let fields = record
            .map_err(|e| RowError {
                file: file.to_string(),
                row,
                field: "(row)".into(),
                expected: format!("a CSV record of {} UTF-8 cells", headers.len()),
                found: e.to_string(),
            })
            .map(|record| {
                headers
                    .iter()
                    .zip(record.iter())
                    .map(|(name, cell)| {
                        let value = if cell.is_empty() {
                            Value::Null
                        } else {
                            Value::String(cell.to_string())
                        };
                        (name.to_string(), value)
                    })
                    .collect::<Map<String, Value>>()
            });
        records.push(Record { row, fields });
    }
    Ok(records)
}
