//! `fuzz-afl TARGET`: one target under AFL++ (persistent mode). See scripts/fuzz.sh.

fn main() {
    let name = std::env::args().nth(1).unwrap_or_default();
    let Some(check) = guardtune_fuzz::targets::by_name(&name) else {
        let names: Vec<&str> = guardtune_fuzz::targets::targets().iter().map(|(n, _)| *n).collect();
        eprintln!("usage: fuzz-afl TARGET, one of: {}", names.join(", "));
        std::process::exit(2);
    };
    guardtune_fuzz::targets::hermetic();
    afl::fuzz!(|data: &[u8]| {
        check(data);
    });
}
