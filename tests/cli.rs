//! The `bts` command line as a user meets it: every help text (snapshots in
//! `tests/snapshots/help/`, refreshed with `BTS_BLESS=1 cargo test --test cli`), every
//! usage error (exit 2, one line), failures (exit 1, one line with the cause chain) and the
//! main paths of the fast subcommands.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const SUBCOMMANDS: [&str; 12] = [
    "inspect",
    "synth",
    "prepare",
    "train",
    "export",
    "segment",
    "evaluate",
    "kb",
    "diagnose",
    "quickstart",
    "forward",
    "completions",
];
const KB_SUBCOMMANDS: [&str; 6] = ["init", "import", "export", "find", "suspect", "hospitals"];

fn bts(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bts"))
        .args(args)
        .env_remove("RUST_BACKTRACE")
        .env_remove("RUST_LIB_BACKTRACE")
        .env_remove("BTS_MODEL")
        .env("BTS_KB_DIR", kb_dir())
        .output()
        .expect("bts runs")
}

/// One knowledge base for the whole test binary (created on first use by `bts`).
fn kb_dir() -> PathBuf {
    std::env::temp_dir().join(format!("bts-cli-test-kb-{}", std::process::id()))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Exit code 2 and exactly one line on stderr, naming where help is.
fn assert_usage_error(args: &[&str], expect: &str) {
    let out = bts(args);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: stderr {err}");
    assert_eq!(err.lines().count(), 1, "{args:?}: not one line: {err}");
    assert!(err.starts_with("error: "), "{args:?}: {err}");
    assert!(err.contains(expect), "{args:?}: {err:?} lacks {expect:?}");
    assert!(
        out.stdout.is_empty(),
        "{args:?}: stdout {:?}",
        text(&out.stdout)
    );
}

/// Exit code 1 and exactly one line on stderr.
fn assert_failure(args: &[&str], expect: &str) {
    let out = bts(args);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{args:?}: stderr {err}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "{args:?}: not one line: {err}");
    assert!(lines[0].starts_with("error: "), "{args:?}: {err}");
    assert!(err.contains(expect), "{args:?}: {err:?} lacks {expect:?}");
}

fn ok(args: &[&str]) -> (String, String) {
    let out = bts(args);
    let (o, e) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{args:?} failed: {e}");
    (o, e)
}

