//! Parsing the guard's answer: the inverse of [`crate::render_target`], used by classification
//! and evaluation.
//!
//! Like NeMo Guardrails' `nemoguard_parse_prompt_safety` / `nemoguard_parse_response_safety`, the
//! answer is a JSON object whose `"User Safety"` / `"Response Safety"` values are compared
//! lower-cased and whose `"Safety Categories"` are split on `,` and trimmed. Two things are more
//! lenient, because generated text often wraps the object: the first JSON object anywhere in the
//! text is used, and keys match case-insensitively. Two things are stricter, because an evaluator
//! must count unparseable answers rather than guess: a value other than safe/unsafe is an error
//! (NeMo Guardrails treats anything but "safe" as unsafe), and so is a topic answer other than
//! on-topic/off-topic (NeMo Guardrails treats anything but "off-topic" as on-topic).

use crate::example::{Safety, Topic};
use crate::taxonomy::normalize_category;
use serde_json::{Map, Value};
use thiserror::Error;

/// A parsed guard answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// A content-safety answer.
    Safety {
        /// `"User Safety"`.
        user: Safety,
        /// `"Response Safety"`, when the answer has it.
        response: Option<Safety>,
        /// `"Safety Categories"`, split and trimmed; known names normalised to the template names.
        categories: Vec<String>,
    },
    /// A topic-control answer.
    Topic(Topic),
}

/// Why an answer could not be parsed. The message quotes the offending text (shortened).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum VerdictError {
    /// Neither a JSON object nor an on-topic/off-topic answer.
    #[error("no JSON object and no on-topic/off-topic answer in {0:?}")]
    NoVerdict(String),
    /// The JSON object has no `"User Safety"` key.
    #[error("the JSON object has no \"User Safety\" key: {0}")]
    MissingUserSafety(String),
    /// A safety key holds something other than "safe" or "unsafe".
    #[error("\"{key}\" must be \"safe\" or \"unsafe\", found {found}")]
    BadSafety {
        /// The key as written.
        key: String,
        /// The value found.
        found: String,
    },
    /// `"Safety Categories"` is neither a string nor a list of strings.
    #[error("\"Safety Categories\" must be a comma-separated string, found {0}")]
    BadCategories(String),
}

/// Parses a guard answer: a content-safety JSON object (possibly surrounded by other text) or an
/// `on-topic` / `off-topic` answer. Never panics; malformed answers are an `Err`.
pub fn parse_verdict(raw: &str) -> Result<Verdict, VerdictError> {
    if let Some(topic) = parse_topic(raw) {
        return Ok(Verdict::Topic(topic));
    }
    let object = first_json_object(raw).ok_or_else(|| VerdictError::NoVerdict(shorten(raw)))?;
    let lookup = |wanted: &str| {
        object
            .iter()
            .find(|(key, _)| key.trim().eq_ignore_ascii_case(wanted))
            .map(|(key, value)| (key.as_str(), value))
    };
    let user = match lookup("User Safety") {
        Some((key, value)) => parse_safety(key, value)?,
        None => {
            return Err(VerdictError::MissingUserSafety(shorten(
                &Value::Object(object.clone()).to_string(),
            )))
        }
    };
    let response =
        lookup("Response Safety").map(|(key, value)| parse_safety(key, value)).transpose()?;
    let categories = match lookup("Safety Categories") {
        None | Some((_, Value::Null)) => Vec::new(),
        Some((_, Value::String(text))) => split_categories(text.split(',')),
        Some((_, Value::Array(items))) if items.iter().all(Value::is_string) => {
            split_categories(items.iter().filter_map(Value::as_str))
        }
        Some((_, other)) => return Err(VerdictError::BadCategories(shorten(&other.to_string()))),
    };
    Ok(Verdict::Safety { user, response, categories })
}

/// `on-topic` / `off-topic`, ignoring case, surrounding whitespace, quotes and a final period.
fn parse_topic(raw: &str) -> Option<Topic> {
    let answer =
        raw.trim().trim_matches(|c: char| c == '"' || c == '\'' || c == '`' || c.is_whitespace());
    let answer = answer.strip_suffix('.').unwrap_or(answer);
    [Topic::OnTopic, Topic::OffTopic]
        .into_iter()
        .find(|topic| answer.eq_ignore_ascii_case(topic.as_str()))
}

/// The first `{` from which a complete JSON object parses.
fn first_json_object(raw: &str) -> Option<Map<String, Value>> {
    raw.match_indices('{').find_map(|(start, _)| {
        let mut stream =
            serde_json::Deserializer::from_str(&raw[start..]).into_iter::<Map<String, Value>>();
        stream.next()?.ok()
    })
}

fn parse_safety(key: &str, value: &Value) -> Result<Safety, VerdictError> {
    let bad =
        || VerdictError::BadSafety { key: key.to_string(), found: shorten(&value.to_string()) };
    let text = value.as_str().ok_or_else(bad)?.trim();
    [Safety::Safe, Safety::Unsafe]
        .into_iter()
        .find(|s| text.eq_ignore_ascii_case(s.as_str()))
        .ok_or_else(bad)
}

fn split_categories<'a>(names: impl Iterator<Item = &'a str>) -> Vec<String> {
    names
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map(|name| normalize_category(name).map_or_else(|| name.to_string(), str::to_string))
        .collect()
}

/// At most 80 characters of `text`, for error messages.
fn shorten(text: &str) -> String {
    const LIMIT: usize = 80;
    match text.char_indices().nth(LIMIT) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}
