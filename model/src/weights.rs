//! Reading Hugging Face safetensors weights (a model folder's checkpoint files): one `model.safetensors` or a sharded set listed
//! by `model.safetensors.index.json`, stored as f32, bf16 or f16 (f64 too), memory-mapped and
//! converted tensor by tensor, so an 8B checkpoint never sits in memory twice.
//!
//! The model asks for tensors by their checkpoint name and expected shape; problems (missing,
//! mis-shaped, unreadable dtype) are collected and reported together when loading ends, along
//! with any tensor the model never asked for.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::path::{Path, PathBuf};

use memmap2::Mmap;
use safetensors::{Dtype, SafeTensors};
use serde::Deserialize;

use crate::error::ModelError;
use crate::rng::SplitMix64;

/// How a tensor should be created when it is not read from a file (see [`RandomInit`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Init {
    /// Weight matrices and embeddings: Normal(0, initializer_range).
    Normal,
    /// RMSNorm gains: all ones.
    Ones,
}

/// Where model parameters come from: a checkpoint on disk, or a seeded random initialisation.
pub trait WeightSource {
    /// The tensor named `name` (checkpoint naming, PyTorch layout, row-major) as f32 values.
    /// Returns `None` after recording a problem; [`WeightSource::finish`] reports all of them.
    fn tensor(&mut self, name: &str, shape: &[usize], init: Init) -> Option<Vec<f32>>;

    /// Ends loading: an error listing every problem, or `Ok` if there were none.
    fn finish(self: Box<Self>) -> Result<(), ModelError>;

    /// `Some(std)` when weight matrices need no particular values and the device may draw them
    /// itself from Normal(0, std): random models of 8B shapes for benchmarks are then built in
    /// seconds, without generating and uploading billions of values from the host.
    fn drawn_on_device(&self) -> Option<f32> {
        None
    }
}

/// One memory-mapped safetensors file.
struct Shard {
    path: PathBuf,
    map: Mmap,
}

impl Shard {
    fn open(path: &Path) -> Result<Self, ModelError> {
        let file = File::open(path).map_err(|e| ModelError::io(path, e))?;
        // Safety: the map is read-only and lives as long as the shard; a checkpoint being
        // rewritten while we read it is outside what any loader can defend against.
        let map = unsafe { Mmap::map(&file) }.map_err(|e| ModelError::io(path, e))?;
        // Validate the header and every offset once, up front, so reading tensors cannot fail
        // on a corrupt file later.
        SafeTensors::deserialize(&map).map_err(|e| describe_safetensors_error(path, e))?;
        Ok(Shard { path: path.to_path_buf(), map })
    }

    fn tensors(&self) -> SafeTensors<'_> {
        SafeTensors::deserialize(&self.map).expect("validated in Shard::open")
    }
}

fn describe_safetensors_error(path: &Path, err: safetensors::SafeTensorError) -> ModelError {
    use safetensors::SafeTensorError as E;
    let msg = match err {
        E::MetadataIncompleteBuffer => {
            "truncated or corrupt safetensors file: the header's tensor offsets do not match the data size"
                .to_string()
        }
        E::HeaderTooSmall | E::InvalidHeaderLength => {
            "truncated or corrupt safetensors file: the header length is invalid".to_string()
        }
        E::InvalidOffset(name) => format!("corrupt safetensors header: invalid offsets for tensor `{name}`"),
        E::TensorInvalidInfo => {
            "corrupt safetensors header: a tensor's shape, dtype and offsets disagree".to_string()
        }
        other => format!("not a readable safetensors file: {other}"),
    };
    ModelError::checkpoint(path, msg)
}

/// The tensors of a checkpoint folder, read on demand.
pub struct Weights {
    /// Where problems are reported: the single file, or the index of a sharded set.
    origin: PathBuf,
    shards: Vec<Shard>,
    /// Tensor name -> index into `shards`.
    names: BTreeMap<String, usize>,
    used: BTreeSet<String>,
    problems: Vec<String>,
}

#[derive(Deserialize)]
struct ShardIndex {
    weight_map: BTreeMap<String, String>,
}

