//! SimpleSafetyTests (`test_cases.csv`): `id, harm_area, counter, category, prompts_final`. Every
//! prompt is unsafe by construction; its harm areas are not Aegis categories, so none are attached.

use super::{RowContext, RowOutcome};
use crate::error::RowError;
use crate::example::Safety;
use crate::rows::Fields;

pub(super) fn parse_row(fields: &Fields, row: &mut RowContext) -> Result<RowOutcome, RowError> {
    let id = fields.optional_id("id")?.unwrap_or_else(|| row.default_id(fields.row));
    let prompt = fields.string("prompts_final")?;
    Ok(row.example(id, prompt, None, Some(Safety::Unsafe), None, Vec::new()))
}
