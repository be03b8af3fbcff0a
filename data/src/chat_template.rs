//! Chat templates: the model's own Jinja template from its `tokenizer_config.json`, rendered with
//! minijinja the way Hugging Face `transformers` renders it, or Llama 3.1's format built in for
//! models that ship none.

use crate::error::DataError;
use crate::example::Turn;
use crate::jinja_functions;
use minijinja::Environment;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

/// Llama 3.1 Instruct's chat format for conversations without tools, written for this crate.
///
/// It renders byte for byte what the Hugging Face Llama 3.1 template renders when no tools are
/// given: the BOS token, a system block that always states "Cutting Knowledge Date: December 2023"
/// and "Today Date: 26 Jul 2024" (the template's default `date_string`, which keeps the output
/// the same on every day) followed by the trimmed system message if there is one, then one
/// header-delimited block per message with its content trimmed, each closed by `<|eot_id|>`.
pub const LLAMA31_TEMPLATE: &str = "{{- bos_token }}\
{%- if messages[0]['role'] == 'system' %}\
{%- set system_message = messages[0]['content'] | trim %}\
{%- set messages = messages[1:] %}\
{%- else %}\
{%- set system_message = '' %}\
{%- endif %}\
{{- '<|start_header_id|>system<|end_header_id|>\\n\\n' }}\
{{- 'Cutting Knowledge Date: December 2023\\n' }}\
{{- 'Today Date: 26 Jul 2024\\n\\n' }}\
{{- system_message }}\
{{- '<|eot_id|>' }}\
{%- for message in messages %}\
{{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + message['content'] | trim + '<|eot_id|>' }}\
{%- endfor %}\
{%- if add_generation_prompt %}\
{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}\
{%- endif %}";

/// Llama 3.1's BOS token, used by the built-in template when the tokenizer config names none.
const LLAMA31_BOS: &str = "<|begin_of_text|>";

const TEMPLATE_NAME: &str = "chat";

/// Where a template came from, for reports and error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateOrigin {
    /// `chat_template.jinja` in the model folder.
    JinjaFile,
    /// `chat_template` in `tokenizer_config.json`.
    TokenizerConfig,
    /// The built-in Llama 3.1 format ([`LLAMA31_TEMPLATE`]).
    BuiltinLlama31,
    /// Given by the caller.
    Custom,
}

/// A compiled chat template plus the special-token strings it may use.
pub struct ChatTemplate {
    env: Environment<'static>,
    bos_token: Option<String>,
    eos_token: Option<String>,
    origin: TemplateOrigin,
}

impl std::fmt::Debug for ChatTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatTemplate")
            .field("origin", &self.origin)
            .field("bos_token", &self.bos_token)
            .field("eos_token", &self.eos_token)
            .finish()
    }
}

impl ChatTemplate {
    /// Reads the template of the model in `dir`, in the order `transformers` uses: the file
    /// `chat_template.jinja`, else `chat_template` in `tokenizer_config.json` (a string, or the
    /// list of named templates, of which `default` is used), else the built-in Llama 3.1 format.
    /// `bos_token` / `eos_token` come from `tokenizer_config.json` (plain strings or
    /// `{"content": ...}` objects).
    pub fn from_model_dir(dir: &Path) -> Result<Self, DataError> {
        let config_path = dir.join("tokenizer_config.json");
        let config: Value = match std::fs::read(&config_path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| DataError::file(&config_path, format!("invalid JSON: {e}")))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Value::Null,
            Err(e) => return Err(DataError::io(&config_path, e)),
        };
        let bos_token = token_string(&config, "bos_token", &config_path)?;
        let eos_token = token_string(&config, "eos_token", &config_path)?;

