//! CSV with a header row. Empty cells read as null, so optional columns behave as in JSON.
//!
//! A malformed record costs one row, never the rows after it: a cell that opens a quote and never
//! closes it would otherwise swallow the rest of the file (the `csv` crate reads to the next quote
//! or the end). Such a record (a quoting error, a wrong number of cells, invalid UTF-8) becomes one
//! bad row, and reading resumes at the line after the one it started on.

use std::io::{Cursor, SeekFrom};

use csv::{ReaderBuilder, StringRecord};
use serde_json::{Map, Value};

use super::Record;
use crate::error::{DataError, RowError};

/// Reads a CSV file; row numbers count records after the header (a quoted cell may span lines).
pub(super) fn read(bytes: &[u8], file: &str) -> Result<Vec<Record>, DataError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let file_error = |detail: String| DataError::File { path: file.to_string(), detail };
    // One reader for the whole file, moved past each bad record with `seek_raw`: building a reader
    // compiles the parser's state machine, which cost more than the rest of the work on files
    // with many bad records.
    let mut reader =
        ReaderBuilder::new().has_headers(true).flexible(true).from_reader(Cursor::new(bytes));
    let headers =
        reader.headers().map_err(|e| file_error(format!("invalid CSV header: {e}")))?.clone();
    let header_end = reader.position().byte() as usize;
    if let Some(problem) = quoting_error(&bytes[..header_end.min(bytes.len())]) {
        return Err(file_error(format!("invalid CSV header: {problem}")));
    }
    let mut records = Vec::new();
    let mut record = StringRecord::new();
    loop {
        let record_start = reader.position().byte() as usize;
        let row = records.len() + 1;
        let problem = match reader.read_record(&mut record) {
            Ok(false) => return Ok(records),
            Ok(true) => {
                let record_end = (reader.position().byte() as usize).min(bytes.len());
                record_problem(&bytes[record_start..record_end], &record, headers.len())
            }
            Err(e) => Some(e.to_string()),
        };
        let Some(found) = problem else {
            records.push(Record { row, fields: Ok(cells(&headers, &record)) });
            continue;
        };
        records.push(bad_row(file, row, headers.len(), found));
        // Resume at the line after the one the bad record started on.
        let Some(newline) = bytes[record_start.min(bytes.len())..].iter().position(|&b| b == b'\n')
        else {
            return Ok(records);
        };
        let resume = (record_start + newline + 1) as u64;
        let mut position = reader.position().clone();
        position.set_byte(resume);
        reader
            .seek_raw(SeekFrom::Start(resume), position)
            .map_err(|e| file_error(format!("CSV record {row}: {e}")))?;
    }
}

/// What is wrong with a record that parsed (`raw` is its bytes), if anything.
fn record_problem(raw: &[u8], record: &StringRecord, cells: usize) -> Option<String> {
    quoting_error(raw)
        .map(str::to_string)
        .or_else(|| (record.len() != cells).then(|| format!("a record of {} cells", record.len())))
}

fn bad_row(file: &str, row: usize, cells: usize, found: String) -> Record {
    let error = RowError {
        file: file.to_string(),
        row,
        field: "(row)".into(),
        expected: format!("a CSV record of {cells} UTF-8 cells"),
        found,
    };
    Record { row, fields: Err(error) }
}

fn cells(headers: &StringRecord, record: &StringRecord) -> Map<String, Value> {
    headers
        .iter()
        .zip(record.iter())
        .map(|(name, cell)| {
            let value = if cell.is_empty() { Value::Null } else { Value::String(cell.to_string()) };
            (name.to_string(), value)
        })
        .collect()
}

/// What is wrong with the quoting of one raw record, if anything: a quoted cell that never closes,
/// or text right after a closing quote (both signs of a stray quote that swallowed line ends).
fn quoting_error(raw: &[u8]) -> Option<&'static str> {
    let mut i = 0;
    let mut at_cell_start = true;
    while i < raw.len() {
        let byte = raw[i];
        if at_cell_start && byte == b'"' {
            i += 1;
            loop {
                match raw.get(i) {
                    None => return Some("a quoted cell that is never closed"),
                    Some(b'"') if raw.get(i + 1) == Some(&b'"') => i += 2,
                    Some(b'"') => break,
                    Some(_) => i += 1,
                }
            }
            i += 1;
            if !matches!(raw.get(i), None | Some(b',' | b'\r' | b'\n')) {
                return Some("text after the closing quote of a cell");
            }
            at_cell_start = false;
            continue;
        }
        at_cell_start = matches!(byte, b',' | b'\n' | b'\r');
        i += 1;
    }
    None
}
