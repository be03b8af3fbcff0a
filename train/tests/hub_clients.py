"""Checks the Hub emulator of the tests (tests/common/hub_server.rs) with Python's huggingface_hub.

The emulator answers what the Rust client hf-hub asks; this script makes sure the Python client,
which people use next to guardtune, gets along with it too: downloads into the cache, the errors of
a missing repo and a missing file, and an upload to a new private repo read back byte for byte.

    HF_ENDPOINT=http://127.0.0.1:PORT HF_HOME=/some/empty/folder \
        python hub_clients.py MODEL_ID DATASET_ID DATASET_FILE UPLOAD_DIR UPLOAD_ID

MODEL_ID is a model repo with config.json, a tokenizer and *.safetensors; DATASET_ID a dataset
repo holding DATASET_FILE; UPLOAD_DIR a local folder to upload to UPLOAD_ID, a model repo that
must not exist yet. Writes use the emulator's token "hf_ok"; reads of the fixtures go without a
token. Prints one "ok ..." line per check and exits non-zero at the first failure.
"""

import json
import os
import sys
from pathlib import Path

# Before importing huggingface_hub, which reads them once.
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("HF_HUB_DISABLE_IMPLICIT_TOKEN", "1")

from huggingface_hub import HfApi, hf_hub_download, snapshot_download  # noqa: E402
from huggingface_hub.errors import (  # noqa: E402
    GatedRepoError,
    RemoteEntryNotFoundError,
    RepositoryNotFoundError,
)

TOKEN = "hf_ok"


def fail(message):
    print(f"FAIL {message}", flush=True)
    sys.exit(1)


def ok(message):
    print(f"ok {message}", flush=True)


def check_cached(path, what):
    """A downloaded file must be a non-empty file inside HF_HOME (the cache, not a copy elsewhere)."""
    path = Path(path)
    if not path.is_file() or path.stat().st_size == 0:
        fail(f"{what}: {path} is missing or empty")
    home = Path(os.environ["HF_HOME"]).resolve()
    if home not in path.resolve().parents:
        fail(f"{what}: {path} is not in HF_HOME {home}")


def main():
    if len(sys.argv) != 6:
        fail(f"usage: {sys.argv[0]} MODEL_ID DATASET_ID DATASET_FILE UPLOAD_DIR UPLOAD_ID")
    model_id, dataset_id, dataset_file, upload_dir, upload_id = sys.argv[1:]
    for name in ("HF_ENDPOINT", "HF_HOME"):
        if not os.environ.get(name):
            fail(f"{name} is not set")

    # 1. A model snapshot, the files a training run needs.
    snapshot = Path(
        snapshot_download(
            model_id,
            allow_patterns=["config.json", "tokenizer*", "*.safetensors"],
        )
    )
    names = sorted(p.name for p in snapshot.iterdir())
    if "config.json" not in names or not any(n.endswith(".safetensors") for n in names):
        fail(f"snapshot of {model_id} holds {names}")
    if not any(n.startswith("tokenizer") for n in names):
        fail(f"snapshot of {model_id} has no tokenizer: {names}")
    for name in names:
        check_cached(snapshot / name, f"snapshot file {name}")
    json.loads((snapshot / "config.json").read_text())
    ok(f"snapshot_download {model_id}: {', '.join(names)}")

    # 2. One file of a dataset repo.
    path = hf_hub_download(dataset_id, dataset_file, repo_type="dataset")
    check_cached(path, f"dataset file {dataset_file}")
    ok(f"hf_hub_download dataset {dataset_id} {dataset_file}: {Path(path).stat().st_size} bytes")

    # 3. A repo that does not exist.
    missing_repo = model_id.split("/")[0] + "/no-such-repo"
    try:
        hf_hub_download(missing_repo, "config.json")
        fail(f"downloading from {missing_repo} succeeded")
    except GatedRepoError as e:
        fail(f"missing repo {missing_repo} raised GatedRepoError: {e}")
    except RepositoryNotFoundError:
        ok(f"missing repo {missing_repo} raises RepositoryNotFoundError")

    # 4. A file that does not exist in an existing repo.
    try:
        hf_hub_download(model_id, "no-such-file.bin")
        fail(f"downloading no-such-file.bin from {model_id} succeeded")
    except RemoteEntryNotFoundError:
        ok("missing file raises EntryNotFoundError")

    # 5. A new private repo, and a folder uploaded to it.
    api = HfApi()
    url = api.create_repo(upload_id, token=TOKEN, private=True)
    ok(f"create_repo {upload_id} private: {url}")
    info = api.upload_folder(folder_path=upload_dir, repo_id=upload_id, token=TOKEN)
    ok(f"upload_folder {upload_dir} -> {upload_id} at {info.oid}")

    # 6. Every uploaded file, read back from the Hub.
    local_files = sorted(p for p in Path(upload_dir).rglob("*") if p.is_file())
    if not local_files:
        fail(f"{upload_dir} holds no file")
    for local in local_files:
        relative = local.relative_to(upload_dir).as_posix()
        remote = hf_hub_download(upload_id, relative, token=TOKEN, revision=info.oid)
        if Path(remote).read_bytes() != local.read_bytes():
            fail(f"{relative} downloaded from {upload_id} differs from the uploaded file")
    ok(f"{len(local_files)} uploaded files read back identical")

    # 7. The private repo is hidden from anonymous readers.
    try:
        hf_hub_download(upload_id, local_files[0].relative_to(upload_dir).as_posix())
        fail(f"anonymous download from private {upload_id} succeeded")
    except RepositoryNotFoundError:
        ok(f"private {upload_id} hidden from anonymous readers")


if __name__ == "__main__":
    main()
