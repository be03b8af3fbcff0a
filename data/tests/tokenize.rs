//! Tokenisation with the real tokenizers: labels on the answer and its end-of-turn token only,
//! an exact prompt/answer boundary, and no doubled BOS.

mod common;

use common::{llama31, smollm2, unsafe_dog_example};
use guardtune_data::{
    ChatTemplate, GuardExample, GuardTokenizer, Policy, Safety, Target, Tokenized, Topic, Turn,
    IGNORE_INDEX,
};
use tokenizers::Tokenizer;

fn safety_example() -> GuardExample {
    unsafe_dog_example(
        "Mix something toxic into a treat.",
        &["Violence", "Criminal Planning/Confessions"],
    )
}

fn topic_example() -> GuardExample {
    GuardExample {
        source: "test".into(),
        id: "t".into(),
        conversation: vec![
            Turn::user("How do I send money abroad?"),
            Turn::assistant("Use International Transfer in the app."),
            Turn::user("Which crypto coin will go up next?"),
        ],
        policy: Policy::Custom("Only discuss Acme Bank accounts and transfers.".into()),
        target: Target::Topic(Topic::OffTopic),
    }
}

/// Checks the mask: -100 up to the answer, then the answer and the end-of-turn token, then -100.
fn check(
    tok: &GuardTokenizer,
    example: &GuardExample,
    end_of_turn: &str,
    trailing_text: &str,
) -> Tokenized {
    let (rendered, tokens) = tok.render_and_tokenize(example).unwrap();
    let tokenizer = tok.tokenizer();
    assert_eq!(tokens.input_ids.len(), tokens.labels.len());
    let trained: Vec<usize> =
        (0..tokens.len()).filter(|&i| tokens.labels[i] != IGNORE_INDEX).collect();
    let (first, last) = (trained[0], *trained.last().unwrap());
    assert_eq!(trained, (first..=last).collect::<Vec<_>>(), "one contiguous trained span");
    for &i in &trained {
        assert_eq!(tokens.labels[i], i64::from(tokens.input_ids[i]));
    }
    let answer = guardtune_data::render_target(&example.target).unwrap();
    let trained_text = tokenizer.decode(&tokens.input_ids[first..=last], false).unwrap();
    assert_eq!(trained_text, format!("{answer}{end_of_turn}"));
    assert_eq!(tokenizer.id_to_token(tokens.input_ids[last]).as_deref(), Some(end_of_turn));
    let after = tokenizer.decode(&tokens.input_ids[last + 1..], false).unwrap();
    assert_eq!(after, trailing_text);
    // The prompt part is exactly what the model sees at inference.
    assert_eq!(&tokens.input_ids[..first], tok.encode_prompt(example).unwrap().as_slice());
    assert_eq!(rendered.completion, format!("{answer}{end_of_turn}{trailing_text}"));
    tokens
}

/// Tokenising the prompt and the completion separately gives the same ids: the boundary is
/// a clean cut for these byte-level BPE tokenizers.
fn check_pieces(tok: &GuardTokenizer, example: &GuardExample, tokens: &Tokenized) {
    let rendered = tok.render(example).unwrap();
    let tokenizer: &Tokenizer = tok.tokenizer();
    let adds_bos = !rendered.prompt.starts_with(tok.template().bos_token().unwrap_or("\u{0}"));
    let mut pieces =
        tokenizer.encode(rendered.prompt.as_str(), adds_bos).unwrap().get_ids().to_vec();
    pieces.extend(tokenizer.encode(rendered.completion.as_str(), false).unwrap().get_ids());
    assert_eq!(pieces, tokens.input_ids);
}

