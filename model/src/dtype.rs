//! The floating-point formats guardtune stores and computes in, by one set of names
//! everywhere: the run config (`model.dtype`, `output.adapter_dtype`), every command's
//! `--dtype`, and the files it writes.

use std::fmt;
use std::str::FromStr;

use burn::tensor::DType;
use serde::{Deserialize, Serialize};

/// `f32`, `bf16` or `f16` (transformers' `float32`, `bfloat16`, `float16` are read too).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Dtype {
    F32,
    BF16,
    F16,
}

impl Dtype {
    pub const ALL: [Dtype; 3] = [Dtype::F32, Dtype::BF16, Dtype::F16];

    /// The name configs and the command line use.
    pub fn name(self) -> &'static str {
        match self {
            Dtype::F32 => "f32",
            Dtype::BF16 => "bf16",
            Dtype::F16 => "f16",
        }
    }

    /// The name transformers writes in `config.json` (`torch_dtype`).
    pub fn torch_name(self) -> &'static str {
        match self {
            Dtype::F32 => "float32",
            Dtype::BF16 => "bfloat16",
            Dtype::F16 => "float16",
        }
    }

    /// The name in a safetensors header.
    pub fn safetensors_name(self) -> &'static str {
        match self {
            Dtype::F32 => "F32",
            Dtype::BF16 => "BF16",
            Dtype::F16 => "F16",
        }
    }

    /// Bytes per value.
    pub fn size(self) -> usize {
        match self {
            Dtype::F32 => 4,
            Dtype::BF16 | Dtype::F16 => 2,
        }
    }

    /// Burn's dtype of the same format.
    pub fn burn(self) -> DType {
        match self {
            Dtype::F32 => DType::F32,
            Dtype::BF16 => DType::BF16,
            Dtype::F16 => DType::F16,
        }
    }

    /// The format of a Burn dtype, if it is one of ours.
    pub fn of_burn(dtype: DType) -> Option<Dtype> {
        Dtype::ALL.into_iter().find(|d| d.burn() == dtype)
    }

    /// Little-endian bytes of `values`, rounded to nearest-even once.
    pub fn encode(self, values: &[f32]) -> Vec<u8> {
        match self {
            Dtype::F32 => values.iter().flat_map(|v| v.to_le_bytes()).collect(),
            Dtype::BF16 => {
                values.iter().flat_map(|v| half::bf16::from_f32(*v).to_le_bytes()).collect()
            }
            Dtype::F16 => {
                values.iter().flat_map(|v| half::f16::from_f32(*v).to_le_bytes()).collect()
            }
        }
    }
}

impl fmt::Display for Dtype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Dtype {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, String> {
        Dtype::ALL
            .into_iter()
            .find(|d| d.name() == name || d.torch_name() == name)
            .ok_or_else(|| format!("unknown dtype \"{name}\" (expected f32, bf16 or f16)"))
    }
}

impl TryFrom<String> for Dtype {
    type Error = String;

    fn try_from(name: String) -> Result<Self, String> {
        name.parse()
    }
}

impl From<Dtype> for String {
    fn from(dtype: Dtype) -> String {
        dtype.name().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_are_refused() {
        for dtype in Dtype::ALL {
            assert_eq!(dtype.name().parse::<Dtype>(), Ok(dtype));
            assert_eq!(dtype.torch_name().parse::<Dtype>(), Ok(dtype));
            assert_eq!(Dtype::of_burn(dtype.burn()), Some(dtype));
        }
        let err = "fp8".parse::<Dtype>().unwrap_err();
        assert!(err.contains("\"fp8\"") && err.contains("f32, bf16 or f16"), "{err}");
    }
}
