//! The one guard example type used for training data and benchmarks alike.

use serde::{Deserialize, Serialize};

/// Who wrote a turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// A system message (topic-control policies are rendered as one).
    System,
    /// The human user.
    User,
    /// The AI assistant ("agent" in the guard prompt).
    Assistant,
}

impl Role {
    /// The role name chat templates expect: `system`, `user`, `assistant`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
        }
    }
}

/// One message of a conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Turn {
    /// Who wrote it.
    pub role: Role,
    /// The text, verbatim from the data.
    pub content: String,
}

impl Turn {
    /// A user turn.
    pub fn user(content: impl Into<String>) -> Self {
        Turn { role: Role::User, content: content.into() }
    }

    /// An assistant turn.
    pub fn assistant(content: impl Into<String>) -> Self {
        Turn { role: Role::Assistant, content: content.into() }
    }

    /// A system turn.
    pub fn system(content: impl Into<String>) -> Self {
        Turn { role: Role::System, content: content.into() }
    }
}

/// The policy an example is judged against.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Policy {
    /// The 23 Aegis 2.0 categories, S1..S23, as the NemoGuard prompt lists them.
    Aegis2Taxonomy,
    /// A policy text written by the user (or a CantTalkAboutThis system instruction). In the
    /// content-safety prompt it replaces the S1..S23 lines; in the topic-control prompt it is the
    /// system message.
    Custom(String),
}

/// A binary safety label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Safety {
    /// Nothing in the message violates the policy.
    Safe,
    /// The message violates the policy.
    Unsafe,
}

impl Safety {
    /// `"safe"` or `"unsafe"`, as the guard writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Safety::Safe => "safe",
            Safety::Unsafe => "unsafe",
        }
    }
}

/// A topic-following label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Topic {
    /// The last user turn stays within the system policy.
    #[serde(rename = "on-topic")]
    OnTopic,
    /// The last user turn strays from the system policy (a distractor).
    #[serde(rename = "off-topic")]
    OffTopic,
}

impl Topic {
    /// `"on-topic"` or `"off-topic"`, as the topic-control guard writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Topic::OnTopic => "on-topic",
            Topic::OffTopic => "off-topic",
        }
    }
}

/// What the guard should answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Target {
    /// A content-safety verdict.
    Safety {
        /// The prompt-level label. `None` only for rows that label the response alone
        /// (BeaverTails, the GuardReasoner response sets): they train on the response verdict
        /// only (see [`crate::render_answer`]).
        user: Option<Safety>,
        /// The response-level label; `None` when the conversation has no assistant turn, or when a
        /// benchmark does not label the response.
        response: Option<Safety>,
        /// Violated categories, normalised to the template names where known (unknown names are
        /// kept as written). Rendered only when some label is unsafe.
        categories: Vec<String>,
    },
    /// A topic-following verdict.
    Topic(Topic),
}

/// One example: a conversation, the policy it is judged against, and the verdict.
///
/// Safety examples hold one user turn and optionally the assistant turn that answers it;
/// topic-following examples hold several turns ending with the user turn to judge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuardExample {
    /// The source this example came from (the blend's source name, or the file name).
    pub source: String,
    /// The row's own id where the data has one, otherwise `FILE:ROW`.
    pub id: String,
    /// The conversation to judge.
    pub conversation: Vec<Turn>,
    /// The policy to judge it against.
    pub policy: Policy,
    /// The verdict.
    pub target: Target,
}

impl GuardExample {
    /// A content-safety example judged against the Aegis 2.0 taxonomy: a user prompt and,
    /// optionally, the assistant's response.
    pub fn safety(
        source: impl Into<String>,
        id: impl Into<String>,
        prompt: impl Into<String>,
        response: Option<String>,
        user: Option<Safety>,
        response_label: Option<Safety>,
        categories: Vec<String>,
    ) -> Self {
        let mut conversation = vec![Turn::user(prompt)];
        conversation.extend(response.map(Turn::assistant));
        GuardExample {
            source: source.into(),
            id: id.into(),
            conversation,
            policy: Policy::Aegis2Taxonomy,
            target: Target::Safety { user, response: response_label, categories },
        }
    }

    /// The last user turn: the one a content-safety prompt judges.
    pub fn last_user_turn(&self) -> Option<&str> {
        self.last_user_index().map(|i| self.conversation[i].content.as_str())
    }

    /// The assistant turn that answers the last user turn, if any.
    pub fn response_turn(&self) -> Option<&str> {
        let next = self.last_user_index()? + 1;
        self.conversation
            .get(next)
            .filter(|turn| turn.role == Role::Assistant)
            .map(|turn| turn.content.as_str())
    }

    fn last_user_index(&self) -> Option<usize> {
        self.conversation.iter().rposition(|turn| turn.role == Role::User)
    }

    /// Whether the example can be rendered as a training pair: its target is complete and its
    /// conversation has the shape the target describes. Returns what is wrong otherwise.
    pub fn check_trainable(&self) -> Result<(), String> {
        let roles: Vec<Role> = self.conversation.iter().map(|turn| turn.role).collect();
        match &self.target {
            Target::Safety { user, response, .. } => {
                if user.is_none() && response.is_none() {
                    return Err("the row has neither a prompt nor a response label".into());
                }
                match (roles.as_slice(), response) {
                    ([Role::User], None) | ([Role::User, Role::Assistant], Some(_)) => Ok(()),
                    ([Role::User, Role::Assistant], None) => {
                        Err("the conversation has a response but the response label is unknown".into())
                    }
                    ([Role::User], Some(_)) => Err("a response label is set but there is no response".into()),
                    _ => Err(format!(
                        "a safety example must be one user turn and an optional assistant turn, found roles {roles:?}"
                    )),
                }
            }
            Target::Topic(_) => {
                if roles.last() != Some(&Role::User) {
                    return Err(
                        "a topic-following conversation must end with the user turn to judge"
                            .into(),
                    );
                }
                if roles.contains(&Role::System) {
                    return Err("a topic-following conversation must not hold system turns: \
                                the policy is the system message"
                        .into());
                }
                Ok(())
            }
        }
    }
}
