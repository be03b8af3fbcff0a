//! Rendering an example through the model's chat template and tokenising it, with labels that
//! train on the guard's answer only.

use crate::chat_template::ChatTemplate;
use crate::error::DataError;
use crate::example::{GuardExample, Turn};
use crate::prompt::{render_prompt_messages, render_target};
use serde::Serialize;
use std::collections::BTreeSet;
use std::path::Path;
use tokenizers::Tokenizer;

/// The label of a position that is not trained on (PyTorch's `ignore_index`).
pub const IGNORE_INDEX: i64 = -100;

/// A tokenised training example.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Tokenized {
    /// Token ids of the whole rendered conversation, answer included.
    pub input_ids: Vec<u32>,
    /// Same length as `input_ids`: the token id on the answer and on the end-of-turn token that
    /// closes it, [`IGNORE_INDEX`] everywhere else.
    pub labels: Vec<i64>,
}

impl Tokenized {
    /// Number of tokens.
    pub fn len(&self) -> usize {
        self.input_ids.len()
    }

    /// Whether there are no tokens (never the case for a tokenised example).
    pub fn is_empty(&self) -> bool {
        self.input_ids.is_empty()
    }

    /// Number of positions trained on.
    pub fn num_target_tokens(&self) -> usize {
        self.labels.iter().filter(|&&label| label != IGNORE_INDEX).count()
    }
}

/// An example rendered through the chat template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RenderedExample {
    /// The conversation up to where the guard starts answering (generation prompt included).
    pub prompt: String,
    /// What follows: the answer and the template's end-of-turn text.
    pub completion: String,
}

/// A tokenizer and the chat template of the same model.
pub struct GuardTokenizer {
    tokenizer: Tokenizer,
    template: ChatTemplate,
    /// Ids of the tokenizer's special added tokens; the first one after the answer closes it.
    special_ids: BTreeSet<u32>,
}

impl GuardTokenizer {
    /// Loads `tokenizer.json` and the chat template (see [`ChatTemplate::from_model_dir`]) of the
    /// model in `dir`.
    pub fn from_model_dir(dir: &Path) -> Result<Self, DataError> {
        let path = dir.join("tokenizer.json");
        let tokenizer = Tokenizer::from_file(&path)
            .map_err(|e| DataError::Tokenizer(format!("{}: {e}", path.display())))?;
        Self::new(tokenizer, ChatTemplate::from_model_dir(dir)?)
    }

    /// Pairs a tokenizer with a chat template. Truncation and padding configured in the tokenizer
    /// file are switched off: lengths are handled by the blend's `max_seq_len`, which never cuts
    /// the answer.
    pub fn new(mut tokenizer: Tokenizer, template: ChatTemplate) -> Result<Self, DataError> {
        tokenizer
            .with_truncation(None)
            .map_err(|e| DataError::Tokenizer(format!("cannot disable truncation: {e}")))?;
        tokenizer.with_padding(None);
        let special_ids = tokenizer
            .get_added_tokens_decoder()
            .into_iter()
            .filter(|(_, token)| token.special)
            .map(|(id, _)| id)
            .collect();
        Ok(GuardTokenizer { tokenizer, template, special_ids })
    }

    /// The underlying tokenizer (for decoding generated ids).
    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// The chat template.
    pub fn template(&self) -> &ChatTemplate {
        &self.template
    }

    /// Renders a trainable example: the prompt with the generation prompt, and the completion
    /// (the answer plus the template's end-of-turn text).
    ///
    /// The completion is found by rendering the conversation twice, with the generation prompt
    /// and with the answer as an assistant message, and requiring the first to be a prefix of the
    /// second; a template for which it is not cannot be masked reliably and is an error.
    pub fn render(&self, example: &GuardExample) -> Result<RenderedExample, DataError> {
        example.check_trainable().map_err(|detail| example_error(example, detail))?;
        let mut messages = render_prompt_messages(example);
        let answer =
            render_target(&example.target).map_err(|e| example_error(example, e.to_string()))?;
        let prompt = self.template.render(&messages, true)?;
        messages.push(Turn::assistant(answer));
        let full = self.template.render(&messages, false)?;
        match full.strip_prefix(prompt.as_str()) {
            Some(completion) => Ok(RenderedExample { completion: completion.to_string(), prompt }),
            None => Err(DataError::Template(format!(
                "for example `{}` the rendering with the answer does not start with the rendering with the \
                 generation prompt, so the answer cannot be located",
                example.id
            ))),
        }
    }

