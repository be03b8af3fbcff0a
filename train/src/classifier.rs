//! The guard at inference: render the guard prompt with the model's chat template, generate the
//! verdict greedily with the KV cache, parse it as NeMo Guardrails does, and optionally score
//! P(unsafe) from the logits of the first verdict token.
//!
//! Every guard prompt of a policy starts with the same tokens (template header, task, policy):
//! their keys and values are computed once ([`PrefixSlot`]) and lent to every batch. Each row's
//! own tokens run in one pass together with the verdict's fixed opening `{"User Safety": "` as a
//! draft ([`guardtune_model::continue_greedy`]): the logits after it give P(unsafe), and where
//! greedy decoding writes that opening (a trained guard always does) it costs no decoding step.
//! Then only the rest of the verdict is decoded. The output equals full greedy generation, and
//! the scores equal [`Classifier::classify_uncached`]'s teacher-forced passes.

use anyhow::Result;
use burn::tensor::activation::softmax;
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};
use guardtune_data::{parse_verdict, GuardExample, GuardTokenizer, Safety, Verdict};
use guardtune_model::{
    continue_greedy, generate_greedy, Batch, Continuation, Greedy, LlamaForCausalLM, Tokenizer,
};
use serde::Serialize;

pub use crate::prefix_slot::{PrefixSlot, TokenStats};

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
#[derive(clap::Args, Clone, Debug)]
pub struct GuardArgs {
    #[command(flatten)]
    pub model: crate::model_dir::ModelArgs,
    /// Conversations generated together (left-padded).
    #[arg(long, default_value_t = 8)]
    pub batch_size: usize,
    #[arg(long, default_value_t = DEFAULT_MAX_NEW_TOKENS)]
    pub max_new_tokens: usize,
}

impl GuardArgs {
    pub fn load<B: Backend>(&self, device: &B::Device) -> Result<LoadedGuard<B>> {
        let m = &self.model;
        LoadedGuard::load(&m.path, m.adapter.as_deref(), m.compute_dtype(), device)
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
            prefix_cache: PrefixSlot::default(),
        }
    }
}

/// A model with the tokenizers it needs, borrowed (so training can evaluate its current model),
/// and the policy prefix's keys/values once computed for it.
pub struct Classifier<'a, B: Backend> {
    pub model: &'a LlamaForCausalLM<B>,
    pub prompts: &'a GuardTokenizer,
    pub tokenizer: &'a Tokenizer,
    pub max_new_tokens: usize,
    pub device: B::Device,
    /// Start with `PrefixSlot::default()`; valid for this `model` only (its adapter included).
    pub prefix_cache: PrefixSlot<B>,
}

/// The verdict's fixed opening, before the user verdict.
const USER_OPENING: &str = "{\"User Safety\": \"";

/// The verdict's opening up to the response verdict, after the user verdict `user`.
fn response_opening(user: &str) -> String {
    format!("{USER_OPENING}{user}\", \"Response Safety\": \"")
}

/// An answer's opening as tokens, and the two tokens that then start "safe" and "unsafe".
struct Opening {
    tokens: Vec<u32>,
    pair: [u32; 2],
}

