//! `[data.sources.filter]`: which examples a source keeps.

use super::config::{FilterConfig, LabelFilter};
use crate::example::{GuardExample, Safety, Target, Topic};
use crate::taxonomy::normalize_category;

impl FilterConfig {
    /// Whether `example` passes every condition that is set.
    pub(crate) fn matches(&self, example: &GuardExample) -> bool {
        let label_ok = self.label.is_none_or(|wanted| label_of(example) == Some(wanted));
        let categories_ok = self.categories.is_empty() || {
            let wanted: Vec<String> = self.categories.iter().map(|name| canonical(name)).collect();
            match &example.target {
                Target::Safety { categories, .. } => {
                    categories.iter().any(|c| wanted.contains(&canonical(c)))
                }
                Target::Topic(_) => false,
            }
        };
        let response_ok =
            self.has_response.is_none_or(|wanted| example.response_turn().is_some() == wanted);
        label_ok && categories_ok && response_ok
    }
}

/// The example's overall label: unsafe if any level is unsafe, safe if every known level is
/// safe; `None` when no level is labelled.
fn label_of(example: &GuardExample) -> Option<LabelFilter> {
    match &example.target {
        Target::Topic(Topic::OnTopic) => Some(LabelFilter::OnTopic),
        Target::Topic(Topic::OffTopic) => Some(LabelFilter::OffTopic),
        Target::Safety { user, response, .. } => {
            let labels = [*user, *response];
            if labels.contains(&Some(Safety::Unsafe)) {
                Some(LabelFilter::Unsafe)
            } else if labels.contains(&Some(Safety::Safe)) {
                Some(LabelFilter::Safe)
            } else {
                None
            }
        }
    }
}

/// The template name of a category, or the name itself when it is not an Aegis 2.0 category.
fn canonical(name: &str) -> String {
    normalize_category(name).map_or_else(|| name.trim().to_string(), str::to_string)
}