    /// Tokenises a trainable example. Labels cover the answer and the first special token after
    /// it (the end-of-turn token: `<|eot_id|>` for Llama 3.1, `<|im_end|>` for ChatML).
    ///
    /// The whole text is tokenised once, and the boundary is placed with the tokenizer's byte
    /// offsets: exact for any tokenizer (also SentencePiece ones, whose pieces tokenise
    /// differently alone), and an error if a token spans the prompt/answer boundary. The BOS is
    /// never doubled: if the template writes it, the tokenizer's post-processor is not asked to.
    pub fn tokenize(&self, example: &GuardExample) -> Result<Tokenized, DataError> {
        self.render_and_tokenize(example).map(|(_, tokens)| tokens)
    }

    /// [`GuardTokenizer::render`] and [`GuardTokenizer::tokenize`] in one pass.
    pub fn render_and_tokenize(
        &self,
        example: &GuardExample,
    ) -> Result<(RenderedExample, Tokenized), DataError> {
        let rendered = self.render(example)?;
        let boundary = rendered.prompt.len();
        let text = format!("{}{}", rendered.prompt, rendered.completion);
        let encoding = self
            .tokenizer
            .encode(text.as_str(), self.needs_added_special_tokens(&text))
            .map_err(|e| DataError::Tokenizer(format!("example `{}`: {e}", example.id)))?;
        let ids = encoding.get_ids();
        let offsets = encoding.get_offsets();
        if let Some(i) = offsets.iter().position(|&(start, end)| start < boundary && end > boundary)
        {
            return Err(example_error(
                example,
                format!("token {i} spans the end of the prompt and the start of the answer; cannot mask exactly"),
            ));
        }
        let answer_start = offsets
            .iter()
            .position(|&(start, end)| start >= boundary && end > start)
            .ok_or_else(|| example_error(example, "the answer produced no tokens".into()))?;
        let end_of_turn = (answer_start..ids.len())
            .find(|&i| self.special_ids.contains(&ids[i]))
            .ok_or_else(|| {
            example_error(
                example,
                "the chat template wrote no special end-of-turn token after the answer \
                     (does the tokenizer know the template's tokens?)"
                    .into(),
            )
        })?;
        let mut labels = vec![IGNORE_INDEX; ids.len()];
        for i in answer_start..=end_of_turn {
            labels[i] = i64::from(ids[i]);
        }
        Ok((rendered, Tokenized { input_ids: ids.to_vec(), labels }))
    }

    /// Token ids of the prompt the guard answers at inference (generation prompt included). Works
    /// for any example, including benchmark rows whose labels are unknown.
    pub fn encode_prompt(&self, example: &GuardExample) -> Result<Vec<u32>, DataError> {
        let prompt = self.template.render(&render_prompt_messages(example), true)?;
        let encoding = self
            .tokenizer
            .encode(prompt.as_str(), self.needs_added_special_tokens(&prompt))
            .map_err(|e| DataError::Tokenizer(format!("example `{}`: {e}", example.id)))?;
        Ok(encoding.get_ids().to_vec())
    }

    /// Whether the tokenizer's post-processor should add its special tokens (the BOS): only when
    /// the template has not already written the BOS.
    fn needs_added_special_tokens(&self, text: &str) -> bool {
        !self.template.starts_with_bos(text)
    }
}

fn example_error(example: &GuardExample, detail: String) -> DataError {
    DataError::Example { origin: example.source.clone(), id: example.id.clone(), detail }
}
