//! A small, std-only emulation of the Hugging Face Hub's HTTP API, served in-process on
//! `127.0.0.1`, for integration tests of the code that downloads models and data sets by Hub id
//! and pushes adapters back.
//!
//! Point a client at it with `HF_ENDPOINT=<server.url()>`. It is written against the two
//! clients the project meets: the Rust `hf-hub` crate (1.0) and Python's `huggingface_hub`
//! (2.x). Each route answers what those clients read, and nothing more.
//!
//! # Routes
//!
//! | Method    | Route (`{t}`: `models` or `datasets`)     | Used for                            |
//! |-----------|-------------------------------------------|-------------------------------------|
//! | HEAD, GET | `/{repo}/resolve/{rev}/{path}` (models)   | file downloads (both clients)       |
//! | HEAD, GET | `/datasets/{repo}/resolve/{rev}/{path}`   | file downloads (both clients)       |
//! | GET       | `/api/{t}/{repo}[/revision/{rev}]`        | repo info: `sha`, `siblings`        |
//! | GET       | `/api/{t}/{repo}/tree/{rev}[/{path}]`     | file listing of snapshot downloads  |
//! | POST      | `/api/repos/create`                       | `create_repository` / `create_repo` |
//! | POST      | `/api/{t}/{repo}/preupload/{rev}`         | uploads: every file is "regular"    |
//! | POST      | `/api/{t}/{repo}/commit/{rev}`            | uploads: NDJSON, base64 contents    |
//! | GET       | `/api/whoami-v2`                          | Python, when it needs the user name |
//! | POST      | `/api/validate-yaml`                      | Python uploading a `README.md`      |
//! | GET       | `/api/agent-harnesses`                    | Python's user agent (empty list)    |
//!
//! `{repo}` is always `namespace/name`. `{rev}` is `main`, a full 40-hex commit sha of the repo,
//! or a unique prefix (7+ hex digits) of one. A request this file has no route for gets a 400
//! and a line on stderr, the only thing the server ever prints (with unparsable requests): it
//! means a client needs more than this emulator offers.
//!
//! A resolve answer carries what both clients need to fill their cache
//! (`{HF_HOME}/hub/{models,datasets}--ns--name/{blobs,refs,snapshots}`): `X-Repo-Commit` (the
//! commit the revision points at), `ETag` (a quoted 40-hex digest of the content, the blob's
//! name in the cache) and `Content-Length`. HEAD answers the same headers as GET, without a
//! body. `Range: bytes=...` is honoured on GET (one range). There is no LFS, no xet and no
//! redirect: every file is a "regular" git file.
//!
//! # Who may see what
//!
//! The token [`GOOD_TOKEN`] (`Authorization: Bearer hf_ok`) may do everything, as the user
//! [`USER`]. Any other bearer token is a real but unprivileged user; no token is anonymous.
//!
//! - Public repos can be read by anyone.
//! - Private repos (made with `"private": true` through `/api/repos/create`) look missing to
//!   everyone but `hf_ok`.
//! - Gated repos ([`HubRepo::gated`]): info and tree are public, as on the Hub, but file
//!   contents (the resolve route) need `hf_ok`.
//! - Writes (create, preupload, commit) need `hf_ok`.
//!
//! # Errors
//!
//! Every error is a JSON body `{"error": message}` with the same message in `X-Error-Message`
//! and, when the Hub sends one, a code in `X-Error-Code` — which is what Python maps to its
//! exception types. `hf-hub` only looks at the status (401 → `AuthRequired`, 403 →
//! `Forbidden`, 404 → `RepoNotFound`, `RevisionNotFound` or `EntryNotFound` depending on the
//! call, 409 → `Conflict`) and keeps the code in the error's `HttpErrorContext::error_code`.
//!
//! | Case                                          | Status | `X-Error-Code`     |
//! |-----------------------------------------------|--------|--------------------|
//! | missing (or hidden private) repo, no token    | 401    | `RepoNotFound`     |
//! | missing (or hidden private) repo, with token  | 404    | `RepoNotFound`     |
//! | unknown revision                              | 404    | `RevisionNotFound` |
//! | missing file (answer has `X-Repo-Commit`)     | 404    | `EntryNotFound`    |
//! | gated repo's file, no token                   | 401    | `GatedRepo`        |
//! | gated repo's file, a token other than `hf_ok` | 403    | `GatedRepo`        |
//! | create, preupload or commit without `hf_ok`   | 401    | none               |
//! | create an existing repo                       | 409    | none               |
//! | a route this file does not know               | 400    | none               |
//!
//! A 404 from a HEAD on the resolve route becomes `HFError::EntryNotFound` in `hf-hub`'s
//! `download_file` whatever the code says, and loses the response; that is the client's doing.
//!
//! # Example
//!
//! ```ignore
//! let server = HubServer::start(vec![
//!     HubRepo::from_dir(RepoKind::Model, "guardtune-test/tiny-smollm2", &model_dir),
//!     HubRepo::with_files(RepoKind::Dataset, "guardtune-test/guard-rows", files).gated(),
//! ]);
//! command.env("HF_ENDPOINT", server.url()).env("HF_HOME", cache_dir.path());
//! ```

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// The bearer token that may read and write everything (`Authorization: Bearer hf_ok`).
pub const GOOD_TOKEN: &str = "hf_ok";

/// The user [`GOOD_TOKEN`] belongs to: `/api/whoami-v2` answers this name, and a repo created
/// without a namespace lands under it.
pub const USER: &str = "tester";

