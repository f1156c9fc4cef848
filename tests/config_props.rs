//! Configuration parsing never panics, whatever the environment holds: every input, any text.

use berth::config::{Config, INPUTS};
use proptest::prelude::*;

/// Any text, weighted toward what breaks parsers: empty, white space, separators, units,
/// JSON punctuation, non-ASCII and control characters.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[ \\t\\n=;:{}\"\\[\\],.0-9a-zA-Z_-]{0,40}",
        "-?[0-9]{1,25}(M|G|T|MB|GB|s|m|h|ms)?",
        Just(String::new()),
        Just("{".to_string()),
        Just("p-".to_string()),
    ]
}

fn environment() -> impl Strategy<Value = Vec<(String, String)>> {
    let provider = prop_oneof![
        Just("mittwald"),
        Just("cloudfoundry"),
        Just("CF"),
        Just("other")
    ];
    (
        provider,
        prop::collection::vec((0..INPUTS.len(), value()), 0..24),
    )
        .prop_map(|(provider, picks)| {
            let mut env = vec![("BERTH_PROVIDER".to_string(), provider.to_string())];
            env.extend(
                picks
                    .into_iter()
                    .map(|(i, v)| (INPUTS[i].var.to_string(), v)),
            );
            env.push(("CF_STAGING_TIMEOUT".into(), "7".into()));
            env
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn parsing_any_environment_never_panics(env in environment()) {
        match Config::from_vars(env) {
            Ok(_) => {}
            Err(errors) => {
                // Every problem names a variable.
                prop_assert!(!errors.0.is_empty());
                for e in &errors.0 {
                    prop_assert!(e.var().starts_with("BERTH_") || e.var().starts_with("CF_"), "{e}");
                }
            }
        }
    }
}
