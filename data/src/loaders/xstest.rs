//! XSTest prompts (`xstest_prompts.csv`): `id, prompt, type, label, focus, note`; `label` is
//! `safe` or `unsafe` (prompt level). XSTest's types are not Aegis categories, so none are attached.

use super::labels::SAFETY_LABELS;
use super::{RowContext, RowOutcome};
use crate::error::RowError;
use crate::rows::Fields;

pub(super) fn parse_row(fields: &Fields, row: &mut RowContext) -> Result<RowOutcome, RowError> {
    let id = fields.optional_id("id")?.unwrap_or_else(|| row.default_id(fields.row));
    let prompt = fields.string("prompt")?;
    let label = fields.choice("label", &SAFETY_LABELS)?;
    Ok(row.example(id, prompt, None, Some(label), None, Vec::new()))
}
