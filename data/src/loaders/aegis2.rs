//! Aegis 2.0 rows: `id`, `reconstruction_id_if_redacted`, `prompt`, `response`, `prompt_label`,
//! `response_label`, `prompt_label_source`, `response_label_source`, `violated_categories`.

use super::labels::{
    categories_for_labels, normalize_categories, response_with_label, SAFETY_LABELS,
};
use super::{RowContext, RowOutcome};
use crate::error::RowError;
use crate::rows::Fields;

/// The literal prompt of rows whose text (from the Suicide Detection data) is not redistributed.
const REDACTED: &str = "REDACTED";

pub(super) fn parse_row(fields: &Fields, row: &mut RowContext) -> Result<RowOutcome, RowError> {
    let id = fields.string("id")?.to_string();
    let prompt = fields.string("prompt")?;
    if prompt == REDACTED {
        return Ok(RowOutcome::Skip("REDACTED prompt"));
    }
    let user = fields.choice("prompt_label", &SAFETY_LABELS)?;
    let (response, response_label) =
        response_with_label(fields, "response", "response_label", row.report)?;
    // One comma-separated string, "in order of frequency of annotations".
    let listed = fields.optional_string("violated_categories")?.unwrap_or_default();
    let categories = normalize_categories(listed.split(','), row.report);
    let categories = categories_for_labels(categories, user, response_label, row.report);
    Ok(row.example(id, prompt, response, Some(user), response_label, categories))
}