/// A fixed timestamp for every date the emulator reports (repo info, commits).
const TIMESTAMP: &str = "2024-01-01T00:00:00.000Z";

/// Files of one commit: repo path (`/`-separated, no leading `/`) → content.
type FileSet = BTreeMap<String, Vec<u8>>;

/// The two kinds of Hub repo the project uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RepoKind {
    Model,
    Dataset,
}

impl RepoKind {
    /// `"model"` / `"dataset"`: the `type` of `/api/repos/create`.
    fn singular(self) -> &'static str {
        match self {
            RepoKind::Model => "model",
            RepoKind::Dataset => "dataset",
        }
    }

    /// `"models"` / `"datasets"`: the segment after `/api/`.
    fn plural(self) -> &'static str {
        match self {
            RepoKind::Model => "models",
            RepoKind::Dataset => "datasets",
        }
    }

    /// `""` / `"datasets/"`: what comes before the repo id in file and web URLs.
    fn url_prefix(self) -> &'static str {
        match self {
            RepoKind::Model => "",
            RepoKind::Dataset => "datasets/",
        }
    }

    fn from_plural(segment: &str) -> Option<RepoKind> {
        match segment {
            "models" => Some(RepoKind::Model),
            "datasets" => Some(RepoKind::Dataset),
            _ => None,
        }
    }
}

/// A repo the server starts with.
#[derive(Clone, Debug)]
pub struct HubRepo {
    pub kind: RepoKind,
    /// `"namespace/name"`.
    pub id: String,
    /// Whether file contents need the token `hf_ok` (see the module docs).
    pub gated: bool,
    /// The history, oldest first, each commit a full file set (not a diff); `main` points at the
    /// last one. Commit shas are derived from the content (see [`HubServer::commits`]).
    pub commits: Vec<BTreeMap<String, Vec<u8>>>,
}

impl HubRepo {
    /// A repo with one commit holding every file of `dir` (recursively, paths relative to dir,
    /// '/'-separated).
    pub fn from_dir(kind: RepoKind, id: &str, dir: &Path) -> HubRepo {
        let mut files = FileSet::new();
        read_dir_into(dir, "", &mut files)
            .unwrap_or_else(|e| panic!("reading {} for Hub repo {id}: {e}", dir.display()));
        HubRepo::with_files(kind, id, files)
    }

    /// A repo with one commit holding `files` (repo path → content).
    pub fn with_files(kind: RepoKind, id: &str, files: BTreeMap<String, Vec<u8>>) -> HubRepo {
        HubRepo { kind, id: id.to_string(), gated: false, commits: vec![files] }
    }

    /// The same repo, gated: its files can only be downloaded with the token `hf_ok`.
    pub fn gated(mut self) -> HubRepo {
        self.gated = true;
        self
    }
}

/// Adds every file under `dir` to `files`, named `prefix` + its path relative to `dir`.
fn read_dir_into(dir: &Path, prefix: &str, files: &mut FileSet) -> io::Result<()> {
    let mut entries = std::fs::read_dir(dir)?.collect::<io::Result<Vec<_>>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        if std::fs::metadata(&path)?.is_dir() {
            read_dir_into(&path, &format!("{prefix}{name}/"), files)?;
        } else {
            files.insert(format!("{prefix}{name}"), std::fs::read(&path)?);
        }
    }
    Ok(())
}

/// The Hub emulator. Serves until dropped.
pub struct HubServer {
    shared: Arc<Shared>,
    addr: SocketAddr,
    accept_thread: Option<JoinHandle<()>>,
}

impl HubServer {
    /// Binds 127.0.0.1:0, serves on background threads until dropped.
    pub fn start(repos: Vec<HubRepo>) -> HubServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding the Hub emulator");
        let addr = listener.local_addr().unwrap();
        let mut state = State::default();
        for repo in repos {
            let mut stored = StoredRepo { gated: repo.gated, private: false, commits: Vec::new() };
            for files in repo.commits {
                stored.push(repo.kind, &repo.id, files);
            }
            let previous = state.repos.insert((repo.kind, repo.id.clone()), stored);
            assert!(previous.is_none(), "Hub repo {} given twice", repo.id);
        }
        let shared = Arc::new(Shared {
            state: Mutex::new(state),
            requests: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
            base_url: format!("http://{addr}"),
        });
        let accept_shared = Arc::clone(&shared);
        let accept_thread = thread::Builder::new()
            .name("hub-emulator".into())
            .spawn(move || accept_loop(listener, accept_shared))
            .unwrap();
        HubServer { shared, addr, accept_thread: Some(accept_thread) }
    }

    /// "http://127.0.0.1:PORT", for HF_ENDPOINT.
    pub fn url(&self) -> String {
        self.shared.base_url.clone()
    }

    /// Every commit's sha (40 hex, deterministic: sha1-like hex from sha256 of the repo id + file
    /// contents, truncated to 40 chars) of a repo, oldest first. The sha also covers the parent
    /// commit, so two commits with the same files differ. Panics when the repo does not exist.
    pub fn commits(&self, kind: RepoKind, id: &str) -> Vec<String> {
        let state = self.shared.lock();
        let repo = state.repos.get(&(kind, id.to_string()));
        let repo =
            repo.unwrap_or_else(|| panic!("no {} repo {id} on the Hub emulator", kind.singular()));
        repo.commits.iter().map(|c| c.sha.clone()).collect()
    }

    /// Adds a commit to an existing repo (the repo "moves on"; "main" now points at it); returns
    /// its sha. `files` is the full file set of the new commit. Panics when the repo does not
    /// exist.
    pub fn push_commit(
        &self,
        kind: RepoKind,
        id: &str,
        files: BTreeMap<String, Vec<u8>>,
    ) -> String {
        let mut state = self.shared.lock();
        let repo = state.repos.get_mut(&(kind, id.to_string()));
        let repo =
            repo.unwrap_or_else(|| panic!("no {} repo {id} on the Hub emulator", kind.singular()));
        repo.push(kind, id, files)
    }

    /// The files at "main" of a repo (after uploads), or None when the repo does not exist.
    pub fn files(&self, kind: RepoKind, id: &str) -> Option<BTreeMap<String, Vec<u8>>> {
        let state = self.shared.lock();
        let repo = state.repos.get(&(kind, id.to_string()))?;
        Some(repo.commits.last().map(|c| (*c.files).clone()).unwrap_or_default())
    }

    /// Number of requests served so far (a run with HF_HUB_OFFLINE=1 must add none).
    pub fn request_count(&self) -> usize {
        self.shared.requests.load(Ordering::SeqCst)
    }

    /// Whether a repo was created private (through /api/repos/create): `Some(false)` for the repos
    /// the server started with, None when the repo does not exist.
    pub fn is_private(&self, kind: RepoKind, id: &str) -> Option<bool> {
        self.shared.lock().repos.get(&(kind, id.to_string())).map(|r| r.private)
    }
}