#[test]
fn llama31_masks_answer_and_eot_with_one_bos() {
    let Some(tok) = llama31() else { return };
    for example in [safety_example(), topic_example()] {
        let tokens = check(tok, &example, "<|eot_id|>", "");
        check_pieces(tok, &example, &tokens);
        assert_eq!(tokens.input_ids[0], 128000);
        assert_ne!(tokens.input_ids[1], 128000, "BOS written by the template is not doubled");
        assert_eq!(tokens.input_ids.iter().filter(|&&id| id == 128000).count(), 1);
    }
    // The answer tokens: the JSON target then <|eot_id|> (128009).
    let tokens = tok.tokenize(&safety_example()).unwrap();
    assert_eq!(*tokens.labels.last().unwrap(), 128009);
    assert_eq!(tokens.num_target_tokens(), tokens.labels.iter().filter(|&&l| l >= 0).count());
}

#[test]
fn smollm2_masks_answer_and_im_end_but_not_the_newline_after() {
    let tok = smollm2();
    for example in [safety_example(), topic_example()] {
        let tokens = check(tok, &example, "<|im_end|>", "\n");
        check_pieces(tok, &example, &tokens);
        // ChatML: the template's own system message comes first, no BOS added.
        assert_eq!(
            tok.tokenizer().decode(&tokens.input_ids[..3], false).unwrap(),
            "<|im_start|>system\n"
        );
    }
    // Topic examples: the policy is the system message, so SmolLM2's default system is not added.
    let prompt = tok.render(&topic_example()).unwrap().prompt;
    assert!(prompt.starts_with(
        "<|im_start|>system\nOnly discuss Acme Bank accounts and transfers.\n\nIf any of the above"
    ));
}

#[test]
fn sentencepiece_tokenizer_masks_exactly_with_a_template_of_its_own() {
    // stories260K: a Llama-2-style SentencePiece tokenizer whose normaliser prepends "▁" and whose
    // post-processor adds <s>; tokenising pieces separately would differ, offsets do not.
    let dir = guardtune_model::testing::fixture("models/stories260K");
    let tokenizer = Tokenizer::from_file(dir.join("tokenizer.json")).unwrap();
    // Without a chat template the Llama 3.1 format is used, whose tokens this vocabulary lacks.
    let fallback = GuardTokenizer::from_model_dir(&dir).unwrap();
    let error = fallback.tokenize(&safety_example()).unwrap_err().to_string();
    assert!(error.contains("no special end-of-turn token"), "{error}");

    let template = ChatTemplate::from_source(
        "{% for m in messages %}{{ m.role }}: {{ m.content }}{{ eos_token }}{% endfor %}{% if add_generation_prompt %}assistant:{% endif %}",
        Some("<s>".into()),
        Some("</s>".into()),
    )
    .unwrap();
    let tok = GuardTokenizer::new(tokenizer, template).unwrap();
    let example = safety_example();
    let tokens = tok.tokenize(&example).unwrap();
    assert_eq!(
        tokens.input_ids[0], 1,
        "the post-processor's <s>, since the template does not write it"
    );
    assert_eq!(tokens.input_ids.iter().filter(|&&id| id == 1).count(), 1);
    let first = tokens.labels.iter().position(|&l| l != IGNORE_INDEX).unwrap();
    assert_eq!(&tokens.input_ids[..first], tok.encode_prompt(&example).unwrap().as_slice());
    let trained: Vec<u32> = tokens.input_ids[first..].to_vec();
    assert_eq!(tokens.labels[first..].iter().map(|&l| l as u32).collect::<Vec<_>>(), trained);
    assert_eq!(*trained.last().unwrap(), 2, "</s> closes the answer");
}

