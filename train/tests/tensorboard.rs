//! Event files: CRC32C vectors, byte-exact agreement with TensorBoard's Python writer,
//! round trips through the writer and reader, crash truncation, corruption and resume.

use std::fs;
use std::io::ErrorKind;
use std::path::PathBuf;

mod common;

use common::tensorboard_reader::{read_event_file, read_scalars};
use guardtune::tensorboard::{
    crc32c, encode_record, masked_crc32c, split_records, Event, EventWhat, EventWriter,
    SummaryValue, FILE_VERSION,
};

/// A fresh, empty directory for one test.
fn scratch_dir(test: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("tensorboard").join(test);
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// A writer in a fresh directory for one test that has logged `loss` 1.0 at step 1 and flushed
/// it, and the directory.
fn writer_after_one_point(test: &str) -> (PathBuf, EventWriter) {
    let dir = scratch_dir(test);
    let mut writer = EventWriter::create(&dir).unwrap();
    writer.add_scalar("loss", 1.0, 1).unwrap();
    writer.flush().unwrap();
    (dir, writer)
}

fn hex(text: &str) -> Vec<u8> {
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap()).collect()
}

#[test]
fn crc32c_matches_published_test_vectors() {
    // The check value from the CRC catalogue and the vectors of RFC 3720, appendix B.4.
    assert_eq!(crc32c(b"123456789"), 0xE306_9283);
    assert_eq!(crc32c(b""), 0);
    assert_eq!(crc32c(&[0u8; 32]), 0x8A91_36AA);
    assert_eq!(crc32c(&[0xFFu8; 32]), 0x62A8_AB43);
    assert_eq!(crc32c(&(0u8..32).collect::<Vec<_>>()), 0x46DD_794E);
    assert_eq!(crc32c(&(0u8..32).rev().collect::<Vec<_>>()), 0x113F_DB5C);
}

#[test]
fn masked_crc32c_matches_tensorboard() {
    // Values from tensorboard 2.21's pywrap_tensorflow.masked_crc32c.
    assert_eq!(masked_crc32c(b""), 0xA282_EAD8);
    assert_eq!(masked_crc32c(b"123456789"), 0xC78A_B0E5);
    assert_eq!(masked_crc32c(&[0u8; 32]), 0x0FD7_FFFA);
    assert_eq!(masked_crc32c(&(0u8..32).collect::<Vec<_>>()), 0x951F_7892);
}

/// Events and their framed bytes as written by tensorboard 2.21's Python
/// `RecordWriter.write(event_pb2.Event(...).SerializeToString())`.
fn golden_records() -> Vec<(Event, &'static str)> {
    vec![
        (
            Event {
                wall_time: 1_700_000_000.0,
                step: 0,
                what: EventWhat::FileVersion("brain.Event:2".into()),
            },
            "1800000000000000a37f4b220900000040fc54d9411a0d627261696e2e4576656e743a32eced8f9d",
        ),
        (
            Event {
                wall_time: 1_700_000_000.5,
                step: 42,
                what: EventWhat::Summary(vec![SummaryValue {
                    tag: "loss".into(),
                    simple_value: Some(0.25),
                }]),
            },
            "1a00000000000000129bd82d0900002040fc54d941102a2a0d0a0b0a046c6f7373150000803e8693daf7",
        ),
        (
            Event { wall_time: 1_700_000_001.25, step: 100, what: EventWhat::SessionStart },
            "0f000000000000006d532b090900005040fc54d94110643a020801c541ef6c",
        ),
    ]
}

#[test]
fn encoding_is_byte_identical_to_tensorboards_python_writer() {
    for (event, expected) in golden_records() {
        let mut framed = Vec::new();
        encode_record(&event.encode(), &mut framed);
        assert_eq!(framed, hex(expected), "{event:?}");
    }
}

#[test]
fn decodes_tensorboards_python_output() {
    let bytes: Vec<u8> = golden_records().iter().flat_map(|(_, record)| hex(record)).collect();
    let split = split_records(&bytes).unwrap();
    assert_eq!(split.truncated_at, None);
    let decoded: Vec<Event> = split.records.iter().map(|r| Event::decode(r).unwrap()).collect();
    let expected: Vec<Event> = golden_records().into_iter().map(|(event, _)| event).collect();
    assert_eq!(decoded, expected);
}

#[test]
fn decoder_skips_unknown_fields_and_rejects_garbage() {
    let mut message =
        Event { wall_time: 2.5, step: -3, what: EventWhat::FileVersion("x".into()) }.encode();
    // Field 10 (source_metadata), length-delimited, 2 bytes; then field 15 as a varint.
    message.extend_from_slice(&[0x52, 0x02, 0xAA, 0xBB, 0x78, 0x96, 0x01]);
    let event = Event::decode(&message).unwrap();
    assert_eq!(event, Event { wall_time: 2.5, step: -3, what: EventWhat::FileVersion("x".into()) });

    for garbage in [&[0xFF, 0xFF, 0xFF][..], &[0x0A, 0x05, b'a'], &[0x0B], &[0x09, 1, 2]] {
        assert!(Event::decode(garbage).is_err(), "{garbage:?}");
    }
}

