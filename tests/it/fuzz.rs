//! Property tests (issue 7): the profile parser, the MCP argument decoding, the message
//! sanitizer and every provider's status/extraction never panic, whatever the input.

use proptest::prelude::*;

use cao::engine::{check_message, inbox_text};
use cao::mcp::{AssignParams, HandoffParams, OutputParams, SendMessageParams, TerminalParams};
use cao::profiles::{ProfileSource, parse};
use cao::providers;

/// Screen-like text: lines mixing the glyphs, prompts and markers the providers look for.
fn screen() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("● ".to_string()),
        Just("⏺ ".to_string()),
        Just("✦ ".to_string()),
        Just("• ".to_string()),
        Just("> ".to_string()),
        Just("❯ ".to_string()),
        Just("› ".to_string()),
        Just("fake> ".to_string()),
        Just("esc to interrupt".to_string()),
        Just("esc to cancel".to_string()),
        Just("✓ done in 0.05s".to_string()),
        Just("─────".to_string()),
        Just("│".to_string()),
        Just("╭──╮".to_string()),
        Just("▣  Build".to_string()),
        Just("? Proceed? (y/n)".to_string()),
        Just("\n".to_string()),
        Just("  ".to_string()),
        "\\PC{0,12}",
    ];
    proptest::collection::vec(piece, 0..60).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn providers_never_panic_on_any_screen(text in screen()) {
        for id in providers::ProviderId::ALL {
            let p = providers::of(id);
            let _ = p.status(&text);
            let _ = p.last_response(&text);
            let _ = p.startup_keys(&text);
        }
    }

    #[test]
    fn providers_never_panic_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..2000)) {
        let text = String::from_utf8_lossy(&bytes);
        for id in providers::ProviderId::ALL {
            let p = providers::of(id);
            let _ = p.status(&text);
            let _ = p.last_response(&text);
        }
    }

    #[test]
    fn profile_parser_never_panics(front in "\\PC{0,300}", body in "\\PC{0,100}") {
        let text = format!("---\n{front}\n---\n{body}");
        let _ = parse(&text, "fuzz.md", ProfileSource::BuiltIn);
        let _ = parse(&front, "fuzz.md", ProfileSource::BuiltIn);
    }

    #[test]
    fn profile_parser_survives_yaml_shapes(
        keys in proptest::collection::vec(("[a-zA-Z]{1,8}", prop_oneof![
            Just("[".to_string()), Just("{".to_string()), Just("&a x".to_string()),
            Just("*a".to_string()), Just("!!binary x".to_string()), Just("- a\n- b".to_string()),
            "\\PC{0,20}",
        ]), 0..20)
    ) {
        let mut text = String::from("---\nname: fuzz\ndescription: d\n");
        for (k, v) in keys {
            text.push_str(&format!("{k}: {v}\n"));
        }
        text.push_str("---\nbody\n");
        let _ = parse(&text, "fuzz.md", ProfileSource::BuiltIn);
    }

    #[test]
    fn mcp_arguments_decode_or_fail_cleanly(json in json_value()) {
        let _ = serde_json::from_value::<HandoffParams>(json.clone());
        let _ = serde_json::from_value::<AssignParams>(json.clone());
        let _ = serde_json::from_value::<SendMessageParams>(json.clone());
        let _ = serde_json::from_value::<OutputParams>(json.clone());
        let _ = serde_json::from_value::<TerminalParams>(json);
    }

    #[test]
    fn typed_text_never_carries_escapes_or_controls(text in "\\PC{0,200}|[\\x00-\\x1f\\x1b\\[\\]~0-9;a-z]{0,200}") {
        if check_message(&text).is_ok() {
            let typed = inbox_text(&text);
            prop_assert!(!typed.contains(char::from(0x1b)), "escape left in {typed:?}");
            prop_assert!(typed.chars().all(|c| c == '\n' || c == '\t' || !c.is_control()));
        }
    }
}

/// Arbitrary JSON objects with the tools' field names mixed in.
fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(serde_json::Value::from),
        "\\PC{0,20}".prop_map(serde_json::Value::from),
    ];
    let value = leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::from),
            proptest::collection::btree_map("\\PC{0,8}", inner, 0..6)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    });
    let key = prop_oneof![
        Just("agent_profile".to_string()),
        Just("message".to_string()),
        Just("timeout".to_string()),
        Just("working_directory".to_string()),
        Just("receiver_id".to_string()),
        Just("terminal_id".to_string()),
        Just("mode".to_string()),
        "\\PC{0,8}",
    ];
    proptest::collection::btree_map(key, value, 0..6)
        .prop_map(|m| serde_json::Value::Object(m.into_iter().collect()))
}
