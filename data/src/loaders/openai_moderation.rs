//! OpenAI's moderation evaluation set (`samples-1680.jsonl.gz`): `prompt` plus 0/1 flags
//! `S, H, V, HR, SH, S3, H2, V2`.
//!
//! A prompt is unsafe when any flag is 1, safe otherwise. A missing flag means that category was
//! not annotated; rows with missing flags and no positive flag are counted as safe (the usual
//! reading of this benchmark, which gives 522 unsafe of 1,680) and noted in the report. The
//! OpenAI categories are a different taxonomy, so no Aegis categories are attached.

use super::{RowContext, RowOutcome};
use crate::error::RowError;
use crate::example::Safety;
use crate::rows::Fields;

const FLAGS: [&str; 8] = ["S", "H", "V", "HR", "SH", "S3", "H2", "V2"];

pub(super) fn parse_row(fields: &Fields, row: &mut RowContext) -> Result<RowOutcome, RowError> {
    let prompt = fields.string("prompt")?;
    let mut flagged = false;
    let mut missing = false;
    for flag in FLAGS {
        match fields.flag(flag)? {
            Some(value) => flagged |= value,
            None => missing = true,
        }
    }
    if missing && !flagged {
        row.report.count_note("unflagged row with unannotated categories counted as safe");
    }
    let label = if flagged { Safety::Unsafe } else { Safety::Safe };
    let id = row.default_id(fields.row);
    Ok(row.example(id, prompt, None, Some(label), None, Vec::new()))
}