impl Drop for HubServer {
    /// Stops accepting connections (requests in flight finish on their own threads).
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop up so that it sees the flag.
        let _ = TcpStream::connect(self.addr);
        if let Some(thread) = self.accept_thread.take() {
            let _ = thread.join();
        }
    }
}

/// What the server threads share.
struct Shared {
    state: Mutex<State>,
    requests: AtomicUsize,
    stop: AtomicBool,
    /// `http://127.0.0.1:PORT`, for the URLs in answers.
    base_url: String,
}

impl Shared {
    /// The state, even after a panic on another thread (a failed test must not cascade).
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[derive(Default)]
struct State {
    repos: BTreeMap<(RepoKind, String), StoredRepo>,
}

struct StoredRepo {
    gated: bool,
    private: bool,
    /// Oldest first; `main` is the last.
    commits: Vec<Commit>,
}

impl StoredRepo {
    /// Appends a commit on top of `main` and returns its sha.
    fn push(&mut self, kind: RepoKind, id: &str, files: FileSet) -> String {
        let parent = self.commits.last().map(|c| c.sha.as_str());
        let sha = commit_sha(kind, id, parent, &files);
        self.commits.push(Commit { sha: sha.clone(), files: Arc::new(files) });
        sha
    }

    /// The commit `revision` names: `main`, a full sha, or a unique prefix of 7+ hex digits.
    fn resolve(&self, revision: &str) -> Option<&Commit> {
        if revision == "main" {
            return self.commits.last();
        }
        if revision.len() < 7
            || revision.len() > 40
            || !revision.bytes().all(|b| b.is_ascii_hexdigit())
        {
            return None;
        }
        let revision = revision.to_ascii_lowercase();
        let mut matches = self.commits.iter().filter(|c| c.sha.starts_with(&revision));
        match (matches.next(), matches.next()) {
            (Some(commit), None) => Some(commit),
            _ => None,
        }
    }
}

struct Commit {
    sha: String,
    /// Shared, so that serving a file does not hold the lock while writing.
    files: Arc<FileSet>,
}

/// A commit's sha: the first 40 hex digits of a SHA-256 over the repo, its parent and its files.
fn commit_sha(kind: RepoKind, id: &str, parent: Option<&str>, files: &FileSet) -> String {
    let mut hasher = Sha256::new();
    hasher.update(format!("commit {} {id} {}\0", kind.singular(), parent.unwrap_or("")));
    for (path, content) in files {
        hasher.update(path.as_bytes());
        hasher.update([0]);
        hasher.update((content.len() as u64).to_le_bytes());
        hasher.update(content);
    }
    hex40(&hasher.finalize())
}

/// A file's ETag (without quotes): 40 hex digits of a SHA-256 over a git-style blob header and the
/// content. Also the oid in tree listings, and the blob's file name in the clients' caches.
fn blob_oid(content: &[u8]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(format!("blob {}\0", content.len()));
    hasher.update(content);
    hex40(&hasher.finalize())
}

fn hex40(digest: &[u8]) -> String {
    let mut hex = String::with_capacity(64);
    for byte in digest {
        let _ = write!(hex, "{byte:02x}");
    }
    hex.truncate(40);
    hex
}

// ---------------------------------------------------------------------------------------------
// HTTP plumbing: one request per connection, answered with `Connection: close`.
// ---------------------------------------------------------------------------------------------

fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    for stream in listener.incoming() {
        if shared.stop.load(Ordering::SeqCst) {
            break;
        }
        let Ok(stream) = stream else { continue };
        let shared = Arc::clone(&shared);
        let _ = thread::Builder::new()
            .name("hub-emulator-conn".into())
            .spawn(move || handle_connection(stream, &shared));
    }
}

