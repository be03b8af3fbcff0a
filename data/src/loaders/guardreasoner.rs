//! GuardReasoner benchmark files: JSON arrays of `{instruction, input, output}`.
//!
//! `input` is `"Human user:\n<prompt>\n\nAI assistant:\n<response or None>\n\n"`. `output` is
//! either one word, `harmful` / `unharmful`, or
//! `"Answers: \nRequest: <label or None>\nCompletion: <...>\nResponse: <label or None>"`.
//! A one-word output labels the response when the input has one (the response sets, e.g.
//! `0_6_xstest_response_harmful.json`) and the prompt otherwise; in the `Answers:` form, `None`
//! means that level is not labelled. Unlabelled levels stay `None`: such rows are scored on the
//! level they label, and train on it alone (see [`crate::render_answer`]).

use super::labels::HARM_LABELS;
use super::{RowContext, RowOutcome};
use crate::error::RowError;
use crate::example::Safety;
use crate::rows::{find_choice, Fields};

const USER_PREFIX: &str = "Human user:\n";
const ASSISTANT_SEPARATOR: &str = "\n\nAI assistant:\n";
/// What the files write where a response or a label is absent.
const ABSENT: &str = "None";

pub(super) fn parse_row(fields: &Fields, row: &mut RowContext) -> Result<RowOutcome, RowError> {
    let input = fields.string("input")?;
    let expected_input = "\"Human user:\\n<prompt>\\n\\nAI assistant:\\n<response or None>\"";
    let (prompt, response) = input
        .strip_prefix(USER_PREFIX)
        .and_then(|rest| rest.split_once(ASSISTANT_SEPARATOR))
        .ok_or_else(|| fields.error("input", expected_input, fields.get("input")))?;
    let response = response.strip_suffix("\n\n").unwrap_or(response);
    let response = (response != ABSENT).then(|| response.to_string());

    let output = fields.string("output")?;
    let bad_output = || {
        fields.error(
            "output",
            "\"harmful\", \"unharmful\" or \"Answers: ...\\nRequest: ...\\nResponse: ...\"",
            fields.get("output"),
        )
    };
    let (user, response_label) = if output.trim_start().starts_with("Answers:") {
        (
            answer_line(output, "Request:").ok_or_else(bad_output)?,
            answer_line(output, "Response:").ok_or_else(bad_output)?,
        )
    } else {
        let label = find_choice(output, &HARM_LABELS).ok_or_else(bad_output)?;
        if response.is_some() {
            (None, Some(label))
        } else {
            (Some(label), None)
        }
    };
    if response.is_none() && response_label.is_some() {
        return Err(fields.error(
            "output",
            "no response label, because the input has no response",
            fields.get("output"),
        ));
    }
    let id = row.default_id(fields.row);
    Ok(row.example(id, prompt, response, user, response_label, Vec::new()))
}

/// The label on the `key` line of an `Answers:` output: `Some(None)` for "None", `None` when the
/// line is missing or holds something else.
fn answer_line(output: &str, key: &str) -> Option<Option<Safety>> {
    let value = output.lines().find_map(|line| line.trim().strip_prefix(key))?.trim();
    if value == ABSENT {
        Some(None)
    } else {
        find_choice(value, &HARM_LABELS).map(Some)
    }
}
