//! `healthchain bench --quick`: every suite runs small, so the benchmark code cannot rot.
//! Asserts what was measured and written, never how fast.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

#[test]
fn every_suite_runs_in_quick_mode_and_writes_results_and_plots() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = tempfile::tempdir().expect("output directory");
    let output = Command::new(env!("CARGO_BIN_EXE_healthchain"))
        .args(["bench", "--quick", "--json", "--out"])
        .arg(out.path())
        .current_dir(&root)
        .output()
        .expect("healthchain bench runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "bench failed: {stderr}");
    let run: Value = serde_json::from_slice(&output.stdout).expect("--json prints one JSON document");
    assert_eq!(run["quick"], true);

    let suites: Vec<&str> =
        run["suites"].as_array().expect("suites").iter().filter_map(|s| s["suite"].as_str()).collect();
    assert_eq!(suites, ["crypto", "update", "gas", "ledger", "db", "enclave", "ingest", "share", "load"]);
    for suite in run["suites"].as_array().expect("suites") {
        let name = &suite["suite"];
        let figures = suite["figures"].as_array().expect("figures");
        assert!(!figures.is_empty(), "{name} measured nothing");
        for figure in figures {
            let median = figure["ours"]["median"].as_f64();
            assert!(median.is_some_and(f64::is_finite), "{name}: {} has no median: {figure}", figure["measure"]);
            if figure["goal"].is_object()
                && (figure["goal"]["kind"] == "at_most" || figure["goal"]["kind"] == "at_least")
            {
                assert!(figure["met"].is_boolean(), "{name}: a goal on our figure is always judged: {figure}");
            }
        }
    }

    let load = run["suites"].as_array().and_then(|s| s.iter().find(|s| s["suite"] == "load")).expect("load suite");
    let success = load["figures"]
        .as_array()
        .and_then(|f| f.iter().find(|f| f["measure"] == "requests succeeded"))
        .expect("success rate");
    assert_eq!(success["ours"]["median"], 100.0, "every request of the load succeeds: {load}");

    let written: Value =
        serde_json::from_slice(&std::fs::read(out.path().join("results.json")).expect("results.json")).expect("JSON");
    assert_eq!(written["suites"].as_array().map(Vec::len), Some(9));
    let summary = std::fs::read_to_string(out.path().join("summary.md")).expect("summary.md");
    assert!(summary.contains("## load") && summary.contains("Goals met:"), "{summary}");
    for suite in run["suites"].as_array().expect("suites") {
        for plot in suite["plots"].as_array().expect("plots") {
            let name = plot["name"].as_str().expect("plot name");
            for extension in ["svg", "png"] {
                let file = out.path().join(format!("{name}.{extension}"));
                let size = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
                assert!(size > 1_000, "{} is missing or empty", file.display());
            }
            assert!(summary.contains(&format!("({name}.svg)")), "summary.md embeds {name}");
        }
    }
}
