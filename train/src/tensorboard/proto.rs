//! The few protobuf wire-format primitives event files need, hand-written so the CLI does
//! not pull in a protobuf code generator for three tiny messages.

use std::fmt;

const WIRE_VARINT: u8 = 0;
const WIRE_FIXED64: u8 = 1;
const WIRE_LEN: u8 = 2;
const WIRE_FIXED32: u8 = 5;

/// A protobuf message that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError(pub(crate) String);

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "malformed protobuf: {}", self.0)
    }
}

impl std::error::Error for DecodeError {}

pub(crate) fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn put_key(out: &mut Vec<u8>, field: u32, wire_type: u8) {
    put_varint(out, (u64::from(field) << 3) | u64::from(wire_type));
}

/// `int64`/enum field. Negative values take ten bytes, as protobuf specifies.
pub(crate) fn put_int64(out: &mut Vec<u8>, field: u32, value: i64) {
    put_key(out, field, WIRE_VARINT);
    put_varint(out, value as u64);
}

pub(crate) fn put_double(out: &mut Vec<u8>, field: u32, value: f64) {
    put_key(out, field, WIRE_FIXED64);
    out.extend_from_slice(&value.to_le_bytes());
}

pub(crate) fn put_float(out: &mut Vec<u8>, field: u32, value: f32) {
    put_key(out, field, WIRE_FIXED32);
    out.extend_from_slice(&value.to_le_bytes());
}

/// `string`, `bytes` or embedded-message field.
pub(crate) fn put_bytes(out: &mut Vec<u8>, field: u32, value: &[u8]) {
    put_key(out, field, WIRE_LEN);
    put_varint(out, value.len() as u64);
    out.extend_from_slice(value);
}

/// One field as it appears on the wire; the message decoder gives it a meaning.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum FieldValue<'a> {
    Varint(u64),
    Fixed64(u64),
    Bytes(&'a [u8]),
    Fixed32(u32),
}

impl<'a> FieldValue<'a> {
    pub(crate) fn as_int64(self, name: &str) -> Result<i64, DecodeError> {
        match self {
            FieldValue::Varint(v) => Ok(v as i64),
            other => Err(wrong_type(name, other)),
        }
    }

    pub(crate) fn as_double(self, name: &str) -> Result<f64, DecodeError> {
        match self {
            FieldValue::Fixed64(bits) => Ok(f64::from_bits(bits)),
            other => Err(wrong_type(name, other)),
        }
    }

    pub(crate) fn as_float(self, name: &str) -> Result<f32, DecodeError> {
        match self {
            FieldValue::Fixed32(bits) => Ok(f32::from_bits(bits)),
            other => Err(wrong_type(name, other)),
        }
    }

    pub(crate) fn as_bytes(self, name: &str) -> Result<&'a [u8], DecodeError> {
        match self {
            FieldValue::Bytes(bytes) => Ok(bytes),
            other => Err(wrong_type(name, other)),
        }
    }

    pub(crate) fn as_string(self, name: &str) -> Result<String, DecodeError> {
        let bytes = self.as_bytes(name)?;
        String::from_utf8(bytes.to_vec())
            .map_err(|_| DecodeError(format!("field `{name}` is not valid UTF-8")))
    }
}

fn wrong_type(name: &str, value: FieldValue<'_>) -> DecodeError {
    DecodeError(format!("field `{name}` has an unexpected wire type ({value:?})"))
}

/// Iterates over the `(field number, value)` pairs of one encoded message.
pub(crate) struct Fields<'a> {
    rest: &'a [u8],
}

impl<'a> Fields<'a> {
    pub(crate) fn new(message: &'a [u8]) -> Self {
        Fields { rest: message }
    }

    fn varint(&mut self) -> Result<u64, DecodeError> {
        let mut value = 0u64;
        for (i, &byte) in self.rest.iter().enumerate().take(10) {
            value |= u64::from(byte & 0x7F) << (7 * i);
            if byte & 0x80 == 0 {
                self.rest = &self.rest[i + 1..];
                return Ok(value);
            }
        }
        Err(DecodeError("varint is truncated or longer than 10 bytes".into()))
    }

    fn take(&mut self, len: u64) -> Result<&'a [u8], DecodeError> {
        let bytes =
            usize::try_from(len).ok().and_then(|len| self.rest.get(..len)).ok_or_else(|| {
                DecodeError(format!("field of {len} bytes runs past the end of the message"))
            })?;
        self.rest = &self.rest[bytes.len()..];
        Ok(bytes)
    }

    fn fixed<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let (bytes, rest) = self.rest.split_first_chunk::<N>().ok_or_else(|| {
            DecodeError(format!("{N}-byte field runs past the end of the message"))
        })?;
        self.rest = rest;
        Ok(*bytes)
    }

    fn field(&mut self) -> Result<(u32, FieldValue<'a>), DecodeError> {
        let key = self.varint()?;
        let number = u32::try_from(key >> 3)
            .map_err(|_| DecodeError(format!("field number {} is too large", key >> 3)))?;
        let value = match (key & 7) as u8 {
            WIRE_VARINT => FieldValue::Varint(self.varint()?),
            WIRE_FIXED64 => FieldValue::Fixed64(u64::from_le_bytes(self.fixed()?)),
            WIRE_LEN => {
                let len = self.varint()?;
                FieldValue::Bytes(self.take(len)?)
            }
            WIRE_FIXED32 => FieldValue::Fixed32(u32::from_le_bytes(self.fixed()?)),
            other => {
                return Err(DecodeError(format!(
                    "field {number} has unsupported wire type {other}"
                )))
            }
        };
        Ok((number, value))
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = Result<(u32, FieldValue<'a>), DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let field = self.field();
        if field.is_err() {
            // Stop after the first error: the position in the buffer is no longer known.
            self.rest = &[];
        }
        Some(field)
    }
}
