//! The real responses recorded from the live mittwald API deserialize into the generated
//! types, although they lack fields today's spec calls required.

use berth::api::mittwald::types::{AppInstallation, AppVersion};
use std::{fs, path::Path};

fn fixture(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/mittwald")
        .join(name);
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn recorded_installations_deserialize_in_every_phase() {
    let cases = [
        (
            "01-appinstallation-nodejs-ready.api-shape.derived.json",
            "ready",
            true,
        ),
        (
            "03-appinstallation-php-pending.api-shape.derived.json",
            "pending",
            false,
        ),
        (
            "04-appinstallation-php-ready-after-pending.api-shape.derived.json",
            "ready",
            true,
        ),
        (
            "05-appinstallation-php-installing.api-shape.derived.json",
            "installing",
            false,
        ),
        (
            "06-appinstallation-php-ready-after-installing.api-shape.derived.json",
            "ready",
            true,
        ),
    ];
    for (file, phase, has_current) in cases {
        let installation: AppInstallation =
            serde_json::from_str(&fixture(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(
            installation.phase.as_ref().map(|p| p.0.as_str()),
            Some(phase),
            "{file}"
        );
        let version = installation.app_version.expect("appVersion");
        assert_eq!(version.current.is_some(), has_current, "{file}");
        assert!(
            installation.short_id.is_some_and(|s| s.starts_with("a-")),
            "{file}"
        );
        assert!(installation.installation_path.is_some(), "{file}");
    }
}

#[test]
fn the_recorded_node_version_deserializes_with_its_user_inputs() {
    let version: AppVersion =
        serde_json::from_str(&fixture("02-appversion-nodejs-1.0.0.json")).unwrap();
    assert_eq!(version.id, "97fb8684-3fe3-4720-86fb-fb0524ae88d1");
    assert_eq!(version.external_version, "1.0.0");
    assert_eq!(
        version.recommended, None,
        "the real body has no recommended flag"
    );
    let entrypoint = &version.user_inputs[0];
    assert_eq!(entrypoint.name, "entrypoint");
    assert_eq!(entrypoint.default_value.as_deref(), Some("yarn start"));
}

#[test]
fn a_phase_the_spec_does_not_know_still_deserializes() {
    let mut body: serde_json::Value = serde_json::from_str(&fixture(
        "05-appinstallation-php-installing.api-shape.derived.json",
    ))
    .unwrap();
    body["phase"] = "migrating-to-mars".into();
    body["brandNewField"] = serde_json::json!({"nested": true});
    let installation: AppInstallation = serde_json::from_value(body).unwrap();
    assert_eq!(installation.phase.unwrap().0, "migrating-to-mars");
}
