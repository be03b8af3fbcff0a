//! Which key a config error is about, taken from the deserialiser's own path
//! (`serde_path_to_error`) rather than guessed from the text of the failing line: a value in an
//! inline table, a multi-line array or a source of `[[data.sources]]` is named exactly.
//!
//! A table in a list that has a `name` (a data source, a sweep variant) is named by it, as
//! `--set` addresses it: `data.sources.toxicchat.weight`; other list items by their index:
//! `eval.benchmarks[1].path`.

use std::ops::Range;
use std::path::Path;

use serde::de::DeserializeOwned;
use serde_path_to_error::Segment;
use toml_edit::{Document, Item};

use super::ConfigError;

/// One step from a table to what it holds.
enum Step {
    Key(String),
    /// The table of a list whose `name` is this.
    Named(String),
    Index(usize),
}

/// A key path, e.g. `data.sources.toxicchat.filter.label`.
struct KeyPath(Vec<Step>);

impl std::fmt::Display for KeyPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, step) in self.0.iter().enumerate() {
            match step {
                Step::Key(key) | Step::Named(key) if i == 0 => write!(f, "{key}")?,
                Step::Key(key) | Step::Named(key) => write!(f, ".{key}")?,
                Step::Index(index) => write!(f, "[{index}]")?,
            }
        }
        Ok(())
    }
}

impl KeyPath {
    /// The path of `segments` in `doc`, the document that was deserialised (for an unknown key,
    /// serde's path ends with that key).
    fn new(doc: &Document<&str>, segments: &serde_path_to_error::Path) -> Self {
        let mut steps = Vec::new();
        let mut item = Some(doc.as_item());
        for segment in segments.iter() {
            let step = match segment {
                Segment::Map { key } => Step::Key(key.clone()),
                Segment::Seq { index } => {
                    let name = item.and_then(|i| i.get(index)).and_then(|t| t.get("name"));
                    match name.and_then(Item::as_str) {
                        Some(name) => Step::Named(name.to_string()),
                        None => Step::Index(*index),
                    }
                }
                Segment::Enum { .. } | Segment::Unknown => continue,
            };
            item = item.and_then(|i| child(i, &step));
            steps.push(step);
        }
        KeyPath(steps)
    }

    /// Where this key is written in `text`, if it is.
    fn span_in(&self, text: &str) -> Option<Range<usize>> {
        let doc = Document::parse(text).ok()?;
        let mut item = doc.as_item();
        for step in &self.0 {
            item = child(item, step)?;
        }
        item.span()
    }
}

fn child<'a>(item: &'a Item, step: &Step) -> Option<&'a Item> {
    match step {
        Step::Key(key) => item.get(key),
        Step::Index(index) => item.get(index),
        Step::Named(name) => {
            let count = match item {
                Item::ArrayOfTables(tables) => tables.len(),
                Item::Value(value) => value.as_array().map_or(0, |a| a.len()),
                _ => 0,
            };
            (0..count)
                .filter_map(|i| item.get(i))
                .find(|t| t.get("name").and_then(Item::as_str) == Some(name.as_str()))
        }
    }
}

/// Deserialises `text`, the TOML that `file` holds (after any `--set` overrides, which
/// `written` does not hold: then `written` is the file's own text, where an error's line is
/// looked up by its key). An error names the file, the line and the key path.
pub(crate) fn from_toml<T: DeserializeOwned>(
    file: &Path,
    text: &str,
    written: Option<&str>,
) -> Result<T, ConfigError> {
    let deserializer =
        toml::Deserializer::parse(text).map_err(|e| located(file, text, e.span(), e.message()))?;
    serde_path_to_error::deserialize(deserializer).map_err(|e| {
        let message = e.inner().message();
        let key = Document::parse(text).ok().map(|doc| KeyPath::new(&doc, e.path()));
        let (text, span) = match (written, &key) {
            (None, _) => (text, e.inner().span()),
            (Some(written), Some(key)) => (written, key.span_in(written)),
            (Some(written), None) => (written, None),
        };
        ConfigError {
            key: key.filter(|k| !k.0.is_empty()).map(|k| k.to_string()),
            ..located(file, text, span, message)
        }
    })
}

/// The error at `span` of `text` (the contents of `file`), with its line number.
pub(crate) fn located(
    file: &Path,
    text: &str,
    span: Option<Range<usize>>,
    message: &str,
) -> ConfigError {
    let line = span.map(|span| text[..span.start.min(text.len())].matches('\n').count() + 1);
    ConfigError { line, ..ConfigError::new(file, message.trim().replace('\n', " ")) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Config {
        run: Run,
        #[serde(default)]
        sources: Vec<Source>,
        #[serde(default)]
        items: Vec<Source>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Run {
        lr: f64,
        #[serde(default)]
        filter: Option<Filter>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Filter {
        label: String,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Source {
        #[serde(default)]
        name: Option<String>,
        weight: f64,
    }

    /// A config text whose error must name `key` at `line`.
    struct Case {
        what: &'static str,
        /// The text deserialised.
        text: &'static str,
        /// The file as written, when `--set` overrides changed it.
        written: Option<&'static str>,
        line: Option<usize>,
        key: &'static str,
    }

    #[test]
    fn an_error_names_its_key_path_and_line() {
        let cases = [
            Case {
                what: "a wrong type",
                text: "[run]\nlr = \"fast\"\n",
                written: None,
                line: Some(2),
                key: "run.lr",
            },
            // The old guess from the line's text said `run.filter`.
            Case {
                what: "inside an inline table",
                text: "[run]\nlr = 1.0\nfilter = { label = 3 }\n",
                written: None,
                line: Some(3),
                key: "run.filter.label",
            },
            Case {
                what: "an unknown key",
                text: "[run]\nlr = 1.0\n\n[run.filter]\nlabel = \"x\"\ncolour = 1\n",
                written: None,
                line: Some(6),
                key: "run.filter.colour",
            },
            Case {
                what: "a list item by its name",
                text: "[run]\nlr = 1.0\n\n[[sources]]\nname = \"a\"\nweight = 1\n\n\
                 [[sources]]\nname = \"b\"\nweight = \"x\"\n",
                written: None,
                line: Some(10),
                key: "sources.b.weight",
            },
            Case {
                what: "a list item by its index",
                text: "items = [{ weight = 1 }, { weight = true }]\n[run]\nlr = 1.0\n",
                written: None,
                line: Some(1),
                key: "items[1].weight",
            },
            // `--set` moved the table about: the line is where the key stands in the file.
            Case {
                what: "a line in the file as written",
                text: "[run]\nfilter = { label = \"x\" }\nlr = \"fast\"\n",
                written: Some("[run]\nlr = \"fast\"\n"),
                line: Some(2),
                key: "run.lr",
            },
            // A key the file does not hold (a `--set` added it) has no line.
            Case {
                what: "a key only an override gave",
                text: "[run]\nlr = 1.0\nfilter = { label = 3 }\n",
                written: Some("[run]\nlr = 1.0\n"),
                line: None,
                key: "run.filter.label",
            },
        ];
        for case in cases {
            let err =
                from_toml::<Config>(Path::new("c.toml"), case.text, case.written).unwrap_err();
            let found = (err.line, err.key.as_deref());
            assert_eq!(found, (case.line, Some(case.key)), "{}", case.what);
        }
    }

    #[test]
    fn a_syntax_error_has_a_line() {
        let err = from_toml::<Config>(Path::new("c.toml"), "[run]\nlr = = 1\n", None).unwrap_err();
        assert_eq!(err.line, Some(2));
    }
}
