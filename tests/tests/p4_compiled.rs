//! The checked-in BMv2 JSON and P4Info are what p4c makes of `p4/prescient.p4` today: a test
//! that fails when someone edits the program and forgets `scripts/p4-compile`.

use std::path::Path;
use std::process::Command;

use prescient_tests::{bmv2, TempDir};

#[test]
fn the_checked_in_pipeline_is_what_p4c_produces() {
    let Some(toolchain) = bmv2::toolchain("the_checked_in_pipeline_is_what_p4c_produces") else {
        return;
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = TempDir::new("prescient-p4c").unwrap();
    let run = Command::new(root.join("scripts/p4-compile"))
        .arg(out.path())
        .env("P4C", &toolchain.p4c)
        .output()
        .expect("scripts/p4-compile runs");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "p4c failed: {stderr}");
    // The one warning p4/README.md explains, and nothing else.
    let warnings: Vec<_> = stderr.lines().filter(|l| l.contains("warning")).collect();
    assert_eq!(warnings.len(), 1, "{stderr}");
    assert!(
        warnings[0].contains("default_action") && warnings[0].contains("service_select"),
        "{stderr}"
    );
    for file in ["prescient.json", "prescient.p4info.txt"] {
        let fresh = std::fs::read(out.path().join(file)).unwrap();
        let checked_in = std::fs::read(root.join("p4").join(file)).unwrap();
        assert!(
            fresh == checked_in,
            "p4/{file} differs from what p4c produces from p4/prescient.p4: run scripts/p4-compile \
             and commit the result"
        );
    }
}
