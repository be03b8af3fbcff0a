//! Parsing guard answers: the output forms in aegis2.md, round trips of our targets, and garbage.

use guardtune_data::{parse_verdict, render_target, Safety, Target, Topic, Verdict, VerdictError};

fn safety(user: Safety, response: Option<Safety>, categories: &[&str]) -> Verdict {
    Verdict::Safety {
        user,
        response,
        categories: categories.iter().map(|c| c.to_string()).collect(),
    }
}

#[test]
fn output_forms_from_the_notes() {
    // NG3's example, lower-case category name.
    assert_eq!(
        parse_verdict(
            r#"{"User Safety": "unsafe", "Safety Categories": "guns and illegal weapons"}"#
        )
        .unwrap(),
        safety(Safety::Unsafe, None, &["Guns and Illegal Weapons"])
    );
    // NeMo Guardrails' docstring form: comma plus space.
    assert_eq!(
        parse_verdict(r#"{"User Safety": "unsafe", "Response Safety": "unsafe", "Safety Categories": "Violence, Profanity"}"#)
            .unwrap(),
        safety(Safety::Unsafe, Some(Safety::Unsafe), &["Violence", "Profanity"])
    );
    // NG3 output spec: comma without space.
    assert_eq!(
        parse_verdict(r#"{"User Safety": "unsafe", "Response Safety": "safe", "Safety Categories": "Violence,Profanity"}"#)
            .unwrap(),
        safety(Safety::Unsafe, Some(Safety::Safe), &["Violence", "Profanity"])
    );
    assert_eq!(
        parse_verdict(r#"{"User Safety": "safe"}"#).unwrap(),
        safety(Safety::Safe, None, &[])
    );
}

#[test]
fn surrounding_text_case_and_whitespace() {
    let raw = "Sure! Here is the assessment:\n```json\n{\"user safety\": \" UNSAFE \", \"SAFETY CATEGORIES\": \" Threat ,  Harassment,\"}\n```\nThanks";
    assert_eq!(
        parse_verdict(raw).unwrap(),
        safety(Safety::Unsafe, None, &["Threat", "Harassment"])
    );
    // A stray brace before the object is skipped.
    assert_eq!(
        parse_verdict("{oops {\"User Safety\": \"Safe\"}").unwrap(),
        safety(Safety::Safe, None, &[])
    );
    // Unknown category names are kept as written.
    assert_eq!(
        parse_verdict(r#"{"User Safety": "unsafe", "Safety Categories": "Space Piracy"}"#).unwrap(),
        safety(Safety::Unsafe, None, &["Space Piracy"])
    );
}

#[test]
fn topic_answers() {
    for (raw, topic) in [
        ("on-topic", Topic::OnTopic),
        ("off-topic", Topic::OffTopic),
        ("  Off-Topic.\n", Topic::OffTopic),
        ("\"on-topic\"", Topic::OnTopic),
    ] {
        assert_eq!(parse_verdict(raw).unwrap(), Verdict::Topic(topic), "{raw:?}");
    }
}

#[test]
fn round_trip_of_rendered_targets() {
    let targets = [
        Target::Safety { user: Some(Safety::Safe), response: None, categories: vec![] },
        Target::Safety {
            user: Some(Safety::Unsafe),
            response: Some(Safety::Safe),
            categories: vec!["Sexual (minor)".into(), "Other".into()],
        },
        Target::Safety {
            user: Some(Safety::Safe),
            response: Some(Safety::Unsafe),
            categories: vec!["Say \"no\"".into()],
        },
        Target::Topic(Topic::OffTopic),
    ];
    for target in targets {
        let parsed = parse_verdict(&render_target(&target).unwrap()).unwrap();
        let expected = match &target {
            Target::Safety { user, response, categories } => Verdict::Safety {
                user: user.unwrap(),
                response: *response,
                categories: categories.clone(),
            },
            Target::Topic(topic) => Verdict::Topic(*topic),
        };
        assert_eq!(parsed, expected);
    }
}

#[test]
fn garbage_is_an_error_not_a_panic() {
    type Check = fn(&VerdictError) -> bool;
    let cases: [(&str, Check); 9] = [
        ("", |e| matches!(e, VerdictError::NoVerdict(_))),
        ("unsafe", |e| matches!(e, VerdictError::NoVerdict(_))),
        ("{\"User Safety\": ", |e| matches!(e, VerdictError::NoVerdict(_))),
        ("{}", |e| matches!(e, VerdictError::MissingUserSafety(_))),
        ("{\"Response Safety\": \"safe\"}", |e| matches!(e, VerdictError::MissingUserSafety(_))),
        ("{\"User Safety\": \"maybe\"}", |e| matches!(e, VerdictError::BadSafety { .. })),
        ("{\"User Safety\": 1}", |e| matches!(e, VerdictError::BadSafety { .. })),
        ("{\"User Safety\": \"safe\", \"Response Safety\": null}", |e| {
            matches!(e, VerdictError::BadSafety { .. })
        }),
        ("{\"User Safety\": \"unsafe\", \"Safety Categories\": 3}", |e| {
            matches!(e, VerdictError::BadCategories(_))
        }),
    ];
    for (raw, check) in cases {
        let error = parse_verdict(raw).expect_err(raw);
        assert!(check(&error), "{raw:?} gave {error:?}");
    }
    // Arbitrary bytes never panic.
    let noise: String =
        (0..2000u32).map(|i| char::from_u32(32 + (i * 7919) % 95).unwrap()).collect();
    let _ = parse_verdict(&noise);
    let _ = parse_verdict(&"{".repeat(500));
    let _ = parse_verdict("{\"User Safety\": \"safe\"\u{0}}ÿ");
}
