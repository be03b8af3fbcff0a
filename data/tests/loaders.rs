//! Loaders on the synthetic fixtures in the published schemas (Aegis 2.0, Aegis 1.0,
//! CantTalkAboutThis), the user's own rows, and bad rows.

mod common;

use common::fixture;
use guardtune_data::{
    load_source, DataError, GuardExample, LoadOptions, OnError, Policy, Role, Safety, SourceKind,
    Target, Topic, TopicSampling,
};
use std::io::Write;

fn load(kind: SourceKind, path: &str, options: &LoadOptions) -> guardtune_data::LoadedSource {
    load_source(kind, &fixture(path), options).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn by_id<'a>(examples: &'a [GuardExample], id: &str) -> &'a GuardExample {
    examples.iter().find(|e| e.id == id).unwrap_or_else(|| panic!("no example {id}"))
}

fn safety_target(e: &GuardExample) -> (Option<Safety>, Option<Safety>, Vec<String>) {
    match &e.target {
        Target::Safety { user, response, categories } => (*user, *response, categories.clone()),
        Target::Topic(_) => panic!("{} is a topic example", e.id),
    }
}

#[test]
fn aegis2_rows_become_examples() {
    let loaded = load(SourceKind::Aegis2, "aegis2/train.json", &LoadOptions::default());
    let report = &loaded.report;
    assert_eq!(report.rows_read, 12);
    assert_eq!(report.skipped.get("REDACTED prompt"), Some(&2));
    assert_eq!(loaded.examples.len(), 10);
    assert_eq!(report.examples, 10);

    let guns = by_id(&loaded.examples, "synthetic-aegis2-0002");
    assert_eq!(guns.conversation.len(), 1);
    assert_eq!(guns.policy, Policy::Aegis2Taxonomy);
    assert_eq!(guns.source, "train.json");
    assert_eq!(
        safety_target(guns),
        (
            Some(Safety::Unsafe),
            None,
            vec!["Guns and Illegal Weapons".into(), "Criminal Planning/Confessions".into()]
        )
    );

    let dog = by_id(&loaded.examples, "synthetic-aegis2-0003");
    assert_eq!(dog.conversation[1].role, Role::Assistant);
    assert_eq!(safety_target(dog).1, Some(Safety::Unsafe));

    // An empty response makes a prompt-only example.
    let limerick = by_id(&loaded.examples, "synthetic-aegis2-0006");
    assert_eq!(limerick.conversation.len(), 1);
    assert_eq!(
        safety_target(limerick),
        (Some(Safety::Unsafe), None, vec!["Harassment".into(), "Profanity".into()])
    );
    assert_eq!(report.notes.get("empty response: used as a prompt-only example"), Some(&1));

    // "Needs Caution" on an all-safe row stays out of the target.
    assert_eq!(
        safety_target(by_id(&loaded.examples, "synthetic-aegis2-0007")).2,
        Vec::<String>::new()
    );
    assert_eq!(report.notes.get("categories on an all-safe row left out of the target"), Some(&1));

    // Card spellings are normalised; unknown names are kept and reported.
    let council = by_id(&loaded.examples, "synthetic-aegis2-0008");
    assert_eq!(
        safety_target(council).2,
        vec!["High Risk Gov Decision Making".to_string(), "Space Piracy".to_string()]
    );
    assert_eq!(report.unknown_categories.get("Space Piracy"), Some(&1));
    assert_eq!(
        safety_target(by_id(&loaded.examples, "synthetic-aegis2-0009")).2,
        vec!["Controlled/Regulated Substances".to_string()]
    );
    assert_eq!(
        safety_target(by_id(&loaded.examples, "synthetic-aegis2-0010")).2,
        vec!["Sexual (minor)".to_string()]
    );
}

#[test]
fn aegis2_json_jsonl_and_parquet_give_the_same_examples() {
    let json = load(SourceKind::Aegis2, "aegis2/train.json", &LoadOptions::default());
    let jsonl = load(SourceKind::Aegis2, "aegis2/train.jsonl", &LoadOptions::default());
    let parquet = load(SourceKind::Aegis2, "aegis2/train.parquet", &LoadOptions::default());
    let without_source = |examples: &[GuardExample]| {
        examples
            .iter()
            .map(|e| GuardExample { source: String::new(), ..e.clone() })
            .collect::<Vec<_>>()
    };
    assert_eq!(without_source(&json.examples), without_source(&jsonl.examples));
    assert_eq!(without_source(&json.examples), without_source(&parquet.examples));
    assert_eq!(json.report.skipped, parquet.report.skipped);
    assert_eq!(json.report.notes, parquet.report.notes);
}