impl Weights {
    /// Opens `<dir>/model.safetensors.index.json` if present, else `<dir>/model.safetensors`.
    pub fn open_dir(dir: &Path) -> Result<Self, ModelError> {
        let index = dir.join("model.safetensors.index.json");
        if index.exists() {
            return Self::open_sharded(&index);
        }
        let single = dir.join("model.safetensors");
        if !single.exists() {
            return Err(ModelError::checkpoint(
                dir,
                "no model.safetensors or model.safetensors.index.json in this folder",
            ));
        }
        Self::open_file(&single)
    }

    /// Opens one safetensors file.
    pub fn open_file(path: &Path) -> Result<Self, ModelError> {
        let shard = Shard::open(path)?;
        let names = shard.tensors().names().into_iter().map(|n| (n.to_string(), 0)).collect();
        Ok(Weights {
            origin: path.to_path_buf(),
            shards: vec![shard],
            names,
            used: BTreeSet::new(),
            problems: vec![],
        })
    }

    /// Opens a sharded checkpoint from its index; every listed shard must hold its tensors.
    pub fn open_sharded(index_path: &Path) -> Result<Self, ModelError> {
        let text =
            std::fs::read_to_string(index_path).map_err(|e| ModelError::io(index_path, e))?;
        let index: ShardIndex = serde_json::from_str(&text)
            .map_err(|e| ModelError::checkpoint(index_path, format!("invalid index JSON: {e}")))?;
        let dir = index_path.parent().unwrap_or(Path::new("."));
        let files: BTreeSet<&String> = index.weight_map.values().collect();
        let mut shards = Vec::new();
        let mut shard_of_file = BTreeMap::new();
        for file in files {
            shard_of_file.insert(file.clone(), shards.len());
            shards.push(Shard::open(&dir.join(file))?);
        }
        let mut names = BTreeMap::new();
        for (name, file) in &index.weight_map {
            let shard = shard_of_file[file];
            if shards[shard].tensors().tensor(name).is_err() {
                return Err(ModelError::checkpoint(
                    index_path,
                    format!("the index puts `{name}` in {file}, which does not contain it"),
                ));
            }
            names.insert(name.clone(), shard);
        }
        Ok(Weights {
            origin: index_path.to_path_buf(),
            shards,
            names,
            used: BTreeSet::new(),
            problems: vec![],
        })
    }

    /// All tensor names in the checkpoint, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.names.keys().map(String::as_str)
    }

    /// Reads a tensor as f32 with its stored shape, whatever it holds (used by export).
    pub fn read(&self, name: &str) -> Result<(Vec<usize>, Vec<f32>), ModelError> {
        let shard = self.names.get(name).map(|&i| &self.shards[i]).ok_or_else(|| {
            ModelError::checkpoint(&self.origin, format!("missing tensor `{name}`"))
        })?;
        let tensors = shard.tensors();
        let view = tensors.tensor(name).expect("listed names exist");
        let values = to_f32(view.dtype(), view.data()).map_err(|msg| {
            ModelError::checkpoint(&shard.path, format!("tensor `{name}`: {msg}"))
        })?;
        Ok((view.shape().to_vec(), values))
    }

    /// The dtype a tensor is stored in.
    pub fn dtype(&self, name: &str) -> Option<Dtype> {
        let shard = &self.shards[*self.names.get(name)?];
        shard.tensors().tensor(name).ok().map(|v| v.dtype())
    }
}

impl WeightSource for Weights {
    fn tensor(&mut self, name: &str, shape: &[usize], _init: Init) -> Option<Vec<f32>> {
        self.used.insert(name.to_string());
        if !self.names.contains_key(name) {
            self.problems.push(format!("missing tensor `{name}` (expected shape {shape:?})"));
            return None;
        }
        match self.read(name) {
            Ok((found, _)) if found != shape => {
                self.problems
                    .push(format!("tensor `{name}` has shape {found:?}, expected {shape:?}"));
                None
            }
            Ok((_, values)) => Some(values),
            Err(e) => {
                self.problems.push(e.to_string());
                None
            }
        }
    }

