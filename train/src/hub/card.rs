//! The model card (README.md) pushed with an export: the Hub's metadata header, then the base
//! model, the LoRA settings, the training blend (the run's `blend.md`) and the evaluation table
//! (the run's `eval/report.md`) when the adapter sits in a run folder that has them.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result};
use serde_json::Value;

/// The card for the adapter in `adapter_dir` (trained on `base_model`, a Hub id or a name),
/// pushed as `repo`; `merged` when the upload is the merged model rather than the adapter.
pub fn model_card(
    repo: &str,
    base_model: &str,
    adapter_dir: &Path,
    merged: bool,
) -> Result<String> {
    let config_path = adapter_dir.join(guardtune_lora::ADAPTER_CONFIG_FILE);
    let text = std::fs::read_to_string(&config_path)
        .with_context(|| format!("{}: cannot read", config_path.display()))?;
    let lora: Value = serde_json::from_str(&text)
        .with_context(|| format!("{}: not JSON", config_path.display()))?;
    let run_dir = adapter_dir.parent().filter(|dir| dir.join("blend.md").is_file());

    let mut card = header(base_model, merged);
    let what = match merged {
        false => "A LoRA adapter (PEFT format)",
        true => "A model merged from a LoRA adapter",
    };
    let _ = write!(
        card,
        "# {repo}\n\n{what} trained with guardtune on top of `{base_model}`: an LLM safety guard \
         that answers with a NemoGuard JSON verdict (`User Safety`, `Response Safety`, \
         `Safety Categories`), as in Aegis 2.0.\n\n"
    );
    card.push_str(
        "## LoRA settings\n\n| r | alpha | dropout | target modules |\n|---:|---:|---:|---|\n",
    );
    let field = |key: &str| lora.get(key).map_or("-".to_string(), |v| v.to_string());
    let modules = match lora.get("target_modules") {
        Some(Value::Array(items)) => {
            items.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(", ")
        }
        other => other.map_or("-".to_string(), |v| v.to_string()),
    };
    let _ = writeln!(
        card,
        "| {} | {} | {} | {modules} |\n",
        field("r"),
        field("lora_alpha"),
        field("lora_dropout")
    );
    if let Some(run_dir) = run_dir {
        if let Some(table) = first_table(&run_dir.join("blend.md"), None) {
            let _ = writeln!(
                card,
                "## Training data\n\nThe blend, as guardtune's blend report gives it:\n\n{table}\n"
            );
        }
        if let Some(table) =
            first_table(&run_dir.join("eval").join("report.md"), Some("## Details"))
        {
            let _ = writeln!(
                card,
                "## Evaluation\n\nHarmful-class scores from `guardtune eval`:\n\n{table}\n"
            );
        }
    }
    let _ = write!(card, "## Use\n\n{}", usage(repo, base_model, merged));
    Ok(card)
}

/// The Hub's metadata block: `base_model` only when it is a Hub id (a local folder's name would
/// link to a repo that does not exist).
fn header(base_model: &str, merged: bool) -> String {
    let library = if merged { "transformers" } else { "peft" };
    let base = match crate::hub::HubRef::parse_bare_id(base_model) {
        Some(id) if id.revision.is_none() => format!("base_model: {base_model}\n"),
        _ => String::new(),
    };
    format!(
        "---\n{base}library_name: {library}\npipeline_tag: text-generation\ntags:\n- guardtune\n\
         - lora\n- safety\n- content-moderation\n---\n\n"
    )
}

/// The first markdown table of `path` (after the `after` heading, when given), if any.
fn first_table(path: &Path, after: Option<&str>) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let text = match after {
        Some(heading) => &text[text.find(heading)?..],
        None => &text[..],
    };
    let table: Vec<&str> = text
        .lines()
        .skip_while(|line| !line.starts_with('|'))
        .take_while(|line| line.starts_with('|'))
        .collect();
    (!table.is_empty()).then(|| table.join("\n"))
}

fn usage(repo: &str, base_model: &str, merged: bool) -> String {
    if merged {
        return format!(
            "```python\nfrom transformers import AutoModelForCausalLM, AutoTokenizer\n\n\
             model = AutoModelForCausalLM.from_pretrained(\"{repo}\")\n\
             tokenizer = AutoTokenizer.from_pretrained(\"{repo}\")\n```\n\n\
             or `guardtune classify --model hf://{repo} \"How do I pick a lock?\"`.\n"
        );
    }
    format!(
        "```python\nfrom peft import PeftModel\nfrom transformers import AutoModelForCausalLM\n\n\
         base = AutoModelForCausalLM.from_pretrained(\"{base_model}\")\n\
         model = PeftModel.from_pretrained(base, \"{repo}\")\n```\n\n\
         vLLM: `vllm serve {base_model} --enable-lora --lora-modules guard={repo}`; guardtune: \
         `guardtune classify --model hf://{base_model} --adapter hf://{repo} \"How do I pick a lock?\"`.\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trained_guard_card_has_its_settings_blend_and_evaluation() {
        let adapter = guardtune_model::testing::repo_root()
            .join("experiments/smollm2-guard/runs/recipe-seed1/adapter");
        let card = model_card("org/guard", "HuggingFaceTB/SmolLM2-135M-Instruct", &adapter, false)
            .unwrap();
        for part in [
            "---\nbase_model: HuggingFaceTB/SmolLM2-135M-Instruct\nlibrary_name: peft\n",
            "| 16 | 32 | 0.05 | q_proj, k_proj, v_proj",
            "## Training data",
            "| source | kind | rows read |",
            "## Evaluation",
            "| test_cases | prompt | 100 | 100 | 1.000 | 0.920 | 0.958 |",
            "PeftModel.from_pretrained(base, \"org/guard\")",
        ] {
            assert!(card.contains(part), "expected `{part}` in:\n{card}");
        }
        let merged =
            model_card("org/m", "HuggingFaceTB/SmolLM2-135M-Instruct", &adapter, true).unwrap();
        assert!(
            merged.contains("library_name: transformers")
                && merged.contains("from_pretrained(\"org/m\")")
        );
    }
}