#[test]
fn aegis2_gzip_and_other_split_files_read() {
    let dir = tempdir("aegis2-gz");
    let bytes = std::fs::read(fixture("aegis2/train.jsonl")).unwrap();
    let path = dir.join("train.jsonl.gz");
    let mut encoder = flate2_writer(&path);
    encoder.write_all(&bytes).unwrap();
    encoder.finish().unwrap();
    let gz = load_source(SourceKind::Aegis2, &path, &LoadOptions::default()).unwrap();
    assert_eq!(gz.examples.len(), 10);
    for (file, rows) in [
        ("refusals_train.json", 2),
        ("validation.json", 2),
        ("refusals_validation.json", 1),
        ("test.json", 2),
    ] {
        let loaded = load(SourceKind::Aegis2, &format!("aegis2/{file}"), &LoadOptions::default());
        assert_eq!(loaded.examples.len(), rows, "{file}");
    }
}

#[test]
fn bad_rows_name_file_row_and_field() {
    let path = fixture("aegis2-bad/train.json");
    let error = load_source(SourceKind::Aegis2, &path, &LoadOptions::default()).unwrap_err();
    let DataError::Row(row) = &error else { panic!("expected a row error, got {error}") };
    assert_eq!((row.row, row.field.as_str()), (2, "prompt_label"));
    let message = error.to_string();
    assert!(
        message.contains("aegis2-bad/train.json")
            && message.contains("row 2")
            && message.contains("`prompt_label`")
    );
    assert!(
        message.contains("expected \"safe\" or \"unsafe\"") && message.contains("\"maybe\""),
        "{message}"
    );

    let skip = LoadOptions { on_error: OnError::Skip, ..LoadOptions::default() };
    let loaded = load_source(SourceKind::Aegis2, &path, &skip).unwrap();
    assert_eq!(
        loaded.examples.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
        ["synthetic-aegis2-0901", "synthetic-aegis2-0905"]
    );
    assert_eq!(loaded.report.skipped.get("bad row"), Some(&3));
    let listed = loaded.report.bad_rows.join("\n");
    assert!(
        listed.contains("row 3, field `prompt`: expected a string, found no such field"),
        "{listed}"
    );
    assert!(listed.contains("row 4, field `response_label`"), "{listed}");
}

#[test]
fn malformed_files_and_lines() {
    let dir = tempdir("malformed");
    let broken = dir.join("broken.json");
    std::fs::write(&broken, "[{\"id\": \"a\",}").unwrap();
    let error = load_source(SourceKind::Aegis2, &broken, &LoadOptions::default()).unwrap_err();
    assert!(
        matches!(error, DataError::File { .. }) && error.to_string().contains("line 1"),
        "{error}"
    );

    let lines = dir.join("rows.jsonl");
    std::fs::write(&lines, "{\"prompt\": \"hi\", \"prompt_label\": \"safe\"}\n\nnot json\n[1]\n")
        .unwrap();
    let error = load_source(SourceKind::Jsonl, &lines, &LoadOptions::default()).unwrap_err();
    assert!(
        error.to_string().contains("row 3, field `(row)`: expected a JSON object on one line"),
        "{error}"
    );
    let skip = LoadOptions { on_error: OnError::Skip, ..LoadOptions::default() };
    let loaded = load_source(SourceKind::Jsonl, &lines, &skip).unwrap();
    assert_eq!((loaded.examples.len(), loaded.report.skipped.get("bad row")), (1, Some(&2)));
    assert!(loaded.report.bad_rows[1]
        .contains("row 4, field `(row)`: expected a JSON object, found a list of 1 items"));

    let error_of = |kind: SourceKind, name: &str, contents: &str| {
        let path = dir.join(name);
        std::fs::write(&path, contents).unwrap();
        load_source(kind, &path, &LoadOptions::default()).unwrap_err().to_string()
    };
    assert!(error_of(SourceKind::Jsonl, "rows.txt", "x").contains("unsupported file type"));
    let missing = dir.join("missing.json");
    assert!(matches!(
        load_source(SourceKind::Jsonl, &missing, &LoadOptions::default()),
        Err(DataError::Io { .. })
    ));
    assert!(error_of(SourceKind::Aegis2, "x.parquet", "not parquet").contains("Parquet"));
}