/// A parsed request. Header names are lowercase.
struct Request {
    method: String,
    /// The path, still percent-encoded, without the query.
    path: String,
    query: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    fn query(&self, name: &str) -> Option<&str> {
        self.query.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// The bearer token of `Authorization`, if any.
    fn token(&self) -> Option<&str> {
        let value = self.header("authorization")?.trim();
        let (scheme, token) = value.split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
    }

    fn is_trusted(&self) -> bool {
        self.token() == Some(GOOD_TOKEN)
    }
}

struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    fn json(status: u16, value: &Value) -> Response {
        Response {
            status,
            headers: vec![("Content-Type".into(), "application/json; charset=utf-8".into())],
            body: serde_json::to_vec(value).unwrap(),
        }
    }

    /// An error as the Hub sends it: `{"error": message}`, `X-Error-Message` and, if given,
    /// `X-Error-Code`.
    fn error(status: u16, code: Option<&str>, message: &str) -> Response {
        let mut response = Response::json(status, &json!({ "error": message }));
        if let Some(code) = code {
            response.headers.push(("X-Error-Code".into(), code.into()));
        }
        response.headers.push(("X-Error-Message".into(), message.into()));
        response
    }

    fn header(mut self, name: &str, value: impl Into<String>) -> Response {
        self.headers.push((name.into(), value.into()));
        self
    }
}

fn handle_connection(stream: TcpStream, shared: &Shared) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(60)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(60)));
    let Ok(write_half) = stream.try_clone() else { return };
    let mut reader = BufReader::new(stream);
    let mut writer = write_half;
    let (response, head) = match read_request(&mut reader, &mut writer, shared) {
        Ok(None) => return, // closed without a request (e.g. the wake-up connection of Drop)
        Ok(Some(request)) => {
            let head = request.method == "HEAD";
            (route(&request, shared), head)
        }
        Err(reason) => {
            eprintln!("hub emulator: malformed request: {reason}");
            (Response::error(400, None, &format!("Malformed request: {reason}")), false)
        }
    };
    if write_response(&mut writer, &response, head).is_ok() {
        // Lingering close: wait for the client to close first, so that no unread byte turns our
        // close into a reset that could cut the answer short.
        let _ = writer.shutdown(Shutdown::Write);
        let _ = reader.get_ref().set_read_timeout(Some(Duration::from_secs(2)));
        let mut sink = [0u8; 1024];
        while matches!(reader.read(&mut sink), Ok(n) if n > 0) {}
    }
}

/// Reads one request: request line, headers, and a body of `Content-Length` bytes or chunked.
/// `Ok(None)` when the connection closes before a request line.
fn read_request(
    reader: &mut BufReader<TcpStream>,
    writer: &mut TcpStream,
    shared: &Shared,
) -> Result<Option<Request>, String> {
    let Some(request_line) = read_line(reader)? else { return Ok(None) };
    shared.requests.fetch_add(1, Ordering::SeqCst);
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(format!("bad request line {request_line:?}"));
    };
    if !version.starts_with("HTTP/1.") {
        return Err(format!("unsupported protocol in {request_line:?}"));
    }
    let mut headers = Vec::new();
    loop {
        let line = read_line(reader)?.ok_or("connection closed in the headers")?;
        if line.is_empty() {
            break;
        }
        let (name, value) =
            line.split_once(':').ok_or_else(|| format!("bad header line {line:?}"))?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
        if headers.len() > 200 {
            return Err("too many headers".into());
        }
    }
    let target =
        target.strip_prefix("http://").map_or(target, |t| &t[t.find('/').unwrap_or(t.len())..]);
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let query = query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(name, true), percent_decode(value, true))
        })
        .collect();
    let mut request = Request {
        method: method.to_string(),
        path: path.to_string(),
        query,
        headers,
        body: Vec::new(),
    };

    if request.header("expect").is_some_and(|e| e.eq_ignore_ascii_case("100-continue")) {
        writer.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").map_err(|e| e.to_string())?;
    }
    let chunked = request
        .header("transfer-encoding")
        .is_some_and(|te| te.to_ascii_lowercase().contains("chunked"));
    if chunked {
        request.body = read_chunked_body(reader)?;
    } else if let Some(length) = request.header("content-length") {
        let length: usize = length.parse().map_err(|_| format!("bad Content-Length {length:?}"))?;
        let mut body = vec![0; length];
        reader.read_exact(&mut body).map_err(|e| format!("reading a {length}-byte body: {e}"))?;
        request.body = body;
    }
    Ok(Some(request))
}

/// A `Transfer-Encoding: chunked` body: hex size lines, data, and trailers up to an empty line.
fn read_chunked_body(reader: &mut BufReader<TcpStream>) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    loop {
        let line = read_line(reader)?.ok_or("connection closed in a chunked body")?;
        let size = line.split(';').next().unwrap_or("").trim();
        let size =
            usize::from_str_radix(size, 16).map_err(|_| format!("bad chunk size line {line:?}"))?;
        if size == 0 {
            // Trailers, then the empty line that ends the body.
            while !read_line(reader)?.ok_or("connection closed in chunked trailers")?.is_empty() {}
            return Ok(body);
        }
        let start = body.len();
        body.resize(start + size, 0);
        reader.read_exact(&mut body[start..]).map_err(|e| format!("reading a chunk: {e}"))?;
        if !read_line(reader)?.ok_or("connection closed after a chunk")?.is_empty() {
            return Err("chunk not followed by CRLF".into());
        }
    }
}

