//! Rendering an example through the model's chat template and tokenising it, with labels that
//! train on the guard's answer only.

use crate::chat_template::ChatTemplate;
use crate::error::DataError;
use crate::example::{GuardExample, Turn};
use crate::plain_text::PlainText;
use crate::prompt::{render_answer, render_prompt_messages, Answer};
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
    /// closes it, [`IGNORE_INDEX`] everywhere else, and on the tokens of an unknown user verdict
    /// ([`crate::render_answer`]).
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
///
/// Message text never produces special tokens: only the template's markup does (see
/// [`crate::plain_text`]), so a conversation cannot close the guard's turn.
pub struct GuardTokenizer {
    tokenizer: Tokenizer,
    template: ChatTemplate,
    plain_text: PlainText,
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
        let plain_text = PlainText::new(&tokenizer)?;
        Ok(GuardTokenizer { tokenizer, template, plain_text, special_ids })
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
        let (prompt, full, _) = self.render_escaped(example)?;
        self.unescape_pair(example, &prompt, &full)
    }

    /// The prompt and the whole conversation rendered from escaped messages (special-token
    /// strings in message text replaced by placeholders), the first a prefix of the second, and
    /// the answer in it.
    fn render_escaped(
        &self,
        example: &GuardExample,
    ) -> Result<(String, String, Answer), DataError> {
        example.check_trainable().map_err(|detail| example_error(example, detail))?;
        let mut messages = render_prompt_messages(example);
        let answer = render_answer(example).map_err(|e| example_error(example, e.to_string()))?;
        messages.push(Turn::assistant(answer.text.clone()));
        let messages = self.escape_messages(&messages);
        let prompt = self.template.render(&messages[..messages.len() - 1], true)?;
        let full = self.template.render(&messages, false)?;
        if !full.starts_with(prompt.as_str()) {
            return Err(DataError::Template(format!(
                "for example `{}` the rendering with the answer does not start with the rendering with the \
                 generation prompt, so the answer cannot be located",
                example.id
            )));
        }
        Ok((prompt, full, answer))
    }

    fn unescape_pair(
        &self,
        example: &GuardExample,
        prompt: &str,
        full: &str,
    ) -> Result<RenderedExample, DataError> {
        let unescape =
            |text: &str| self.plain_text.unescape(text).map_err(|e| with_example(example, e));
        Ok(RenderedExample {
            prompt: unescape(prompt)?,
            completion: unescape(&full[prompt.len()..])?,
        })
    }

    fn escape_messages(&self, messages: &[Turn]) -> Vec<Turn> {
        messages
            .iter()
            .map(|turn| Turn { role: turn.role, content: self.plain_text.escape(&turn.content) })
            .collect()
    }

    /// Tokenises a trainable example. Labels cover the answer (but an unknown user verdict's
    /// tokens) and the first special token after it (the end-of-turn token: `<|eot_id|>` for Llama 3.1, `<|im_end|>` for ChatML).
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
        let (prompt, full, answer) = self.render_escaped(example)?;
        let rendered = self.unescape_pair(example, &prompt, &full)?;
        let boundary = rendered.prompt.len();
        let encoding = self.encode_escaped(&full).map_err(|e| with_example(example, e))?;
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
        let unlabelled = match &answer.unlabelled {
            Some(span) => {
                // The answer holds no special-token text, so escaping left it as it is.
                let at = boundary
                    + rendered.completion.find(&answer.text).ok_or_else(|| {
                        example_error(example, "the answer is not in its rendering".into())
                    })?;
                at + span.start..at + span.end
            }
            None => 0..0,
        };
        let mut labels = vec![IGNORE_INDEX; ids.len()];
        for i in answer_start..=end_of_turn {
            let (start, end) = offsets[i];
            if start >= unlabelled.end || end <= unlabelled.start {
                labels[i] = i64::from(ids[i]);
            }
        }
        Ok((rendered, Tokenized { input_ids: ids.to_vec(), labels }))
    }

    /// Token ids of the prompt the guard answers at inference (generation prompt included). Works
    /// for any example, including benchmark rows whose labels are unknown.
    pub fn encode_prompt(&self, example: &GuardExample) -> Result<Vec<u32>, DataError> {
        self.encode_chat(&render_prompt_messages(example), true)
            .map_err(|e| with_example(example, e))
    }

    /// Token ids of `messages` rendered through the chat template (with `add_generation_prompt`,
    /// ending where the assistant's answer begins). Message text is plain text: only the
    /// template's markup produces special tokens.
    pub fn encode_chat(
        &self,
        messages: &[Turn],
        add_generation_prompt: bool,
    ) -> Result<Vec<u32>, DataError> {
        let escaped =
            self.template.render(&self.escape_messages(messages), add_generation_prompt)?;
        Ok(self.encode_escaped(&escaped)?.get_ids().to_vec())
    }

    /// Encodes a rendering of escaped messages. The tokenizer's post-processor adds its special
    /// tokens (the BOS) only when the template has not already written the BOS: never doubled.
    fn encode_escaped(&self, escaped: &str) -> Result<tokenizers::Encoding, DataError> {
        self.plain_text.encode(escaped, !self.template.starts_with_bos(escaped))
    }
}

/// `error` with the example it concerns, unless it already names one.
fn with_example(example: &GuardExample, error: DataError) -> DataError {
    match error {
        DataError::Example { .. } => error,
        other => example_error(example, other.to_string()),
    }
}

fn example_error(example: &GuardExample, detail: String) -> DataError {
    DataError::Example { origin: example.source.clone(), id: example.id.clone(), detail }
}
