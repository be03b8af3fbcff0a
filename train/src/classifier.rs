//! The guard at inference: render the guard prompt with the model's chat template, generate the
//! verdict greedily with the KV cache, parse it as NeMo Guardrails does, and optionally score
//! P(unsafe) from the logits of the first verdict token.

use anyhow::Result;
use burn::tensor::activation::softmax;
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};
use guardtune_data::{parse_verdict, GuardExample, GuardTokenizer, Safety, Verdict};
use guardtune_model::{generate_greedy, Batch, LlamaForCausalLM, Tokenizer};
use serde::Serialize;

/// NeMo Guardrails asks for at most 50 tokens; a verdict is shorter.
pub const DEFAULT_MAX_NEW_TOKENS: usize = 50;

/// The verdict for one conversation.
#[derive(Clone, Debug, Serialize)]
pub struct Classification {
    pub user_safety: Option<String>,
    pub response_safety: Option<String>,
    pub categories: Vec<String>,
    /// The model's text, special tokens removed.
    pub raw: String,
    /// Why `raw` could not be parsed, when it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parse_error: Option<String>,
    /// P(unsafe) for the user turn, from the first verdict token (with `--scores`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_unsafe_probability: Option<f64>,
    /// P(unsafe) for the response, given the predicted user verdict (with `--scores`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_unsafe_probability: Option<f64>,
}

/// The guard to run and how: the flags `classify` and `eval` share.
#[derive(clap::Args)]
pub struct GuardArgs {
    /// Hugging Face model folder (the base).
    #[arg(long)]
    pub model: std::path::PathBuf,
    /// PEFT adapter folder (the trained guard).
    #[arg(long)]
    pub adapter: Option<std::path::PathBuf>,
    /// Dtype of the base: f32, or bf16 (half the memory; fast on GPUs). The adapter stays f32.
    #[arg(long, default_value = "f32")]
    pub dtype: guardtune_model::Dtype,
    /// Conversations generated together (left-padded).
    #[arg(long, default_value_t = 8)]
    pub batch_size: usize,
    #[arg(long, default_value_t = DEFAULT_MAX_NEW_TOKENS)]
    pub max_new_tokens: usize,
    /// cpu, cuda or cuda:N.
    #[arg(long, default_value = "cpu")]
    pub device: String,
}

impl GuardArgs {
    pub fn load<B: Backend>(&self, device: &B::Device) -> Result<LoadedGuard<B>> {
        LoadedGuard::load(&self.model, self.adapter.as_deref(), self.dtype, device)
    }
}

/// A guard loaded for inference: the base model with its adapter, and both tokenizers.
pub struct LoadedGuard<B: Backend> {
    pub model: LlamaForCausalLM<B>,
    pub prompts: GuardTokenizer,
    pub tokenizer: Tokenizer,
}

impl<B: Backend> LoadedGuard<B> {
    pub fn load(
        model_dir: &std::path::Path,
        adapter: Option<&std::path::Path>,
        dtype: guardtune_model::Dtype,
        device: &B::Device,
    ) -> Result<Self> {
        // The tokenizers first: they refuse a model that cannot embed their ids before the
        // weights are read.
        let tokenizer = Tokenizer::from_model_dir(model_dir)?;
        let prompts = GuardTokenizer::from_model_dir(model_dir)?;
        let (_, model) =
            crate::model_dir::load_model_with_adapter::<B>(model_dir, adapter, dtype, device)?;
        Ok(LoadedGuard { model, prompts, tokenizer })
    }

    pub fn classifier(&self, max_new_tokens: usize, device: B::Device) -> Classifier<'_, B> {
        Classifier {
            model: &self.model,
            prompts: &self.prompts,
            tokenizer: &self.tokenizer,
            max_new_tokens,
            device,
        }
    }
}

/// A model with the tokenizers it needs, borrowed (so training can evaluate its current model).
pub struct Classifier<'a, B: Backend> {
    pub model: &'a LlamaForCausalLM<B>,
    pub prompts: &'a GuardTokenizer,
    pub tokenizer: &'a Tokenizer,
    pub max_new_tokens: usize,
    pub device: B::Device,
}

