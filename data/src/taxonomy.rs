//! The Aegis 2.0 taxonomy as the NemoGuard content-safety prompt lists it (S1..S23), and the
//! normalisation of the other spellings found in dataset cards and model output.

/// The 23 category names in prompt order: `CATEGORIES[0]` is S1.
///
/// S1-S12 are the core hazards, S13 "Needs Caution", S14 "Other", S15-S23 the fine-grained
/// hazards (../shared/notes/aegis2.md section 1 and 2; NeMo Guardrails `prompts.yml`).
pub const CATEGORIES: [&str; 23] = [
    "Violence",
    "Sexual",
    "Criminal Planning/Confessions",
    "Guns and Illegal Weapons",
    "Controlled/Regulated Substances",
    "Suicide and Self Harm",
    "Sexual (minor)",
    "Hate/Identity Hate",
    "PII/Privacy",
    "Harassment",
    "Threat",
    "Profanity",
    "Needs Caution",
    "Other",
    "Manipulation",
    "Fraud/Deception",
    "Malware",
    "High Risk Gov Decision Making",
    "Political/Misinformation/Conspiracy",
    "Copyright/Trademark/Plagiarism",
    "Unauthorized Advice",
    "Illegal Activity",
    "Immoral/Unethical",
];

/// Spellings that differ from the template names by more than case: the Aegis 1.0 / 2.0 dataset
/// cards write these (aegis2.md section 1). Keys are in comparison form (see [`comparison_key`]).
const ALIASES: [(&str, &str); 3] = [
    ("guns/illegal weapons", "Guns and Illegal Weapons"),
    ("sexual minor", "Sexual (minor)"),
    ("high risk gov. decision making", "High Risk Gov Decision Making"),
];

/// The template name for `name`, or `None` when it is not an Aegis 2.0 category.
///
/// Matching ignores case, surrounding whitespace, repeated inner whitespace and a trailing period
/// (the prompt writes `S1: Violence.`). The card spellings "Guns/Illegal Weapons", "Sexual Minor"
/// and "High Risk Gov. Decision Making" map to their template names, and the codes `S1`..`S23`
/// map to the category they number.
pub fn normalize_category(name: &str) -> Option<&'static str> {
    let key = comparison_key(name);
    if let Some(code) = key.strip_prefix('s').and_then(|n| n.parse::<usize>().ok()) {
        return CATEGORIES.get(code.checked_sub(1)?).copied();
    }
    CATEGORIES.iter().copied().find(|canonical| comparison_key(canonical) == key).or_else(|| {
        ALIASES.iter().find(|(alias, _)| *alias == key).map(|(_, canonical)| *canonical)
    })
}

/// The S-code (1-based) of a template name, e.g. 7 for "Sexual (minor)".
pub fn category_number(canonical: &str) -> Option<usize> {
    CATEGORIES.iter().position(|c| *c == canonical).map(|i| i + 1)
}

fn comparison_key(name: &str) -> String {
    let trimmed = name.trim();
    let trimmed = trimmed.strip_suffix('.').unwrap_or(trimmed);
    trimmed.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase()
}
