//! The 23 template names and the normalisation of other spellings.

use guardtune_data::taxonomy::{category_number, normalize_category, CATEGORIES};
use guardtune_data::taxonomy_block;

#[test]
fn twenty_three_names_in_prompt_order() {
    assert_eq!(CATEGORIES.len(), 23);
    assert_eq!(CATEGORIES[0], "Violence");
    assert_eq!(CATEGORIES[12], "Needs Caution");
    assert_eq!(CATEGORIES[13], "Other");
    assert_eq!(CATEGORIES[22], "Immoral/Unethical");
    let block = taxonomy_block();
    assert!(block.starts_with("S1: Violence.\nS2: Sexual.\n"));
    assert!(block.ends_with("S22: Illegal Activity.\nS23: Immoral/Unethical."));
    assert_eq!(block.lines().count(), 23);
}

#[test]
fn card_spellings_map_to_template_names() {
    let cases = [
        ("Guns/Illegal Weapons", "Guns and Illegal Weapons"),
        ("Sexual Minor", "Sexual (minor)"),
        ("Controlled/Regulated substances", "Controlled/Regulated Substances"),
        ("High Risk Gov. Decision Making", "High Risk Gov Decision Making"),
        ("  hate/identity   HATE ", "Hate/Identity Hate"),
        ("violence.", "Violence"),
        ("guns and illegal weapons", "Guns and Illegal Weapons"),
        ("S7", "Sexual (minor)"),
        ("s23", "Immoral/Unethical"),
        ("needs caution", "Needs Caution"),
    ];
    for (spelling, canonical) in cases {
        assert_eq!(normalize_category(spelling), Some(canonical), "{spelling}");
    }
}

#[test]
fn unknown_names_are_not_normalised() {
    for name in ["Space Piracy", "S0", "S24", "", "Guns"] {
        assert_eq!(normalize_category(name), None, "{name}");
    }
}

#[test]
fn every_name_normalises_to_itself_and_has_its_number() {
    for (i, name) in CATEGORIES.iter().enumerate() {
        assert_eq!(normalize_category(name), Some(*name));
        assert_eq!(category_number(name), Some(i + 1));
    }
    assert_eq!(category_number("Space Piracy"), None);
}