    fn finish(mut self: Box<Self>) -> Result<(), ModelError> {
        let unexpected: Vec<String> = self
            .names
            .keys()
            .filter(|n| !self.used.contains(*n))
            .map(|n| format!("unexpected tensor `{n}`"))
            .collect();
        self.problems.extend(unexpected);
        if self.problems.is_empty() {
            return Ok(());
        }
        let count = self.problems.len();
        let s = if count == 1 { "" } else { "s" };
        Err(ModelError::checkpoint(
            &self.origin,
            format!("{count} problem{s}: {}", self.problems.join("; ")),
        ))
    }
}

/// A row-major `[rows, cols]` matrix transposed to `[cols, rows]` (PyTorch `[out, in]` weights
/// to Burn's `[in, out]`, and back).
pub fn transpose(values: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0.0; values.len()];
    for r in 0..rows {
        for c in 0..cols {
            out[c * rows + r] = values[r * cols + c];
        }
    }
    out
}

/// Converts little-endian stored values to f32.
pub fn to_f32(dtype: Dtype, bytes: &[u8]) -> Result<Vec<f32>, String> {
    let words = |n: usize| bytes.chunks_exact(n);
    Ok(match dtype {
        Dtype::F32 => words(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect(),
        Dtype::BF16 => words(2).map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32()).collect(),
        Dtype::F16 => words(2).map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32()).collect(),
        Dtype::F64 => words(8)
            .map(|b| f64::from_le_bytes(b.try_into().expect("8-byte chunk")) as f32)
            .collect(),
        other => {
            return Err(format!("dtype {other} is not supported (expected F32, BF16, F16 or F64)"))
        }
    })
}

/// Wraps a source and keeps a copy of every tensor it hands out, in request order, so a model
/// built from it can be written back as a checkpoint (e.g. a random model of a given shape).
pub struct Recorder<S: WeightSource> {
    inner: S,
    pub tensors: std::sync::Arc<std::sync::Mutex<Vec<RecordedTensor>>>,
}

/// A tensor a [`Recorder`] handed out: its name, shape and values.
pub type RecordedTensor = (String, Vec<usize>, Vec<f32>);

impl<S: WeightSource> Recorder<S> {
    pub fn new(inner: S) -> Self {
        Recorder { inner, tensors: Default::default() }
    }
}

impl<S: WeightSource> WeightSource for Recorder<S> {
    fn tensor(&mut self, name: &str, shape: &[usize], init: Init) -> Option<Vec<f32>> {
        let values = self.inner.tensor(name, shape, init)?;
        self.tensors.lock().expect("not poisoned").push((
            name.to_string(),
            shape.to_vec(),
            values.clone(),
        ));
        Some(values)
    }

    fn finish(self: Box<Self>) -> Result<(), ModelError> {
        Box::new(self.inner).finish()
    }
}

/// A seeded random initialisation in the checkpoint's naming, for benchmarks and tests that need
/// a model of a given shape but no trained weights.
pub struct RandomInit {
    rng: SplitMix64,
    std: f32,
    on_device: bool,
}

impl RandomInit {
    /// Values drawn on the host from a portable generator: the same model on every machine and
    /// backend.
    pub fn new(seed: u64, std: f32) -> Self {
        RandomInit { rng: SplitMix64::new(seed), std, on_device: false }
    }

    /// Weight matrices drawn by the device's own generator (seed it with `Backend::seed`), for
    /// benchmarks: fast at any size, but the values depend on the backend.
    pub fn on_device(std: f32) -> Self {
        RandomInit { rng: SplitMix64::new(0), std, on_device: true }
    }
}

impl WeightSource for RandomInit {
    fn tensor(&mut self, _name: &str, shape: &[usize], init: Init) -> Option<Vec<f32>> {
        let n = shape.iter().product();
        Some(match init {
            Init::Ones => vec![1.0; n],
            Init::Normal => (0..n).map(|_| self.rng.normal() * self.std).collect(),
        })
    }

    fn finish(self: Box<Self>) -> Result<(), ModelError> {
        Ok(())
    }

    fn drawn_on_device(&self) -> Option<f32> {
        self.on_device.then_some(self.std)
    }
}
