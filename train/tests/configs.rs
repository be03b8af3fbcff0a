//! Every shipped config in configs/ is a valid run config (no unknown keys, right types).

use guardtune::config::RunConfig;
use guardtune_model::testing::repo_root;

#[test]
fn shipped_configs_parse() {
    let dir = repo_root().join("configs");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let text = std::fs::read_to_string(&path).unwrap();
            let config: RunConfig =
                toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            config.lora.validate().unwrap();
            config.data.validate().unwrap();
            checked += 1;
        }
    }
    assert!(checked >= 4, "expected the quickstart, smollm2 and two Llama 3.1 configs");
}
