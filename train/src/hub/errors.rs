//! One line for each way a Hub input fails, saying which input, what happened and what to do:
//! the Hub's answers (missing repo, file or revision; gated repo without a token, or with one
//! that has no access) come as an HTTP status with the Hub's `X-Error-Code`, which hf-hub keeps.

use hf_hub::HFError;

use super::client::Hub;
use super::reference::HubRef;

/// The message for `error`, met while fetching `reference`.
pub fn explain(error: &HFError, reference: &HubRef, hub: &Hub) -> String {
    let id = &reference.id;
    let page = reference.page(&hub.endpoint);
    let revision = reference.revision.as_deref().unwrap_or("main");
    let message = match (error, error_code(error).as_deref()) {
        (HFError::LocalEntryNotFound { .. }, _) => format!(
            "not in the Hugging Face cache ({}), and HF_HUB_OFFLINE is set: run once with \
             network access, or unset HF_HUB_OFFLINE",
            hf_hub::resolve_cache_dir().display()
        ),
        (_, Some("GatedRepo")) if status(error) == Some(403) => format!(
            "{id} is a gated repo and your Hugging Face token has no access to it: request \
             access on {page}, or set HF_TOKEN to a token of an account that has it"
        ),
        (_, Some("GatedRepo")) => format!(
            "{id} is a gated repo: accept its licence on {page} (logged in), then set HF_TOKEN \
             to an access token of that account (or run `huggingface-cli login`)"
        ),
        (HFError::RepoNotFound { .. }, _) | (_, Some("RepoNotFound")) => format!(
            "no repo {id} on {}: check the id (a private repo also needs HF_TOKEN)",
            hub.endpoint
        ),
        (HFError::RevisionNotFound { .. }, _) | (_, Some("RevisionNotFound")) => {
            format!("{id} has no revision `{revision}` (a branch, tag or commit id)")
        }
        (HFError::EntryNotFound { path, .. }, _) => {
            format!("{id} has no file `{path}` at revision `{revision}`")
        }
        (HFError::AuthRequired { .. }, _) => format!(
            "the Hub asks for a login to read {id}: set HF_TOKEN to an access token \
             ({}/settings/tokens)",
            hub.endpoint
        ),
        (HFError::Forbidden { .. }, _) => format!(
            "your Hugging Face token may not read {id}: set HF_TOKEN to a token with read access"
        ),
        (HFError::Request { source, .. }, _) => format!(
            "cannot reach the Hub at {} ({}): check the network or HF_ENDPOINT, or set \
             HF_HUB_OFFLINE=1 to use only what is in the cache",
            hub.endpoint,
            root_cause(source)
        ),
        (other, _) => other.to_string(),
    };
    format!("{reference}: {}", message.replace('\n', " "))
}

/// The Hub's `X-Error-Code` of a failed answer, when there was one.
fn error_code(error: &HFError) -> Option<String> {
    answer(error).and_then(|(_, code)| code)
}

fn status(error: &HFError) -> Option<u16> {
    answer(error).map(|(status, _)| status)
}

/// The HTTP status and `X-Error-Code` of the Hub's answer, for the errors that come from one.
fn answer(error: &HFError) -> Option<(u16, Option<String>)> {
    match error {
        HFError::Http { context }
        | HFError::AuthRequired { context }
        | HFError::Forbidden { context }
        | HFError::Conflict { context }
        | HFError::RateLimited { context, .. } => {
            Some((context.status.as_u16(), context.error_code.clone()))
        }
        HFError::RepoNotFound { context, .. }
        | HFError::RevisionNotFound { context, .. }
        | HFError::EntryNotFound { context, .. } => {
            context.as_ref().map(|c| (c.status.as_u16(), c.error_code.clone()))
        }
        _ => None,
    }
}

/// The innermost cause of a transport error ("Connection refused", "dns error ..."): reqwest's
/// own message is only "error sending request".
fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = error;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}