/// One line without its CRLF; None at a clean end of stream.
fn read_line(reader: &mut BufReader<TcpStream>) -> Result<Option<String>, String> {
    let mut line = Vec::new();
    let n = reader
        .by_ref()
        .take(64 * 1024)
        .read_until(b'\n', &mut line)
        .map_err(|e| format!("reading: {e}"))?;
    if n == 0 {
        return Ok(None);
    }
    if !line.ends_with(b"\n") {
        return Err("line too long or cut short".into());
    }
    line.pop();
    if line.ends_with(b"\r") {
        line.pop();
    }
    String::from_utf8(line).map(Some).map_err(|_| "a header line is not UTF-8".into())
}

fn write_response(writer: &mut TcpStream, response: &Response, head: bool) -> io::Result<()> {
    let mut out = format!("HTTP/1.1 {} {}\r\n", response.status, reason(response.status));
    for (name, value) in &response.headers {
        let _ = write!(out, "{name}: {value}\r\n");
    }
    let _ = write!(out, "Content-Length: {}\r\nConnection: close\r\n\r\n", response.body.len());
    writer.write_all(out.as_bytes())?;
    if !head {
        writer.write_all(&response.body)?;
    }
    writer.flush()
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        206 => "Partial Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        412 => "Precondition Failed",
        416 => "Range Not Satisfiable",
        _ => "Unknown",
    }
}