impl<B: Backend> Classifier<'_, B> {
    /// The examples' guard prompts as token ids, each checked to fit the model's positions
    /// together with the verdict that may be generated after it.
    fn encode_prompts(&self, examples: &[GuardExample]) -> Result<Vec<Vec<u32>>> {
        let mut prompts = Vec::with_capacity(examples.len());
        for example in examples {
            let prompt = self.prompts.encode_prompt(example)?;
            let what = format!(
                "example `{}` ({}): its prompt ({} tokens) with up to {} verdict tokens",
                example.id,
                example.source,
                prompt.len(),
                self.max_new_tokens
            );
            self.tokenizer.check_fits(prompt.len() + self.max_new_tokens, &what)?;
            prompts.push(prompt);
        }
        Ok(prompts)
    }

    /// Classifies a batch of examples with the prefix cache (see the module docs).
    pub fn classify(
        &self,
        examples: &[GuardExample],
        with_scores: bool,
    ) -> Result<Vec<Classification>> {
        let prompts = self.encode_prompts(examples)?;
        let has_response: Vec<bool> =
            examples.iter().map(|e| e.response_turn().is_some()).collect();
        let policy = match examples.first() {
            Some(example) => Some(self.policy_prefix(example)?),
            None => None,
        };
        self.classify_prompts(&prompts, &has_response, with_scores, policy.as_deref())
    }

    /// The tokens every prompt of `example`'s policy and template starts with: the common prefix
    /// of two prompts whose conversations differ from their first character.
    fn policy_prefix(&self, example: &GuardExample) -> Result<Vec<u32>> {
        let probe = |text: &str| {
            let mut probe = example.clone();
            probe.conversation = vec![guardtune_data::Turn::user(text)];
            self.prompts.encode_prompt(&probe)
        };
        let (a, b) = (probe("A")?, probe("B")?);
        let len = guardtune_model::common_prefix_len([a.as_slice(), b.as_slice()]);
        Ok(a[..len].to_vec())
    }

    /// Classifies rendered prompts (token ids; `has_response[i]` when prompt `i` holds a
    /// response to judge). `policy`, if known, is the prefix all prompts of the policy share (see
    /// [`PrefixSlot::prepare`]).
    pub fn classify_prompts(
        &self,
        prompts: &[Vec<u32>],
        has_response: &[bool],
        with_scores: bool,
        policy: Option<&[u32]>,
    ) -> Result<Vec<Classification>> {
        if has_response.len() != prompts.len() {
            anyhow::bail!("{} response flags for {} prompts", has_response.len(), prompts.len());
        }
        if prompts.is_empty() {
            return Ok(Vec::new());
        }
        let user = self.opening(USER_OPENING)?;
        let responses =
            [self.opening(&response_opening("safe"))?, self.opening(&response_opening("unsafe"))?];
        // Watched logits: the user pair at 0..2, the response pair after "safe" at 2..4 and after
        // "unsafe" at 4..6.
        let watch = [user.pair, responses[0].pair, responses[1].pair].concat();
        let settings = Greedy {
            max_new_tokens: self.max_new_tokens,
            stop_ids: &self.tokenizer.stop_ids,
            pad_id: self.tokenizer.pad_id,
            watch: &watch,
        };
        let (cache, suffixes) =
            self.prefix_cache.prepare(self.model, prompts, policy, &self.device)?;
        let drafts = vec![user.tokens.clone(); prompts.len()];
        let rows = continue_greedy(self.model, cache, &suffixes, &drafts, &settings, &self.device)?;
        self.prefix_cache.count_generated(rows.iter().map(|r| r.tokens.as_slice()), &user.tokens);
        let mut results: Vec<Classification> =
            rows.iter().map(|row| self.verdict(&row.tokens)).collect::<Result<_>>()?;
        if with_scores {
            for (result, row) in results.iter_mut().zip(&rows) {
                result.user_unsafe_probability = Some(unsafe_probability(&row.after_draft[0..2]));
            }
            let context = ScoringContext { prompts, has_response, policy, responses: &responses };
            self.add_response_scores(&context, &rows, &mut results)?;
        }
        Ok(results)
    }

    /// P(unsafe) for the responses: read from the decoding step after the response verdict's
    /// opening where greedy decoding wrote exactly that opening, otherwise from one pass that
    /// forces it (as [`Self::classify_uncached`] does for every row).
    fn add_response_scores(
        &self,
        context: &ScoringContext<'_>,
        rows: &[Continuation],
        results: &mut [Classification],
    ) -> Result<()> {
        let mut forced = Vec::new();
        for (i, row) in rows.iter().enumerate().filter(|&(i, _)| context.has_response[i]) {
            let after_unsafe = results[i].user_safety.as_deref() == Some("unsafe");
            let which = usize::from(after_unsafe);
            let opening = &context.responses[which].tokens;
            let k = opening.len();
            let pair = 2 + 2 * which..4 + 2 * which;
            if row.tokens.len() > k && row.tokens[..k] == opening[..] {
                results[i].response_unsafe_probability =
                    Some(unsafe_probability(&row.watched[k][pair]));
            } else {
                forced.push((i, which));
            }
        }
        if forced.is_empty() {
            return Ok(());
        }
        let prompts: Vec<Vec<u32>> =
            forced.iter().map(|&(i, _)| context.prompts[i].clone()).collect();
        let drafts: Vec<Vec<u32>> =
            forced.iter().map(|&(_, w)| context.responses[w].tokens.clone()).collect();
        let watch = [context.responses[0].pair, context.responses[1].pair].concat();
        let settings = Greedy {
            max_new_tokens: 0,
            stop_ids: &self.tokenizer.stop_ids,
            pad_id: self.tokenizer.pad_id,
            watch: &watch,
        };
        let (cache, suffixes) =
            self.prefix_cache.prepare(self.model, &prompts, context.policy, &self.device)?;
        let scored =
            continue_greedy(self.model, cache, &suffixes, &drafts, &settings, &self.device)?;
        for (&(i, which), row) in forced.iter().zip(scored) {
            let pair = 2 * which..2 + 2 * which;
            results[i].response_unsafe_probability =
                Some(unsafe_probability(&row.after_draft[pair]));
        }
        Ok(())
    }

    /// The reference the prefix-cached [`Self::classify`] must equal: full greedy generation from
    /// each whole prompt (left-padded), then one teacher-forced pass over every prompt for the
    /// user scores and another for the response scores.
    pub fn classify_uncached(
        &self,
        examples: &[GuardExample],
        with_scores: bool,
    ) -> Result<Vec<Classification>> {
        let prompts = self.encode_prompts(examples)?;
        let outputs = generate_greedy(
            self.model,
            &prompts,
            self.max_new_tokens,
            &self.tokenizer.stop_ids,
            self.tokenizer.pad_id,
            &self.device,
        )?;
        let mut results: Vec<Classification> =
            outputs.iter().map(|output| self.verdict(output)).collect::<Result<_>>()?;
        if with_scores {
            self.add_scores(examples, &prompts, &mut results)?;
        }
        Ok(results)
    }

    /// The parsed verdict of generated tokens.
    fn verdict(&self, output: &[u32]) -> Result<Classification> {
        let raw = self.tokenizer.decode(output, true)?;
        Ok(match parse_verdict(&raw) {
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
        })
    }

    /// `text` tokenised, cut at the first token where `{text}safe` and `{text}unsafe` differ.
    fn opening(&self, text: &str) -> Result<Opening> {
        let safe = self.tokenizer.encode(&format!("{text}safe"), false)?;
        let unsafe_ = self.tokenizer.encode(&format!("{text}unsafe"), false)?;
        let split = safe.iter().zip(&unsafe_).take_while(|(a, b)| a == b).count();
        let (Some(&s), Some(&u)) = (safe.get(split), unsafe_.get(split)) else {
            anyhow::bail!("the tokenizer cannot tell \"safe\" from \"unsafe\" after {text:?}");
        };
        Ok(Opening { tokens: safe[..split].to_vec(), pair: [s, u] })
    }

    /// P(unsafe) at the first token where `..."safe` and `..."unsafe` differ, after the
    /// verdict's fixed opening; for responses, after the predicted user verdict.
    fn add_scores(
        &self,
        examples: &[GuardExample],
        prompts: &[Vec<u32>],
        results: &mut [Classification],
    ) -> Result<()> {
        let user = self.unsafe_probabilities(
            prompts.iter().map(|p| (p.as_slice(), USER_OPENING.to_string())).collect(),
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
                (prompts[i].as_slice(), response_opening(&user))
            })
            .collect();
        for (&i, p) in with_response.iter().zip(self.unsafe_probabilities(contexts)?) {
            results[i].response_unsafe_probability = Some(p);
        }
        Ok(())
    }

    /// For each `(prompt, answer opening)`: softmax over the logits of the two tokens that start
    /// "safe" and "unsafe" right after the opening, as P(unsafe).
    fn unsafe_probabilities(&self, contexts: Vec<(&[u32], String)>) -> Result<Vec<f64>> {
        let mut rows = Vec::new();
        let mut candidates = Vec::new();
        for (prompt, text) in contexts {
            let opening = self.opening(&text)?;
            rows.push([prompt, &opening.tokens].concat());
            candidates.push(opening.pair.map(i64::from));
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

/// What the response scores of one batch need besides its decoded rows.
struct ScoringContext<'a> {
    prompts: &'a [Vec<u32>],
    has_response: &'a [bool],
    policy: Option<&'a [u32]>,
    /// The response verdict's opening after "safe" and after "unsafe".
    responses: &'a [Opening; 2],
}

/// P(unsafe) from the logits `[safe, unsafe]` of the two tokens that start the verdicts.
fn unsafe_probability(pair: &[f32]) -> f64 {
    let (safe, unsafe_) = (f64::from(pair[0]), f64::from(pair[1]));
    1.0 / (1.0 + (safe - unsafe_).exp())
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
