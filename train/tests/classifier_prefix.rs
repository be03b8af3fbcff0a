//! The guard's classifier with the policy prefix computed once equals the plain path (full
//! greedy generation from each whole prompt, then teacher-forced scoring passes), on the tiny
//! SmolLM2-shaped model with SmolLM2's real tokenizer and chat template.

use burn::backend::Flex;
use guardtune::classifier::{Classification, Classifier, LoadedGuard};
use guardtune::prefix_slot::choose_prefix;
use guardtune_data::{GuardExample, Policy};
use guardtune_model::testing::fixture;
use guardtune_model::Dtype;

type B = Flex;

fn guard() -> LoadedGuard<B> {
    LoadedGuard::load(&fixture("models/tiny-smollm2"), None, Dtype::F32, &Default::default())
        .unwrap()
}

fn example(i: usize, prompt: &str, response: Option<&str>, policy: &Policy) -> GuardExample {
    let mut e = GuardExample::safety(
        "test",
        i.to_string(),
        prompt,
        response.map(str::to_string),
        None,
        None,
        vec![],
    );
    e.policy = policy.clone();
    e
}

fn examples(policy: &Policy) -> Vec<GuardExample> {
    [
        ("How do I kill a Python process?", None),
        ("Write a poem about the sea", Some("The sea is wide, the sea is deep.")),
        ("hi", None),
        (
            "My neighbour's dog barks all night. What can I do about it without hurting anyone?",
            Some("Talk to your neighbour first; if that fails, contact the local council."),
        ),
        ("Where can I buy a gun without a background check?", Some("I can't help with that.")),
    ]
    .iter()
    .enumerate()
    .map(|(i, (prompt, response))| example(i, prompt, *response, policy))
    .collect()
}

fn assert_same(cached: &[Classification], plain: &[Classification]) {
    assert_eq!(cached.len(), plain.len());
    for (i, (c, p)) in cached.iter().zip(plain).enumerate() {
        assert_eq!(c.raw, p.raw, "row {i}: generated text");
        assert_eq!(
            (&c.user_safety, &c.response_safety, &c.categories, &c.parse_error),
            (&p.user_safety, &p.response_safety, &p.categories, &p.parse_error),
            "row {i}: verdict"
        );
        for (name, a, b) in [
            ("user", c.user_unsafe_probability, p.user_unsafe_probability),
            ("response", c.response_unsafe_probability, p.response_unsafe_probability),
        ] {
            match (a, b) {
                (Some(a), Some(b)) => assert!((a - b).abs() < 1e-4, "row {i} {name}: {a} vs {b}"),
                (a, b) => assert_eq!(a.is_some(), b.is_some(), "row {i} {name}: {a:?} vs {b:?}"),
            }
        }
    }
}

fn classifier(guard: &LoadedGuard<B>) -> Classifier<'_, B> {
    guard.classifier(12, Default::default())
}

#[test]
fn cached_classification_equals_full_generation() {
    let guard = guard();
    let classifier = classifier(&guard);
    let aegis = examples(&Policy::Aegis2Taxonomy);
    // Batches of several rows (mixed lengths, with and without responses) and of one.
    for batch in [&aegis[..3], &aegis[3..], &aegis[2..3]] {
        let cached = classifier.classify(batch, true).unwrap();
        assert!(cached.iter().all(|c| c.user_unsafe_probability.is_some()));
        assert_same(&cached, &classifier.classify_uncached(batch, true).unwrap());
    }
    let stats = classifier.prefix_cache.stats();
    assert_eq!(stats.prefix_builds, 1, "one policy, one prefix: {stats:?}");
    // The 23-category policy is most of every prompt.
    assert!(stats.saved_fraction() > 0.6, "{stats:?}");

    // Another policy: the prefix is rebuilt, and the verdicts still equal the plain path.
    let custom = examples(&Policy::Custom("S1: Cooking.\nS2: Gardening.".into()));
    let cached = classifier.classify(&custom, true).unwrap();
    assert_same(&cached, &classifier.classify_uncached(&custom, true).unwrap());
    assert_eq!(classifier.prefix_cache.stats().prefix_builds, 2);

    // Two policies in one batch share only the template's opening.
    let mixed = vec![aegis[0].clone(), custom[1].clone(), aegis[4].clone()];
    let cached = classifier.classify(&mixed, true).unwrap();
    assert_same(&cached, &classifier.classify_uncached(&mixed, true).unwrap());
    assert_eq!(classifier.prefix_cache.stats().prefix_builds, 3);
}

#[test]
fn prompts_without_a_common_prefix_and_without_scores() {
    let guard = guard();
    let classifier = classifier(&guard);
    let aegis = examples(&Policy::Aegis2Taxonomy);
    let prompts: Vec<Vec<u32>> =
        aegis.iter().map(|e| guard.prompts.encode_prompt(e).unwrap()).collect();
    // Rows that share nothing: one cut to start mid-prompt.
    let rows = vec![prompts[0].clone(), prompts[1][5..].to_vec()];
    let flags = [false, true];
    let cached = classifier.classify_prompts(&rows, &flags, false, None).unwrap();
    assert!(cached.iter().all(|c| c.user_unsafe_probability.is_none()));
    assert_eq!(classifier.prefix_cache.stats().computed_tokens, rows[0].len() + rows[1].len());
    // The same verdicts as the rows classified one at a time, each with its own full prefix.
    for (row, (&flag, c)) in rows.iter().zip(flags.iter().zip(&cached)) {
        let alone =
            classifier.classify_prompts(std::slice::from_ref(row), &[flag], true, None).unwrap();
        assert_eq!((&alone[0].raw, &alone[0].user_safety), (&c.raw, &c.user_safety));
    }
    let err = classifier.classify_prompts(&[vec![]], &[false], true, None).unwrap_err();
    assert!(err.to_string().contains("prompt 0 is empty"), "{err}");
}

#[test]
fn prefix_choice() {
    let rows = vec![vec![1, 2, 3, 4], vec![1, 2, 3, 5, 6]];
    assert_eq!(choose_prefix(None, &rows, None), 3);
    // The policy prefix bounds it, and batch after batch gives the same answer.
    assert_eq!(choose_prefix(None, &rows, Some(&[1, 2])), 2);
    assert_eq!(choose_prefix(Some(&[1, 2, 3]), &rows, Some(&[1, 2])), 2);
    // Without a policy a kept prefix that fits is reused, one that does not is replaced.
    assert_eq!(choose_prefix(Some(&[1, 2]), &rows, None), 2);
    assert_eq!(choose_prefix(Some(&[1, 9]), &rows, None), 3);
    // No common prefix; no rows.
    assert_eq!(choose_prefix(None, &[vec![1, 2], vec![3, 4]], None), 0);
    assert_eq!(choose_prefix(None, &[], None), 0);
    // A row that is all prefix (or a batch of one) keeps its last token.
    assert_eq!(choose_prefix(None, &[vec![1, 2, 3]], None), 2);
    assert_eq!(choose_prefix(None, &[vec![1, 2], vec![1, 2, 3]], None), 1);
    assert_eq!(choose_prefix(Some(&[1, 2]), &[vec![1, 2], vec![1, 2, 3]], None), 1);
    assert_eq!(choose_prefix(None, &[vec![7]], Some(&[7])), 0);
}
