//! A streaming safetensors writer: the header is computed from names and shapes up front, then
//! tensors are converted and written one at a time, so exporting an 8B model never holds more
//! than one tensor in memory. Files are written atomically.

use std::io::Write;
use std::path::Path;

use serde_json::{json, Map, Value};

use guardtune_model::Dtype;

use crate::error::LoraError;
use crate::files::write_atomically;

/// One tensor to write: its name and shape; values come from the caller's `fill`.
#[derive(Clone, Debug)]
pub struct TensorEntry {
    pub name: String,
    pub shape: Vec<usize>,
}

impl TensorEntry {
    pub fn bytes(&self, dtype: Dtype) -> usize {
        self.shape.iter().product::<usize>() * dtype.size()
    }
}

/// Writes `entries` to `path` in this order; `fill(name)` gives each tensor's f32 values.
/// The header carries `{"format": "pt"}` as PyTorch-side tools expect.
pub fn write_safetensors(
    path: &Path,
    entries: &[TensorEntry],
    dtype: Dtype,
    mut fill: impl FnMut(&str) -> Result<Vec<f32>, LoraError>,
) -> Result<(), LoraError> {
    let mut header = Map::new();
    header.insert("__metadata__".into(), json!({"format": "pt"}));
    let mut offset = 0;
    for entry in entries {
        let end = offset + entry.bytes(dtype);
        header.insert(
            entry.name.clone(),
            json!({"dtype": dtype.safetensors_name(), "shape": entry.shape, "data_offsets": [offset, end]}),
        );
        offset = end;
    }
    let mut header = Value::Object(header).to_string().into_bytes();
    // Pad with spaces so the data starts 8-byte aligned, as the reference writer does.
    header.resize(header.len().div_ceil(8) * 8, b' ');

    // Values are produced before the file is opened for each tensor, so a failing `fill`
    // aborts cleanly and leaves no file behind.
    let mut failure = None;
    write_atomically(path, |out| {
        out.write_all(&(header.len() as u64).to_le_bytes())?;
        out.write_all(&header)?;
        for entry in entries {
            let values = match fill(&entry.name) {
                Ok(v) => v,
                Err(e) => {
                    failure = Some(e);
                    return Err(std::io::Error::other("tensor values unavailable"));
                }
            };
            let expected = entry.shape.iter().product::<usize>();
            if values.len() != expected {
                return Err(std::io::Error::other(format!(
                    "tensor `{}` has {} values, its shape {:?} needs {expected}",
                    entry.name,
                    values.len(),
                    entry.shape
                )));
            }
            out.write_all(&dtype.encode(&values))?;
        }
        Ok(())
    })
    .map_err(|e| failure.take().unwrap_or(e))
}

/// Parses sizes such as `5GB` (10^9 bytes, as transformers counts), `500MB`, `2GiB`, `1000`.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 =
        number.parse().map_err(|_| format!("invalid size \"{text}\" (expected e.g. 5GB)"))?;
    let multiplier: f64 = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 1.0,
        "KB" => 1e3,
        "MB" => 1e6,
        "GB" => 1e9,
        "KIB" => 1024.0,
        "MIB" => 1024f64.powi(2),
        "GIB" => 1024f64.powi(3),
        other => {
            return Err(format!(
                "unknown size unit \"{other}\" in \"{text}\" (B, KB, MB, GB, KiB, MiB, GiB)"
            ))
        }
    };
    Ok((number * multiplier) as u64)
}
