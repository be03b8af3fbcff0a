#!/usr/bin/env python3
"""Writes the seed corpora fuzz/corpus/TARGET/ from the repo's fixtures and small hand-made files.
Run from the repository root: python3 fuzz/make_seeds.py. Seeds stay small (AFL prefers < 10 kB)."""
import gzip, json, os, struct

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "fuzz", "corpus")


def put(target, name, data):
    os.makedirs(os.path.join(OUT, target), exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(OUT, target, name), "wb") as f:
        f.write(data)


def read(path):
    with open(os.path.join(ROOT, path), "rb") as f:
        return f.read()


def two(first, second):
    return struct.pack("<H", len(first)) + first + second


def safetensors(tensors, metadata=None):
    """tensors: name -> (dtype, shape, raw bytes)."""
    header, blob = {}, b""
    if metadata:
        header["__metadata__"] = metadata
    for name, (dtype, shape, raw) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(blob), len(blob) + len(raw)]}
        blob += raw
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + blob


def f32(values):
    return struct.pack("<%df" % len(values), *values)


# safetensors
put("safetensors", "f32_bf16_f64", safetensors({
    "a": ("F32", [2, 2], f32([1, 2, 3, 4])),
    "b": ("BF16", [3], b"\x80\x3f\x00\x40\x40\x40"),
    "c": ("F64", [1], struct.pack("<d", 0.5)),
    "d": ("F16", [2], b"\x00\x3c\x00\x40"),
}, {"format": "pt"}))
put("safetensors", "i64_empty", safetensors({"i": ("I64", [1], struct.pack("<q", 7)), "e": ("F32", [0], b"")}))

# model config
put("model_config", "tiny_smollm2.json", read("fixtures/models/tiny-smollm2/config.json"))
put("model_config", "llama31_rope.json", json.dumps({
    "model_type": "llama", "vocab_size": 128256, "hidden_size": 4096, "intermediate_size": 14336,
    "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8, "rms_norm_eps": 1e-5,
    "max_position_embeddings": 131072, "rope_theta": 500000.0, "eos_token_id": [128001, 128008, 128009],
    "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                     "original_max_position_embeddings": 8192}, "torch_dtype": "bfloat16"}))
put("model_config", "transformers5.json", json.dumps({
    "vocab_size": 32, "hidden_size": 8, "intermediate_size": 16, "num_hidden_layers": 2,
    "num_attention_heads": 2, "head_dim": 4, "rms_norm_eps": 1e-6, "dtype": "float32",
    "rope_parameters": {"rope_type": "linear", "factor": 2.0, "rope_theta": 10000.0}}))

# tokenizer: tokenizer_config.json then tokenizer.json (a tiny byte-level BPE with special tokens)
specials = ["<|im_start|>", "<|im_end|>", "<|begin_of_text|>", "<|eot_id|>", "<|start_header_id|>", "<|end_header_id|>"]
vocab = {tok: i for i, tok in enumerate(specials)}
for ch in "abcdehilmnorstuyĠĊ<|>_":
    vocab.setdefault(ch, len(vocab))
for merged in ["he", "hel", "hell", "hello", "Ġh"]:
    vocab[merged] = len(vocab)
tokenizer = {
    "version": "1.0", "truncation": None, "padding": None,
    "added_tokens": [{"id": i, "content": t, "single_word": False, "lstrip": False, "rstrip": False,
                      "normalized": False, "special": True} for i, t in enumerate(specials)],
    "normalizer": None,
    "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
    "post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 0}},
                       {"Sequence": {"id": "A", "type_id": 0}}], "pair": [{"Sequence": {"id": "A", "type_id": 0}},
                       {"Sequence": {"id": "B", "type_id": 1}}],
                       "special_tokens": {"<|begin_of_text|>": {"id": "<|begin_of_text|>", "ids": [2], "tokens": ["<|begin_of_text|>"]}}},
    "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
    "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
              "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
              "vocab": vocab, "merges": ["h e", "he l", "hel l", "hell o", "Ġ h"]},
}
chatml = {"bos_token": None, "eos_token": "<|im_end|>", "chat_template":
          "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}"
          "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"}
llama = {"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>"}
tok = json.dumps(tokenizer).encode()
put("tokenizer", "bpe_chatml", two(json.dumps(chatml).encode(), tok))
put("tokenizer", "bpe_llama31_builtin", two(json.dumps(llama).encode(), tok))
put("tokenizer", "no_config", two(b"", tok))

# adapter: adapter_config.json then adapter_model.safetensors, for the tiny model in targets.rs
# (hidden 8, 2 heads of 4, 1 key/value head: q_proj 8 -> 8, v_proj 8 -> 4).
r = 2
config = {"peft_type": "LORA", "r": r, "lora_alpha": 4, "lora_dropout": 0.0, "bias": "none",
          "target_modules": ["q_proj", "v_proj"], "base_model_name_or_path": "tiny"}
tensors = {}
for layer in range(2):
    for proj, out in [("q_proj", 8), ("v_proj", 4)]:
        prefix = f"base_model.model.model.layers.{layer}.self_attn.{proj}"
        tensors[f"{prefix}.lora_A.weight"] = ("F32", [r, 8], f32([0.01 * i for i in range(r * 8)]))
        tensors[f"{prefix}.lora_B.weight"] = ("F32", [out, r], f32([0.02 * i for i in range(out * r)]))
