//! Addressing a data source by its name in `--set` and sweep keys
//! (`data.sources.NAME.weight = 0.5`), and leaving sources out of the blend: a source with
//! `weight = 0` or `enabled = false` is removed before the config is read, so an ablation is
//! one key away and the resolved config (and its hash) names only what is trained.

use toml_edit::{ArrayOfTables, DocumentMut, Item, Table, Value};

/// Sets `KEY` (possibly dotted, e.g. `filter.label`) of the source `NAME`, where `rest` is
/// `NAME.KEY`. Source names may contain dots: the longest name that fits is taken. Returns
/// `NAME.KEY` as config errors name it.
pub(super) fn set_source_key(
    doc: &mut DocumentMut,
    rest: &str,
    value: Value,
) -> Result<String, String> {
    let sources = sources_mut(doc)?;
    let names: Vec<String> = sources
        .iter()
        .map(|t| t.get("name").and_then(Item::as_str).unwrap_or_default().to_string())
        .collect();
    let Some((index, name)) = names
        .iter()
        .enumerate()
        .filter(|(_, n)| !n.is_empty() && rest.starts_with(&format!("{n}.")))
        .max_by_key(|(_, n)| n.len())
    else {
        let wanted = rest.split('.').next().unwrap_or(rest);
        return Err(format!(
            "no data source is named \"{wanted}\" (sources: {})",
            names.join(", ")
        ));
    };
    let key = &rest[name.len() + 1..];
    let parts: Vec<&str> = key.split('.').collect();
    if parts.iter().any(|p| p.is_empty()) || key == "name" {
        return Err(format!("invalid source key \"{key}\""));
    }
    let (last, tables) = parts.split_last().expect("at least one part");
    let mut table = sources.get_mut(index).expect("index of an existing source");
    for part in tables {
        let item = table.entry(part).or_insert_with(|| Item::Table(Table::new()));
        if let Some(inline) = item.as_inline_table() {
            // `filter = { ... }`: make it a table so keys can be added to it.
            *item = Item::Table(inline.clone().into_table());
        }
        table = item.as_table_mut().ok_or_else(|| format!("`{part}` is not a table"))?;
    }
    table.insert(last, Item::Value(value));
    Ok(format!("{name}.{key}"))
}

/// Removes the sources with `enabled = false` or a weight of 0, and every `enabled` key (the
/// blend config does not know it). Refuses a blend left with no source.
pub(super) fn remove_disabled_sources(doc: &mut DocumentMut) -> Result<(), String> {
    let Ok(sources) = sources_mut(doc) else { return Ok(()) };
    if sources.is_empty() {
        return Ok(());
    }
    let mut keep = Vec::new();
    for table in sources.iter_mut() {
        let name = table.get("name").and_then(Item::as_str).unwrap_or("?").to_string();
        let enabled = match table.remove("enabled") {
            None => true,
            Some(item) => item
                .as_bool()
                .ok_or_else(|| format!("source \"{name}\": enabled must be true or false"))?,
        };
        let weight = table
            .get("weight")
            .and_then(|w| w.as_float().or_else(|| w.as_integer().map(|i| i as f64)));
        keep.push(enabled && weight != Some(0.0));
    }
    if !keep.contains(&true) {
        return Err(
            "every source is left out (weight 0 or enabled = false): keep at least one".into()
        );
    }
    let mut index = 0;
    sources.retain(|_| {
        index += 1;
        keep[index - 1]
    });
    Ok(())
}

/// `[[data.sources]]` as an array of tables (an inline `sources = [{...}]` is converted).
fn sources_mut(doc: &mut DocumentMut) -> Result<&mut ArrayOfTables, String> {
    let data =
        doc.get_mut("data").and_then(Item::as_table_mut).ok_or("the config has no [data] table")?;
    let item = data.get_mut("sources").ok_or("the config has no [[data.sources]]")?;
    if let Some(array) = item.as_array() {
        let mut tables = ArrayOfTables::new();
        for value in array.iter() {
            let inline = value.as_inline_table().ok_or("data.sources must hold tables")?;
            tables.push(inline.clone().into_table());
        }
        *item = Item::ArrayOfTables(tables);
    }
    item.as_array_of_tables_mut()
        .ok_or_else(|| "data.sources must be [[data.sources]] tables".into())
}
