//! The `Event` protobuf of TensorBoard event files, reduced to what scalar logging uses:
//!
//! ```text
//! Event      { double wall_time = 1; int64 step = 2;
//!              oneof what { string file_version = 3; Summary summary = 5;
//!                           SessionLog session_log = 7; ... } }
//! Summary    { repeated Value value = 1; }
//! Value      { string tag = 1; float simple_value = 2; ... }
//! SessionLog { SessionStatus status = 1; ... }   // START = 1
//! ```
//!
//! Encoding follows proto3 rules (zero `wall_time`/`step` are omitted), so the bytes equal
//! what TensorBoard's own Python writer produces for the same event.

use super::proto::{put_bytes, put_double, put_float, put_int64, DecodeError, FieldValue, Fields};

const EVENT_WALL_TIME: u32 = 1;
const EVENT_STEP: u32 = 2;
const EVENT_FILE_VERSION: u32 = 3;
const EVENT_SUMMARY: u32 = 5;
const EVENT_SESSION_LOG: u32 = 7;
const SUMMARY_VALUE: u32 = 1;
const VALUE_TAG: u32 = 1;
const VALUE_SIMPLE_VALUE: u32 = 2;
const SESSION_LOG_STATUS: u32 = 1;
const SESSION_STATUS_START: i64 = 1;

/// One TensorBoard event: a timestamped, step-numbered payload.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Seconds since the Unix epoch when the event was written.
    pub wall_time: f64,
    /// Training step the event belongs to.
    pub step: i64,
    /// The payload.
    pub what: EventWhat,
}

/// The payload of an [`Event`] (the protobuf `oneof what`).
#[derive(Debug, Clone, PartialEq)]
pub enum EventWhat {
    /// File header, `"brain.Event:2"` in every file this module writes.
    FileVersion(String),
    /// Summary values (scalars, or other kinds whose `simple_value` is `None`).
    Summary(Vec<SummaryValue>),
    /// `SessionLog { status: START }`: a (re)started run. TensorBoard discards previously
    /// read events whose step is at or after this event's step.
    SessionStart,
    /// Anything else (graphs, run metadata, other session-log statuses, no payload);
    /// encodes as an event without payload.
    Other,
}

/// One `Summary.Value`.
#[derive(Debug, Clone, PartialEq)]
pub struct SummaryValue {
    /// Name of the series, e.g. `"train/loss"`.
    pub tag: String,
    /// The scalar, when this value is one (`simple_value`).
    pub simple_value: Option<f32>,
}

impl Event {
    /// Serialises the event as a protobuf message.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        if self.wall_time.to_bits() != 0 {
            put_double(&mut out, EVENT_WALL_TIME, self.wall_time);
        }
        if self.step != 0 {
            put_int64(&mut out, EVENT_STEP, self.step);
        }
        match &self.what {
            EventWhat::FileVersion(version) => {
                put_bytes(&mut out, EVENT_FILE_VERSION, version.as_bytes())
            }
            EventWhat::Summary(values) => {
                let mut summary = Vec::new();
                for value in values {
                    put_bytes(&mut summary, SUMMARY_VALUE, &value.encode());
                }
                put_bytes(&mut out, EVENT_SUMMARY, &summary);
            }
            EventWhat::SessionStart => {
                let mut session_log = Vec::new();
                put_int64(&mut session_log, SESSION_LOG_STATUS, SESSION_STATUS_START);
                put_bytes(&mut out, EVENT_SESSION_LOG, &session_log);
            }
            EventWhat::Other => {}
        }
        out
    }

    /// Parses a protobuf-encoded event. Unknown fields are skipped, as protobuf requires.
    pub fn decode(message: &[u8]) -> Result<Self, DecodeError> {
        let mut event = Event { wall_time: 0.0, step: 0, what: EventWhat::Other };
        for field in Fields::new(message) {
            match field? {
                (EVENT_WALL_TIME, value) => event.wall_time = value.as_double("Event.wall_time")?,
                (EVENT_STEP, value) => event.step = value.as_int64("Event.step")?,
                (EVENT_FILE_VERSION, value) => {
                    event.what = EventWhat::FileVersion(value.as_string("Event.file_version")?);
                }
                (EVENT_SUMMARY, value) => event.what = EventWhat::Summary(decode_summary(value)?),
                (EVENT_SESSION_LOG, value) => event.what = decode_session_log(value)?,
                // graph_def, log_message, tagged_run_metadata, meta_graph_def: other members
                // of the `what` oneof, which replace the payload, as in protobuf.
                (4 | 6 | 8 | 9, _) => event.what = EventWhat::Other,
                _ => {}
            }
        }
        Ok(event)
    }
}

impl SummaryValue {
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        put_bytes(&mut out, VALUE_TAG, self.tag.as_bytes());
        if let Some(value) = self.simple_value {
            put_float(&mut out, VALUE_SIMPLE_VALUE, value);
        }
        out
    }

    fn decode(message: &[u8]) -> Result<Self, DecodeError> {
        let mut value = SummaryValue { tag: String::new(), simple_value: None };
        for field in Fields::new(message) {
            match field? {
                (VALUE_TAG, tag) => value.tag = tag.as_string("Summary.Value.tag")?,
                (VALUE_SIMPLE_VALUE, simple) => {
                    value.simple_value = Some(simple.as_float("Summary.Value.simple_value")?);
                }
                // Old-style histogram, image, histo, audio, tensor: the value oneof's others.
                (3..=6 | 8, _) => value.simple_value = None,
                _ => {}
            }
        }
        Ok(value)
    }
}

fn decode_summary(field: FieldValue<'_>) -> Result<Vec<SummaryValue>, DecodeError> {
    let mut values = Vec::new();
    for value in Fields::new(field.as_bytes("Event.summary")?) {
        if let (SUMMARY_VALUE, value) = value? {
            values.push(SummaryValue::decode(value.as_bytes("Summary.value")?)?);
        }
    }
    Ok(values)
}

fn decode_session_log(field: FieldValue<'_>) -> Result<EventWhat, DecodeError> {
    let mut status = 0;
    for session_field in Fields::new(field.as_bytes("Event.session_log")?) {
        if let (SESSION_LOG_STATUS, value) = session_field? {
            status = value.as_int64("SessionLog.status")?;
        }
    }
    Ok(if status == SESSION_STATUS_START { EventWhat::SessionStart } else { EventWhat::Other })
}
