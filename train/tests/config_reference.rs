//! docs/config.md against the run config's types: the keys of every table, the defaults, the
//! required keys and sections, and the strings each enum key takes. A key added, renamed or
//! removed in the types, or a default changed, fails here until the page says the same.
//!
//! The accepted key names come from the types themselves, without a list kept by hand: every
//! config table is `#[serde(deny_unknown_fields)]`, so a key the types do not know is refused
//! with an error that names every key they do know ("unknown field `x`, expected one of `a`,
//! `b`, ..."; "expected `a` or `b`" for two, "expected `a`" for one). The same trick gives the
//! strings an enum accepts ("unknown variant `x`, expected one of ..."). No table is flattened;
//! the two untagged enums (`model.device`, `lora.target_modules`) are values, not tables. One
//! documented key never reaches the types: a source's `enabled`, which the loader reads and
//! removes first; it is checked by its behaviour (`LOADER_KEYS`).

use std::collections::BTreeSet;

use guardtune::config::{load_run_config, RunConfig};
use guardtune_model::testing::repo_root;
use toml_edit::{DocumentMut, Item, TableLike, Value};

/// Every table docs/config.md documents, by dotted path (an array of tables by the array's key).
const TABLES: [&str; 11] = [
    "model",
    "lora",
    "data",
    "data.sources",
    "data.sources.filter",
    "data.sources.topic_sampling",
    "data.decontaminate",
    "training",
    "eval",
    "eval.benchmarks",
    "output",
];

/// Documented keys the loader consumes before deserialising (config/sources.rs).
const LOADER_KEYS: [&str; 1] = ["data.sources.enabled"];

/// Optional keys of which one of a group must be given (`path`/`paths`, `count`/`weight`,
/// `max_steps`/`epochs`): the minimal config sets these ones, so their defaults are not seen.
const ONE_OF_KEYS: [&str; 3] = ["data.sources.path", "data.sources.count", "training.max_steps"];

// ---------------------------------------------------------------------------------------------
// The page

#[derive(Debug)]
enum Documented {
    Required,
    Absent,
    Literal(toml::Value),
}

#[derive(Debug)]
struct Row {
    key: String,
    /// The type column: `string, one of `a`, `b`` for an enum.
    ty: String,
    default: Documented,
}

impl Row {
    fn table(&self) -> &str {
        self.key.rsplit_once('.').map_or("", |(table, _)| table)
    }

    fn name(&self) -> &str {
        self.key.rsplit('.').next().unwrap()
    }

    /// The strings an enum key takes, from its type column.
    fn variants(&self) -> Option<BTreeSet<String>> {
        let (_, list) = self.ty.split_once("one of")?;
        Some(backticked(list))
    }
}

fn docs_text() -> String {
    std::fs::read_to_string(repo_root().join("docs/config.md")).unwrap()
}

/// The `| `key` | type | default | meaning |` rows of docs/config.md.
fn documented_rows() -> Vec<Row> {
    let rows: Vec<Row> = docs_text()
        .lines()
        .filter(|line| line.starts_with("| `"))
        .map(|line| {
            let cells: Vec<&str> = line.trim_matches('|').split(" | ").map(str::trim).collect();
            assert_eq!(cells.len(), 4, "a key row needs 4 cells (no `|` in them): {line}");
            let key = cells[0].trim_matches('`').to_string();
            let default = match cells[2] {
                "required" => Documented::Required,
                "none" => Documented::Absent,
                literal => Documented::Literal(parse_literal(&key, literal)),
            };
            Row { key, ty: cells[1].to_string(), default }
        })
        .collect();
    assert!(rows.len() > 50, "docs/config.md lists only {} keys", rows.len());
    rows
}

/// A default cell: a TOML literal in backticks.
fn parse_literal(key: &str, cell: &str) -> toml::Value {
    let literal = cell
        .strip_prefix('`')
        .and_then(|c| c.strip_suffix('`'))
        .unwrap_or_else(|| panic!("{key}: default {cell:?} is not `literal`, required or none"));
    let mut table: toml::Table = toml::from_str(&format!("x = {literal}"))
        .unwrap_or_else(|e| panic!("{key}: default {literal} is not a TOML value: {e}"));
    table.remove("x").unwrap()
}

/// The `## `[section]` (required)` headings: each section and whether it is required.
fn documented_sections() -> Vec<(String, bool)> {
    docs_text()
        .lines()
        .filter_map(|line| line.strip_prefix("## `["))
        .map(|rest| {
            let (name, after) = rest.split_once("]`").unwrap();
            (name.to_string(), after.contains("(required)"))
        })
        .collect()
}