fn snapshot(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/snapshots/help")
        .join(format!("{name}.txt"));
    if std::env::var_os("BTS_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().expect("parent")).expect("snapshot dir");
        std::fs::write(&path, actual).expect("write snapshot");
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run with BTS_BLESS=1 to create)", path.display()));
    if expected != actual {
        let first = expected
            .lines()
            .zip(actual.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(expected.lines().count().min(actual.lines().count()));
        panic!(
            "{name}: help text differs from {} at line {} (BTS_BLESS=1 refreshes):\n{actual}",
            path.display(),
            first + 1
        );
    }
}

/// The options of one help text that take a value, with their description lines.
fn value_options(help: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in help.lines() {
        let t = line.trim_start();
        let indent = line.len() - t.len();
        if (t.starts_with("--") || (t.starts_with('-') && t.get(2..4) == Some(", "))) && indent <= 6
        {
            let spec = t.split("  ").next().unwrap_or(t).to_string();
            out.push((spec, t.to_string()));
        } else if let Some(last) = out.last_mut() {
            if indent > 6 {
                last.1.push(' ');
                last.1.push_str(t);
            }
        }
    }
    out.into_iter()
        .filter(|(spec, _)| spec.contains('<'))
        .collect()
}

#[test]
fn top_level_help_lists_every_subcommand_on_one_line() {
    let (help, _) = ok(&["--help"]);
    snapshot("bts", &help);
    for sub in SUBCOMMANDS {
        let line = help
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{sub} ")))
            .unwrap_or_else(|| panic!("{sub} missing from --help:\n{help}"));
        assert!(
            line.split_whitespace().count() > 2,
            "{sub} has no description"
        );
    }
    let (version, _) = ok(&["--version"]);
    assert_eq!(version.trim(), format!("bts {}", env!("CARGO_PKG_VERSION")));
    // No subcommand: help on stderr, usage exit code.
    let out = bts(&[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("Usage: bts"));
}

#[test]
fn every_subcommand_documents_every_option_with_its_default() {
    let mut helps: Vec<(String, Vec<&str>)> = SUBCOMMANDS
        .iter()
        .map(|s| (s.to_string(), vec![*s, "--help"]))
        .collect();
    helps.extend(
        KB_SUBCOMMANDS
            .iter()
            .map(|s| (format!("kb-{s}"), vec!["kb", s, "--help"])),
    );
    for (name, args) in helps {
        let (help, _) = ok(&args);
        snapshot(&name, &help);
        let usage = help
            .lines()
            .find(|l| l.starts_with("Usage:"))
            .unwrap_or_else(|| panic!("{name}: no usage line"));
        for (spec, description) in value_options(&help) {
            let long = spec
                .split_whitespace()
                .find(|w| w.starts_with("--"))
                .unwrap_or(&spec)
                .trim_end_matches(',');
            // Required options are in the usage line without brackets; every other option
            // that takes a value says what happens without it.
            let required =
                usage.contains(&format!("{long} <")) && !usage.contains(&format!("[{long}"));
            assert!(
                required
                    || description.contains("[default")
                    || description.contains("(required unless"),
                "{name}: {spec} neither required nor documented with a default: {description}"
            );
        }
    }
    // `quickstart --help` prints help and starts nothing.
    let (help, _) = ok(&["quickstart", "--help"]);
    assert!(help.contains("--out <OUT>") && help.contains("[default: quickstart-out]"));
}

#[test]
fn a_wrong_option_is_a_usage_error_on_one_line() {
    for sub in SUBCOMMANDS {
        assert_usage_error(
            &[sub, "--no-such-option"],
            &format!("see 'bts {sub} --help'"),
        );
    }
    assert_usage_error(&["no-such-command"], "unrecognized subcommand");
    assert_usage_error(
        &["kb", "hospitals", "x", "--nope"],
        "see 'bts kb hospitals --help'",
    );
    assert_usage_error(
        &["segment", "--outt", "x", "--case", "y"],
        "a similar argument exists: '--out'",
    );
}

#[test]
fn every_usage_rule_is_enforced_with_exit_code_2() {
    let cases: &[(&[&str], &str)] = &[
        (&["inspect"], "required arguments were not provided: <PATH>"),
        (&["synth"], "--out <OUT>"),
        (
            &["synth", "--out", "x", "--cases", "many"],
            "invalid value 'many' for '--cases <CASES>'",
        ),
        (
            &["synth", "--out", "x", "--shape", "1,2"],
            "expected three positive numbers I,J,K",
        ),
        (
            &["synth", "--out", "x", "--shape", "64,64,64"],
            "--shape and --orientation apply to --generator geometric only",
        ),
        (
            &[
                "synth",
                "--out",
                "x",
                "--generator",
                "geometric",
                "--subtype",
                "low-grade",
            ],
            "--subtype applies to --generator anatomy only",
        ),
        (
            &["synth", "--out", "x", "--subtype", "glioblastoma"],
            "possible values: high-grade, low-grade, metastasis",
        ),
        (
            &["synth", "--out", "x", "--labels", "brats2020"],
            "possible values: brats2021, brats2023",
        ),
        (
            &["train", "--out", "x"],
            "<--data <DIR>|--cache <DIR>|--phantoms <N>|--synthetic>",
        ),
        (
            &["train", "--out", "x", "--phantoms", "3", "--synthetic"],
            "cannot be used with",
        ),
        (
            &[
                "train",
                "--out",
                "x",
                "--synthetic",
                "--preset",
                "seed",
                "--config",
                "c.json",
            ],
            "cannot be used with",
        ),
        (
            &["train", "--out", "x", "--synthetic", "--lr", "fast"],
            "invalid value 'fast' for '--lr <LR>'",
        ),
        (&["export", "--from", "x"], "--to <MODEL_DIR>"),
        (&["prepare", "--data", "d"], "--cache <DIR>"),
        (
            &[
                "prepare",
                "--data",
                "d",
                "--cache",
                "c",
                "--memory-gb",
                "lots",
            ],
            "invalid value 'lots' for '--memory-gb <GB>'",
        ),
        (
            &["train", "--out", "x", "--cache", "c", "--data", "d"],
            "cannot be used with",
        ),
        (&["segment", "--case", "x"], "--out <SEG.nii.gz>"),
        (&["segment", "--out", "y"], "--case <CASE_DIR>"),
        (
            &["segment", "--case", "x", "--data", "d", "--out", "y"],
            "cannot be used with",
        ),
        (
            &["segment", "--case", "x", "--out", "y", "--overlap", "half"],
            "invalid value 'half' for '--overlap <OVERLAP>'",
        ),
        (&["evaluate", "--pred", "p"], "--truth <T>"),
        (
            &["evaluate", "--synthetic", "2", "--pred", "p"],
            "cannot be used with",
        ),
        (
            &["evaluate", "--model", "m", "--pred", "p", "--truth", "t"],
            "--model, --seed, --subtype, --tta, --no-tta, --calibrate, --random-contrast-share, --decision, --min-component, --min-depth and --et-to-core apply to --synthetic N only",
        ),
        (
            &["evaluate", "--seed", "3", "--pred", "p", "--truth", "t"],
            "--model, --seed, --subtype, --tta, --no-tta, --calibrate, --random-contrast-share, --decision, --min-component, --min-depth and --et-to-core apply to --synthetic N only",
        ),
        (
            &["evaluate", "--et-to-core", "9", "--pred", "p", "--truth", "t"],
            "--model, --seed, --subtype, --tta, --no-tta, --calibrate, --random-contrast-share, --decision, --min-component, --min-depth and --et-to-core apply to --synthetic N only",
        ),
        (
            &["evaluate", "--subtype", "metastasis", "--pred", "p", "--truth", "t"],
            "--subtype, --tta, --no-tta, --calibrate",
        ),
        (
            &["evaluate", "--tta", "--pred", "p", "--truth", "t"],
            "--subtype, --tta, --no-tta, --calibrate",
        ),
        (
            &["evaluate", "--no-tta", "--pred", "p", "--truth", "t"],
            "--subtype, --tta, --no-tta, --calibrate",
        ),
        (
            &["segment", "--case", "x", "--out", "y", "--tta", "--no-tta"],
            "cannot be used with",
        ),
        (
            &[
                "diagnose", "--intake", "i", "--out", "o", "--location", "pons", "--tta",
            ],
            "--tta and --no-tta apply when a model segments (--case without --mask)",
        ),
        (
            &[
                "diagnose", "--intake", "i", "--out", "o", "--case", "c", "--mask", "m",
                "--no-tta",
            ],
            "--tta and --no-tta apply when a model segments (--case without --mask)",
        ),
        (
            &[
                "evaluate",
                "--random-contrast-share",
                "1",
                "--pred",
                "p",
                "--truth",
                "t",
            ],
            "--calibrate, --random-contrast-share, --decision",
        ),
        (
            &["evaluate", "--synthetic", "1", "--subtype", "glioblastoma"],
            "possible values: high-grade, low-grade, metastasis",
        ),
        (
            &["segment", "--case", "x", "--out", "y", "--min-depth", "deep"],
            "expected millimetres ≥ 0 (0 = off), got 'deep'",
        ),
        (
            &["export", "--from", "a", "--to", "b", "--min-depth", "inf"],
            "expected millimetres ≥ 0 (0 = off), got 'inf'",
        ),
        (
            &["evaluate", "--decision", "regions", "--pred", "p", "--truth", "t"],
            "--decision, --min-component",
        ),
        (
            &["segment", "--case", "x", "--out", "y", "--decision", "vote"],
            "possible values: argmax, regions",
        ),
        (
            &["evaluate", "--min-depth", "5", "--pred", "p", "--truth", "t"],
            "--min-depth and --et-to-core apply to --synthetic N only",
        ),
        (
            &["evaluate", "--calibrate", "--pred", "p", "--truth", "t"],
            "--calibrate, --random-contrast-share, --decision, --min-component",
        ),
        (
            &["export", "--from", "a", "--to", "b", "--et-to-core", "many"],
            "invalid value 'many' for '--et-to-core <VOXELS>'",
        ),
        (
            &["export", "--from", "a", "--to", "b", "--orientation", "LPQ"],
            "invalid orientation: unknown letter: need three letters, one of R/L, A/P and S/I each",
        ),
        (
            &[
                "evaluate",
                "--pred",
                "p",
                "--truth",
                "t",
                "--lesion-wise",
                "--binary",
            ],
            "cannot be used with",
        ),
        (
            &["evaluate", "--pred", "p", "--truth", "t", "--empty", "zero"],
            "possible values: brats2023, nan",
        ),
        (&["kb"], "Usage: bts kb"),
        (&["kb", "find"], "<TEXT>"),
        (
            &[
                "kb",
                "hospitals",
                "frontal_lobe",
                "--capability",
                "teleport",
            ],
            "invalid value 'teleport' for '--capability <NAME>'",
        ),
        (
            &["kb", "hospitals", "frontal_lobe", "--near", "100,2"],
            "latitude within ±90",
        ),
        (
            &["kb", "hospitals", "frontal_lobe", "--limit", "-1"],
            "unexpected argument '-1'",
        ),
        (
            &["kb", "hospitals", "frontal_lobe", "--limit", "many"],
            "invalid value 'many' for '--limit <LIMIT>'",
        ),
        (
            &["diagnose", "--intake", "i", "--out", "o"],
            "<--case <CASE_DIR>|--location <REGION@SIDE>>",
        ),
        (
            &[
                "diagnose",
                "--intake",
                "i",
                "--out",
                "o",
                "--case",
                "c",
                "--location",
                "l",
            ],
            "cannot be used with",
        ),
        (
            &[
                "diagnose",
                "--intake",
                "i",
                "--out",
                "o",
                "--location",
                "l",
                "--mask",
                "m",
            ],
            "cannot be used with",
        ),
        (
            &[
                "diagnose",
                "--intake",
                "i",
                "--out",
                "o",
                "--location",
                "l",
                "--model",
                "m",
            ],
            "cannot be used with",
        ),
        (
            &[
                "diagnose", "--intake", "i", "--out", "o", "--case", "c", "--model", "m", "--mask",
                "s",
            ],
            "cannot be used with",
        ),
        (
            &[
                "diagnose",
                "--intake",
                "i",
                "--out",
                "o",
                "--location",
                "l",
                "--atlas",
                "a",
            ],
            "--atlas-labels <LABELS.csv>",
        ),
        (
            &[
                "diagnose",
                "--intake",
                "i",
                "--out",
                "o",
                "--location",
                "l",
                "--hospitals",
                "x",
            ],
            "invalid value 'x' for '--hospitals <HOSPITALS>'",
        ),
        (&["forward", "--weights", "w"], "--input <X.npy>"),
        (
            &["forward", "--weights", "w", "--input", "x", "--repeat", "x"],
            "invalid value 'x' for '--repeat <N>'",
        ),
        (
            &["segment", "--case", "c", "--out", "o", "--device", "gpu"],
            "expected cpu, cuda, cuda:N or metal",
        ),
        (
            &[
                "train",
                "--phantoms",
                "2",
                "--out",
                "o",
                "--device",
                "cuda:x",
            ],
            "expected cpu, cuda, cuda:N or metal",
        ),
        (
            &["completions", "tcsh"],
            "possible values: bash, elvish, fish, powershell, zsh",
        ),
    ];
    for (args, expect) in cases {
        let out = bts(args);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(expect), "{args:?}: {err:?} lacks {expect:?}");
        // The bare `bts kb` prints its help (several lines); every other usage error is one line.
        if args != &["kb"] {
            assert_eq!(err.lines().count(), 1, "{args:?}: not one line: {err}");
        }
    }
}

#[test]
fn failures_exit_1_with_the_cause_chain_on_one_line() {
    let tmp = tempfile::tempdir().expect("tmp");
    let t = |name: &str| tmp.path().join(name).display().to_string();
    std::fs::write(t("bad.json"), "{ not json").expect("write");
    std::fs::write(t("bad_intake.json"), r#"{"symptoms": [{"code": 7}]}"#).expect("write");
    std::fs::write(t("not.nii.gz"), b"definitely not gzip").expect("write");
    std::fs::write(t("hospitals.csv"), "id,name\nx,y\n").expect("write");
    std::fs::create_dir(t("empty_case")).expect("mkdir");
    let intake = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/data/intake_ko.json");

    assert_failure(
        &["inspect", &t("missing.nii.gz")],
        "missing.nii.gz: No such file",
    );
    assert_failure(&["inspect", &t("not.nii.gz")], "not.nii.gz");
    assert_failure(&["inspect", &t("empty_case")], "empty_case");
    assert_failure(
        &[
            "train",
            "--phantoms",
            "2",
            "--out",
            &t("m"),
            "--config",
            &t("bad.json"),
        ],
        "bad.json: not a TrainConfig",
    );
    assert_failure(
        &[
            "train",
            "--phantoms",
            "2",
            "--out",
            &t("m"),
            "--patch",
            "50",
        ],
        "patch",
    );
    assert_failure(
        &["export", "--from", &t("nothing"), "--to", &t("model")],
        "nothing",
    );
    assert_failure(
        &[
            "evaluate",
            "--synthetic",
            "1",
            "--random-contrast-share",
            "1.5",
        ],
        "--random-contrast-share: invalid random_contrast_share: must be in [0, 1], got 1.5",
    );
    assert_failure(
        &[
            "segment",
            "--case",
            &t("empty_case"),
            "--out",
            &t("s.nii.gz"),
            "--model",
            &t("nomodel"),
        ],
        "nomodel",
    );
    assert_failure(
        &[
            "segment",
            "--case",
            &t("empty_case"),
            "--out",
            &t("s.nii.gz"),
            "--probabilities",
            &t("s.nii.gz"),
        ],
        "--probabilities",
    );
    assert_failure(
        &[
            "evaluate",
            "--pred",
            &t("missing.nii.gz"),
            "--truth",
            &t("missing.nii.gz"),
        ],
        "missing.nii.gz",
    );
    assert_failure(&["kb", "suspect", &t("bad_intake.json")], "bad_intake.json");
    assert_failure(&["kb", "suspect", &t("nothing.json")], "reading");
    assert_failure(&["kb", "import", &t("hospitals.csv")], "hospitals.csv");
    assert_failure(&["kb", "hospitals", "nowhere_lobe"], "nowhere_lobe");
    assert_failure(&["kb", "hospitals", "frontal_lobe@up"], "side \"up\"");
    assert_failure(
        &[
            "diagnose",
            "--intake",
            &t("bad.json"),
            "--out",
            &t("r"),
            "--location",
            "frontal_lobe@left",
        ],
        "bad.json",
    );
    assert_failure(
        &[
            "diagnose",
            "--intake",
            intake,
            "--out",
            &t("r"),
            "--location",
            "frontal_lobe@up",
        ],
        "up",
    );
    assert_failure(
        &[
            "diagnose",
            "--intake",
            intake,
            "--out",
            &t("r"),
            "--case",
            &t("empty_case"),
            "--mask",
            &t("not.nii.gz"),
        ],
        "empty_case",
    );
    // A GPU this build does not have: a named failure, not a panic.
    assert_failure(
        &[
            "forward",
            "--weights",
            &t("w.safetensors"),
            "--input",
            &t("x.npy"),
            "--device",
            "cuda:0",
        ],
        "device",
    );
    assert_failure(
        &[
            "forward",
            "--weights",
            &t("w.safetensors"),
            "--input",
            &t("x.npy"),
        ],
        "x.npy",
    );
    // Nothing half-written is left behind by a failed diagnose.
    assert!(!tmp.path().join("r/report.json").exists());
    // A backtrace only when asked.
    let out = Command::new(env!("CARGO_BIN_EXE_bts"))
        .args(["inspect", &t("missing.nii.gz")])
        .env("RUST_BACKTRACE", "1")
        .output()
        .expect("bts runs");
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).lines().count() > 1);
}

