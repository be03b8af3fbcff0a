//! Reading the rows of a data file, whatever its format, as JSON objects with 1-based row numbers.
//! Loaders then read fields from them through [`Fields`], which turns every bad value into a
//! [`crate::RowError`] naming file, row and field.
//!
//! Formats are chosen by extension: `.json` (a JSON array; or JSON lines, which some Hub files
//! use under that name), `.jsonl` / `.ndjson`, `.csv`, `.parquet`, and any of the text formats
//! gzip-compressed with a further `.gz`.

mod csv_rows;
mod fields;
mod json_rows;
mod parquet_rows;

pub(crate) use fields::{find_choice, Fields};

use crate::error::{DataError, RowError};
use serde_json::{Map, Value};
use std::io::Read;
use std::path::Path;

/// One row: its 1-based number and its fields, or why it is not a row at all.
pub(crate) struct Record {
    pub row: usize,
    pub fields: Result<Map<String, Value>, RowError>,
}

/// Reads every row of `path`.
pub(crate) fn read_rows(path: &Path) -> Result<Vec<Record>, DataError> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| DataError::file(path, "the file name is not valid UTF-8"))?
        .to_ascii_lowercase();
    let (name, gzipped) = match name.strip_suffix(".gz") {
        Some(inner) => (inner.to_string(), true),
        None => (name, false),
    };
    let extension = name.rsplit_once('.').map(|(_, ext)| ext).unwrap_or("");
    let file_label = path.display().to_string();
    if extension == "parquet" {
        if gzipped {
            return Err(DataError::file(
                path,
                "gzip-compressed Parquet is not supported (Parquet compresses its pages)",
            ));
        }
        return parquet_rows::read(path);
    }
    let bytes = read_bytes(path, gzipped)?;
    match extension {
        "json" => json_rows::read_json(&bytes, path, &file_label),
        "jsonl" | "ndjson" => json_rows::read_json_lines(&bytes, &file_label),
        "csv" => csv_rows::read(&bytes, &file_label),
        _ => Err(DataError::file(
            path,
            "unsupported file type: expected .json, .jsonl, .ndjson, .csv (optionally .gz) or .parquet",
        )),
    }
}

fn read_bytes(path: &Path, gzipped: bool) -> Result<Vec<u8>, DataError> {
    let raw = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    if !gzipped {
        return Ok(raw);
    }
    let mut bytes = Vec::new();
    flate2::read::GzDecoder::new(raw.as_slice())
        .read_to_end(&mut bytes)
        .map_err(|e| DataError::file(path, format!("invalid gzip data: {e}")))?;
    Ok(bytes)
}

/// A short description of a JSON value for error messages: its type and (shortened) text.
pub(crate) fn describe(value: Option<&Value>) -> String {
    const LIMIT: usize = 60;
    let text = match value {
        None => return "no such field".to_string(),
        Some(Value::Null) => return "null".to_string(),
        Some(Value::String(s)) => format!("the string {:?}", s),
        Some(Value::Bool(b)) => format!("the boolean {b}"),
        Some(Value::Number(n)) => format!("the number {n}"),
        Some(Value::Array(items)) => format!("a list of {} items", items.len()),
        Some(Value::Object(_)) => "an object".to_string(),
    };
    match text.char_indices().nth(LIMIT) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}
