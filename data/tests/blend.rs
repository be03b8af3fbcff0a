//! Blends: reproducible across runs and thread counts, source sizes as configured, filters,
//! length limits, validation splits, reports and rendered output.

mod common;

use common::{fixture, llama31};
use guardtune_data::{
    build_blend, read_blend_config, write_blend_jsonl, Blend, BlendConfig, GuardExample,
    GuardTokenizer, LabelFilter, Policy, Safety, SourceKind, Target, Topic, Truncation,
};
use std::path::{Path, PathBuf};

fn fixture_config() -> (BlendConfig, PathBuf) {
    read_blend_config(&fixture("blend/blend.toml")).unwrap()
}

fn blend_with_threads(
    config: &BlendConfig,
    base: &Path,
    tok: &GuardTokenizer,
    threads: usize,
) -> Blend {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
    pool.install(|| build_blend(config, base, tok)).unwrap()
}

fn from_toml(data: &str) -> BlendConfig {
    BlendConfig::from_run_toml(data).unwrap_or_else(|e| panic!("{e}"))
}

fn count_from(examples: &[GuardExample], source: &str) -> usize {
    examples.iter().filter(|e| e.source == source).count()
}

#[test]
fn same_blend_across_runs_and_thread_counts() {
    let Some(tok) = llama31() else { return };
    let (config, base) = fixture_config();
    let one = blend_with_threads(&config, &base, tok, 1);
    let again = blend_with_threads(&config, &base, tok, 1);
    let two = blend_with_threads(&config, &base, tok, 2);
    assert_eq!(one.report.hash.len(), 64);
    assert_eq!(one.report.hash, again.report.hash);
    assert_eq!(one.report.hash, two.report.hash);
    assert_eq!(one.train, two.train);
    assert_eq!(one.validation, two.validation);
    assert_eq!(one.report, two.report);

    let mut other_seed = config.clone();
    other_seed.seed = 43;
    let other = blend_with_threads(&other_seed, &base, tok, 2);
    assert_ne!(other.report.hash, one.report.hash);
}