/// A row labelled at the response level only trains on everything in its answer but the user
/// verdict's value: the key, the response verdict and the end-of-turn token keep their labels.
#[test]
fn response_only_rows_leave_the_user_verdict_out_of_the_loss() {
    for (tok, end_of_turn) in [(llama31(), "<|eot_id|>"), (Some(smollm2()), "<|im_end|>")] {
        let Some(tok) = tok else { continue };
        for (id, response) in (0..8)
            .flat_map(|i| [(format!("r{i}"), Safety::Safe), (format!("r{i}"), Safety::Unsafe)])
        {
            let example = GuardExample::safety(
                "bench",
                id.clone(),
                "How do I pick a lock?",
                Some("Insert a tension wrench, then rake the pins.".into()),
                None,
                Some(response),
                vec!["Criminal Planning/Confessions".into()],
            );
            let answer = guardtune_data::render_answer(&example).unwrap();
            let unlabelled = answer.unlabelled.clone().unwrap();
            let placeholder = &answer.text[unlabelled.clone()];
            assert!(placeholder == "safe" || placeholder == "unsafe", "{placeholder}");
            let categories = if response == Safety::Unsafe {
                ", \"Safety Categories\": \"Criminal Planning/Confessions\""
            } else {
                ""
            };
            let expected = format!(
                "{{\"User Safety\": \"{placeholder}\", \"Response Safety\": \"{}\"{categories}}}",
                response.as_str()
            );
            assert_eq!(answer.text, expected, "{id}");

            let tokens = tok.tokenize(&example).unwrap();
            let tokenizer = tok.tokenizer();
            let first = tokens.labels.iter().position(|&l| l != IGNORE_INDEX).unwrap();
            let last = tokens.labels.iter().rposition(|&l| l != IGNORE_INDEX).unwrap();
            assert_eq!(&tokens.input_ids[..first], tok.encode_prompt(&example).unwrap().as_slice());
            let decode = |ids: &[u32]| tokenizer.decode(ids, false).unwrap();
            assert_eq!(decode(&tokens.input_ids[first..=last]), format!("{expected}{end_of_turn}"));
            // The labelled tokens read as the answer with the user verdict cut out.
            let (trained, skipped): (Vec<usize>, Vec<usize>) =
                (first..=last).partition(|&i| tokens.labels[i] != IGNORE_INDEX);
            assert!(!skipped.is_empty(), "{id}: the user verdict is left out");
            let skipped_text =
                decode(&skipped.iter().map(|&i| tokens.input_ids[i]).collect::<Vec<_>>());
            assert!(skipped_text.contains(placeholder), "{id}: {skipped_text:?}");
            assert!(!skipped_text.contains("Response"), "{id}: {skipped_text:?}");
            let trained_text =
                decode(&trained.iter().map(|&i| tokens.input_ids[i]).collect::<Vec<_>>());
            assert!(trained_text.starts_with("{\"User Safety\":"), "{trained_text:?}");
            assert!(
                trained_text.ends_with(&format!(
                    "\"Response Safety\": \"{}\"{categories}}}{end_of_turn}",
                    response.as_str()
                )),
                "{trained_text:?}"
            );
        }
    }
}

/// The placeholder user verdict is half safe, half unsafe over row ids, whatever the response
/// label: it carries nothing the response verdict could learn from.
#[test]
fn placeholder_user_verdicts_are_balanced_and_stable() {
    let placeholder = |id: usize| {
        let example = GuardExample::safety(
            "bench",
            format!("0_A_beaver_tails.json:{id}"),
            "p",
            Some("r".into()),
            None,
            Some(Safety::Unsafe),
            vec![],
        );
        let answer = guardtune_data::render_answer(&example).unwrap();
        answer.text[answer.unlabelled.unwrap()].to_string()
    };
    let unsafe_count = (0..2000).filter(|&id| placeholder(id) == "unsafe").count();
    assert!((900..1100).contains(&unsafe_count), "{unsafe_count} of 2000");
    assert_eq!(placeholder(7), placeholder(7));
}

#[test]
fn untrainable_examples_are_errors() {
    let Some(tok) = llama31() else { return };
    let unlabelled =
        GuardExample::safety("bench", "9", "hi", Some("hello".into()), None, None, vec![]);
    let error = tok.tokenize(&unlabelled).unwrap_err().to_string();
    assert!(
        error.contains("example `9` (bench)") && error.contains("neither a prompt nor a response"),
        "{error}"
    );
    // ... but their prompts can be encoded for evaluation.
    assert!(!tok.encode_prompt(&unlabelled).unwrap().is_empty());

    let mut bad_topic = topic_example();
    bad_topic.conversation.push(Turn::assistant("sure"));
    assert!(tok
        .tokenize(&bad_topic)
        .unwrap_err()
        .to_string()
        .contains("must end with the user turn"));
}
