//! CantTalkAboutThis dialogues: `domain`, `scenario`, `system_instruction`, `conversation`,
//! `distractors`, `conversation_with_distractors`.
//!
//! The system instruction is the policy. Candidate examples are the user turns of
//! `conversation_with_distractors`, each with the turns before it in its block; a user turn whose
//! text equals a `distractors[i].distractor` is off-topic (the data has no flag field: this is the
//! match its users make), every other user turn is on-topic. The published value is a list of
//! conversation blocks (lists of `{role, content}`); a flat list of turns is read as one block.
//! Blocks are not joined, since whether a block continues the previous one is not documented.
//! Without `conversation_with_distractors`, `conversation` gives on-topic candidates only.
//!
//! Which candidates become examples is a seeded choice, per dialogue, of
//! `on_topic_per_dialogue` on-topic and `off_topic_per_dialogue` off-topic turns.

use super::{RowContext, RowOutcome};
use crate::error::RowError;
use crate::example::{GuardExample, Policy, Role, Target, Topic, Turn};
use crate::rows::Fields;
use crate::seeding::{choose_sorted, rng_for};
use serde_json::Value;

pub(super) fn parse_row(fields: &Fields, row: &mut RowContext) -> Result<RowOutcome, RowError> {
    let policy = fields.string("system_instruction")?;
    let distractors = fields
        .list("distractors")?
        .iter()
        .enumerate()
        .map(|(i, item)| {
            item.get("distractor").and_then(Value::as_str).map(str::trim).ok_or_else(|| {
                fields.error(
                    &format!("distractors[{i}].distractor"),
                    "a string",
                    item.get("distractor"),
                )
            })
        })
        .collect::<Result<Vec<&str>, RowError>>()?;
    let blocks = dialogue_blocks(fields, row)?;

    let mut on_topic = Vec::new();
    let mut off_topic = Vec::new();
    for (b, block) in blocks.iter().enumerate() {
        for (t, turn) in block.iter().enumerate().filter(|(_, turn)| turn.role == Role::User) {
            if distractors.contains(&turn.content.trim()) {
                off_topic.push((b, t));
            } else {
                on_topic.push((b, t));
            }
        }
    }
    for distractor in &distractors {
        let found = off_topic.iter().any(|&(b, t)| blocks[b][t].content.trim() == *distractor);
        if !found {
            row.report.count_note("distractor not found among the user turns");
        }
    }

    let sampling = row.options.topic_sampling;
    let mut rng =
        rng_for(row.options.seed, &format!("canttalkaboutthis:{}:{}", row.file_name, fields.row));
    let mut chosen: Vec<(usize, usize, Topic)> = Vec::new();
    for index in choose_sorted(&mut rng, on_topic.len(), sampling.on_topic_per_dialogue) {
        chosen.push((on_topic[index].0, on_topic[index].1, Topic::OnTopic));
    }
    for index in choose_sorted(&mut rng, off_topic.len(), sampling.off_topic_per_dialogue) {
        chosen.push((off_topic[index].0, off_topic[index].1, Topic::OffTopic));
    }
    chosen.sort_unstable();

    let dialogue_id = row.default_id(fields.row);
    let examples = chosen
        .into_iter()
        .map(|(b, t, topic)| GuardExample {
            source: row.source.to_string(),
            id: format!("{dialogue_id}:{}.{}", b + 1, t + 1),
            conversation: blocks[b][..=t].to_vec(),
            policy: Policy::Custom(policy.to_string()),
            target: Target::Topic(topic),
        })
        .collect();
    Ok(RowOutcome::Examples(examples))
}

/// The conversation blocks to cut examples from.
fn dialogue_blocks(fields: &Fields, row: &mut RowContext) -> Result<Vec<Vec<Turn>>, RowError> {
    const WITH_DISTRACTORS: &str = "conversation_with_distractors";
    let items = match fields.get(WITH_DISTRACTORS) {
        None | Some(Value::Null) => &[][..],
        Some(_) => fields.list(WITH_DISTRACTORS)?.as_slice(),
    };
    if items.is_empty() {
        row.report
            .count_note("no conversation_with_distractors: on-topic turns of conversation only");
        return Ok(vec![turns(fields, "conversation", fields.list("conversation")?)?]);
    }
    if items.iter().all(Value::is_object) {
        return Ok(vec![turns(fields, WITH_DISTRACTORS, items)?]);
    }
    items
        .iter()
        .enumerate()
        .map(|(b, block)| {
            let path = format!("{WITH_DISTRACTORS}[{b}]");
            let block = block.as_array().ok_or_else(|| {
                fields.error(&path, "a list of {role, content} turns", Some(block))
            })?;
            turns(fields, &path, block)
        })
        .collect()
}

/// `{role, content}` objects as turns; roles are `user` and `assistant`.
fn turns(fields: &Fields, path: &str, items: &[Value]) -> Result<Vec<Turn>, RowError> {
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let role_path = format!("{path}[{i}].role");
            let role = match item.get("role").and_then(Value::as_str) {
                Some("user") => Role::User,
                Some("assistant") => Role::Assistant,
                _ => {
                    return Err(fields.error(
                        &role_path,
                        "\"user\" or \"assistant\"",
                        item.get("role"),
                    ))
                }
            };
            let content = item.get("content").and_then(Value::as_str).ok_or_else(|| {
                fields.error(&format!("{path}[{i}].content"), "a string", item.get("content"))
            })?;
            Ok(Turn { role, content: content.to_string() })
        })
        .collect()
}