#[test]
fn fixture_blend_sizes_and_report() {
    let Some(tok) = llama31() else { return };
    let (config, base) = fixture_config();
    let blend = blend_with_threads(&config, &base, tok, 2);
    let report = &blend.report;
    let [aegis2, topic, mine] = &report.sources[..] else { panic!("three sources") };

    // aegis2: 12 + 2 rows, 2 REDACTED; 12 examples, 20% (2) held out; 10 available.
    assert_eq!((aegis2.load.rows_read, aegis2.load.examples), (14, 12));
    assert_eq!(aegis2.load.skipped.get("REDACTED prompt"), Some(&2));
    assert_eq!((aegis2.validation, aegis2.available), (2, 10));
    assert!(
        aegis2.load.files[0].ends_with("aegis2/train.json")
            && aegis2.load.files[1].ends_with("refusals_train.json")
    );
    // topic: 2 dialogues, 2 on-topic + 1 off-topic each.
    assert_eq!((topic.load.rows_read, topic.available), (2, 6));
    assert_eq!((topic.labels.get("on-topic"), topic.labels.get("off-topic")), (Some(&4), Some(&2)));
    // Weighted total: the largest that fits without replacement, min(10 / 0.6, 6 / 0.4) = 15,
    // split 9 : 6 (= 0.6 : 0.4 exactly).
    assert_eq!((aegis2.train, topic.train), (9, 6));
    assert_eq!(aegis2.distinct_train, 9);
    // mine: count 6 from 4 rows, with replacement: one whole pass plus two.
    assert_eq!((mine.train, mine.distinct_train, mine.available), (6, 4, 4));
    assert_eq!((report.train, report.validation), (21, 2));
    assert_eq!(blend.train.len(), 21);
    assert_eq!(
        (
            count_from(&blend.train, "aegis2"),
            count_from(&blend.train, "topic"),
            count_from(&blend.train, "mine")
        ),
        (9, 6, 6)
    );

    // Interleaving spreads sources: the first 7 examples hold 3 aegis2, 2 topic, 2 mine.
    let first: Vec<&str> = blend.train[..7].iter().map(|e| e.source.as_str()).collect();
    assert_eq!(
        (
            first.iter().filter(|s| **s == "aegis2").count(),
            first.iter().filter(|s| **s == "topic").count()
        ),
        (3, 2)
    );

    // The policy file replaces the taxonomy for "mine" only.
    let policy = std::fs::read_to_string(fixture("blend/custom_policy.txt")).unwrap();
    for example in &blend.train {
        let expected = match example.source.as_str() {
            "mine" => Policy::Custom(policy.clone()),
            "aegis2" => Policy::Aegis2Taxonomy,
            _ => continue,
        };
        assert_eq!(example.policy, expected);
    }

    // Labels, categories and lengths are counted over the training examples.
    let labelled: usize =
        ["prompt safe", "prompt unsafe"].iter().filter_map(|k| aegis2.labels.get(*k)).sum();
    assert_eq!(labelled, 9);
    assert!(
        aegis2.token_lengths.unwrap().p50 > 300,
        "the guard prompt alone is a few hundred tokens"
    );
    let lengths = report.token_lengths.unwrap();
    assert!(lengths.p50 <= lengths.p90 && lengths.p90 <= lengths.p99 && lengths.p99 <= lengths.max);

    let markdown = report.to_markdown();
    for needle in [
        "# Blend report",
        &report.hash,
        "| aegis2 | aegis2 | 14 |",
        "## topic (canttalkaboutthis)",
        "REDACTED prompt 2",
        "Space Piracy",
    ] {
        assert!(markdown.contains(needle), "markdown lacks {needle:?}:\n{markdown}");
    }
    let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
    assert_eq!(json["sources"][0]["rows_read"], 14);
    assert_eq!(json["hash"], report.hash.as_str());
}

#[test]
fn source_ratios_equal_weights_within_rounding() {
    let Some(tok) = llama31() else { return };
    for (weights, total) in [
        ([0.5, 0.3, 0.2], 50usize),
        ([0.7, 0.2, 0.1], 37),
        ([1.0, 1.0, 1.0], 100),
        ([0.45, 0.45, 0.1], 21),
    ] {
        let config = from_toml(&format!(
            r#"
            [data]
            seed = 7
            max_seq_len = 4096
            total_examples = {total}
            [[data.sources]]
            name = "a"
            kind = "aegis2"
            path = "../aegis2/train.json"
            weight = {}
            replacement = true
            [[data.sources]]
            name = "b"
            kind = "jsonl"
            path = "../user/rows.jsonl"
            weight = {}
            replacement = true
            [[data.sources]]
            name = "c"
            kind = "canttalkaboutthis"
            path = "../canttalkaboutthis/synthetic_dialogues.jsonl"
            weight = {}
            replacement = true
            "#,
            weights[0], weights[1], weights[2]
        ));
        let blend = blend_with_threads(&config, &fixture("blend"), tok, 2);
        assert_eq!(blend.train.len(), total);
        let sum: f64 = weights.iter().sum();
        for (name, weight) in ["a", "b", "c"].iter().zip(weights) {
            let expected = total as f64 * weight / sum;
            let got = count_from(&blend.train, name) as f64;
            assert!(
                (got - expected).abs() < 1.0,
                "{name}: {got} vs {expected} (weights {weights:?}, total {total})"
            );
        }
    }
}