#[test]
fn aegis1_majority_vote_and_needs_caution_choice() {
    let path = fixture("aegis1/train.json");
    assert!(matches!(
        load_source(SourceKind::Aegis1, &path, &LoadOptions::default()),
        Err(DataError::Config(_))
    ));

    let defensive = LoadOptions { needs_caution: Some(Safety::Unsafe), ..LoadOptions::default() };
    let loaded = load_source(SourceKind::Aegis1, &path, &defensive).unwrap();
    assert_eq!(loaded.report.rows_read, 8);
    assert_eq!(loaded.report.skipped.get("text_type is not user_message"), Some(&1));
    let labels = |examples: &[GuardExample]| -> Vec<(String, Option<Safety>, Vec<String>)> {
        examples
            .iter()
            .map(|e| {
                let (u, _, c) = safety_target(e);
                (e.id.clone(), u, c)
            })
            .collect()
    };
    let s = |x: &str| x.to_string();
    assert_eq!(
        labels(&loaded.examples),
        vec![
            (s("synthetic-aegis1-001"), Some(Safety::Safe), vec![]),
            (s("synthetic-aegis1-002"), Some(Safety::Unsafe), vec![s("Violence"), s("Threat")]),
            // One "Needs Caution" against one "Safe": a tie, resolved as Needs Caution is.
            (s("synthetic-aegis1-003"), Some(Safety::Unsafe), vec![s("Needs Caution")]),
            (s("synthetic-aegis1-004"), Some(Safety::Unsafe), vec![s("Needs Caution")]),
            (
                s("synthetic-aegis1-006"),
                Some(Safety::Unsafe),
                vec![s("Guns and Illegal Weapons"), s("Criminal Planning/Confessions")]
            ),
            (s("synthetic-aegis1-007"), Some(Safety::Unsafe), vec![s("Sexual (minor)")]),
            (s("synthetic-aegis1-008"), Some(Safety::Safe), vec![]),
        ]
    );

    let permissive = LoadOptions { needs_caution: Some(Safety::Safe), ..LoadOptions::default() };
    let loaded = load_source(SourceKind::Aegis1, &path, &permissive).unwrap();
    let unsafe_ids: Vec<String> = loaded
        .examples
        .iter()
        .filter(|e| safety_target(e).0 == Some(Safety::Unsafe))
        .map(|e| e.id.clone())
        .collect();
    assert_eq!(
        unsafe_ids,
        ["synthetic-aegis1-002", "synthetic-aegis1-006", "synthetic-aegis1-007"]
    );
}

#[test]
fn canttalkaboutthis_distractors_are_off_topic_and_choices_are_seeded() {
    let path = fixture("canttalkaboutthis/synthetic_dialogues.jsonl");
    let options = |seed, on, off| LoadOptions {
        seed,
        topic_sampling: TopicSampling { on_topic_per_dialogue: on, off_topic_per_dialogue: off },
        ..LoadOptions::default()
    };
    let loaded = load_source(SourceKind::CantTalkAboutThis, &path, &options(7, 1, 1)).unwrap();
    assert_eq!(loaded.report.rows_read, 2);
    assert_eq!(loaded.examples.len(), 4);
    for example in &loaded.examples {
        example.check_trainable().unwrap();
        let last = example.conversation.last().unwrap();
        assert_eq!(last.role, Role::User);
        let is_distractor = last.content.contains("stocks")
            || last.content.contains("pasta")
            || last.content.contains("politics");
        let expected = if is_distractor { Topic::OffTopic } else { Topic::OnTopic };
        assert_eq!(example.target, Target::Topic(expected), "{}", example.id);
        let Policy::Custom(policy) = &example.policy else {
            panic!("topic examples carry the system instruction")
        };
        assert!(policy.starts_with("You are a"));
    }
    // Same seed, same choice; all candidates when asked for more than there are.
    assert_eq!(
        load_source(SourceKind::CantTalkAboutThis, &path, &options(7, 1, 1)).unwrap().examples,
        loaded.examples
    );
    let all = load_source(SourceKind::CantTalkAboutThis, &path, &options(7, 100, 100)).unwrap();
    let count = |topic| all.examples.iter().filter(|e| e.target == Target::Topic(topic)).count();
    // Dialogue 1: blocks of 3 and 4 user turns, one distractor each; dialogue 2: 3 user turns, one distractor.
    assert_eq!((count(Topic::OnTopic), count(Topic::OffTopic)), (7, 3));
    // Different seeds choose differently somewhere.
    let choices: std::collections::BTreeSet<Vec<String>> = (0..20)
        .map(|seed| {
            load_source(SourceKind::CantTalkAboutThis, &path, &options(seed, 1, 1))
                .unwrap()
                .examples
                .into_iter()
                .map(|e| e.id)
                .collect()
        })
        .collect();
    assert!(choices.len() > 1);
}