#[test]
fn synth_inspect_evaluate_and_kb_work_end_to_end() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("cases");
    let dir_s = dir.display().to_string();
    // --key=value and --key value, --quiet: nothing on stderr.
    let (stdout, stderr) = ok(&[
        "--quiet",
        "synth",
        "--generator=geometric",
        "--shape",
        "64,64,48",
        "--out",
        &dir_s,
        "--cases=2",
        "--seed",
        "5",
    ]);
    assert!(stderr.is_empty(), "--quiet: {stderr}");
    assert_eq!(stdout.lines().count(), 2, "{stdout}");
    let case = dir.join("Phantom_00005");
    let seg = case.join("Phantom_00005_seg.nii.gz").display().to_string();
    let (json, _) = ok(&["inspect", &seg, "--json"]);
    let v: serde_json::Value = serde_json::from_str(&json).expect("inspect --json");
    assert_eq!(v["shape"], serde_json::json!([64, 64, 48]));
    let (table, _) = ok(&["inspect", &case.display().to_string()]);
    assert!(table.contains("consistent: true"), "{table}");
    assert!(
        table.contains("T1's rank correlation with FLAIR") && !table.contains("warning:"),
        "{table}"
    );
    // The phantom's four images are co-registered.
    assert!(
        table.contains("each image against the others, mm along (i, j, k): FLAIR (+0, +0, +0), T1 (+0, +0, +0), T1ce (+0, +0, +0), T2 (+0, +0, +0)"),
        "{table}"
    );
    // A 27 cm³ brain is too small to match its octants one by one (its turn is measured on
    // full-size cases in brats-io's tests), and inspect says so rather than print nothing.
    assert!(
        table.contains(
            "turn or warp of each image: not measurable (too little brain to match its octants)"
        ),
        "{table}"
    );
    // The same case with its FLAIR and T2 files swapped: consistent, but inspect warns.
    let swapped = tmp.path().join("Swapped_00005");
    std::fs::create_dir_all(&swapped).expect("mkdir");
    for (from, to) in [
        ("flair", "t2"),
        ("t1", "t1"),
        ("t1ce", "t1ce"),
        ("t2", "flair"),
    ] {
        std::fs::copy(
            case.join(format!("Phantom_00005_{from}.nii.gz")),
            swapped.join(format!("Swapped_00005_{to}.nii.gz")),
        )
        .expect("copy");
    }
    let (table, _) = ok(&["inspect", &swapped.display().to_string()]);
    assert!(
        table.contains("consistent: true") && table.contains("warning: FLAIR and T2 look swapped"),
        "{table}"
    );
    let (json, _) = ok(&["inspect", &swapped.display().to_string(), "--json"]);
    let v: serde_json::Value = serde_json::from_str(&json).expect("inspect --json");
    assert_eq!(v["warnings"].as_array().map(Vec::len), Some(1), "{json}");
    assert!(
        v["input"]["t1_t2"].as_f64() > v["input"]["t1_flair"].as_f64(),
        "{json}"
    );

    let (json, _) = ok(&["evaluate", "--pred", &seg, "--truth", &seg, "--json"]);
    let v: serde_json::Value = serde_json::from_str(&json).expect("evaluate --json");
    assert_eq!(v["cases"][0]["regions"]["WT"]["dice"], 1.0);
    let other = dir
        .join("Phantom_00006/Phantom_00006_seg.nii.gz")
        .display()
        .to_string();
    let (table, _) = ok(&["evaluate", "--pred", &other, "--truth", &seg]);
    assert!(table.contains("WT"), "{table}");
    // Lesion-wise: the issue's keys per case and region, and aggregated under summary.
    let (json, _) = ok(&[
        "evaluate",
        "--pred",
        &other,
        "--truth",
        &seg,
        "--lesion-wise",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&json).expect("evaluate --lesion-wise --json");
    for region in ["WT", "TC", "ET"] {
        let l = &v["cases"][0]["regions"][region]["lesion_wise"];
        for key in [
            "tp",
            "fp",
            "fn",
            "precision",
            "recall",
            "f1",
            "dice",
            "nsd",
            "hd95",
        ] {
            assert!(
                l.get(key).is_some(),
                "{region} lesion_wise lacks {key}: {l}"
            );
        }
        assert!(
            v["summary"][region]["lesion_wise"]["f1"]["mean"].is_number(),
            "{v}"
        );
    }
    let (table, _) = ok(&[
        "evaluate",
        "--pred",
        &other,
        "--truth",
        &seg,
        "--lesion-wise",
    ]);
    assert!(table.contains("lesion-wise"), "{table}");

    let (json, _) = ok(&["kb", "find", "오른쪽 팔다리에 힘이 빠져요", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&json).expect("kb find --json");
    assert_eq!(v["side"], "right", "{json}");
    let (table, _) = ok(&[
        "kb",
        "hospitals",
        "frontal_lobe@left",
        "--capability",
        "awake_craniotomy",
        "--limit=2",
    ]);
    assert!(table.contains("SAMPLE DATA"), "{table}");
    let intake = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/data/intake_ko.json");
    let (json, _) = ok(&["kb", "suspect", intake, "--json"]);
    let v: serde_json::Value = serde_json::from_str(&json).expect("kb suspect --json");
    assert_eq!(v["suspected"][0]["hemisphere"], "right", "{json}");
    // The table says what each text was taken to be, what was denied and what was not
    // understood, in words (no Rust debug forms).
    let free = tmp.path().join("free.json");
    std::fs::write(
        &free,
        r#"{"symptoms": [{"text": "My left arm and leg feel numb, no headache"}, {"text": "발가락이 간지러워요"}]}"#,
    )
    .unwrap();
    let (table, _) = ok(&["kb", "suspect", &free.display().to_string()]);
    for want in [
        "symptoms[0] Hypoesthesia (HP:0033748) side left",
        "symptoms[0] denied: \"no headache\"",
        "symptoms[1] not understood: \"발가락이 간지러워요\"",
        "parietal_lobe            right",
    ] {
        assert!(table.contains(want), "{want:?} in\n{table}");
    }
    assert!(!table.contains("Some("), "{table}");

    // diagnose with a stated site: the report files and --json on stdout.
    let report = tmp.path().join("report");
    let (json, _) = ok(&[
        "diagnose",
        "--intake",
        intake,
        "--location",
        "frontal_lobe@right",
        "--out",
        &report.display().to_string(),
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&json).expect("diagnose --json");
    assert_eq!(v["verdict"], "concordant");
    assert!(report.join("report.html").exists());

    for shell in ["bash", "zsh", "fish"] {
        let (script, _) = ok(&["completions", shell]);
        assert!(
            script.contains("segment") && script.contains("diagnose"),
            "{shell}"
        );
    }
}

/// `evaluate --synthetic --calibrate` with the shipped model: every candidate pair is scored
/// on the raw predictions, "off" is among them and equals the summary, and the choice is the
/// best of them.
#[test]
fn calibration_scores_every_candidate_on_the_raw_predictions() {
    let (json, _) = ok(&[
        "--quiet",
        "evaluate",
        "--synthetic",
        "1",
        "--calibrate",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&json).expect("evaluate --calibrate --json");
    assert_eq!(v["postprocess"]["min_component_mm3"], 0, "{json}");
    assert_eq!(v["postprocess"]["et_to_core_below_mm3"], 0, "{json}");
    let cases = v["cases"].as_array().expect("cases");
    assert_eq!(cases.len(), 3, "one case per subtype");
    assert!(cases
        .iter()
        .all(|c| c["seed"].as_u64() >= Some(8_000_000_000)
            && c["seed"].as_u64() < Some(9_000_000_000)));
    let rows = v["calibration"]["rows"].as_array().expect("rows");
    assert_eq!(rows.len(), 6 * 9, "the whole grid");
    let mean = |r: &serde_json::Value| {
        r["dice"]
            .as_array()
            .expect("dice")
            .iter()
            .map(|d| d.as_f64().expect("number"))
            .sum::<f64>()
            / 3.0
    };
    // Every candidate carries the model's fixed depth step, which the run applied first.
    assert!(rows
        .iter()
        .all(|r| r["config"]["min_depth_mm"] == v["postprocess"]["min_depth_mm"]));
    // The first row is "no searched post-processing": the same Dice as the summary of the run.
    assert_eq!(rows[0]["config"]["min_component_mm3"], 0);
    assert_eq!(rows[0]["config"]["et_to_core_below_mm3"], 0);
    for i in 0..3 {
        let a = rows[0]["dice"][i].as_f64().expect("dice");
        let b = v["summary"]["all"]["dice"][i].as_f64().expect("summary");
        assert!((a - b).abs() < 1e-9, "region {i}: {a} vs {b}");
        // Its 95 % bootstrap interval holds the mean and lies within the cases' range.
        let ci = &v["summary"]["all"]["dice_ci95"][i];
        let (lo, hi) = (ci[0].as_f64().expect("lo"), ci[1].as_f64().expect("hi"));
        let case_dice: Vec<f64> = cases
            .iter()
            .map(|c| c["dice"][i].as_f64().expect("case dice"))
            .collect();
        let min = case_dice.iter().copied().fold(f64::MAX, f64::min);
        let max = case_dice.iter().copied().fold(f64::MIN, f64::max);
        assert!(
            min <= lo && lo <= b && b <= hi && hi <= max,
            "region {i}: {min} ≤ {lo} ≤ {b} ≤ {hi} ≤ {max}"
        );
    }
    // The choice: the first row (smallest thresholds) within 0.001 of the best mean.
    let best = &v["calibration"]["best"];
    let top = rows.iter().map(mean).fold(f64::MIN, f64::max);
    let first = rows
        .iter()
        .find(|r| mean(r) >= top - 1e-3)
        .expect("one row is the top");
    assert_eq!(best, first, "{best}");
}

/// `evaluate --synthetic 1 --subtype metastasis --json` plus `extra`: the JSON as text and parsed.
fn one_metastasis(extra: &[&str]) -> (String, serde_json::Value) {
    let mut args = vec![
        "--quiet",
        "evaluate",
        "--synthetic",
        "1",
        "--subtype",
        "metastasis",
        "--json",
    ];
    args.extend_from_slice(extra);
    let (json, _) = ok(&args);
    let v = serde_json::from_str(&json).expect("evaluate --json");
    (json, v)
}

/// `evaluate --synthetic --subtype` scores the same cases as the full run, of one subtype.
#[test]
fn one_subtype_repeats_the_full_runs_seeds() {
    let (json, v) = one_metastasis(&[]);
    let cases = v["cases"].as_array().expect("cases");
    assert_eq!(cases.len(), 1, "{json}");
    // Metastasis is the third subtype: base seed + 2·1000000.
    assert_eq!(cases[0]["seed"], 9_002_000_000u64, "{json}");
    assert!(cases[0]["subtype"]
        .as_str()
        .is_some_and(|t| t.starts_with("metastasis")));
    // Without --tta / --no-tta, the model's own setting.
    let shipped: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("models/default/best.json"),
        )
        .expect("the shipped model's best.json"),
    )
    .expect("best.json");
    assert_eq!(v["model"]["mirror_tta"], shipped["window"]["mirror_tta"]);
    assert!(v["model"]["mirror_tta"].is_boolean());
    assert!(v["summary"]["metastasis"].is_object() && v["summary"]["high_grade"].is_null());
    // The model's certainty per case, and the doubted cases counted in the summary.
    let c = &cases[0]["confidence"];
    let expected = c["expected_cm3"].as_f64().expect("expected_cm3");
    let wt = c["expected_dice"][0].as_f64();
    let doubted = expected >= 1.0 && wt.is_some_and(|d| d < 0.8);
    assert_eq!(
        v["summary"]["metastasis"]["doubtful_cases"],
        usize::from(doubted),
        "{json}"
    );
    if doubted {
        assert_eq!(
            v["summary"]["metastasis"]["doubtful_wt_dice"],
            cases[0]["dice"][0]
        );
    } else {
        assert!(v["summary"]["metastasis"]["doubtful_wt_dice"].is_null());
    }
    // HD95 per region with BraTS's empty-mask conventions: 0 mm when both are empty (then
    // Dice is 1), 373.13 mm when only one is (Dice 0), a finite surface distance otherwise.
    for i in 0..3 {
        let hd = cases[0]["hd95"][i].as_f64().expect("hd95 per region");
        let dice = cases[0]["dice"][i].as_f64().expect("dice");
        assert!((0.0..=373.13).contains(&hd), "{json}");
        if dice > 0.0 && dice < 1.0 {
            assert!(hd > 0.0 && hd < 373.0, "region {i}: Dice {dice}, HD95 {hd}");
        }
        if dice == 0.0 {
            assert!(hd > 0.0, "region {i}: Dice 0, HD95 {hd}");
        }
        // One case: its median is its value.
        assert_eq!(
            v["summary"]["metastasis"]["hd95_median_mm"][i],
            cases[0]["hd95"][i]
        );
        assert_eq!(
            v["summary"]["metastasis"]["hd95_mean_mm"][i],
            cases[0]["hd95"][i]
        );
    }
    // One case: its interval has no width.
    for i in 0..3 {
        let d = &v["summary"]["metastasis"]["dice"][i];
        assert_eq!(
            v["summary"]["metastasis"]["dice_ci95"][i],
            serde_json::json!([d, d])
        );
    }
    // The split by contrast: the case's own contrast holds it, the other contrast is absent.
    let contrast = cases[0]["contrast"].as_str().expect("contrast");
    let other = match contrast {
        "realistic" => "random",
        "random" => "realistic",
        c => panic!("unknown contrast {c}"),
    };
    for key in [
        format!("metastasis/{contrast}"),
        format!("{contrast}_contrast"),
    ] {
        assert_eq!(v["summary"][&key]["cases"], 1, "{key}: {json}");
        assert_eq!(
            v["summary"][&key]["dice"], v["summary"]["metastasis"]["dice"],
            "{key}"
        );
    }
    assert!(v["summary"][format!("metastasis/{other}")].is_null());
    assert!(v["summary"][format!("{other}_contrast")].is_null());
}

/// `evaluate --synthetic --random-contrast-share`: 0 and 1 score the same tumour, drawn with
/// MRI-like and with fully random contrasts.
#[test]
fn the_random_contrast_share_changes_only_the_contrasts() {
    let run = |share: &str| {
        let (_, v) = one_metastasis(&["--random-contrast-share", share]);
        assert_eq!(v["random_contrast_share"].as_f64(), share.parse().ok());
        v
    };
    let (mri, random) = (run("0"), run("1"));
    let (a, b) = (&mri["cases"][0], &random["cases"][0]);
    assert_eq!(a["seed"], 9_002_000_000u64);
    assert_eq!(a["seed"], b["seed"]);
    assert_eq!(a["contrast"], "realistic", "{a}");
    assert_eq!(b["contrast"], "random", "{b}");
    // The same tumour: its true volumes agree exactly.
    assert_eq!(a["wt_cm3"], b["wt_cm3"]);
    assert_eq!(a["et_voxels"], b["et_voxels"]);
    assert!(random["summary"]["metastasis/random"].is_object());
    assert!(random["summary"]["realistic_contrast"].is_null());
    assert!(mri["summary"]["random_contrast"].is_null());
}

/// Geometric phantoms of 64 × 64 × 48 voxels written into `dir` (`extra`: more `bts synth`
/// options).
fn small_phantoms(dir: &Path, extra: &[&str]) {
    let dir = dir.display().to_string();
    let mut args = vec![
        "--quiet",
        "synth",
        "--generator",
        "geometric",
        "--shape",
        "64,64,48",
    ];
    args.extend_from_slice(&["--out", &dir]);
    args.extend_from_slice(extra);
    ok(&args);
}

/// `bts segment --data`: every case of a dataset folder, one map each named by its id; a
/// folder that is not a case is reported and the others are written. With
/// `--probabilities`, each case's region probabilities too, on the map's grid.
#[test]
fn segment_data_writes_every_case_and_reports_the_ones_that_fail() {
    let tmp = tempfile::tempdir().expect("tmp");
    let data = tmp.path().join("data");
    small_phantoms(&data, &["--cases", "2"]);
    let broken = data.join("Broken_1");
    std::fs::create_dir_all(&broken).expect("mkdir");
    std::fs::copy(
        data.join("Phantom_00000/Phantom_00000_t1.nii.gz"),
        broken.join("Broken_1_t1.nii.gz"),
    )
    .expect("copy");
    let out = tmp.path().join("preds");
    let probs = tmp.path().join("probs");
    let run = bts(&[
        "--quiet",
        "segment",
        "--data",
        &data.display().to_string(),
        "--out",
        &out.display().to_string(),
        "--probabilities",
        &probs.display().to_string(),
        "--no-tta",
        "--json",
    ]);
    let (stdout, stderr) = (text(&run.stdout), text(&run.stderr));
    assert_eq!(run.status.code(), Some(1), "{stderr}");
    assert_eq!(
        stdout.lines().count(),
        2,
        "one JSON line per case written: {stdout}"
    );
    for id in ["Phantom_00000", "Phantom_00001"] {
        assert!(out.join(format!("{id}.nii.gz")).exists(), "{id}");
        assert!(stdout.contains(&format!("\"case\":\"{id}\"")), "{stdout}");
    }
    assert!(!out.join("Broken_1.nii.gz").exists());
    assert!(!probs.join("Broken_1.nii.gz").exists());
    // WT, TC and ET probabilities in [0, 1] (stored in steps of 1/255) on the map's grid;
    // wherever the map (argmax, then post-processing) has tumour, P(WT) ≥ 0.5.
    let reader = brats_io::NiftiReader::new();
    for id in ["Phantom_00000", "Phantom_00001"] {
        let map = reader
            .read_labels(out.join(format!("{id}.nii.gz")))
            .expect("map");
        let p = probs.join(format!("{id}.nii.gz"));
        assert!(stdout.contains(&p.display().to_string()), "{stdout}");
        let frames = reader.read_frames_f32(&p).expect("probabilities");
        assert_eq!(frames.len(), 3, "{id}");
        for f in &frames {
            assert_eq!(f.geometry().dim(), map.geometry().dim(), "{id}");
            assert!(f.geometry().same_grid(map.geometry(), 1e-4), "{id}");
            assert!(f.as_slice().iter().all(|v| (0.0..=1.0).contains(v)), "{id}");
        }
        let tumour = map.as_slice().iter().filter(|&&l| l != 0).count();
        assert!(
            tumour > 0,
            "{id}: the shipped model finds the phantom's tumour"
        );
        for (&label, &wt) in map.as_slice().iter().zip(frames[0].as_slice()) {
            assert!(
                label == 0 || wt >= 0.5 - 1.0 / 255.0,
                "{id}: label {label}, P(WT) {wt}"
            );
        }
        // `bts inspect` describes the 4D file: three volumes, values in [0, 1], no labels.
        let (json, _) = ok(&["inspect", &p.display().to_string(), "--json"]);
        let v: serde_json::Value = serde_json::from_str(&json).expect("inspect --json");
        assert_eq!(v["frames"], 3, "{v}");
        assert_eq!(v["datatype"], "uint8", "{v}");
        assert!(v["max"].as_f64().expect("max") <= 1.0 + 1e-6, "{v}");
        assert!(v.get("labels").is_none(), "{v}");
    }
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{stderr}");
    assert!(
        lines[0].starts_with("error: case Broken_1: ") && lines[0].contains("flair"),
        "{stderr}"
    );
    assert!(
        lines[1].contains("1 of 3 cases failed (Broken_1)"),
        "{stderr}"
    );
}

/// A BraTS 2023 case (its naming, its seg with ET = 3) is segmented by the shipped model
/// (trained on BraTS 2021 labels) and the map is written in the case's scheme, or in the one
/// `--labels` asks for; `bts evaluate` then scores it against the case's own seg.
#[test]
fn a_brats_2023_case_is_segmented_in_its_own_scheme() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("cases");
    small_phantoms(&dir, &["--labels", "brats2023", "--seed", "3"]);
    let case = dir.join("Phantom_00003");
    let truth = case.join("Phantom_00003-seg.nii.gz");
    assert!(truth.exists(), "BraTS 2023 naming");
    let segment = |out: &Path, extra: &[&str]| -> serde_json::Value {
        let (case_s, out_s) = (case.display().to_string(), out.display().to_string());
        let mut args = vec!["--quiet", "segment", "--case", &case_s, "--out", &out_s];
        args.extend_from_slice(&["--no-tta", "--json"]);
        args.extend_from_slice(extra);
        let (json, _) = ok(&args);
        serde_json::from_str(&json).expect("segment --json")
    };
    let values = |v: &serde_json::Value| -> Vec<String> {
        v["label_voxels"]
            .as_object()
            .expect("label_voxels")
            .keys()
            .cloned()
            .collect()
    };
    let own = tmp.path().join("own.nii.gz");
    let v = segment(&own, &[]);
    assert_eq!(v["scheme"], "brats2023", "{v}");
    assert!(values(&v).iter().any(|l| l == "3"), "{v}");
    assert!(!values(&v).iter().any(|l| l == "4"), "{v}");
    let old = tmp.path().join("old.nii.gz");
    let w = segment(&old, &["--labels", "brats2021"]);
    assert_eq!(w["scheme"], "brats2021", "{w}");
    assert!(!values(&w).iter().any(|l| l == "3"), "{w}");
    assert_eq!(v["label_voxels"]["3"], w["label_voxels"]["4"]);
    // Scored against the case's own seg in its scheme; the map in the other scheme is not
    // silently misread (its ET = 4 is outside BraTS 2023's labels).
    let evaluate = |pred: &Path| {
        bts(&[
            "evaluate",
            "--pred",
            &pred.display().to_string(),
            "--truth",
            &truth.display().to_string(),
            "--labels",
            "brats2023",
            "--json",
        ])
    };
    let out = evaluate(&own);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let e: serde_json::Value = serde_json::from_slice(&out.stdout).expect("evaluate --json");
    assert!(e["cases"][0]["regions"]["ET"]["dice"].is_number(), "{e}");
    let out = evaluate(&old);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("4 ("), "{}", text(&out.stderr));
    // BraTS 2024's post-treatment labels add 4, the resection cavity: with --labels brats2024
    // it is no tumour (WT, TC and ET score as if it were background) and is scored on its
    // own as RC; BraTS 2023's labels refuse it.
    let reader = brats_io::NiftiReader::new();
    let seg = reader.read_labels(&truth).expect("truth");
    let mut data = seg.data().clone();
    for (i, v) in data.iter_mut().enumerate() {
        if *v == 0 && i % 97 == 0 {
            *v = 4;
        }
    }
    let with_cavity = brats_io::Volume::new(data, seg.geometry().clone()).expect("volume");
    let rc_truth = tmp.path().join("rc-seg.nii.gz");
    brats_io::NiftiWriter::new()
        .write(&rc_truth, &with_cavity)
        .expect("write");
    let score = |truth: &Path, labels: &str| {
        bts(&[
            "evaluate",
            "--pred",
            &own.display().to_string(),
            "--truth",
            &truth.display().to_string(),
            "--labels",
            labels,
            "--json",
        ])
    };
    let out = score(&rc_truth, "brats2024");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).expect("evaluate --json");
    for region in ["WT", "TC", "ET"] {
        assert_eq!(
            r["cases"][0]["regions"][region], e["cases"][0]["regions"][region],
            "{region}"
        );
    }
    assert_eq!(r["cases"][0]["regions"]["RC"]["dice"], 0.0, "{r}");
    // Without --labels, a BraTS 2023+ name (-seg) is scored in BraTS 2024's labels, not in
    // BraTS 2021's, where the cavity would be enhancing tumour.
    let auto = bts(&[
        "evaluate",
        "--pred",
        &own.display().to_string(),
        "--truth",
        &rc_truth.display().to_string(),
        "--json",
    ]);
    assert!(auto.status.success(), "{}", text(&auto.stderr));
    assert!(
        text(&auto.stderr).contains("scoring in brats2024 labels"),
        "{}",
        text(&auto.stderr)
    );
    let u: serde_json::Value = serde_json::from_slice(&auto.stdout).expect("evaluate --json");
    assert_eq!(u["cases"], r["cases"], "the same as --labels brats2024");
    let out = score(&rc_truth, "brats2023");
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("4 ("), "{}", text(&out.stderr));
    // bts diagnose writes its segmentation.nii.gz in the case's scheme too, and says so.
    let report = tmp.path().join("report");
    let intake = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/data/intake_ko.json");
    ok(&[
        "--quiet",
        "diagnose",
        "--intake",
        intake,
        "--out",
        &report.display().to_string(),
        "--case",
        &case.display().to_string(),
        "--no-tta",
    ]);
    let seg = report.join("segmentation.nii.gz").display().to_string();
    let (json, _) = ok(&["inspect", &seg, "--json"]);
    let labels: serde_json::Value = serde_json::from_str(&json).expect("inspect --json");
    assert_eq!(labels["labels"]["3"], v["label_voxels"]["3"], "{json}");
    assert!(labels["labels"].get("4").is_none(), "{json}");
    let r: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(report.join("report.json")).expect("report.json"),
    )
    .expect("report.json parses");
    assert_eq!(r["segmentation"]["file_scheme"], "brats2023", "{r}");
}

