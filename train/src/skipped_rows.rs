//! One console line for the rows a blend left out, so they are not seen only in blend.md.

use guardtune_data::BlendReport;

/// `blend: 7 rows skipped (aegis: 5 bad row, 1 too long; xstest: 1 filtered)`, or `None` when
/// every row was used.
pub fn summary(report: &BlendReport) -> Option<String> {
    let total: usize = report.sources.iter().flat_map(|s| s.load.skipped.values()).sum();
    if total == 0 {
        return None;
    }
    let per_source: Vec<String> = report
        .sources
        .iter()
        .filter(|s| !s.load.skipped.is_empty())
        .map(|s| {
            let reasons: Vec<String> =
                s.load.skipped.iter().map(|(reason, n)| format!("{n} {reason}")).collect();
            format!("{}: {}", s.name, reasons.join(", "))
        })
        .collect();
    let rows = if total == 1 { "row" } else { "rows" };
    Some(format!("blend: {total} {rows} skipped ({})", per_source.join("; ")))
}
