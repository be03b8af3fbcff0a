//! Models and data by Hub id, and adapters pushed back, with the real client (hf-hub, inside the
//! `guardtune` binary) against a local server that answers like the Hugging Face Hub
//! (common/hub_server.rs; checked against Python's huggingface_hub by the opt-in test at the end).

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::hub_server::{HubRepo, HubServer, RepoKind};
use common::{small_run_config, stderr};
use guardtune_model::testing::repo_root;

const MODEL: &str = "guardtune-test/tiny-smollm2";
const GATED: &str = "guardtune-test/gated-smollm2";
const DATA: &str = "guardtune-test/xstest";
const DATA_FILE: &str = "prompts/xstest_prompts.csv";

/// The fixture model (also gated, under another name) and a dataset repo with the XSTest rows.
fn hub() -> HubServer {
    let model_dir = repo_root().join("fixtures/models/tiny-smollm2");
    let gated = HubRepo::from_dir(RepoKind::Model, GATED, &model_dir).gated();
    let rows = std::fs::read(repo_root().join("data/fixtures/xstest/xstest_prompts.csv")).unwrap();
    HubServer::start(vec![
        HubRepo::from_dir(RepoKind::Model, MODEL, &model_dir),
        gated,
        HubRepo::with_files(
            RepoKind::Dataset,
            DATA,
            BTreeMap::from([(DATA_FILE.to_string(), rows)]),
        ),
    ])
}

/// `guardtune ARGS` in `dir` against `server`, with the Hub cache in `dir/hf` and `env` on top
/// (no token unless `env` gives one).
fn guardtune(server: &HubServer, dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_guardtune"))
        .current_dir(dir)
        .env("HF_ENDPOINT", server.url())
        .env("HF_HOME", dir.join("hf"))
        // A proxy set in the environment must not take the loopback requests.
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env_remove("HF_TOKEN")
        .env_remove("HF_HUB_OFFLINE")
        .env_remove("HF_HUB_CACHE")
        .envs(env.iter().copied())
        .args(args)
        .output()
        .expect("the binary runs")
}