/// Decodes `%XX` escapes (and `+` as a space when `plus_is_space`, for query strings).
fn percent_decode(text: &str, plus_is_space: bool) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(hi), Some(lo)) => {
                    out.push((hi * 16 + lo) as u8);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' if plus_is_space => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Decodes standard or URL-safe base64, padded or not, ignoring whitespace.
fn base64_decode(text: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for byte in text.bytes() {
        let value = match byte {
            b'A'..=b'Z' => byte - b'A',
            b'a'..=b'z' => byte - b'a' + 26,
            b'0'..=b'9' => byte - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            b'=' => break,
            b' ' | b'\n' | b'\r' | b'\t' => continue,
            _ => return Err(format!("invalid base64 byte {:?}", byte as char)),
        };
        buffer = (buffer << 6) | u32::from(value);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
            buffer &= (1 << bits) - 1;
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Routes
// ---------------------------------------------------------------------------------------------

fn route(request: &Request, shared: &Shared) -> Response {
    let segments: Vec<String> =
        request.path.trim_start_matches('/').split('/').map(|s| percent_decode(s, false)).collect();
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    let method = request.method.as_str();
    let is_read = method == "GET" || method == "HEAD";
    match (method, segments.as_slice()) {
        ("GET", ["api", "whoami-v2"]) => whoami(request),
        ("POST", ["api", "validate-yaml"]) => {
            Response::json(200, &json!({ "errors": [], "warnings": [] }))
        }
        // Python fetches this registry (once a day per HF_HOME) unless HF_HUB_DISABLE_TELEMETRY=1.
        ("GET", ["api", "agent-harnesses"]) => {
            Response::json(200, &json!({ "standardEnvVars": [], "harnesses": {} }))
        }
        ("POST", ["api", "repos", "create"]) => create_repo(request, shared),
        (_, ["api", plural, namespace, name, rest @ ..])
            if RepoKind::from_plural(plural).is_some() =>
        {
            let kind = RepoKind::from_plural(plural).unwrap();
            let id = format!("{namespace}/{name}");
            match (method, rest) {
                ("GET", []) => repo_info(request, shared, kind, &id, "main"),
                ("GET", ["revision", revision]) => repo_info(request, shared, kind, &id, revision),
                ("GET", ["tree", revision, path @ ..]) => {
                    tree(request, shared, kind, &id, revision, path)
                }
                ("POST", ["preupload", revision]) => {
                    write(request, shared, kind, &id, revision, |repo| preupload(request, repo))
                }
                ("POST", ["commit", revision]) => {
                    write(request, shared, kind, &id, revision, |repo| {
                        commit(request, repo, &shared.base_url, kind, &id)
                    })
                }
                _ => unsupported(request),
            }
        }
        (_, ["datasets", namespace, name, "resolve", revision, path @ ..])
            if is_read && !path.is_empty() =>
        {
            resolve(
                request,
                shared,
                RepoKind::Dataset,
                &format!("{namespace}/{name}"),
                revision,
                &path.join("/"),
            )
        }
        (_, [namespace, name, "resolve", revision, path @ ..])
            if is_read && !path.is_empty() && *namespace != "api" && *namespace != "datasets" =>
        {
            resolve(
                request,
                shared,
                RepoKind::Model,
                &format!("{namespace}/{name}"),
                revision,
                &path.join("/"),
            )
        }
        _ => unsupported(request),
    }
}

/// A route this emulator does not know: logged, since it means a client needs more than this file
/// offers.
fn unsupported(request: &Request) -> Response {
    eprintln!("hub emulator: malformed request: no route for {} {}", request.method, request.path);
    Response::error(
        400,
        None,
        &format!("The Hub emulator has no route for {} {}", request.method, request.path),
    )
}

/// What a reader may see of a repo: the repo, or the error to answer.
fn readable<'a>(
    state: &'a State,
    request: &Request,
    kind: RepoKind,
    id: &str,
) -> Result<&'a StoredRepo, Response> {
    match state.repos.get(&(kind, id.to_string())) {
        Some(repo) if !repo.private || request.is_trusted() => Ok(repo),
        _ => Err(repo_not_found(request)),
    }
}

/// The Hub answers 401 to anonymous requests for a repo it cannot show, 404 to authenticated ones.
fn repo_not_found(request: &Request) -> Response {
    let status = if request.token().is_some() { 404 } else { 401 };
    Response::error(status, Some("RepoNotFound"), "Repository not found")
}

fn revision_not_found(revision: &str) -> Response {
    Response::error(404, Some("RevisionNotFound"), &format!("Invalid rev id: {revision}"))
}

/// `HEAD`/`GET /{prefix}{repo}/resolve/{revision}/{path}`: a file's content and metadata.
fn resolve(
    request: &Request,
    shared: &Shared,
    kind: RepoKind,
    id: &str,
    revision: &str,
    path: &str,
) -> Response {
    let (sha, files) = {
        let state = shared.lock();
        let repo = match readable(&state, request, kind, id) {
            Ok(repo) => repo,
            Err(response) => return response,
        };
        if repo.gated && !request.is_trusted() {
            return gated(request, kind, id);
        }
        match repo.resolve(revision) {
            Some(commit) => (commit.sha.clone(), Arc::clone(&commit.files)),
            None => return revision_not_found(revision),
        }
    };
    let Some(content) = files.get(path) else {
        return Response::error(404, Some("EntryNotFound"), "Entry not found")
            .header("X-Repo-Commit", sha);
    };
    let etag = format!("\"{}\"", blob_oid(content));
    let total = content.len();
    let range = if request.method == "GET" { request.header("range") } else { None };
    let (status, body, content_range) = match range.map(|r| parse_range(r, total)) {
        None | Some(RangeRequest::Ignored) => (200, content.clone(), None),
        Some(RangeRequest::Satisfiable(start, end)) => {
            (206, content[start..=end].to_vec(), Some(format!("bytes {start}-{end}/{total}")))
        }
        Some(RangeRequest::Unsatisfiable) => {
            return Response::error(416, None, "Requested range not satisfiable")
                .header("Content-Range", format!("bytes */{total}"))
                .header("X-Repo-Commit", sha);
        }
    };
    let mut response = Response {
        status,
        headers: vec![
            ("Content-Type".into(), "application/octet-stream".into()),
            ("Accept-Ranges".into(), "bytes".into()),
            ("ETag".into(), etag),
            ("X-Repo-Commit".into(), sha),
        ],
        body,
    };
    if let Some(content_range) = content_range {
        response.headers.push(("Content-Range".into(), content_range));
    }
    response
}

fn gated(request: &Request, kind: RepoKind, id: &str) -> Response {
    let what = kind.singular();
    if request.token().is_none() {
        let message = format!(
            "Access to {what} {id} is restricted. You must have access to it and be authenticated \
             to access it. Please log in."
        );
        Response::error(401, Some("GatedRepo"), &message)
    } else {
        let message = format!(
            "Access to {what} {id} is restricted and you are not in the authorized list. \
             Visit https://huggingface.co/{}{id} to ask for access.",
            kind.url_prefix()
        );
        Response::error(403, Some("GatedRepo"), &message)
    }
}

enum RangeRequest {
    /// Not a single `bytes=` range: answer the whole file.
    Ignored,
    /// Inclusive byte offsets.
    Satisfiable(usize, usize),
    Unsatisfiable,
}

/// `bytes=START-END`, `bytes=START-` or `bytes=-SUFFIX` against a file of `total` bytes.
fn parse_range(header: &str, total: usize) -> RangeRequest {
    let Some(spec) = header.trim().strip_prefix("bytes=") else { return RangeRequest::Ignored };
    if spec.contains(',') {
        return RangeRequest::Ignored;
    }
    let Some((start, end)) = spec.trim().split_once('-') else { return RangeRequest::Ignored };
    let (start, end) = (start.trim(), end.trim());
    let parse = |s: &str| s.parse::<usize>().ok();
    let (first, last) = match (start.is_empty(), end.is_empty()) {
        (true, false) => match parse(end) {
            Some(0) => return RangeRequest::Unsatisfiable,
            Some(suffix) => (total.saturating_sub(suffix), total.saturating_sub(1)),
            None => return RangeRequest::Ignored,
        },
        (false, _) => {
            match (parse(start), if end.is_empty() { Some(usize::MAX) } else { parse(end) }) {
                (Some(first), Some(last)) if first <= last => {
                    (first, last.min(total.saturating_sub(1)))
                }
                _ => return RangeRequest::Ignored,
            }
        }
        (true, true) => return RangeRequest::Ignored,
    };
    if total == 0 || first >= total {
        return RangeRequest::Unsatisfiable;
    }
    RangeRequest::Satisfiable(first, last)
}

/// `GET /api/{models,datasets}/{repo}[/revision/{revision}]`: the repo's info at a revision.
fn repo_info(
    request: &Request,
    shared: &Shared,
    kind: RepoKind,
    id: &str,
    revision: &str,
) -> Response {
    let state = shared.lock();
    let repo = match readable(&state, request, kind, id) {
        Ok(repo) => repo,
        Err(response) => return response,
    };
    let Some(commit) = repo.resolve(revision) else { return revision_not_found(revision) };
    let siblings: Vec<Value> = commit
        .files
        .iter()
        .map(|(path, content)| json!({ "rfilename": path, "size": content.len() }))
        .collect();
    let mut info = json!({
        "_id": &blob_oid(id.as_bytes())[..24],
        "id": id,
        "author": id.split('/').next().unwrap_or(""),
        "sha": commit.sha,
        "lastModified": TIMESTAMP,
        "createdAt": TIMESTAMP,
        "private": repo.private,
        "gated": if repo.gated { json!("auto") } else { json!(false) },
        "disabled": false,
        "downloads": 0,
        "likes": 0,
        "tags": [],
        "siblings": siblings,
    });
    if kind == RepoKind::Model {
        info["modelId"] = json!(id);
    }
    Response::json(200, &info)
}

/// `GET /api/{models,datasets}/{repo}/tree/{revision}[/{path}]`: the entries under `path`, all
/// of them with `?recursive=true`, else only the direct children.
fn tree(
    request: &Request,
    shared: &Shared,
    kind: RepoKind,
    id: &str,
    revision: &str,
    path: &[&str],
) -> Response {
    let state = shared.lock();
    let repo = match readable(&state, request, kind, id) {
        Ok(repo) => repo,
        Err(response) => return response,
    };
    let Some(commit) = repo.resolve(revision) else { return revision_not_found(revision) };
    let recursive =
        request.query("recursive").is_some_and(|r| r.eq_ignore_ascii_case("true") || r == "1");
    let base = path.iter().filter(|s| !s.is_empty()).copied().collect::<Vec<_>>().join("/");
    let prefix = if base.is_empty() { String::new() } else { format!("{base}/") };

    // Entry path → Some(size) for a file, None for a directory.
    let mut entries: BTreeMap<String, Option<usize>> = BTreeMap::new();
    for (file, content) in commit.files.iter() {
        let Some(rest) = file.strip_prefix(&prefix) else { continue };
        let parts: Vec<&str> = rest.split('/').collect();
        if recursive {
            for depth in 1..parts.len() {
                entries.insert(format!("{prefix}{}", parts[..depth].join("/")), None);
            }
            entries.insert(file.clone(), Some(content.len()));
        } else if parts.len() == 1 {
            entries.insert(file.clone(), Some(content.len()));
        } else {
            entries.insert(format!("{prefix}{}", parts[0]), None);
        }
    }
    if entries.is_empty() && !base.is_empty() {
        return Response::error(404, Some("EntryNotFound"), &format!("Entry not found: {base}"));
    }
    let listing: Vec<Value> = entries
        .iter()
        .map(|(entry, size)| match size {
            Some(size) => json!({
                "type": "file",
                "oid": blob_oid(&commit.files[entry]),
                "size": size,
                "path": entry,
            }),
            None => json!({
                "type": "directory",
                "oid": blob_oid(format!("tree {} {entry}", commit.sha).as_bytes()),
                "size": 0,
                "path": entry,
            }),
        })
        .collect();
    Response::json(200, &Value::Array(listing))
}

/// The checks of every write: the token `hf_ok`, an existing repo, the branch `main`.
fn writable<'a>(
    state: &'a mut State,
    request: &Request,
    kind: RepoKind,
    id: &str,
    revision: &str,
) -> Result<&'a mut StoredRepo, Response> {
    if !request.is_trusted() {
        let message = match request.token() {
            Some(_) => "Invalid credentials in Authorization header",
            None => "Writing to the Hub needs a token: Authorization: Bearer hf_ok",
        };
        return Err(Response::error(401, None, message));
    }
    if request.query("create_pr").is_some_and(|v| v == "1" || v.eq_ignore_ascii_case("true")) {
        return Err(Response::error(
            400,
            None,
            "The Hub emulator does not support pull requests (create_pr)",
        ));
    }
    let repo =
        state.repos.get_mut(&(kind, id.to_string())).ok_or_else(|| repo_not_found(request))?;
    if revision != "main" {
        return Err(revision_not_found(revision));
    }
    Ok(repo)
}

