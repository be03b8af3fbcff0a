//! Label and category handling shared by the loaders.

use super::LoadReport;
use crate::error::RowError;
use crate::example::Safety;
use crate::rows::Fields;
use crate::taxonomy::normalize_category;

/// `safe` / `unsafe`, as Aegis 2.0 and the user's rows write them.
pub(super) const SAFETY_LABELS: [(&str, Safety); 2] =
    [("safe", Safety::Safe), ("unsafe", Safety::Unsafe)];

/// `harmful` / `unharmful`, as GuardReasoner writes them.
pub(super) const HARM_LABELS: [(&str, Safety); 2] =
    [("unharmful", Safety::Safe), ("harmful", Safety::Unsafe)];

/// Normalises category names to the template names, dropping blanks and repeats (first
/// occurrence wins, so the data's order is kept). Unknown names are kept as written and counted.
pub(super) fn normalize_categories<'a>(
    names: impl Iterator<Item = &'a str>,
    report: &mut LoadReport,
) -> Vec<String> {
    let mut categories: Vec<String> = Vec::new();
    for name in names.map(str::trim).filter(|name| !name.is_empty()) {
        let category = match normalize_category(name) {
            Some(canonical) => canonical.to_string(),
            None => {
                *report.unknown_categories.entry(name.to_string()).or_default() += 1;
                name.to_string()
            }
        };
        if !categories.contains(&category) {
            categories.push(category);
        }
    }
    categories
}

/// Keeps categories only when some label is unsafe: the target lists categories only then, and
/// Aegis 2.0 records "Needs Caution" on rows whose gold labels are safe.
pub(super) fn categories_for_labels(
    categories: Vec<String>,
    user: Safety,
    response: Option<Safety>,
    report: &mut LoadReport,
) -> Vec<String> {
    let unsafe_somewhere = user == Safety::Unsafe || response == Some(Safety::Unsafe);
    if !unsafe_somewhere && !categories.is_empty() {
        report.count_note("categories on an all-safe row left out of the target");
        return Vec::new();
    }
    categories
}

/// The response and its label, checked against each other. An empty response (Aegis 2.0 has
/// some) makes a prompt-only example, as the NemoGuard prompt omits `response: agent:` for an
/// empty response; its label is dropped and counted.
pub(super) fn response_with_label(
    fields: &Fields,
    response_field: &str,
    label_field: &str,
    report: &mut LoadReport,
) -> Result<(Option<String>, Option<Safety>), RowError> {
    let response = fields.optional_string(response_field)?;
    let label = fields.optional_choice(label_field, &SAFETY_LABELS)?;
    match (response, label) {
        (Some(text), label) if text.trim().is_empty() => {
            if label.is_some() {
                report.count_note("empty response: used as a prompt-only example");
            }
            Ok((None, None))
        }
        (Some(text), Some(label)) => Ok((Some(text.to_string()), Some(label))),
        (Some(_), None) => Err(fields.error(
            label_field,
            format!("\"safe\" or \"unsafe\" because `{response_field}` is set"),
            fields.get(label_field),
        )),
        (None, Some(_)) => Err(fields.error(
            label_field,
            format!("null because `{response_field}` is null"),
            fields.get(label_field),
        )),
        (None, None) => Ok((None, None)),
    }
}
