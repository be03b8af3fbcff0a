//! Chat templates: the built-in Llama 3.1 format, templates read from model folders, and the
//! Jinja environment transformers gives templates.

mod common;

use common::shared;
use guardtune_data::{ChatTemplate, TemplateOrigin, Turn};
use std::path::PathBuf;

const LLAMA31_SYSTEM_BLOCK: &str = "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n";

fn tempdir(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("guardtune-data-chat-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn builtin_llama31_always_writes_the_dated_system_block() {
    let template = ChatTemplate::llama31();
    let prompt = template.render(&[Turn::user("  Is this safe?\n")], true).unwrap();
    assert_eq!(
        prompt,
        format!("{LLAMA31_SYSTEM_BLOCK}<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nIs this safe?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n")
    );
    let full = template
        .render(&[Turn::system("Policy.\n"), Turn::user("Hi"), Turn::assistant("on-topic")], false)
        .unwrap();
    assert_eq!(
        full,
        format!("{LLAMA31_SYSTEM_BLOCK}Policy.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\non-topic<|eot_id|>")
    );
}

#[test]
fn llama31_tokenizer_folder_uses_the_builtin_format() {
    let Some(dir) = shared("models/llama3.1-tokenizer") else {
        return;
    };
    let template = ChatTemplate::from_model_dir(&dir).unwrap();
    assert_eq!(template.origin(), &TemplateOrigin::BuiltinLlama31);
    assert_eq!(template.bos_token(), Some("<|begin_of_text|>"));
    assert_eq!(
        template.render(&[Turn::user("Hi")], true).unwrap(),
        ChatTemplate::llama31().render(&[Turn::user("Hi")], true).unwrap()
    );
}

#[test]
fn smollm2_chatml_template_from_tokenizer_config() {
    // SmolLM2's tokenizer files, shipped beside the tiny test model.
    let dir = guardtune_model::testing::fixture("models/tiny-smollm2");
    let template = ChatTemplate::from_model_dir(&dir).unwrap();
    assert_eq!(template.origin(), &TemplateOrigin::TokenizerConfig);
    assert_eq!(
        template.render(&[Turn::user("Hi"), Turn::assistant("Hello")], false).unwrap(),
        "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n\
         <|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello<|im_end|>\n"
    );
    assert!(template
        .render(&[Turn::user("Hi")], true)
        .unwrap()
        .ends_with("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"));
}

#[test]
fn hub_llama3_instruct_template_renders_like_transformers() {
    // The Llama 3 Instruct tokenizer_config.json as published (a real HF template using `| trim`,
    // `loop.index0` and `bos_token`).
    let Some(config) =
        shared("models/llama3.1-tokenizer/tokenizer_config.llama3-instruct-orig.json")
    else {
        return;
    };
    let dir = tempdir("llama3-orig");
    std::fs::copy(&config, dir.join("tokenizer_config.json")).unwrap();
    let template = ChatTemplate::from_model_dir(&dir).unwrap();
    assert_eq!(
        template.render(&[Turn::user(" Hi "), Turn::assistant("Hello")], false).unwrap(),
        "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nHello<|eot_id|>"
    );
}

#[test]
fn named_template_list_jinja_file_and_token_objects() {
    let dir = tempdir("named");
    let config = serde_json::json!({
        "bos_token": {"content": "<s>", "lstrip": false},
        "eos_token": "</s>",
        "chat_template": [
            {"name": "tool_use", "template": "TOOLS"},
            {"name": "default", "template": "{{ bos_token }}{% for m in messages %}[{{ m.role }}]{{ m.content }}{{ eos_token }}{% endfor %}"}
        ]
    });
    std::fs::write(dir.join("tokenizer_config.json"), config.to_string()).unwrap();
    let template = ChatTemplate::from_model_dir(&dir).unwrap();
    assert_eq!(template.render(&[Turn::user("a")], false).unwrap(), "<s>[user]a</s>");

    std::fs::write(
        dir.join("chat_template.jinja"),
        "{% for m in messages %}{{ m.content | upper }}{% endfor %}",
    )
    .unwrap();
    let template = ChatTemplate::from_model_dir(&dir).unwrap();
    assert_eq!(template.origin(), &TemplateOrigin::JinjaFile);
    assert_eq!(template.render(&[Turn::user("a")], false).unwrap(), "A");

    let bad = tempdir("bad");
    std::fs::write(
        bad.join("tokenizer_config.json"),
        r#"{"chat_template": [{"name": "tool_use", "template": "x"}]}"#,
    )
    .unwrap();
    assert!(ChatTemplate::from_model_dir(&bad).unwrap_err().to_string().contains("\"default\""));
    std::fs::write(bad.join("tokenizer_config.json"), r#"{"chat_template": "{% for %}"}"#).unwrap();
    assert!(ChatTemplate::from_model_dir(&bad)
        .unwrap_err()
        .to_string()
        .starts_with("chat template:"));
}

#[test]
fn transformers_environment() {
    let render = |source: &str, messages: &[Turn]| {
        ChatTemplate::from_source(source, None, None).unwrap().render(messages, true)
    };
    let user = [Turn::user("  hello world  ")];
    // Python string methods, loop controls, trim_blocks/lstrip_blocks.
    assert_eq!(
        render(
            "{% for m in messages %}{{ m.content.strip().split(' ')[1] }}{% break %}{% endfor %}",
            &user
        )
        .unwrap(),
        "world"
    );
    assert_eq!(render("{% if true %}\n    x\n{% endif %}\n", &user).unwrap(), "    x\n");
    // raise_exception fails the render with its message.
    let error = render("{{ raise_exception('Conversation roles must alternate') }}", &user)
        .unwrap_err()
        .to_string();
    assert!(error.contains("Conversation roles must alternate"), "{error}");
    // strftime_now reports a fixed date, so renders never change with the day.
    assert_eq!(
        render("{{ strftime_now('%d %b %Y') }}|{{ strftime_now('%-d %B %y %A') }}", &user).unwrap(),
        "26 Jul 2024|26 July 24 Friday"
    );
    // tojson as transformers defines it: Python separators, no HTML escaping.
    assert_eq!(
        render("{{ {'a': '<b>', 'c': [1, 2]} | tojson }}", &user).unwrap(),
        "{\"a\": \"<b>\", \"c\": [1, 2]}"
    );
    assert_eq!(render("{{ [1] | tojson(indent=2) }}", &user).unwrap(), "[\n  1\n]");
    // Absent special tokens are undefined (render as nothing), not "none".
    assert_eq!(
        render("[{{ bos_token }}]{% if eos_token is defined %}eos{% endif %}", &user).unwrap(),
        "[]"
    );
}