fn ok(out: &Output) -> String {
    assert!(out.status.success(), "{}", stderr(out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// What `perplexity --json` computed (its token count and NLL), without the time it took.
fn perplexity_result(out: &Output) -> serde_json::Value {
    let mut result: serde_json::Value = serde_json::from_str(&ok(out)).unwrap();
    result.as_object_mut().unwrap().remove("seconds").expect("a `seconds` field");
    result
}

/// One line of error, containing every one of `parts`.
fn fails_with(out: &Output, parts: &[&str]) {
    let err = stderr(out);
    assert!(!out.status.success(), "succeeded: {err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    for part in parts {
        assert!(err.contains(part), "expected `{part}` in: {err}");
    }
}

fn strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

fn text_file(dir: &Path) -> PathBuf {
    let path = dir.join("text.txt");
    std::fs::write(&path, "The quick brown fox jumps over the lazy dog.").unwrap();
    path
}

#[test]
fn perplexity_reads_a_hub_model_then_the_cache_offline() {
    let server = hub();
    let dir = tempfile::tempdir().unwrap();
    let text = text_file(dir.path());
    let local = ["perplexity", "--json", "--text-file", text.to_str().unwrap(), "--model"];
    let fixture = repo_root().join("fixtures/models/tiny-smollm2");
    let expected = perplexity_result(&guardtune(
        &server,
        dir.path(),
        &[],
        &[&local[..], &[fixture.to_str().unwrap()]].concat(),
    ));

    for model in [format!("hf://{MODEL}"), MODEL.to_string()] {
        let out = guardtune(&server, dir.path(), &[], &[&local[..], &[model.as_str()]].concat());
        assert_eq!(perplexity_result(&out), expected, "{model}");
    }
    // Only the files a model folder needs were fetched, into the standard cache layout.
    let commit = &server.commits(RepoKind::Model, MODEL)[0];
    let snapshot =
        dir.path().join(format!("hf/hub/models--guardtune-test--tiny-smollm2/snapshots/{commit}"));
    let mut files: Vec<String> = std::fs::read_dir(&snapshot)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            "config.json",
            "generation_config.json",
            "model.safetensors",
            "tokenizer.json",
            "tokenizer_config.json"
        ]
    );

    let served = server.request_count();
    let offline = [("HF_HUB_OFFLINE", "1")];
    let out = guardtune(
        &server,
        dir.path(),
        &offline,
        &[&local[..], &[&format!("hf://{MODEL}")]].concat(),
    );
    assert_eq!(perplexity_result(&out), expected);
    assert_eq!(server.request_count(), served, "HF_HUB_OFFLINE=1 asked the server");
    // Offline, what the cache lacks is a clear error.
    let out = guardtune(
        &server,
        dir.path(),
        &offline,
        &[&local[..], &[&format!("hf://{GATED}")]].concat(),
    );
    fails_with(
        &out,
        &[&format!("hf://{GATED}"), "not in the Hugging Face cache", "HF_HUB_OFFLINE is set"],
    );
}

#[test]
fn wrong_ids_and_gated_repos_each_get_one_line_saying_what_to_do() {
    let server = hub();
    let dir = tempfile::tempdir().unwrap();
    let text = text_file(dir.path());
    let run = |model: &str, env: &[(&str, &str)]| {
        guardtune(
            &server,
            dir.path(),
            env,
            &["perplexity", "--text-file", text.to_str().unwrap(), "--model", model],
        )
    };
    fails_with(
        &run("hf://guardtune-test/no-such-model", &[]),
        &["no repo guardtune-test/no-such-model", "check the id"],
    );
    fails_with(
        &run(&format!("hf://{MODEL}@no-such-branch"), &[]),
        &["has no revision `no-such-branch`"],
    );
    let gated = format!("hf://{GATED}");
    fails_with(
        &run(&gated, &[]),
        &[&gated, "is a gated repo", "accept its licence", "set HF_TOKEN"],
    );
    fails_with(
        &run(&gated, &[("HF_TOKEN", "hf_other")]),
        &[&gated, "has no access", "request access"],
    );
    ok(&run(&gated, &[("HF_TOKEN", "hf_ok")]));
    // A data file that the dataset repo lacks.
    let out = guardtune(
        &server,
        dir.path(),
        &[],
        &[
            "eval",
            "--model",
            &format!("hf://{MODEL}"),
            "--benchmark",
            &format!("xstest=hf://datasets/{DATA}/missing.csv"),
            "--out",
            dir.path().join("eval").to_str().unwrap(),
        ],
    );
    fails_with(&out, &["has no file `missing.csv`"]);
}

#[test]
fn a_run_trains_on_hub_inputs_records_their_commits_and_resumes_on_them() {
    let server = hub();
    let dir = tempfile::tempdir().unwrap();
    let config = small_run_config(dir.path(), 2, "save_every_steps = 1");
    let config = config.to_str().unwrap();
    let model = format!("model.path=hf://{MODEL}");
    let data = format!("data.sources.xstest.path=hf://datasets/{DATA}/{DATA_FILE}");
    let sets = ["--set", model.as_str(), "--set", data.as_str()];
    ok(&guardtune(&server, dir.path(), &[], &[&["train", config][..], &sets].concat()));

    let saved = std::fs::read_to_string(dir.path().join("run/config.toml")).unwrap();
    let (model_commit, data_commit) =
        (&server.commits(RepoKind::Model, MODEL)[0], &server.commits(RepoKind::Dataset, DATA)[0]);
    assert!(saved.contains(&format!("path = \"hf://{MODEL}@{model_commit}\"")), "{saved}");
    assert!(
        saved.contains(&format!("path = \"hf://datasets/{DATA}/{DATA_FILE}@{data_commit}\"")),
        "{saved}"
    );
    // The adapter names the Hub id as its base, where PEFT and vLLM look for it.
    let adapter_config =
        std::fs::read_to_string(dir.path().join("run/adapter/adapter_config.json")).unwrap();
    assert!(
        adapter_config.contains(&format!("\"base_model_name_or_path\": \"{MODEL}\"")),
        "{adapter_config}"
    );

    // The repo moves on (a changed config.json); --resume still reads the recorded commit.
    let mut moved: BTreeMap<String, Vec<u8>> = server.files(RepoKind::Model, MODEL).unwrap();
    let config_json = String::from_utf8(moved["config.json"].clone()).unwrap();
    moved.insert(
        "config.json".into(),
        config_json.replace("\"rms_norm_eps\"", "\"unused\": 1, \"rms_norm_eps\"").into_bytes(),
    );
    let new_commit = server.push_commit(RepoKind::Model, MODEL, moved);
    let more =
        [&["train", config, "--resume", "--set", "training.max_steps=3"][..], &sets].concat();
    ok(&guardtune(&server, dir.path(), &[], &more));
    let saved = std::fs::read_to_string(dir.path().join("run/config.toml")).unwrap();
    assert!(
        saved.contains(&format!("hf://{MODEL}@{model_commit}")) && !saved.contains(&new_commit),
        "{saved}"
    );

    // A revision written in the input is used as written, and recorded as the commit it names.
    let pinned = format!("model.path=hf://{MODEL}@{model_commit}");
    let other = dir.path().join("pinned.toml");
    std::fs::write(
        &other,
        std::fs::read_to_string(config).unwrap().replace("dir = \"run\"", "dir = \"pinned\""),
    )
    .unwrap();
    ok(&guardtune(
        &server,
        dir.path(),
        &[],
        &["train", other.to_str().unwrap(), "--set", &pinned, "--set", &data],
    ));
    let saved = std::fs::read_to_string(dir.path().join("pinned/config.toml")).unwrap();
    assert!(saved.contains(&format!("hf://{MODEL}@{model_commit}")), "{saved}");

    // Offline, the same run starts again from the cache alone.
    let served = server.request_count();
    let again = dir.path().join("again.toml");
    std::fs::write(
        &again,
        std::fs::read_to_string(config).unwrap().replace("dir = \"run\"", "dir = \"again\""),
    )
    .unwrap();
    let offline = [("HF_HUB_OFFLINE", "1")];
    ok(&guardtune(
        &server,
        dir.path(),
        &offline,
        &[&["train", again.to_str().unwrap(), "--set", &pinned][..], &["--set", data.as_str()]]
            .concat(),
    ));
    assert_eq!(server.request_count(), served, "HF_HUB_OFFLINE=1 asked the server");
}

#[test]
fn export_pushes_the_adapter_and_its_model_card_to_the_hub() {
    let server = hub();
    let (dir, _config, run) = common::trained_small_run(2, "");
    let adapter = run.join("adapter");
    let out = dir.path().join("export");
    let base = repo_root().join("fixtures/models/tiny-smollm2");
    let args = |repo: &str| -> Vec<String> {
        [
            "export",
            "--model",
            base.to_str().unwrap(),
            "--adapter",
            adapter.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--force",
            "--base-name",
            MODEL,
            "--push-to-hub",
            repo,
            "--private",
        ]
        .map(str::to_string)
        .to_vec()
    };

    // Without a token the Hub refuses the upload, in one line that says what to set.
    let no_token = args("tester/guard");
    fails_with(
        &guardtune(&server, dir.path(), &[], &strs(&no_token)),
        &["--push-to-hub tester/guard", "HF_TOKEN"],
    );
    let malformed = args("not a repo");
    fails_with(
        &guardtune(&server, dir.path(), &[], &strs(&malformed)),
        &["`not a repo` is not a model repo id: expected ORG/NAME"],
    );

    // --private never uploads into an existing public repo (the fixture model's).
    let public = args(MODEL);
    let ok_token = [("HF_TOKEN", "hf_ok")];
    fails_with(
        &guardtune(&server, dir.path(), &ok_token, &strs(&public)),
        &[&format!("--push-to-hub {MODEL} --private: the repo exists and is public")],
    );
    let push = args("tester/guard");
    let stdout = ok(&guardtune(&server, dir.path(), &[("HF_TOKEN", "hf_ok")], &strs(&push)));
    assert!(stdout.contains("pushed to"), "{stdout}");
    let uploaded = server.files(RepoKind::Model, "tester/guard").expect("the repo was created");
    assert_eq!(server.is_private(RepoKind::Model, "tester/guard"), Some(true));
    let local: BTreeMap<String, Vec<u8>> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (e.file_name().to_string_lossy().into_owned(), std::fs::read(e.path()).unwrap())
        })
        .collect();
    assert_eq!(uploaded, local, "the files on the Hub are the exported ones");
    let card = String::from_utf8(local["README.md"].clone()).unwrap();
    for part in [
        &format!("base_model: {MODEL}") as &str,
        "library_name: peft",
        "## LoRA settings",
        "| 4 | 8 | 0.1 |",
        "## Training data",
        "| xstest | xstest |",
        "PeftModel.from_pretrained(base, \"tester/guard\")",
    ] {
        assert!(card.contains(part), "expected `{part}` in the card:\n{card}");
    }
    // The pushed adapter is read back by id, on the base it names, without a mismatch warning.
    let text = text_file(dir.path());
    let read_back = guardtune(
        &server,
        dir.path(),
        &[("HF_TOKEN", "hf_ok")],
        &[
            "perplexity",
            "--text-file",
            text.to_str().unwrap(),
            "--model",
            &format!("hf://{MODEL}"),
            "--adapter",
            "hf://tester/guard",
        ],
    );
    ok(&read_back);
    assert!(!stderr(&read_back).contains("warning"), "{}", stderr(&read_back));
}