put("adapter", "q_v_two_layers", two(json.dumps(config).encode(), safetensors(tensors, {"format": "pt"})))
config_layers = dict(config, layers_to_transform=[1], use_rslora=True, target_modules="all-linear")
put("adapter", "layers_rslora", two(json.dumps(config_layers).encode(),
    safetensors({k: v for k, v in tensors.items() if ".layers.1." in k})))

# data rows: a selector byte (kind = (byte & 0x3f) % 9: aegis2, aegis1, canttalkaboutthis, openai-moderation,
# xstest, simplesafetytests, toxicchat, guardreasoner, jsonl; bit 7 = fail on bad rows) then the file.
put("rows_json", "aegis2", b"\x00" + read("data/fixtures/aegis2/train.json"))
put("rows_json", "aegis1", b"\x01" + read("data/fixtures/aegis1/train.json"))
put("rows_json", "aegis2_bad", b"\x80" + read("data/fixtures/aegis2-bad/train.json"))
put("rows_json", "toxicchat", b"\x06" + json.dumps([{"text": "hi", "label": "safe", "source": "x", "category": None},
                                                    {"text": "bad", "label": "harmful", "source": "y", "category": "S1"}]).encode())
put("rows_json", "guardreasoner", b"\x07" + json.dumps([{"instruction": "judge", "input": "Human user:\nhi\n\nAI assistant:\nhello\n\n",
                                                         "output": "Answers: \nRequest: harmful\nCompletion: x\nResponse: unharmful"},
                                                        {"instruction": "judge", "input": "Human user:\nhow?\n\nAI assistant:\nNone\n\n", "output": "harmful"}]).encode())
put("rows_jsonl", "aegis2", b"\x00" + read("data/fixtures/aegis2/train.jsonl"))
put("rows_jsonl", "user", b"\x08" + read("data/fixtures/user/rows.jsonl"))
put("rows_jsonl", "canttalkaboutthis", b"\x02" + read("data/fixtures/canttalkaboutthis/synthetic_dialogues.jsonl"))
moderation = gzip.decompress(read("data/fixtures/openai-moderation/samples-1680.jsonl.gz")).split(b"\n")[:6]
put("rows_jsonl", "openai_moderation", b"\x03" + b"\n".join(moderation) + b"\n")
xstest = read("data/fixtures/xstest/xstest_prompts.csv").split(b"\n")
put("rows_csv", "xstest", b"\x04" + b"\n".join(xstest[:40]) + b"\n")
put("rows_csv", "simplesafetytests", b"\x05" + b"\n".join(read("data/fixtures/simplesafetytests/test_cases.csv").split(b"\n")[:20]) + b"\n")
put("rows_csv", "xstest_stray_quote", b"\x04" + b"\n".join(xstest[:3] + [b'3,"What\'s up,homonyms,safe,x,y'] + xstest[4:12]) + b"\n")
put("rows_csv", "user_multiline", b"\x08" + b'prompt,response,prompt_label\n"two\nlines","a ""quoted"" word",safe\nplain,,unsafe\n')
put("rows_parquet", "aegis2", b"\x00" + read("data/fixtures/aegis2/train.parquet"))
put("rows_parquet", "aegis2_fail", b"\x80" + read("data/fixtures/aegis2/train.parquet"))
put("rows_gzip", "openai_moderation", b"\x03" + gzip.compress(b"\n".join(moderation) + b"\n", mtime=0))
put("rows_gzip", "user_jsonl", b"\x08" + gzip.compress(read("data/fixtures/user/rows.jsonl"), mtime=0))
put("rows_gzip", "xstest_csv", b"\x44" + gzip.compress(b"\n".join(xstest[:20]) + b"\n", mtime=0))

# verdicts
for i, answer in enumerate([
    '{"User Safety": "unsafe", "Response Safety": "safe", "Safety Categories": "Violence, Criminal Planning/Confessions"}',
    '{"User Safety": "safe"}',
    'Sure: {"User Safety": "Unsafe", "Safety Categories": ["Hate/Identity Hate", "PII/Privacy"]} done',
    "off-topic", "on-topic", '{"User Safety": 3}', '{"User Safety": "safe", "Safety Categories": {"a": 1}}',
    "{{{", '{"Response Safety": "unsafe"}',
]):
    put("verdict", f"answer{i}", answer)

# run configs (read as configs/run.toml of the repo): TOML, then after a NUL byte the --set
# overrides, one per line
put("run_config", "quickstart", read("configs/quickstart.toml") + b"\0training.lr=1e-3\nlora.r=8\ndata.seed=2")
put("run_config", "smollm2", read("configs/smollm2-135m.toml").replace(b"../models/smollm2-135m-instruct", b"../fixtures/models/tiny-smollm2"))
put("run_config", "blend_overrides", read("configs/quickstart.toml") + b"\0model.path=../fixtures/models/tiny-smollm2\ntraining.max_steps=0\ndata.max_seq_len=64")