/// The names in backticks in `text`.
fn backticked(text: &str) -> BTreeSet<String> {
    text.split('`').skip(1).step_by(2).map(str::to_string).collect()
}

// ---------------------------------------------------------------------------------------------
// Configs

/// A valid config with only the keys that must be given (one of each one-of group).
fn minimal_config() -> String {
    let root = repo_root();
    format!(
        r#"
[model]
path = "{model}"

[lora]

[data]
seed = 1
max_seq_len = 512

[[data.sources]]
name = "xstest"
kind = "xstest"
path = "{xstest}"
count = 4

[training]
max_steps = 1
micro_batch_size = 1
lr = 1e-3

[output]
dir = "run"
"#,
        model = root.join("fixtures/models/tiny-smollm2").display(),
        xstest = root.join("data/fixtures/xstest/xstest_prompts.csv").display(),
    )
}

/// A valid config with an instance of every table, for adding keys to and removing keys from.
fn full_config() -> String {
    let root = repo_root();
    let xstest = root.join("data/fixtures/xstest/xstest_prompts.csv");
    format!(
        r#"
[model]
path = "{model}"

[lora]
r = 4

[data]
seed = 1
max_seq_len = 512
decontaminate = [{{ kind = "xstest", path = "{xstest}" }}]

[[data.sources]]
name = "topic"
kind = "canttalkaboutthis"
path = "{topic}"
count = 4
topic_sampling = {{ on_topic_per_dialogue = 1, off_topic_per_dialogue = 1 }}

[data.sources.filter]
label = "on-topic"

[training]
max_steps = 1
micro_batch_size = 1
lr = 1e-3

[eval]
every_steps = 1
benchmarks = [{{ kind = "xstest", path = "{xstest}" }}]

[output]
dir = "run"
"#,
        model = root.join("fixtures/models/tiny-smollm2").display(),
        xstest = xstest.display(),
        topic = root.join("data/fixtures/canttalkaboutthis/synthetic_dialogues.jsonl").display(),
    )
}

/// Loads `text` as a run config file (in a temporary folder), with no `--set`.
fn load(text: &str) -> Result<RunConfig, String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.toml");
    std::fs::write(&path, text).unwrap();
    load_run_config(&path, &[]).map_err(|e| e.to_string())
}

/// `text` with `edit` applied to the table at `table` (dotted; "" for the root; an array of
/// tables or an array of inline tables stands for its first element).
fn edited(text: &str, table: &str, edit: impl FnOnce(&mut dyn TableLike)) -> String {
    let mut doc: DocumentMut = text.parse().unwrap();
    let mut current: &mut dyn TableLike = doc.as_table_mut();
    for part in table.split('.').filter(|p| !p.is_empty()) {
        let item = current.get_mut(part).unwrap_or_else(|| panic!("no table {table}"));
        current = first_table(item).unwrap_or_else(|| panic!("{table}: `{part}` is no table"));
    }
    edit(current);
    doc.to_string()
}

fn first_table(item: &mut Item) -> Option<&mut dyn TableLike> {
    match item {
        Item::ArrayOfTables(tables) => tables.get_mut(0).map(|t| t as &mut dyn TableLike),
        Item::Value(Value::Array(values)) => {
            values.get_mut(0)?.as_inline_table_mut().map(|t| t as &mut dyn TableLike)
        }
        other => other.as_table_like_mut(),
    }
}

fn with_key(text: &str, key: &str, value: Value) -> String {
    let (table, name) = key.rsplit_once('.').unwrap_or(("", key));
    edited(text, table, |t| {
        t.insert(name, Item::Value(value));
    })
}

fn without_key(text: &str, key: &str) -> String {
    let (table, name) = key.rsplit_once('.').unwrap_or(("", key));
    edited(text, table, |t| {
        t.remove(name).unwrap_or_else(|| panic!("the config has no {key} to remove"));
    })
}

/// The names listed after "expected" in a serde error that starts at `marker`.
fn expected_names(error: &str, marker: &str) -> BTreeSet<String> {
    let (_, rest) = error.split_once(marker).unwrap_or_else(|| panic!("no {marker:?}: {error}"));
    let (_, list) = rest.split_once("expected").unwrap_or_else(|| panic!("no list: {error}"));
    backticked(list)
}