#[test]
fn asking_for_more_than_exists_needs_replacement() {
    let Some(tok) = llama31() else { return };
    let config = from_toml(
        r#"
        [data]
        seed = 1
        max_seq_len = 4096
        [[data.sources]]
        name = "user"
        kind = "jsonl"
        path = "../user/rows.jsonl"
        count = 5
        "#,
    );
    let error = build_blend(&config, &fixture("blend"), tok).unwrap_err().to_string();
    assert!(
        error.contains("source \"user\" is asked for 5 training examples but has 4")
            && error.contains("replacement = true"),
        "{error}"
    );

    let mut weighted = from_toml(
        r#"
        [data]
        seed = 1
        max_seq_len = 4096
        total_examples = 30
        [[data.sources]]
        name = "user"
        kind = "jsonl"
        path = "../user/rows.jsonl"
        weight = 1.0
        "#,
    );
    assert!(build_blend(&weighted, &fixture("blend"), tok)
        .unwrap_err()
        .to_string()
        .contains("asked for 30"));
    weighted.sources[0].replacement = true;
    let blend = build_blend(&weighted, &fixture("blend"), tok).unwrap();
    assert_eq!(blend.train.len(), 30);
    // Whole passes: every row appears 7 or 8 times.
    for row in ["u1", "rows.jsonl:2", "rows.jsonl:3", "rows.jsonl:4"] {
        let uses = blend.train.iter().filter(|e| e.id == row).count();
        assert!((7..=8).contains(&uses), "{row}: {uses}");
    }
}

#[test]
fn filters_select_examples() {
    let Some(tok) = llama31() else { return };
    let mut config = from_toml(
        r#"
        [data]
        seed = 3
        max_seq_len = 4096
        [[data.sources]]
        name = "aegis2"
        kind = "aegis2"
        paths = ["../aegis2/train.json", "../aegis2/refusals_train.json"]
        count = 1
        [data.sources.filter]
        label = "unsafe"
        has_response = true
        "#,
    );
    let targets = |config: &BlendConfig| -> (Vec<GuardExample>, usize) {
        let mut config = config.clone();
        // Ask for exactly what passes the filter.
        let probe = build_blend(&config, &fixture("blend"), tok).unwrap();
        config.sources[0].count = Some(probe.report.sources[0].available);
        let blend = build_blend(&config, &fixture("blend"), tok).unwrap();
        let filtered = blend.report.sources[0].load.skipped.get("filtered").copied().unwrap_or(0);
        (blend.train, filtered)
    };
    let (kept, filtered) = targets(&config);
    // Unsafe with a response: rows 3 and 9 of train.json and both refusal rows.
    assert_eq!(kept.len(), 4);
    assert_eq!(filtered, 12 - 4);
    for example in &kept {
        assert!(example.response_turn().is_some());
        let Target::Safety { user, response, .. } = &example.target else { panic!() };
        assert!(*user == Some(Safety::Unsafe) || *response == Some(Safety::Unsafe));
    }

    let filter = config.sources[0].filter.as_mut().unwrap();
    filter.label = Some(LabelFilter::Safe);
    filter.has_response = None;
    filter.categories.clear();
    assert_eq!(targets(&config).0.len(), 4, "rows 1, 4, 7, 11 are all safe");

    let filter = config.sources[0].filter.as_mut().unwrap();
    filter.label = None;
    filter.categories = vec!["criminal planning/confessions".into(), "Sexual Minor".into()];
    let ids: Vec<String> = targets(&config).0.into_iter().map(|e| e.id).collect();
    let mut ids = ids;
    ids.sort();
    assert_eq!(
        ids,
        [
            "synthetic-aegis2-0002",
            "synthetic-aegis2-0003",
            "synthetic-aegis2-0010",
            "synthetic-aegis2-0101"
        ]
    );
}

