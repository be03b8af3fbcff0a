//! `guardtune generate`: greedy continuation of a prompt, with the KV cache.

use anyhow::Result;
use burn::tensor::backend::Backend;
use guardtune_data::{GuardTokenizer, Role, Turn};
use guardtune_model::{generate_greedy, Tokenizer};

use crate::device::BackendJob;
use crate::model_dir::ModelArgs;

#[derive(clap::Args)]
pub struct GenerateArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Wrap the prompt as a user message in the model's chat template (tokenizer_config.json,
    /// or Llama 3.1's format when the model ships none) and answer as the assistant.
    #[arg(long)]
    pub chat: bool,
    /// Stop after this many new tokens (or at a stop token).
    #[arg(long, default_value_t = 64)]
    pub max_new_tokens: usize,
    /// The prompt text.
    pub prompt: String,
}

impl BackendJob for GenerateArgs {
    type Output = ();

    fn run<B: Backend>(self, device: B::Device) -> Result<()> {
        let tokenizer = Tokenizer::from_model_dir(&self.model.path)?;
        let (_, model) = self.model.load::<B>(&device)?;
        let ids = if self.chat {
            // Only the template's markup makes special tokens; the prompt is plain text.
            GuardTokenizer::from_model_dir(&self.model.path)?
                .encode_chat(&[Turn { role: Role::User, content: self.prompt.clone() }], true)?
        } else {
            tokenizer.encode(&self.prompt, true)?
        };
        // Every position up to the last new token must exist.
        let what = format!(
            "the prompt ({} tokens) with up to {} new tokens",
            ids.len(),
            self.max_new_tokens
        );
        tokenizer.check_fits(ids.len() + self.max_new_tokens, &what)?;
        let out = generate_greedy(
            &model,
            &[ids],
            self.max_new_tokens,
            &tokenizer.stop_ids,
            tokenizer.pad_id,
            &device,
        )?;
        println!("{}", tokenizer.decode(&out[0], true)?);
        Ok(())
    }
}
