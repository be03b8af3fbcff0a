//! hf-hub's download and upload events drawn as the project's progress bars (indicatif, as
//! training and evaluation draw theirs): bytes, rate and time left, one bar per Hub input.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use hf_hub::progress::{DownloadEvent, ProgressEvent, ProgressHandler, UploadEvent};
use indicatif::{ProgressBar, ProgressStyle};

/// One bar for all the files of one Hub input, or of one upload. Files already in the cache add
/// nothing to it; a bar that never moved is cleared rather than left behind.
#[derive(Clone)]
pub struct TransferBar {
    /// indicatif's bar is itself a shared handle: clones draw the same bar.
    bar: ProgressBar,
    /// Bytes counted so far for each file: hf-hub reports each file's running total.
    counted: Arc<Mutex<HashMap<String, u64>>>,
}

impl TransferBar {
    pub fn new(what: &str) -> TransferBar {
        let bar = ProgressBar::hidden();
        bar.set_style(
            ProgressStyle::with_template(
                "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        bar.set_message(what.to_string());
        TransferBar { bar, counted: Arc::default() }
    }

    /// Done: the bar stays on screen when it showed a download, and is cleared otherwise.
    pub fn finish(&self) {
        if self.bar.length().unwrap_or(0) > 0 {
            self.bar.finish();
        } else {
            self.bar.finish_and_clear();
        }
    }

    fn show(&self) {
        if self.bar.is_hidden() {
            self.bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
        }
    }
}

impl ProgressHandler for TransferBar {
    fn on_progress(&self, event: &ProgressEvent) {
        match event {
            ProgressEvent::Download(DownloadEvent::Start { total_bytes, .. })
            | ProgressEvent::Upload(UploadEvent::Start { total_bytes, .. })
                if *total_bytes > 0 =>
            {
                self.show();
                self.bar.inc_length(*total_bytes);
            }
            ProgressEvent::Download(DownloadEvent::Progress { files }) => {
                let mut counted = self.counted.lock().unwrap_or_else(|e| e.into_inner());
                for file in files {
                    let seen = counted.entry(file.filename.clone()).or_default();
                    self.bar.inc(file.bytes_completed.saturating_sub(*seen));
                    *seen = (*seen).max(file.bytes_completed);
                }
            }
            ProgressEvent::Upload(UploadEvent::Progress { bytes_completed, .. }) => {
                self.bar.set_position(*bytes_completed);
            }
            _ => {}
        }
    }
}