#[test]
fn writes_scalars_that_read_back() {
    let dir = scratch_dir("round_trip");
    let before =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
    let mut writer = EventWriter::create(&dir).unwrap();
    let logged = [
        ("train/loss", 2.5f32, 1i64),
        ("train/loss", 1.75, 2),
        ("eval/f1", 0.8125, 2),
        ("train/loss", f32::NAN, 3),
    ];
    for (tag, value, step) in logged {
        writer.add_scalar(tag, value, step).unwrap();
    }
    writer.flush().unwrap();
    let after =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();

    let name = writer.path().file_name().unwrap().to_string_lossy().into_owned();
    let parts: Vec<&str> = name.splitn(5, '.').collect();
    assert_eq!(&parts[..3], ["events", "out", "tfevents"], "{name}");
    assert!(parts[3].parse::<u64>().is_ok_and(|secs| secs as f64 >= before.floor()), "{name}");
    assert!(!parts[4].is_empty(), "hostname missing from {name}");

    let file = read_event_file(writer.path()).unwrap();
    assert!(!file.truncated_tail);
    assert_eq!(file.events[0].what, EventWhat::FileVersion(FILE_VERSION.into()));
    assert_eq!(FILE_VERSION, "brain.Event:2");

    let log = read_scalars(writer.path()).unwrap();
    assert_eq!(log.scalars.len(), logged.len());
    for (scalar, (tag, value, step)) in log.scalars.iter().zip(logged) {
        assert_eq!((scalar.tag.as_str(), scalar.step), (tag, step));
        assert_eq!(scalar.value.to_bits(), value.to_bits(), "{tag}@{step}");
        assert!(
            (before..=after).contains(&scalar.wall_time),
            "{} not in {before}..{after}",
            scalar.wall_time
        );
    }
    assert_eq!(log.series("eval/f1"), vec![(2, 0.8125)]);
}

#[test]
fn every_truncation_of_the_last_record_is_reported_not_fatal() {
    let (dir, mut writer) = writer_after_one_point("truncation");
    let complete_len = fs::metadata(writer.path()).unwrap().len();
    writer.add_scalar("loss", 0.5, 2).unwrap();
    writer.flush().unwrap();
    let full = fs::read(writer.path()).unwrap();

    for cut in complete_len as usize + 1..full.len() {
        fs::write(writer.path(), &full[..cut]).unwrap();
        let file = read_event_file(writer.path()).unwrap();
        assert!(file.truncated_tail, "cut at {cut}");
        assert_eq!(file.events.len(), 2, "cut at {cut}");
        let log = read_scalars(&dir).unwrap();
        assert_eq!(log.series("loss"), vec![(1, 1.0)], "cut at {cut}");
        assert_eq!(log.truncated_files, vec![writer.path().to_path_buf()]);
    }
}

#[test]
fn corrupted_records_are_errors_naming_the_file_and_offset() {
    let (_, writer) = writer_after_one_point("corruption");
    let path = writer.path().to_path_buf();
    let original = fs::read(&path).unwrap();
    let second_record = original.len() - (split_records(&original).unwrap().records[1].len() + 16);

    for (byte, expected) in
        [(second_record + 2, "length CRC mismatch"), (original.len() - 6, "data CRC mismatch")]
    {
        let mut corrupted = original.clone();
        corrupted[byte] ^= 0x40;
        fs::write(&path, &corrupted).unwrap();
        let error = read_event_file(&path).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::InvalidData);
        let message = error.to_string();
        assert!(message.contains(&path.display().to_string()), "{message}");
        assert!(
            message.contains(&format!("record at byte {second_record}: {expected}")),
            "{message}"
        );
    }

    // A record that is intact but does not hold a protobuf Event.
    let mut not_an_event = original[..second_record].to_vec();
    encode_record(&[0xFF, 0xFF], &mut not_an_event);
    fs::write(&path, &not_an_event).unwrap();
    let message = read_event_file(&path).unwrap_err().to_string();
    assert!(message.contains("record #1: malformed protobuf"), "{message}");
}

#[test]
fn missing_file_error_carries_the_path() {
    let path = scratch_dir("missing").join("events.out.tfevents.nothing");
    let error = read_event_file(&path).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::NotFound);
    assert!(error.to_string().contains(&path.display().to_string()), "{error}");
}

#[test]
fn writer_reports_an_uncreatable_directory_with_its_path() {
    let blocker = scratch_dir("uncreatable").join("a-file");
    fs::write(&blocker, b"not a directory").unwrap();
    let error = EventWriter::create(blocker.join("run")).unwrap_err();
    assert!(error.to_string().contains(&blocker.display().to_string()), "{error}");
}

#[test]
fn resumed_run_replaces_points_logged_after_the_checkpoint() {
    let dir = scratch_dir("resume");
    let mut first = EventWriter::create(&dir).unwrap();
    for step in 1..=10 {
        first.add_scalar("loss", step as f32, step).unwrap();
    }
    first.flush().unwrap();
    drop(first);

    // Checkpoint was taken after step 5: the resumed run logs from step 6 again.
    let mut resumed = EventWriter::resume(&dir, 6).unwrap();
    for step in 6..=8 {
        resumed.add_scalar("loss", -(step as f32), step).unwrap();
    }
    resumed.flush().unwrap();

    let files: Vec<_> = fs::read_dir(&dir).unwrap().collect();
    assert_eq!(files.len(), 2, "resume must add a file, not overwrite one");
    let log = read_scalars(&dir).unwrap();
    let expected: Vec<(i64, f32)> =
        (1..=5).map(|s| (s, s as f32)).chain((6..=8).map(|s| (s, -(s as f32)))).collect();
    assert_eq!(log.series("loss"), expected);
    assert!(log.truncated_files.is_empty());
}