#[test]
fn max_seq_len_drops_or_shortens_but_never_cuts_the_answer() {
    let Some(tok) = llama31() else { return };
    let lengths: Vec<usize> = guardtune_data::load_source(
        SourceKind::CantTalkAboutThis,
        &fixture("canttalkaboutthis/synthetic_dialogues.jsonl"),
        &guardtune_data::LoadOptions {
            topic_sampling: guardtune_data::TopicSampling {
                on_topic_per_dialogue: 9,
                off_topic_per_dialogue: 9,
            },
            ..Default::default()
        },
    )
    .unwrap()
    .examples
    .iter()
    .map(|e| tok.tokenize(e).unwrap().len())
    .collect();
    let shortest = *lengths.iter().min().unwrap();
    let longest = *lengths.iter().max().unwrap();
    assert!(shortest < longest);

    let toml = |truncation: &str, max: usize| {
        from_toml(&format!(
            r#"
            [data]
            seed = 5
            max_seq_len = {max}
            truncation = "{truncation}"
            [[data.sources]]
            name = "topic"
            kind = "canttalkaboutthis"
            path = "../canttalkaboutthis/synthetic_dialogues.jsonl"
            weight = 1.0
            topic_sampling = {{ on_topic_per_dialogue = 9, off_topic_per_dialogue = 9 }}
            "#
        ))
    };
    let limit = shortest + 1;
    let dropped = build_blend(&toml("drop", limit), &fixture("blend"), tok).unwrap();
    let too_long = dropped.report.sources[0].load.skipped.get("too long").copied().unwrap_or(0);
    assert_eq!(too_long, lengths.iter().filter(|&&l| l > limit).count());
    assert_eq!(dropped.train.len(), lengths.len() - too_long);

    let shortened = build_blend(&toml("shorten", limit), &fixture("blend"), tok).unwrap();
    let report = &shortened.report.sources[0];
    assert!(report.shortened > 0);
    assert!(shortened.train.len() > dropped.train.len());
    for example in &shortened.train {
        assert!(tok.tokenize(example).unwrap().len() <= limit);
        assert!(matches!(example.target, Target::Topic(_)));
        assert_eq!(example.conversation[0].role, guardtune_data::Role::User);
    }
    assert_eq!(shortened.report.truncation, Truncation::Shorten);
    // Off-topic examples keep their distractor as the judged turn.
    let off = shortened.train.iter().filter(|e| e.target == Target::Topic(Topic::OffTopic)).count();
    assert!(off > 0);
}

#[test]
fn validation_paths_and_rendered_output() {
    let Some(tok) = llama31() else { return };
    let config = from_toml(
        r#"
        [data]
        seed = 11
        max_seq_len = 4096
        [[data.sources]]
        name = "aegis2"
        kind = "aegis2"
        path = "../aegis2/train.json"
        count = 4
        validation_paths = ["../aegis2/validation.json", "../aegis2/refusals_validation.json"]
        "#,
    );
    let blend = build_blend(&config, &fixture("blend"), tok).unwrap();
    assert_eq!((blend.train.len(), blend.validation.len()), (4, 3));
    assert_eq!(blend.report.sources[0].available, 10);

    let mut out = Vec::new();
    write_blend_jsonl(&blend, tok, &mut out).unwrap();
    let lines: Vec<serde_json::Value> =
        String::from_utf8(out).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 7);
    assert_eq!(lines[0]["split"], "train");
    assert_eq!(lines[6]["split"], "validation");
    assert_eq!(lines[6]["id"], "synthetic-aegis2-0301");
    for (line, example) in lines.iter().zip(blend.train.iter().chain(&blend.validation)) {
        let tokens = tok.tokenize(example).unwrap();
        assert_eq!(line["num_tokens"], tokens.len());
        assert_eq!(line["num_target_tokens"], tokens.num_target_tokens());
        let prompt = line["prompt"].as_str().unwrap();
        assert!(prompt.starts_with("<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024"));
        assert!(prompt.contains(example.last_user_turn().unwrap()));
        let completion = line["completion"].as_str().unwrap();
        assert!(
            completion.starts_with("{\"User Safety\": \"") && completion.ends_with("}<|eot_id|>"),
            "{completion}"
        );
    }
}

