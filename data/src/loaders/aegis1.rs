//! Aegis 1.0 rows: `id`, `text`, `text_type`, `labels_0`..`labels_4`, `num_annotations`.
//!
//! Each `labels_k` is one annotator's label: "Safe", "Needs Caution", a hazard category, or
//! null / "None" when that annotator did not label the row (so `num_annotations` is not needed).
//! The label is a majority vote of safe against unsafe votes; "Needs Caution" votes, and ties,
//! count as the configured `needs_caution` label. Unsafe rows list the hazard categories voted,
//! most votes first.
//!
//! Only `user_message` rows are used: they are a user prompt. Other text types (LLM responses,
//! whole dialogues) come without a user/assistant split in the published schema, so they are
//! skipped and counted rather than guessed at.

use super::labels::normalize_categories;
use super::{RowContext, RowOutcome};
use crate::error::RowError;
use crate::example::Safety;
use crate::rows::Fields;

const ANNOTATOR_FIELDS: [&str; 5] = ["labels_0", "labels_1", "labels_2", "labels_3", "labels_4"];

pub(super) fn parse_row(fields: &Fields, row: &mut RowContext) -> Result<RowOutcome, RowError> {
    let text = fields.string("text")?;
    if fields.string("text_type")? != "user_message" {
        return Ok(RowOutcome::Skip("text_type is not user_message"));
    }
    let id = fields.optional_id("id")?.unwrap_or_else(|| row.default_id(fields.row));
    // `load_source` refuses aegis1 without a needs_caution choice, so the fallback is never used.
    let needs_caution = row.options.needs_caution.unwrap_or(Safety::Unsafe);

    let mut votes = Vec::new();
    for field in ANNOTATOR_FIELDS {
        match fields.optional_string(field)?.map(str::trim) {
            None | Some("") | Some("None") => {}
            Some(label) => votes.push(label),
        }
    }
    if votes.is_empty() {
        return Err(fields.error(
            "labels_0",
            "at least one annotator label in labels_0..labels_4",
            fields.get("labels_0"),
        ));
    }
    let vote_of = |label: &str| match label.to_ascii_lowercase().as_str() {
        "safe" => Safety::Safe,
        "needs caution" => needs_caution,
        _ => Safety::Unsafe,
    };
    let unsafe_votes = votes.iter().filter(|label| vote_of(label) == Safety::Unsafe).count();
    let safe_votes = votes.len() - unsafe_votes;
    let label = match unsafe_votes.cmp(&safe_votes) {
        std::cmp::Ordering::Greater => Safety::Unsafe,
        std::cmp::Ordering::Less => Safety::Safe,
        std::cmp::Ordering::Equal => needs_caution,
    };

    let categories = if label == Safety::Unsafe {
        normalize_categories(
            by_vote_count(&votes, |l| vote_of(l) == Safety::Unsafe).into_iter(),
            row.report,
        )
    } else {
        Vec::new()
    };
    Ok(row.example(id, text, None, Some(label), None, categories))
}

/// The distinct labels that pass `keep`, most votes first, ties in first-vote order.
fn by_vote_count<'a>(votes: &[&'a str], keep: impl Fn(&str) -> bool) -> Vec<&'a str> {
    let mut counted: Vec<(&str, usize)> = Vec::new();
    for vote in votes.iter().copied().filter(|vote| keep(vote)) {
        match counted.iter_mut().find(|(label, _)| *label == vote) {
            Some((_, count)) => *count += 1,
            None => counted.push((vote, 1)),
        }
    }
    // A stable sort keeps first-vote order among equal counts.
    counted.sort_by_key(|&(_, count)| std::cmp::Reverse(count));
    counted.into_iter().map(|(label, _)| label).collect()
}
