//! Big packages through the Cloud Foundry job (`BERTH_PATH`): a package over the foundation's
//! limit is refused early with 413 and berth says so plainly (its size, the usual limit, what to
//! do), once, on v2 and v3; a package under it arrives byte for byte (v2).

mod support;

use std::io::Read;
use support::*;

/// `files` of random (incompressible) bytes under a fresh directory.
fn app_dir(files: &[(&str, usize)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let mut random = fastrand::Rng::with_seed(12);
    for (name, size) in files {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let data: Vec<u8> = std::iter::repeat_with(|| random.u8(..))
            .take(*size)
            .collect();
        std::fs::write(path, data).unwrap();
    }
    dir
}

/// A 4.2 MB package against a foundation that takes 256 KiB, through Cloud Controller `api`.
fn refused_plainly_and_sent_once(api: &str, upload_path: &str) {
    let sim = cf_sim(|o| o.cf_max_package_bytes = 256 * 1024);
    let app = app_dir(&[
        ("server.js", 100),
        ("assets/a.bin", 2 << 20),
        ("assets/b.bin", 2 << 20),
    ]);
    let mut env = cf_env(&sim, "too-big");
    set(&mut env, "BERTH_CF_API", api);
    set(&mut env, "BERTH_PATH", app.path().to_str().unwrap());
    set(&mut env, "BERTH_STATE", "STARTED");
    let run = run(&env);
    assert_eq!(run.code, 1, "the platform refused: {}", run.stderr);
    let error = run.json["error"].as_str().unwrap_or_default();
    let plain = "the foundation refused it as too large (HTTP 413): Cloud Controller accepts at \
                 most 1 GiB by default, its operators may have set less; leave files out with \
                 BERTH_EXCLUDE or a .cfignore";
    for said in [error, run.stderr.as_str()] {
        assert!(said.contains("the package is 4.2 MB; "), "{said}");
        assert!(said.contains(plain), "{said}");
        assert!(!said.contains("could not reach"), "{said}");
        assert!(
            !said.contains("<html>"),
            "nginx's page is not repeated: {said}"
        );
    }
    let uploads: Vec<_> = sim
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with(upload_path))
        .collect();
    assert_eq!(uploads.len(), 1, "sent once, no retry");
    assert_eq!(uploads[0].body, "", "refused by its Content-Length, unread");
    let apps = sim.cf_apps();
    assert!(apps[0]["_bits"].is_null(), "no bits: {apps:?}");
    assert_eq!(run.out("app_guid"), apps[0]["metadata"]["guid"]);
}

#[test]
fn a_package_over_the_foundation_s_limit_is_refused_plainly_and_not_sent_again() {
    refused_plainly_and_sent_once("v2", "/bits");
}

#[test]
fn a_v3_package_over_the_limit_is_refused_plainly_too() {
    refused_plainly_and_sent_once("v3", "/upload");
}

#[test]
fn a_package_under_the_limit_arrives_byte_for_byte() {
    let sim = cf_sim(|o| o.cf_max_package_bytes = 8 << 20);
    let files = [
        ("server.js", 300),
        ("public/video.bin", 3 << 20),
        ("lib/data/table.bin", 700 << 10),
    ];
    let app = app_dir(&files);
    let mut env = cf_env(&sim, "fits");
    set(&mut env, "BERTH_PATH", app.path().to_str().unwrap());
    set(&mut env, "BERTH_STATE", "STARTED");
    let run = run(&env);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let guid = run.out("app_guid");
    let stored = sim.cf_package_zip(guid).expect("the stored zip");
    let bits = &sim.cf_apps()[0]["_bits"];
    assert_eq!(bits["bytes"], stored.len());
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(stored)).unwrap();
    for (name, _) in files {
        let mut sent = Vec::new();
        zip.by_name(name)
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .read_to_end(&mut sent)
            .unwrap();
        assert!(
            sent == std::fs::read(app.path().join(name)).unwrap(),
            "{name} arrived intact"
        );
    }
    let mut names: Vec<&str> = bits["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    names.sort_unstable();
    assert_eq!(
        names,
        ["lib/data/table.bin", "public/video.bin", "server.js"]
    );
}