/// A dataset in the Medical Segmentation Decathlon's layout (one 4D file per case in
/// imagesTr, labels 1 edema / 2 core / 3 enhancing in labelsTr, dataset.json) or in nnU-Net's
/// (one file per channel, imagesTr/ID_0000 … _0003, FLAIR last as in its Dataset137; region
/// labels in dataset.json) is segmented and scored in its own labels, with the same maps and
/// scores as the same cases in BraTS layout; a macOS resource fork beside the images is no
/// case; scoring it under BraTS 2023's labels (the same values, core and edema swapped) is
/// refused.
#[test]
fn decathlon_and_nnunet_datasets_are_segmented_and_scored_in_their_own_labels() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (msd, brats) = (tmp.path().join("Task01"), tmp.path().join("brats"));
    let nnunet = tmp.path().join("Dataset500_Phantoms");
    small_phantoms(&msd, &["--labels", "decathlon", "--cases", "2"]);
    small_phantoms(&brats, &["--cases", "2"]);
    small_phantoms(&nnunet, &["--labels", "nnunet", "--cases", "2"]);
    assert!(msd.join("dataset.json").is_file());
    std::fs::write(
        msd.join("imagesTr/._Phantom_00000.nii.gz"),
        b"\0\x05\x16\x07",
    )
    .expect("fork");
    let segment = |data: &Path, out: &Path| {
        let run = bts(&[
            "--quiet",
            "segment",
            "--data",
            &data.display().to_string(),
            "--out",
            &out.display().to_string(),
            "--no-tta",
            "--json",
        ]);
        assert!(run.status.success(), "{}", text(&run.stderr));
        text(&run.stdout)
    };
    let (out_msd, out_brats) = (tmp.path().join("pred_msd"), tmp.path().join("pred_brats"));
    let out_nnunet = tmp.path().join("pred_nnunet");
    let json = segment(&msd, &out_msd);
    assert_eq!(
        json.lines().count(),
        2,
        "two cases, no resource fork: {json}"
    );
    assert!(json.contains("\"scheme\":\"decathlon\""), "{json}");
    segment(&brats, &out_brats);
    let json = segment(&nnunet, &out_nnunet);
    assert_eq!(json.lines().count(), 2, "two nnU-Net cases: {json}");
    let reader = brats_io::NiftiReader::new();
    for id in ["Phantom_00000", "Phantom_00001"] {
        let file = format!("{id}.nii.gz");
        let a = reader
            .read_labels(out_msd.join(&file))
            .expect("decathlon map");
        let b = reader
            .read_labels(out_brats.join(&file))
            .expect("brats map");
        let swapped = b.map(|&v| [0u8, 2, 1, 0, 3][v as usize]);
        assert_eq!(
            a.data(),
            swapped.data(),
            "{id}: the same map in the Decathlon's labels"
        );
        assert!(a.as_slice().contains(&1), "{id}: edema is 1");
        let n = reader
            .read_labels(out_nnunet.join(&file))
            .expect("nnU-Net map");
        assert_eq!(
            n.data(),
            a.data(),
            "{id}: nnU-Net's labels are the Decathlon's"
        );
    }
    let evaluate = |pred: &Path, truth: &Path, labels: &str| {
        bts(&[
            "evaluate",
            "--pred",
            &pred.display().to_string(),
            "--truth",
            &truth.display().to_string(),
            "--labels",
            labels,
            "--json",
        ])
    };
    let scores = |out: Output| -> serde_json::Value {
        assert!(out.status.success(), "{}", text(&out.stderr));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("evaluate --json");
        v["summary"].clone()
    };
    // `bts inspect` describes a Decathlon case file as a case: four modalities from the one
    // file, its labels checked against the dataset's, the input checks.
    let image = msd.join("imagesTr/Phantom_00001.nii.gz");
    let (json, _) = ok(&["inspect", &image.display().to_string(), "--json"]);
    let v: serde_json::Value = serde_json::from_str(&json).expect("inspect --json");
    assert_eq!(v["naming"], "decathlon", "{v}");
    assert_eq!(v["consistent"], true, "{v}");
    for m in ["flair", "t1", "t1ce", "t2", "seg"] {
        assert!(v[m]["shape"].is_array(), "{m}: {v}");
    }
    assert!(v["input"]["brain_cm3"].is_number(), "{v}");
    // … and an nnU-Net case named by its prefix, its four channel files in the order its
    // dataset.json gives.
    let prefix = nnunet.join("imagesTr/Phantom_00001");
    let (json, _) = ok(&["inspect", &prefix.display().to_string(), "--json"]);
    let n: serde_json::Value = serde_json::from_str(&json).expect("inspect --json");
    assert_eq!(n["naming"], "nnunet", "{n}");
    assert_eq!(n["consistent"], true, "{n}");
    assert_eq!(n["flair"], v["flair"], "FLAIR is channel 3");
    let m = scores(evaluate(&out_msd, &msd.join("labelsTr"), "decathlon"));
    let b = scores(evaluate(&out_brats, &brats, "brats2021"));
    let n = scores(evaluate(&out_nnunet, &nnunet.join("labelsTr"), "nnunet"));
    assert_eq!(m, b, "the same scores in either layout");
    assert_eq!(n, b, "the same scores in nnU-Net's layout");
    // Without --labels, the truth says which: the same scores.
    let auto = |pred: &Path, truth: &Path| {
        bts(&[
            "evaluate",
            "--pred",
            &pred.display().to_string(),
            "--truth",
            &truth.display().to_string(),
            "--json",
        ])
    };
    let from_json = auto(&out_nnunet, &nnunet.join("labelsTr"));
    assert_eq!(scores(from_json), b, "labels from nnU-Net's dataset.json");
    let wrong = evaluate(&out_msd, &msd.join("labelsTr"), "brats2023");
    assert_eq!(wrong.status.code(), Some(1));
    assert!(
        text(&wrong.stderr).contains("give --labels decathlon"),
        "{}",
        text(&wrong.stderr)
    );
    // The same cases as UCSF-PDGM names its folders and files (`_T1c`,
    // `_tumor_segmentation`, with `_bias` copies beside them) are segmented alike and scored
    // without --labels; the truth as a folder of UPenn-GBM's `ID_segm` files too.
    let (ucsf, out_ucsf) = (tmp.path().join("UCSF-PDGM"), tmp.path().join("pred_ucsf"));
    let upenn = tmp.path().join("images_segm");
    let out_upenn = tmp.path().join("pred_upenn");
    for dir in [&upenn, &out_upenn] {
        std::fs::create_dir_all(dir).expect("mkdir");
    }
    for n in 0..2 {
        let (from, id) = (format!("Phantom_0000{n}"), format!("UCSF-PDGM-000{n}"));
        let case = ucsf.join(format!("{id}_nifti"));
        std::fs::create_dir_all(&case).expect("mkdir");
        for (old, new) in [
            ("_flair", "_FLAIR"),
            ("_t1", "_T1"),
            ("_t1ce", "_T1c"),
            ("_t1ce", "_T1c_bias"),
            ("_t2", "_T2"),
            ("_seg", "_tumor_segmentation"),
        ] {
            let src = brats.join(&from).join(format!("{from}{old}.nii.gz"));
            std::fs::copy(&src, case.join(format!("{id}{new}.nii.gz"))).expect("copy");
        }
        let seg = brats.join(&from).join(format!("{from}_seg.nii.gz"));
        let upenn_id = format!("UPENN-GBM-0000{n}_11");
        std::fs::copy(&seg, upenn.join(format!("{upenn_id}_segm.nii.gz"))).expect("copy");
        let map = out_brats.join(format!("{from}.nii.gz"));
        std::fs::copy(&map, out_upenn.join(format!("{upenn_id}.nii.gz"))).expect("copy");
    }
    segment(&ucsf, &out_ucsf);
    for n in 0..2 {
        let a = reader
            .read_labels(out_ucsf.join(format!("UCSF-PDGM-000{n}_nifti.nii.gz")))
            .expect("UCSF-PDGM map");
        let b = reader
            .read_labels(out_brats.join(format!("Phantom_0000{n}.nii.gz")))
            .expect("brats map");
        assert_eq!(
            a.data(),
            b.data(),
            "case {n}: the same map, BraTS 2021's labels"
        );
    }
    assert_eq!(scores(auto(&out_ucsf, &ucsf)), b, "UCSF-PDGM's folders");
    assert_eq!(
        scores(auto(&out_upenn, &upenn)),
        b,
        "UPenn-GBM's segm files"
    );
}