/// Opt-in (GUARDTUNE_PYTHON): Python's huggingface_hub against the same server (so the emulation
/// is known to be faithful: downloads, errors, an upload read back), and reading, offline, the
/// cache that guardtune filled (so the cache is the standard one).
#[test]
fn pythons_huggingface_hub_agrees_with_the_server_and_shares_the_cache() {
    let Some(python) =
        guardtune_model::testing::opt_in("GUARDTUNE_PYTHON", "a python with huggingface_hub")
    else {
        return;
    };
    let server = hub();
    let dir = tempfile::tempdir().unwrap();
    let upload = dir.path().join("upload");
    std::fs::create_dir_all(upload.join("sub")).unwrap();
    std::fs::write(upload.join("adapter_config.json"), "{\"r\": 4}").unwrap();
    std::fs::write(upload.join("sub/weights.bin"), [0u8, 1, 2, 255]).unwrap();
    let script = repo_root().join("train/tests/hub_clients.py");
    let out = Command::new(&python)
        .env("HF_ENDPOINT", server.url())
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env("HF_HOME", dir.path().join("python-hf"))
        .env_remove("HF_TOKEN")
        .arg(&script)
        .args([MODEL, DATA, DATA_FILE, upload.to_str().unwrap(), "tester/python-upload"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));

    let text = text_file(dir.path());
    let model = format!("hf://{MODEL}");
    ok(&guardtune(
        &server,
        dir.path(),
        &[],
        &["perplexity", "--text-file", text.to_str().unwrap(), "--model", &model],
    ));
    let read = "import sys; from huggingface_hub import hf_hub_download; \
                print(hf_hub_download(sys.argv[1], 'config.json'))";
    let out = Command::new(&python)
        .env("HF_HOME", dir.path().join("hf"))
        .env("HF_HUB_OFFLINE", "1")
        .args(["-c", read, MODEL])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let commit = &server.commits(RepoKind::Model, MODEL)[0];
    let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(
        path.ends_with(&format!(
            "models--guardtune-test--tiny-smollm2/snapshots/{commit}/config.json"
        )),
        "{path}"
    );
}