/// The keys the types accept in `table` ("" for the root), read from the error for an unknown
/// key added there.
fn accepted_keys(table: &str) -> BTreeSet<String> {
    let text = with_key(&full_config(), &format!("{table}.zz_not_a_key"), Value::from(1));
    let error = load(&text).expect_err("an unknown key is refused");
    expected_names(&error, "unknown field `zz_not_a_key`")
}

/// The value at dotted `key` in a serialised config (an array of tables: its first element).
fn lookup<'a>(value: &'a toml::Value, key: &str) -> Option<&'a toml::Value> {
    key.split('.').try_fold(value, |value, part| {
        let value = match value {
            toml::Value::Array(items) => items.first()?,
            other => other,
        };
        value.get(part)
    })
}

/// Every dotted key `text` sets itself (tables and their keys).
fn keys_set(text: &str) -> BTreeSet<String> {
    fn walk(prefix: &str, table: &dyn TableLike, out: &mut BTreeSet<String>) {
        for (name, item) in table.iter() {
            let key = if prefix.is_empty() { name.to_string() } else { format!("{prefix}.{name}") };
            out.insert(key.clone());
            let mut item = item.clone();
            if let Some(inner) = first_table(&mut item) {
                walk(&key, inner, out);
            }
        }
    }
    let doc: DocumentMut = text.parse().unwrap();
    let mut out = BTreeSet::new();
    walk("", doc.as_table(), &mut out);
    out
}

fn serialized(text: &str) -> toml::Value {
    let config = load(text).unwrap_or_else(|e| panic!("the config loads: {e}"));
    toml::Value::try_from(&config).unwrap()
}

// ---------------------------------------------------------------------------------------------
// Tests

#[test]
fn the_test_configs_load() {
    load(&minimal_config()).unwrap();
    load(&full_config()).unwrap();
}

#[test]
fn every_table_documents_exactly_the_keys_the_types_accept() {
    let rows = documented_rows();
    for row in &rows {
        assert!(TABLES.contains(&row.table()), "{}: table {} is not checked", row.key, row.table());
    }
    let mut problems = Vec::new();
    let sections: BTreeSet<String> = TABLES.iter().map(|t| t.to_string()).collect();
    let root: BTreeSet<String> = sections.iter().filter(|t| !t.contains('.')).cloned().collect();
    if accepted_keys("") != root {
        problems.push(format!("sections: types {:?}, TABLES {root:?}", accepted_keys("")));
    }
    for table in TABLES {
        let accepted = accepted_keys(table);
        let documented: BTreeSet<String> = rows
            .iter()
            .filter(|r| r.table() == table && !LOADER_KEYS.contains(&r.key.as_str()))
            .map(|r| r.name().to_string())
            .collect();
        for key in accepted.difference(&documented) {
            problems.push(format!("{table}.{key}: accepted by the types, not documented"));
        }
        for key in documented.difference(&accepted) {
            problems.push(format!("{table}.{key}: documented, not accepted by the types"));
        }
    }
    assert!(problems.is_empty(), "docs/config.md and the types disagree:\n{}", problems.join("\n"));
}

#[test]
fn documented_defaults_are_the_defaults() {
    let minimal = minimal_config();
    let set_by_minimal = keys_set(&minimal);
    // The optional tables with keys of their own get an empty instance (a source's filter).
    let with_tables =
        with_key(&minimal, "data.sources.filter", toml_edit::InlineTable::new().into());
    let (plain, tabled) = (serialized(&minimal), serialized(&with_tables));
    let mut problems = Vec::new();
    for row in documented_rows() {
        if LOADER_KEYS.contains(&row.key.as_str()) || matches!(row.default, Documented::Required) {
            continue;
        }
        if set_by_minimal.contains(&row.key) {
            assert!(
                ONE_OF_KEYS.contains(&row.key.as_str()),
                "{}: set by the minimal config",
                row.key
            );
            continue;
        }
        let source = if lookup(&plain, row.table()).is_some() { &plain } else { &tabled };
        assert!(lookup(source, row.table()).is_some(), "{}: no config has its table", row.key);
        let actual = lookup(source, &row.key);
        match (&row.default, actual) {
            (Documented::Absent, None) => {}
            (Documented::Literal(expected), Some(actual)) if expected == actual => {}
            // An empty list may be left out of the serialisation (skip_serializing_if).
            (Documented::Literal(toml::Value::Array(empty)), None) if empty.is_empty() => {}
            (documented, actual) => {
                problems.push(format!("{}: documented {documented:?}, is {actual:?}", row.key))
            }
        }
    }
    assert!(problems.is_empty(), "wrong defaults in docs/config.md:\n{}", problems.join("\n"));
}

