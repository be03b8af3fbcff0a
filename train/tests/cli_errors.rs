//! What a user sees when something is wrong on the command line: errors that name the `--set`
//! flag or the file, paths given on the command line read from the current folder, a hint for
//! Hub ids, each cause printed once, a quiet end when the output pipe closes, and no panic on a
//! malformed TOML file.

mod common;

use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};

use common::{small_run_config, stderr};
use guardtune_model::testing::repo_root;

fn guardtune_in(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_guardtune")).current_dir(dir).args(args).output().unwrap()
}

#[test]
fn a_bad_set_value_is_blamed_on_the_flag_and_a_bad_file_value_on_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let config = small_run_config(dir.path(), 2, "");
    let config = config.to_str().unwrap();
    let out = guardtune_in(dir.path(), &["blend", config, "--set", "training.lr=abc"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.starts_with("error: --set training.lr=abc: key `training.lr`: "), "{err}");

    // A mistake in the file is still the file's, at its own line, even when a `--set` flag
    // added keys above it.
    let text = std::fs::read_to_string(config).unwrap().replace("seed = 11", "seed = \"eleven\"");
    std::fs::write(config, &text).unwrap();
    let line = text.lines().position(|l| l.contains("eleven")).unwrap() + 1;
    let set = ["--set", "lora.use_rslora=false", "--set", "data.truncation=\"drop\""];
    let out = guardtune_in(dir.path(), &[&["blend", config][..], &set].concat());
    let err = stderr(&out);
    assert!(err.starts_with(&format!("error: {config}:{line}: key `training.seed`: ")), "{err}");
}

/// A file the TOML parser recovers from and then meets a dotted key on the recovered value
/// (found by fuzzing; toml_edit panicked, vendor/toml_edit/PATCHED.md): the first syntax error,
/// on one line, naming the file and line.
#[test]
fn a_malformed_toml_file_is_a_one_line_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("run.toml"), "==\n.=").unwrap();
    let out = guardtune_in(dir.path(), &["train", "run.toml"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.starts_with("error: run.toml:1: ") && err.trim_end().lines().count() == 1, "{err}");
}

#[test]
fn a_source_key_is_named_by_the_source_as_set_addresses_it() {
    let dir = tempfile::tempdir().unwrap();
    let config = small_run_config(dir.path(), 2, "");
    let text = std::fs::read_to_string(&config).unwrap().replace("count = 64", "count = \"all\"");
    std::fs::write(&config, &text).unwrap();
    let line = text.lines().position(|l| l.contains("\"all\"")).unwrap() + 1;
    let config = config.to_str().unwrap();
    let out = guardtune_in(dir.path(), &["blend", config]);
    let err = stderr(&out);
    let expected = format!("error: {config}:{line}: key `data.sources.xstest.count`: ");
    assert!(err.starts_with(&expected), "{err}");

    // The same key given with `--set` is the flag's.
    let set = "data.sources.xstest.count=\"many\"";
    let out = guardtune_in(dir.path(), &["blend", config, "--set", set]);
    let err = stderr(&out);
    let expected = format!("error: --set {set}: key `data.sources.xstest.count`: ");
    assert!(err.starts_with(&expected), "{err}");
}

#[test]
fn a_relative_set_path_is_read_from_the_current_folder() {
    let dir = tempfile::tempdir().unwrap();
    let config = small_run_config(dir.path(), 2, "");
    let text = std::fs::read_to_string(&config).unwrap();
    let model = repo_root().join("fixtures/models/tiny-smollm2");
    std::fs::write(&config, text.replace(&model.display().to_string(), "no-such-model")).unwrap();
    let config = config.to_str().unwrap();
    // Relative to the config's folder this path does not exist; relative to the repo it does.
    let set = "model.path=fixtures/models/tiny-smollm2";
    let out = guardtune_in(&repo_root(), &["blend", config, "--set", set]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = guardtune_in(dir.path(), &["blend", config, "--set", set]);
    let err = stderr(&out);
    let expected = dir.path().join("fixtures/models/tiny-smollm2");
    assert!(err.contains(&format!("{} does not exist", expected.display())), "{err}");
}

#[test]
fn a_hub_id_that_cannot_be_fetched_says_why_in_one_line() {
    // A bare ORG/NAME with no such folder is a Hub model id, as in transformers. Offline with an
    // empty cache, and online with no Hub to reach, each get one line naming the input.
    let dir = tempfile::tempdir().unwrap();
    let run = |env: &[(&str, &str)]| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_guardtune"));
        command
            .current_dir(dir.path())
            .env("HF_HOME", dir.path().join("hf"))
            .env("NO_PROXY", "127.0.0.1,localhost")
            .envs(env.iter().copied());
        command.args(["classify", "--model", "meta-llama/Llama-3.1-8B", "hi"]).output().unwrap()
    };
    let out = run(&[("HF_HUB_OFFLINE", "1")]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("hf://meta-llama/Llama-3.1-8B: not in the Hugging Face cache"), "{err}");
    assert!(err.contains("HF_HUB_OFFLINE is set"), "{err}");
    // Port 9 (discard) on loopback: nothing listens, so the connection is refused at once.
    let out = run(&[("HF_ENDPOINT", "http://127.0.0.1:9")]);
    let err = stderr(&out);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("cannot reach the Hub at http://127.0.0.1:9"), "{err}");
    assert!(err.contains("set HF_HUB_OFFLINE=1"), "{err}");
    // A path that exists is a folder, never an id.
    std::fs::create_dir_all(dir.path().join("models/b")).unwrap();
    let out = guardtune_in(dir.path(), &["classify", "--model", "models/b", "hi"]);
    assert!(stderr(&out).contains("is not a model folder"), "{}", stderr(&out));
}

#[test]
fn an_io_error_prints_its_path_and_cause_once() {
    let dir = tempfile::tempdir().unwrap();
    let model = repo_root().join("fixtures/models/tiny-smollm2");
    let missing = dir.path().join("missing.csv");
    let benchmark = format!("xstest={}", missing.display());
    let out_dir = dir.path().join("eval");
    let args = ["eval", "--model", model.to_str().unwrap(), "--benchmark", &benchmark];
    let out =
        guardtune_in(dir.path(), &[&args[..], &["--out", out_dir.to_str().unwrap()]].concat());
    let err = stderr(&out);
    assert!(!out.status.success());
    assert_eq!(err.lines().count(), 1, "{err}");
    assert_eq!(err.matches(&missing.display().to_string()).count(), 1, "{err}");
    assert_eq!(err.matches("No such file").count(), 1, "{err}");
}

#[test]
fn a_closed_output_pipe_ends_the_command_quietly() {
    // A pipe whose reading end is closed before the command starts: its first write fails.
    let mut fds = [0; 2];
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    let (read_end, write_end) =
        unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    drop(read_end);
    let config = repo_root().join("configs/quickstart.toml");
    let out = Command::new(env!("CARGO_BIN_EXE_guardtune"))
        .args(["blend", config.to_str().unwrap()])
        .stdout(Stdio::from(write_end))
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let err = stderr(&out);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(out.status.signal(), Some(libc::SIGPIPE), "{:?}: {err}", out.status);
}
