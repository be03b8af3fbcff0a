//! Whether an adapter was trained on the base model it is loaded onto, judged from its
//! `base_model_name_or_path` (a Hugging Face id or a local path) against the `--model` folder.
//! Names cannot prove a mismatch (a folder may be renamed), so a mismatch only warns.

use std::path::Path;

/// A warning when `adapter_dir`'s base model does not look like `model_dir`; `None` when it
/// does or when the adapter names none.
pub fn mismatch_warning(model_dir: &Path, adapter_dir: &Path) -> Option<String> {
    let name = adapter_base_name(adapter_dir)?;
    if name.trim().is_empty() || names_this_model(&name, model_dir) {
        return None;
    }
    Some(format!(
        "warning: adapter {} was trained on base model \"{name}\", but the model given is {}; \
         if that is another model, the adapter's weights do not fit it",
        adapter_dir.display(),
        model_dir.display()
    ))
}

/// The `base_model_name_or_path` of the adapter's config, if it has one.
pub fn adapter_base_name(adapter_dir: &Path) -> Option<String> {
    let text =
        std::fs::read_to_string(adapter_dir.join(guardtune_lora::ADAPTER_CONFIG_FILE)).ok()?;
    let json: serde_json::Value = serde_json::from_str(&text).ok()?;
    json.get("base_model_name_or_path")?.as_str().map(String::from)
}

/// The same folder (however spelled), the Hub id of a snapshot in the Hub cache, the same last
/// path component (`org/Name` for a local `.../Name` download), or the name the model's own
/// config.json records.
fn names_this_model(name: &str, model_dir: &Path) -> bool {
    if crate::hub::cached_ref(model_dir).is_some_and(|hub| hub.id == name) {
        return true;
    }
    if let (Ok(a), Ok(b)) = (std::fs::canonicalize(name), std::fs::canonicalize(model_dir)) {
        return a == b;
    }
    let last = |p: &Path| p.file_name().map(|n| n.to_string_lossy().to_lowercase());
    let model_last = std::fs::canonicalize(model_dir).ok().and_then(|p| last(&p));
    if model_last.is_some() && last(Path::new(name.trim_end_matches('/'))) == model_last {
        return true;
    }
    recorded_name(model_dir).is_some_and(|recorded| recorded == name)
}

/// The `_name_or_path` transformers writes into a saved model's config.json.
fn recorded_name(model_dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(model_dir.join("config.json")).ok()?;
    let json: serde_json::Value = serde_json::from_str(&text).ok()?;
    json.get("_name_or_path")?.as_str().map(String::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn adapter_naming(dir: &Path, base: &str) -> std::path::PathBuf {
        let adapter = dir.join("adapter");
        std::fs::create_dir_all(&adapter).unwrap();
        let config = serde_json::json!({ "base_model_name_or_path": base });
        std::fs::write(adapter.join(guardtune_lora::ADAPTER_CONFIG_FILE), config.to_string())
            .unwrap();
        adapter
    }

    /// A model folder `dir/name` (its config.json is all the check looks at).
    fn model_folder(dir: &Path, name: &str) -> std::path::PathBuf {
        let model = dir.join(name);
        std::fs::create_dir_all(&model).unwrap();
        std::fs::write(model.join("config.json"), "{}").unwrap();
        model
    }

    #[test]
    fn the_same_model_under_another_spelling_or_its_hub_id_does_not_warn() {
        let dir = tempfile::tempdir().unwrap();
        let model = model_folder(dir.path(), "models/SmolLM2-135M-Instruct");
        let spelled = format!("{}/../SmolLM2-135M-Instruct", model.display());
        for base in [spelled.as_str(), "HuggingFaceTB/SmolLM2-135M-Instruct"] {
            let adapter = adapter_naming(dir.path(), base);
            assert_eq!(mismatch_warning(&model, &adapter), None, "{base}");
        }
    }

    #[test]
    fn another_model_warns_with_both_names() {
        let dir = tempfile::tempdir().unwrap();
        let model = model_folder(dir.path(), "tiny");
        let adapter = adapter_naming(dir.path(), "meta-llama/Llama-3.1-8B-Instruct");
        let warning = mismatch_warning(&model, &adapter).expect("a warning");
        assert!(warning.contains("Llama-3.1-8B-Instruct") && warning.contains("tiny"), "{warning}");
    }
}