#[test]
fn required_keys_and_sections_are_required() {
    let rows = documented_rows();
    let full = full_config();
    for row in rows.iter().filter(|r| matches!(r.default, Documented::Required)) {
        let Err(error) = load(&without_key(&full, &row.key)) else {
            panic!("{}: documented required, but the config loads without it", row.key)
        };
        let missing = format!("missing field `{}`", row.name());
        assert!(error.contains(&missing), "{}: documented required, but: {error}", row.key);
    }
    // The keys the minimal config sets are exactly the required ones and one of each group.
    let minimal = minimal_config();
    for key in keys_set(&minimal).into_iter().filter(|k| k.contains('.')) {
        let row = rows.iter().find(|r| r.key == key).unwrap_or_else(|| panic!("{key}: no row"));
        let one_of = ONE_OF_KEYS.contains(&key.as_str());
        assert!(
            one_of != matches!(row.default, Documented::Required),
            "{key}: in the minimal config, so required or one of a group, not both"
        );
        assert!(load(&without_key(&minimal, &key)).is_err(), "{key}: the config loads without it");
    }
    let sections = documented_sections();
    assert_eq!(sections.len(), 6, "the six sections have a heading each: {sections:?}");
    for (section, required) in sections {
        let loaded = load(&without_key(&full, &section)).map(|_| "loads");
        assert_eq!(loaded.is_err(), required, "[{section}] left out: {loaded:?}");
    }
}

#[test]
fn enum_keys_list_the_strings_they_take() {
    let full = full_config();
    for row in documented_rows() {
        let Some(variants) = row.variants() else { continue };
        let text = with_key(&full, &row.key, Value::from("zz-not-a-variant"));
        let error = load(&text).expect_err(&row.key);
        if error.contains("unknown variant") {
            let accepted = expected_names(&error, "unknown variant `zz-not-a-variant`");
            assert_eq!(accepted, variants, "{}: the types take other strings", row.key);
        } else {
            // The dtypes are parsed from a string (`Dtype: TryFrom<String>`), not serde variants,
            // and `f16` is a dtype that the config refuses: each documented one must load.
            for variant in &variants {
                let text = with_key(&full, &row.key, Value::from(variant.as_str()));
                assert!(load(&text).is_ok(), "{} = {variant:?}: {:?}", row.key, load(&text));
            }
        }
    }
}

#[test]
fn a_source_can_be_left_out_with_enabled_or_weight() {
    let second = |extra: &str| {
        let root = repo_root();
        let source = format!(
            "\n[[data.sources]]\nname = \"second\"\nkind = \"xstest\"\npath = \"{}\"\n{extra}\n",
            root.join("data/fixtures/xstest/xstest_prompts.csv").display()
        );
        // A second source appended after the output section's table, then its amount.
        let text = format!("{}{source}", minimal_config());
        load(&text).map(|c| c.data.sources.iter().map(|s| s.name.clone()).collect::<Vec<_>>())
    };
    let rows = documented_rows();
    for key in LOADER_KEYS {
        assert!(rows.iter().any(|r| r.key == key), "{key} is not documented");
    }
    let enabled = rows.iter().find(|r| r.key == "data.sources.enabled").unwrap();
    assert!(matches!(enabled.default, Documented::Literal(toml::Value::Boolean(true))));
    // Documented `true`: a source without `enabled` stays (the minimal config's), so does one
    // with `enabled = true`.
    assert_eq!(second("count = 2\nenabled = true").unwrap(), ["xstest", "second"]);
    assert_eq!(second("count = 2\nenabled = false").unwrap(), ["xstest"]);
    assert_eq!(second("weight = 0").unwrap(), ["xstest"]);
    assert!(second("count = 2\nenabled = 1").is_err());
}

#[test]
fn relative_paths_resolve_against_the_file_or_the_current_folder() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.toml");
    std::fs::write(&path, minimal_config()).unwrap();
    let config = load_run_config(&path, &[]).unwrap();
    assert_eq!(config.output.dir, dir.path().join("run"), "written in the file");
    let config = load_run_config(&path, &["output.dir=elsewhere".to_string()]).unwrap();
    let here = std::env::current_dir().unwrap();
    assert_eq!(config.output.dir, here.join("elsewhere"), "given with --set");
}