#[test]
fn canttalkaboutthis_flat_turn_list_and_bad_roles() {
    let dir = tempdir("ctat");
    let flat = dir.join("flat.jsonl");
    let row = serde_json::json!({
        "domain": "health", "scenario": "s", "system_instruction": "Only talk about appointments.",
        "conversation": [],
        "distractors": [{"bot turn": "b", "distractor": "Who won the match?"}],
        "conversation_with_distractors": [
            {"role": "user", "content": "Book me in for Monday."},
            {"role": "assistant", "content": "Done."},
            {"role": "user", "content": "Who won the match?"}
        ]
    });
    std::fs::write(&flat, format!("{row}\n")).unwrap();
    let all = LoadOptions {
        topic_sampling: TopicSampling { on_topic_per_dialogue: 5, off_topic_per_dialogue: 5 },
        ..LoadOptions::default()
    };
    let loaded = load_source(SourceKind::CantTalkAboutThis, &flat, &all).unwrap();
    assert_eq!(
        loaded.examples.iter().map(|e| e.target.clone()).collect::<Vec<_>>(),
        [Target::Topic(Topic::OnTopic), Target::Topic(Topic::OffTopic)]
    );
    assert_eq!(loaded.examples[1].conversation.len(), 3);

    let bad = dir.join("bad.jsonl");
    let mut row = row;
    row["conversation_with_distractors"][1]["role"] = serde_json::json!("bot");
    std::fs::write(&bad, format!("{row}\n")).unwrap();
    let error = load_source(SourceKind::CantTalkAboutThis, &bad, &all).unwrap_err().to_string();
    assert!(error.contains("row 1, field `conversation_with_distractors[1].role`: expected \"user\" or \"assistant\", found the string \"bot\""), "{error}");
}

#[test]
fn user_rows() {
    let loaded = load(
        SourceKind::Jsonl,
        "user/rows.jsonl",
        &LoadOptions { source_name: Some("mine".into()), ..LoadOptions::default() },
    );
    assert_eq!(loaded.examples.len(), 4);
    assert_eq!(loaded.examples[0].id, "u1");
    assert_eq!(loaded.examples[1].id, "rows.jsonl:2");
    assert_eq!(loaded.examples[1].source, "mine");
    assert_eq!(
        safety_target(&loaded.examples[1]).2,
        vec!["Threat".to_string(), "Harassment".to_string()]
    );
    assert_eq!(
        safety_target(&loaded.examples[3]),
        (
            Some(Safety::Unsafe),
            Some(Safety::Unsafe),
            vec!["Illegal Activity".into(), "Fraud/Deception".into()]
        )
    );

    let dir = tempdir("user");
    let error_of = |name: &str, rows: &str| {
        let path = dir.join(name);
        std::fs::write(&path, rows).unwrap();
        load_source(SourceKind::Jsonl, &path, &LoadOptions::default()).unwrap_err().to_string()
    };
    let error = error_of(
        "typo.jsonl",
        "{\"prompt\": \"hi\", \"prompt_label\": \"safe\", \"respones\": \"x\"}\n",
    );
    assert!(
        error.contains(
            "row 1, field `respones`: expected only the fields prompt, response, prompt_label"
        ),
        "{error}"
    );
    let error = error_of(
        "orphan.jsonl",
        "{\"prompt\": \"hi\", \"prompt_label\": \"safe\", \"response_label\": \"safe\"}\n",
    );
    assert!(
        error.contains("field `response_label`: expected null because `response` is null"),
        "{error}"
    );
}

#[test]
fn source_kinds_parse_by_name() {
    for kind in SourceKind::ALL {
        assert_eq!(kind.name().parse::<SourceKind>().unwrap(), kind);
    }
    let error = "aegis3".parse::<SourceKind>().unwrap_err().to_string();
    assert!(error.contains("aegis2, aegis1, canttalkaboutthis, openai-moderation"), "{error}");
}

fn tempdir(name: &str) -> std::path::PathBuf {
    let dir =
        std::env::temp_dir().join(format!("guardtune-data-tests-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn flate2_writer(path: &std::path::Path) -> flate2::write::GzEncoder<std::fs::File> {
    flate2::write::GzEncoder::new(
        std::fs::File::create(path).unwrap(),
        flate2::Compression::default(),
    )
}