impl<B: Backend> Classifier<'_, B> {
    /// Classifies a batch of examples (one generation pass, left-padded).
    pub fn classify(
        &self,
        examples: &[GuardExample],
        with_scores: bool,
    ) -> Result<Vec<Classification>> {
        let prompts: Vec<Vec<u32>> =
            examples.iter().map(|e| self.prompts.encode_prompt(e)).collect::<Result<_, _>>()?;
        for (example, prompt) in examples.iter().zip(&prompts) {
            let what = format!("example `{}` ({})", example.id, example.source);
            self.tokenizer.check_fits(prompt.len(), &what)?;
        }
        let outputs = generate_greedy(
            self.model,
            &prompts,
            self.max_new_tokens,
            &self.tokenizer.stop_ids,
            self.tokenizer.pad_id,
            &self.device,
        )?;
        let mut results = Vec::with_capacity(examples.len());
        for output in &outputs {
            let raw = self.tokenizer.decode(output, true)?;
            results.push(match parse_verdict(&raw) {
                Ok(Verdict::Safety { user, response, categories }) => Classification {
                    user_safety: Some(safety_name(user).into()),
                    response_safety: response.map(|r| safety_name(r).into()),
                    categories,
                    raw,
                    parse_error: None,
                    user_unsafe_probability: None,
                    response_unsafe_probability: None,
                },
                Ok(Verdict::Topic(_)) => {
                    unparsed(raw, "a topic answer where a safety verdict was expected".into())
                }
                Err(e) => unparsed(raw, e.to_string()),
            });
        }
        if with_scores {
            self.add_scores(examples, &prompts, &mut results)?;
        }
        Ok(results)
    }

    /// P(unsafe) at the first token where `..."safe` and `..."unsafe` differ, after the
    /// verdict's fixed opening; for responses, after the predicted user verdict.
    fn add_scores(
        &self,
        examples: &[GuardExample],
        prompts: &[Vec<u32>],
        results: &mut [Classification],
    ) -> Result<()> {
        let user_prefix = "{\"User Safety\": \"";
        let user = self.unsafe_probabilities(
            prompts.iter().map(|p| (p.as_slice(), user_prefix.to_string())).collect(),
        )?;
        for (result, p) in results.iter_mut().zip(user) {
            result.user_unsafe_probability = Some(p);
        }
        let with_response: Vec<usize> =
            (0..examples.len()).filter(|&i| examples[i].response_turn().is_some()).collect();
        if with_response.is_empty() {
            return Ok(());
        }
        let contexts = with_response
            .iter()
            .map(|&i| {
                let user = results[i].user_safety.clone().unwrap_or_else(|| "safe".into());
                (prompts[i].as_slice(), format!("{user_prefix}{user}\", \"Response Safety\": \""))
            })
            .collect();
        for (&i, p) in with_response.iter().zip(self.unsafe_probabilities(contexts)?) {
            results[i].response_unsafe_probability = Some(p);
        }
        Ok(())
    }

    /// For each `(prompt, answer prefix)`: softmax over the logits of the two tokens that start
    /// "safe" and "unsafe" right after the prefix, as P(unsafe).
    fn unsafe_probabilities(&self, contexts: Vec<(&[u32], String)>) -> Result<Vec<f64>> {
        let mut rows = Vec::new();
        let mut candidates = Vec::new();
        for (prompt, prefix) in contexts {
            let safe = self.tokenizer.encode(&format!("{prefix}safe"), false)?;
            let unsafe_ = self.tokenizer.encode(&format!("{prefix}unsafe"), false)?;
            let split = safe.iter().zip(&unsafe_).take_while(|(a, b)| a == b).count();
            let (Some(&s), Some(&u)) = (safe.get(split), unsafe_.get(split)) else {
                anyhow::bail!(
                    "the tokenizer cannot tell \"safe\" from \"unsafe\" after {prefix:?}"
                );
            };
            rows.push([prompt, &safe[..split]].concat());
            candidates.push([s as i64, u as i64]);
        }
        let batch = Batch::<B>::right_padded(&rows, self.tokenizer.pad_id, &self.device);
        let hidden = self.model.model.forward(&batch, None, None);
        let [n, seq, width] = hidden.dims();
        // The hidden state at each row's last real token.
        let last: Vec<i64> =
            rows.iter().enumerate().map(|(r, row)| (r * seq + row.len() - 1) as i64).collect();
        let index = Tensor::<B, 1, Int>::from_data(TensorData::new(last, [n]), &self.device);
        let picked = hidden.reshape([n * seq, width]).select(0, index).reshape([n, 1, width]);
        let logits = self.model.logits(picked).reshape([n, self.model.vocab_size()]);
        let pair_index = Tensor::<B, 2, Int>::from_data(
            TensorData::new(candidates.concat(), [n, 2]),
            &self.device,
        );
        let probs = softmax(logits.gather(1, pair_index), 1);
        let values: Vec<f32> = probs.into_data().convert::<f32>().to_vec().expect("f32 data");
        Ok(values.chunks(2).map(|p| p[1] as f64).collect())
    }
}

fn safety_name(s: Safety) -> &'static str {
    match s {
        Safety::Safe => "safe",
        Safety::Unsafe => "unsafe",
    }
}

fn unparsed(raw: String, error: String) -> Classification {
    Classification {
        user_safety: None,
        response_safety: None,
        categories: vec![],
        raw,
        parse_error: Some(error),
        user_unsafe_probability: None,
        response_unsafe_probability: None,
    }
}