#[test]
fn config_errors_are_explained() {
    let base = r#"
        [data]
        seed = 1
        max_seq_len = 512
        [[data.sources]]
        name = "a"
        kind = "aegis2"
        path = "../aegis2/train.json"
    "#;
    let error = |extra: &str| {
        BlendConfig::from_run_toml(&format!("{base}{extra}")).unwrap_err().to_string()
    };
    assert!(
        error("weight = 1.0\ncount = 3\n").contains("source \"a\": give weight or count, not both")
    );
    assert!(error("").contains("give weight or count"));
    assert!(error("weight = -1.0\n").contains("weight must be positive"));
    assert!(error("count = 2\nshuffle = true\n").contains("unknown field `shuffle`"));
    assert!(error("count = 2\nneeds_caution = \"safe\"\n")
        .contains("needs_caution applies only to kind aegis1"));
    assert!(error("count = 2\nvalidation_fraction = 1.5\n")
        .contains("validation_fraction must be in [0, 1)"));
    assert!(error("count = 2\n[data.sources.filter]\nlabel = \"toxic\"\n")
        .contains("unknown variant `toxic`"));
    let unknown_kind = BlendConfig::from_run_toml(&base.replace("aegis2\"\n", "aegis3\"\n"))
        .unwrap_err()
        .to_string();
    assert!(unknown_kind.contains("unknown variant `aegis3`"), "{unknown_kind}");
    assert!(BlendConfig::from_run_toml("[model]\nx = 1\n")
        .unwrap_err()
        .to_string()
        .contains("missing field `data`"));

    // Folders need a split; a split needs a folder.
    let Some(tok) = llama31() else { return };
    let folder = from_toml(
        &base
            .replace("../aegis2/train.json", "../aegis2")
            .replace("kind = \"aegis2\"", "kind = \"aegis2\"\ncount = 1"),
    );
    let message = build_blend(&folder, &fixture("blend"), tok).unwrap_err().to_string();
    assert!(message.contains("is a folder: add split"), "{message}");
    let split_on_file = from_toml(&format!("{base}count = 1\nsplit = \"train\"\n"));
    assert!(build_blend(&split_on_file, &fixture("blend"), tok)
        .unwrap_err()
        .to_string()
        .contains("no path is a folder"));
    // A row that labels the response only trains (without a user verdict); a row with no
    // label at all is refused unless skipped.
    let dir = std::env::temp_dir().join(format!("guardtune-data-blend-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let write_rows = |output: &str| {
        let row = serde_json::json!([{
            "instruction": "i",
            "input": "Human user:\nhi\n\nAI assistant:\nhello\n\n",
            "output": output
        }]);
        std::fs::write(dir.join("resp.json"), row.to_string()).unwrap();
    };
    let responses = from_toml(&format!(
        "[data]\nseed = 1\nmax_seq_len = 512\n[[data.sources]]\nname = \"gr\"\nkind = \"guardreasoner\"\npath = {:?}\ncount = 1\n",
        dir.join("resp.json")
    ));
    write_rows("unharmful");
    let blend = build_blend(&responses, Path::new("."), tok).unwrap();
    assert_eq!(blend.train.len(), 1);
    write_rows("Answers: \nRequest: None\nCompletion: None\nResponse: None");
    let message = build_blend(&responses, Path::new("."), tok).unwrap_err().to_string();
    assert!(
        message.contains("neither a prompt nor a response label")
            && message.contains("on_error = \"skip\""),
        "{message}"
    );
    let mut skipping = responses.clone();
    skipping.sources[0].on_error = guardtune_data::OnError::Skip;
    let message = build_blend(&skipping, Path::new("."), tok).unwrap_err().to_string();
    assert!(message.contains("source \"gr\" has no examples left"), "{message}");
}

#[test]
fn config_round_trips_through_toml() {
    // Trainers write the resolved config back out; it must read back as the same config.
    let (config, _) = fixture_config();
    #[derive(serde::Serialize)]
    struct Run<'a> {
        data: &'a BlendConfig,
    }
    let text = toml::to_string_pretty(&Run { data: &config }).unwrap();
    assert_eq!(BlendConfig::from_run_toml(&text).unwrap(), config);
}