/// A write route: the checks of [`writable`], then `operation` on the repo, under the lock.
fn write(
    request: &Request,
    shared: &Shared,
    kind: RepoKind,
    id: &str,
    revision: &str,
    operation: impl FnOnce(&mut StoredRepo) -> Response,
) -> Response {
    let mut state = shared.lock();
    match writable(&mut state, request, kind, id, revision) {
        Ok(repo) => operation(repo),
        Err(response) => response,
    }
}

/// `POST /api/{models,datasets}/{repo}/preupload/{revision}`: how each file is to be uploaded.
/// Always "regular" (inline base64 in the commit), so that no client tries LFS or xet.
fn preupload(request: &Request, repo: &mut StoredRepo) -> Response {
    let head = repo.commits.last().map(|c| c.sha.clone());
    let body: Value = match serde_json::from_slice(&request.body) {
        Ok(body) => body,
        Err(e) => return Response::error(400, None, &format!("preupload body is not JSON: {e}")),
    };
    let Some(files) = body["files"].as_array() else {
        return Response::error(400, None, "preupload body has no \"files\" list");
    };
    let mut answers = Vec::new();
    for file in files {
        let Some(path) = file["path"].as_str() else {
            return Response::error(400, None, "a preupload file has no \"path\"");
        };
        // `oid` is the remote blob's git oid, which lets clients skip unchanged files; null
        // (unknown) makes them upload every file.
        answers.push(
            json!({ "path": path, "uploadMode": "regular", "shouldIgnore": false, "oid": null }),
        );
    }
    Response::json(200, &json!({ "files": answers, "commitOid": head }))
}

