//! The user's own rows: `{prompt, response?, prompt_label, response_label?, categories?, id?}`.
//! Other fields are an error, so a misspelt optional field is not silently ignored.

use super::labels::{
    categories_for_labels, normalize_categories, response_with_label, SAFETY_LABELS,
};
use super::{RowContext, RowOutcome};
use crate::error::RowError;
use crate::rows::Fields;
use serde_json::Value;

const FIELDS: [&str; 6] =
    ["prompt", "response", "prompt_label", "response_label", "categories", "id"];

pub(super) fn parse_row(fields: &Fields, row: &mut RowContext) -> Result<RowOutcome, RowError> {
    if let Some(unknown) = fields.names().find(|name| !FIELDS.contains(&name.as_str())) {
        return Err(fields.error(
            unknown,
            format!("only the fields {}", FIELDS.join(", ")),
            fields.get(unknown),
        ));
    }
    let id = fields.optional_id("id")?.unwrap_or_else(|| row.default_id(fields.row));
    let prompt = fields.string("prompt")?;
    let user = fields.choice("prompt_label", &SAFETY_LABELS)?;
    let (response, response_label) =
        response_with_label(fields, "response", "response_label", row.report)?;
    let categories = match fields.get("categories") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(listed)) => normalize_categories(listed.split(','), row.report),
        Some(Value::Array(items)) => {
            let names = items
                .iter()
                .enumerate()
                .map(|(i, item)| {
                    item.as_str().ok_or_else(|| {
                        fields.error(&format!("categories[{i}]"), "a string", Some(item))
                    })
                })
                .collect::<Result<Vec<&str>, RowError>>()?;
            normalize_categories(names.into_iter(), row.report)
        }
        other => {
            return Err(fields.error(
                "categories",
                "a comma-separated string or a list of strings",
                other,
            ))
        }
    };
    let categories = categories_for_labels(categories, user, response_label, row.report);
    Ok(row.example(id, prompt, response, Some(user), response_label, categories))
}
