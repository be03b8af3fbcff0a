//! Writing the rendered blend as JSON lines, so users can read exactly what the model trains on.

use super::Blend;
use crate::error::DataError;
use crate::example::GuardExample;
use crate::tokenize::GuardTokenizer;
use rayon::prelude::*;
use serde::Serialize;
use std::io::Write;

/// One line of the output.
#[derive(Serialize)]
struct RenderedLine<'a> {
    split: &'static str,
    source: &'a str,
    id: &'a str,
    /// The chat-template text up to where the guard answers.
    prompt: String,
    /// The answer and the template's end-of-turn text (what the loss covers, plus any trailing
    /// template text that is masked).
    completion: String,
    num_tokens: usize,
    num_target_tokens: usize,
}

/// Writes every training example (in training order), then every validation example, one JSON
/// object per line: `split`, `source`, `id`, `prompt`, `completion`, `num_tokens`,
/// `num_target_tokens`. Rendering runs on the current rayon pool; the output order is fixed.
pub fn write_blend_jsonl(
    blend: &Blend,
    tokenizer: &GuardTokenizer,
    mut out: impl Write,
) -> Result<(), DataError> {
    let examples: Vec<(&'static str, &GuardExample)> = blend
        .train
        .iter()
        .map(|example| ("train", example))
        .chain(blend.validation.iter().map(|example| ("validation", example)))
        .collect();
    let lines = examples
        .par_iter()
        .map(|&(split, example)| {
            let (rendered, tokens) = tokenizer.render_and_tokenize(example)?;
            let line = RenderedLine {
                split,
                source: &example.source,
                id: &example.id,
                num_tokens: tokens.len(),
                num_target_tokens: tokens.num_target_tokens(),
                prompt: rendered.prompt,
                completion: rendered.completion,
            };
            serde_json::to_string(&line)
                .map_err(|e| DataError::Config(format!("cannot serialise example: {e}")))
        })
        .collect::<Result<Vec<String>, DataError>>()?;
    let write_error = |e: std::io::Error| DataError::Io { path: "blend output".into(), error: e };
    for line in lines {
        out.write_all(line.as_bytes()).map_err(write_error)?;
        out.write_all(b"\n").map_err(write_error)?;
    }
    out.flush().map_err(write_error)
}