/// `POST /api/{models,datasets}/{repo}/commit/{revision}`: applies an NDJSON list of operations
/// (`header`, then `file` with base64 `content`, `deletedFile`, `deletedFolder`) on top of `main`.
fn commit(
    request: &Request,
    repo: &mut StoredRepo,
    base_url: &str,
    kind: RepoKind,
    id: &str,
) -> Response {
    let head = repo.commits.last();
    let mut files: FileSet = head.map(|c| (*c.files).clone()).unwrap_or_default();
    let head_sha = head.map(|c| c.sha.clone());
    let Ok(body) = std::str::from_utf8(&request.body) else {
        return Response::error(400, None, "commit body is not UTF-8");
    };
    let mut header: Option<Value> = None;
    for line in body.lines().filter(|l| !l.trim().is_empty()) {
        let line: Value = match serde_json::from_str(line) {
            Ok(line) => line,
            Err(e) => return Response::error(400, None, &format!("commit line is not JSON: {e}")),
        };
        let value = &line["value"];
        let path = value["path"].as_str().unwrap_or("");
        let bad_path = path.is_empty()
            || path.starts_with('/')
            || path.split('/').any(|s| s == ".." || s.is_empty());
        match line["key"].as_str() {
            Some("header") => header = Some(value.clone()),
            Some("file" | "deletedFile" | "deletedFolder") if bad_path => {
                return Response::error(400, None, &format!("invalid path in commit: {path:?}"));
            }
            Some("file") => {
                let content = value["content"].as_str().unwrap_or("");
                let content = match value["encoding"].as_str() {
                    Some("base64") => match base64_decode(content) {
                        Ok(content) => content,
                        Err(e) => return Response::error(400, None, &format!("{path}: {e}")),
                    },
                    _ => content.as_bytes().to_vec(),
                };
                files.insert(path.to_string(), content);
            }
            Some("deletedFile") => {
                files.remove(path);
            }
            Some("deletedFolder") => {
                let prefix = format!("{}/", path.trim_end_matches('/'));
                files.retain(|f, _| !f.starts_with(&prefix));
            }
            Some("lfsFile") => {
                return Response::error(
                    400,
                    None,
                    "The Hub emulator has no LFS (preupload answers \"regular\" for every file)",
                );
            }
            other => {
                return Response::error(
                    400,
                    None,
                    &format!("unsupported commit operation {other:?}"),
                )
            }
        }
    }
    let Some(header) = header else {
        return Response::error(400, None, "commit has no header line");
    };
    if let Some(parent) = header["parentCommit"].as_str() {
        if Some(parent) != head_sha.as_deref() {
            return Response::error(
                412,
                None,
                "A commit has happened since. Please refresh and try again.",
            );
        }
    }
    let summary = header["summary"].as_str().unwrap_or("").to_string();
    let description = header["description"].as_str().unwrap_or("").to_string();
    let sha = repo.push(kind, id, files);
    Response::json(
        200,
        &json!({
            "success": true,
            "commitOid": sha,
            "commitUrl": format!("{base_url}/{}{id}/commit/{sha}", kind.url_prefix()),
            "commitMessage": summary,
            "commitDescription": description,
            "hookOutput": "",
            "pullRequestUrl": null,
        }),
    )
}

/// `POST /api/repos/create` with `{"name", "organization"?, "type"?, "private"? | "visibility"?}`.
/// The new repo has one empty commit, so that `main` exists.
fn create_repo(request: &Request, shared: &Shared) -> Response {
    if !request.is_trusted() {
        let message = match request.token() {
            Some(_) => "Invalid credentials in Authorization header",
            None => "Creating a repo needs a token: Authorization: Bearer hf_ok",
        };
        return Response::error(401, None, message);
    }
    let body: Value = match serde_json::from_slice(&request.body) {
        Ok(body) => body,
        Err(e) => return Response::error(400, None, &format!("create body is not JSON: {e}")),
    };
    let Some(name) = body["name"].as_str().filter(|n| !n.is_empty()) else {
        return Response::error(400, None, "create body has no \"name\"");
    };
    let id = match body["organization"].as_str() {
        _ if name.contains('/') => name.to_string(),
        Some(organization) if !organization.is_empty() => format!("{organization}/{name}"),
        _ => format!("{USER}/{name}"),
    };
    let kind = match body["type"].as_str() {
        None | Some("model") => RepoKind::Model,
        Some("dataset") => RepoKind::Dataset,
        Some(other) => {
            return Response::error(400, None, &format!("The Hub emulator has no {other} repos"))
        }
    };
    let private = body["private"].as_bool().unwrap_or(false)
        || body["visibility"].as_str() == Some("private");
    let url = format!("{}/{}{id}", shared.base_url, kind.url_prefix());
    let mut state = shared.lock();
    if state.repos.contains_key(&(kind, id.clone())) {
        let message = format!("You already created this {} repo", kind.singular());
        return Response::json(409, &json!({ "error": message, "url": url }))
            .header("X-Error-Message", message);
    }
    let mut repo = StoredRepo { gated: false, private, commits: Vec::new() };
    repo.push(kind, &id, FileSet::new());
    state.repos.insert((kind, id.clone()), repo);
    Response::json(200, &json!({ "url": url, "name": id, "id": id }))
}

/// `GET /api/whoami-v2`: the user behind `hf_ok`.
fn whoami(request: &Request) -> Response {
    if !request.is_trusted() {
        return Response::error(401, None, "Invalid credentials in Authorization header");
    }
    Response::json(
        200,
        &json!({
            "type": "user",
            "id": "000000000000000000000001",
            "name": USER,
            "fullname": "Guardtune Tester",
            "email": null,
            "emailVerified": false,
            "isPro": false,
            "orgs": [],
            "auth": {
                "type": "access_token",
                "accessToken": { "displayName": "tests", "role": "write" },
            },
        }),
    )
}