        let jinja_path = dir.join("chat_template.jinja");
        if jinja_path.is_file() {
            let source =
                std::fs::read_to_string(&jinja_path).map_err(|e| DataError::io(&jinja_path, e))?;
            return Self::build(source, bos_token, eos_token, TemplateOrigin::JinjaFile);
        }
        match config.get("chat_template") {
            None | Some(Value::Null) => Self::build(
                LLAMA31_TEMPLATE.to_string(),
                Some(bos_token.unwrap_or_else(|| LLAMA31_BOS.to_string())),
                eos_token,
                TemplateOrigin::BuiltinLlama31,
            ),
            Some(Value::String(source)) => {
                Self::build(source.clone(), bos_token, eos_token, TemplateOrigin::TokenizerConfig)
            }
            Some(Value::Array(named)) => {
                let source = default_of_named_templates(named).ok_or_else(|| {
                    DataError::file(
                        &config_path,
                        "chat_template is a list without a template named \"default\"",
                    )
                })?;
                Self::build(
                    source.to_string(),
                    bos_token,
                    eos_token,
                    TemplateOrigin::TokenizerConfig,
                )
            }
            Some(other) => Err(DataError::file(
                &config_path,
                format!(
                    "chat_template must be a string or a list of {{name, template}}, found {other}"
                ),
            )),
        }
    }

    /// The built-in Llama 3.1 format with Llama 3.1's BOS token.
    pub fn llama31() -> Self {
        Self::build(
            LLAMA31_TEMPLATE.to_string(),
            Some(LLAMA31_BOS.to_string()),
            Some("<|eot_id|>".into()),
            TemplateOrigin::BuiltinLlama31,
        )
        .expect("the built-in template compiles")
    }

    /// A template given as Jinja source.
    pub fn from_source(
        source: &str,
        bos_token: Option<String>,
        eos_token: Option<String>,
    ) -> Result<Self, DataError> {
        Self::build(source.to_string(), bos_token, eos_token, TemplateOrigin::Custom)
    }

    fn build(
        source: String,
        bos_token: Option<String>,
        eos_token: Option<String>,
        origin: TemplateOrigin,
    ) -> Result<Self, DataError> {
        let mut env = Environment::new();
        jinja_functions::configure_like_transformers(&mut env);
        env.add_template_owned(TEMPLATE_NAME, source)
            .map_err(|e| DataError::Template(describe(&e)))?;
        Ok(ChatTemplate { env, bos_token, eos_token, origin })
    }

    /// Where the template came from.
    pub fn origin(&self) -> &TemplateOrigin {
        &self.origin
    }

    /// The BOS token string the template is given, if any.
    pub fn bos_token(&self) -> Option<&str> {
        self.bos_token.as_deref()
    }

    /// Whether rendered `text` already starts with the BOS token, so the tokenizer must not add
    /// another.
    pub fn starts_with_bos(&self, text: &str) -> bool {
        self.bos_token().is_some_and(|bos| !bos.is_empty() && text.starts_with(bos))
    }

    /// Renders `messages`; with `add_generation_prompt` the text ends where the assistant's answer
    /// begins.
    pub fn render(
        &self,
        messages: &[Turn],
        add_generation_prompt: bool,
    ) -> Result<String, DataError> {
        let template =
            self.env.get_template(TEMPLATE_NAME).map_err(|e| DataError::Template(describe(&e)))?;
        let messages: Vec<Value> = messages
            .iter()
            .map(|turn| serde_json::json!({"role": turn.role.as_str(), "content": turn.content}))
            .collect();
        // Like transformers, pass only the special tokens that exist: a template testing
        // `bos_token is defined` must see an absent token as undefined, not as none.
        let mut variables = BTreeMap::new();
        variables.insert("messages", minijinja::Value::from_serialize(&messages));
        variables.insert("add_generation_prompt", minijinja::Value::from(add_generation_prompt));
        if let Some(bos) = &self.bos_token {
            variables.insert("bos_token", minijinja::Value::from(bos.as_str()));
        }
        if let Some(eos) = &self.eos_token {
            variables.insert("eos_token", minijinja::Value::from(eos.as_str()));
        }
        template.render(variables).map_err(|e| DataError::Template(describe(&e)))
    }
}

fn default_of_named_templates(named: &[Value]) -> Option<&str> {
    named
        .iter()
        .find(|entry| entry.get("name").and_then(Value::as_str) == Some("default"))
        .and_then(|entry| entry.get("template"))
        .and_then(Value::as_str)
}

/// A special token named in `tokenizer_config.json`: a string, or an AddedToken object.
fn token_string(config: &Value, key: &str, path: &Path) -> Result<Option<String>, DataError> {
    match config.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(token)) => Ok(Some(token.clone())),
        Some(Value::Object(token)) => match token.get("content") {
            Some(Value::String(content)) => Ok(Some(content.clone())),
            _ => Err(DataError::file(
                path,
                format!("{key} is an object without a string \"content\""),
            )),
        },
        Some(other) => Err(DataError::file(
            path,
            format!("{key} must be a string or {{\"content\": ...}}, found {other}"),
        )),
    }
}

/// minijinja's message plus its cause chain (template name and line).
fn describe(error: &minijinja::Error) -> String {
    let mut text = error.to_string();
    let mut cause = std::error::Error::source(error);
    while let Some(inner) = cause {
        text.push_str(&format!(": {inner}"));
        cause = inner.source();
    }
    text
}
