//! TFRecord framing, the container format of TensorBoard event files.
//!
//! Each record is `u64 length (little-endian) | u32 masked CRC32C of those 8 bytes |
//! data | u32 masked CRC32C of data`.

use std::fmt;

use super::crc32c::masked_crc32c;

/// Bytes of framing before the data: length plus its checksum.
const HEADER_LEN: usize = 12;
/// Bytes of framing after the data: the data checksum.
const FOOTER_LEN: usize = 4;

/// Appends `data` to `out` framed as one TFRecord.
pub fn encode_record(data: &[u8], out: &mut Vec<u8>) {
    let length = (data.len() as u64).to_le_bytes();
    out.extend_from_slice(&length);
    out.extend_from_slice(&masked_crc32c(&length).to_le_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(&masked_crc32c(data).to_le_bytes());
}

/// The records found in a byte buffer, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitRecords<'a> {
    /// Payload of each complete record, checksums verified.
    pub records: Vec<&'a [u8]>,
    /// Byte offset of an incomplete final record (what a crash mid-write leaves), if any;
    /// its bytes are not part of `records`.
    pub truncated_at: Option<u64>,
}

/// A complete record whose checksum does not match: the file is corrupt, not just cut off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorruptRecord {
    /// Byte offset of the record's start.
    pub offset: u64,
    /// Which checksum failed: "length" or "data".
    pub checksum: &'static str,
    /// Masked CRC stored in the file.
    pub stored: u32,
    /// Masked CRC computed from the bytes.
    pub computed: u32,
}

impl fmt::Display for CorruptRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "record at byte {}: {} CRC mismatch (stored {:#010x}, computed {:#010x})",
            self.offset, self.checksum, self.stored, self.computed
        )
    }
}

impl std::error::Error for CorruptRecord {}

/// Splits `bytes` into TFRecord payloads, verifying both checksums of every complete
/// record. A final record cut short is reported in [`SplitRecords::truncated_at`]; a
/// complete record with a bad checksum is an error.
pub fn split_records(bytes: &[u8]) -> Result<SplitRecords<'_>, CorruptRecord> {
    let mut records = Vec::new();
    let mut offset = 0;
    while offset < bytes.len() {
        match record_at(bytes, offset)? {
            Some(data) => {
                records.push(data);
                offset += HEADER_LEN + data.len() + FOOTER_LEN;
            }
            None => return Ok(SplitRecords { records, truncated_at: Some(offset as u64) }),
        }
    }
    Ok(SplitRecords { records, truncated_at: None })
}

/// The payload of the record starting at `offset`, or `None` if the buffer ends before it
/// does.
fn record_at(bytes: &[u8], offset: usize) -> Result<Option<&[u8]>, CorruptRecord> {
    let Some((length_bytes, rest)) = bytes[offset..].split_first_chunk::<8>() else {
        return Ok(None);
    };
    let Some((length_crc, rest)) = rest.split_first_chunk::<4>() else {
        return Ok(None);
    };
    verify(offset, "length", length_bytes, *length_crc)?;
    // The length is checksummed, so a value beyond the end of the buffer means a record
    // that was cut off, not garbage.
    let length = u64::from_le_bytes(*length_bytes);
    let Some(data) = usize::try_from(length).ok().and_then(|n| rest.get(..n)) else {
        return Ok(None);
    };
    let Some((data_crc, _)) = rest[data.len()..].split_first_chunk::<4>() else {
        return Ok(None);
    };
    verify(offset, "data", data, *data_crc)?;
    Ok(Some(data))
}

fn verify(
    offset: usize,
    checksum: &'static str,
    data: &[u8],
    stored: [u8; 4],
) -> Result<(), CorruptRecord> {
    let stored = u32::from_le_bytes(stored);
    let computed = masked_crc32c(data);
    if stored == computed {
        Ok(())
    } else {
        Err(CorruptRecord { offset: offset as u64, checksum, stored, computed })
    }
}
