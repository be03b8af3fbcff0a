//! One console line for the rows a blend or a benchmark left out, so they are not seen only in
//! blend.md (or nowhere).

use std::collections::BTreeMap;

use guardtune_data::BlendReport;

/// `blend: 7 rows skipped (aegis: 5 bad row, 1 too long; xstest: 1 filtered)`, or `None` when
/// every row was used.
pub fn summary(report: &BlendReport) -> Option<String> {
    let per_source: Vec<(&str, &BTreeMap<String, usize>)> =
        report.sources.iter().map(|s| (s.name.as_str(), &s.load.skipped)).collect();
    line("blend", &per_source)
}

/// `WHAT: N rows skipped (NAME: COUNT REASON, ...; ...)` over the sources' skip counts, or `None`
/// when none was skipped.
pub fn line(what: &str, per_source: &[(&str, &BTreeMap<String, usize>)]) -> Option<String> {
    let total: usize = per_source.iter().flat_map(|(_, skipped)| skipped.values()).sum();
    if total == 0 {
        return None;
    }
    let per_source: Vec<String> = per_source
        .iter()
        .filter(|(_, skipped)| !skipped.is_empty())
        .map(|(name, skipped)| {
            let reasons: Vec<String> =
                skipped.iter().map(|(reason, n)| format!("{n} {reason}")).collect();
            format!("{name}: {}", reasons.join(", "))
        })
        .collect();
    let rows = if total == 1 { "row" } else { "rows" };
    Some(format!("{what}: {total} {rows} skipped ({})", per_source.join("; ")))
}
