//! Fuzz targets for guardtune's input formats (see [`targets`]).

pub mod targets;
