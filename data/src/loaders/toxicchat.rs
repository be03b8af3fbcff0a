//! ToxicChat as a JSON array of `{text, label, source, category}` with `label` `safe` or
//! `harmful` (prompt level).

use super::{RowContext, RowOutcome};
use crate::error::RowError;
use crate::example::Safety;
use crate::rows::Fields;

const LABELS: [(&str, Safety); 2] = [("safe", Safety::Safe), ("harmful", Safety::Unsafe)];

pub(super) fn parse_row(fields: &Fields, row: &mut RowContext) -> Result<RowOutcome, RowError> {
    let text = fields.string("text")?;
    let label = fields.choice("label", &LABELS)?;
    let id = row.default_id(fields.row);
    Ok(row.example(id, text, None, Some(label), None, Vec::new()))
}
