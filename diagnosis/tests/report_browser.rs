//! `report.html` in a real browser: headless Chromium (Debian's `chromium` package,
//! installed by this test with apt-get when missing; the test is skipped with a message
//! where it cannot be installed). The page must load offline without console messages,
//! its viewer must decode the volumes, scrolling must change the axial picture and the
//! convention switch must mirror it; a screenshot must come out.

use std::path::{Path, PathBuf};
use std::process::Command;

use brats_io::phantom::PhantomConfig;
use brats_io::{Case, LabelScheme};
use diagnosis::{Diagnoser, Site};
use symptom_kb::{Intake, KnowledgeBase};

const CANDIDATES: [&str; 3] = [
    "/usr/bin/chromium",
    "/usr/bin/chromium-browser",
    "/usr/bin/google-chrome",
];

fn find_browser() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("BTS_CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    CANDIDATES.iter().map(PathBuf::from).find(|p| p.exists())
}

/// The browser, installed from Debian's packages when missing (as root, non-interactive).
fn browser() -> Result<PathBuf, String> {
    if let Some(p) = find_browser() {
        return Ok(p);
    }
    let root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false);
    if !root {
        return Err("Chromium is not installed and this user cannot apt-get install it".into());
    }
    let apt = |args: &[&str]| {
        Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    };
    let install = ["install", "-y", "--no-install-recommends", "chromium"];
    let installed = apt(&install) || (apt(&["update"]) && apt(&install));
    if !installed {
        return Err("apt-get install chromium failed (no Debian package mirror reachable?)".into());
    }
    find_browser().ok_or_else(|| "chromium installed but not found in /usr/bin".into())
}

/// Headless Chromium with the flags this machine's closed network needs.
fn chromium(exe: &Path, profile: &Path, extra: &[&str], url: &str) -> (String, String) {
    let out = Command::new(exe)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=30000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(url)
        .output()
        .expect("chromium runs");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn report(dir: &Path) -> PathBuf {
    let p = PhantomConfig {
        shape: [96, 96, 64],
        ..Default::default()
    }
    .check()
    .unwrap()
    .generate(21)
    .unwrap();
    let case = Case {
        id: "browser".into(),
        images: p.images,
        seg: Some(p.seg),
        seg_scheme: None,
    };
    let kb = KnowledgeBase::open(dir.join("kb")).unwrap();
    let intake =
        Intake::from_json(r#"{"symptoms": [{"text": "오른쪽 팔다리에 힘이 빠져요"}]}"#).unwrap();
    // A second, small enhancing lesion in the other hemisphere, so that the viewer has
    // places to jump to.
    let mut case = case;
    let seg = case.seg.take().unwrap();
    let flair = case.image(brats_io::Modality::Flair).data().clone();
    let (mut labels, g) = seg.into_parts();
    let ni = labels.dim().2;
    let tumour: Vec<[usize; 3]> = labels
        .indexed_iter()
        .filter(|(_, &l)| l != 0)
        .map(|((k, j, i), _)| [k, j, i])
        .collect();
    let mean = |a: usize| tumour.iter().map(|p| p[a] as f64).sum::<f64>() / tumour.len() as f64;
    // 10 voxels beyond the tumour's left-right extent, on the side with room.
    let (lo, hi) = tumour
        .iter()
        .fold((usize::MAX, 0), |(lo, hi), p| (lo.min(p[2]), hi.max(p[2])));
    let i = if lo >= 15 {
        lo - 10
    } else {
        (hi + 10).min(ni - 5)
    };
    let centre = [mean(0), mean(1), i as f64];
    for ((k, j, i), l) in labels.indexed_iter_mut() {
        let d2 = (k as f64 - centre[0]).powi(2)
            + (j as f64 - centre[1]).powi(2)
            + (i as f64 - centre[2]).powi(2);
        if d2 <= 16.0 && *l == 0 && flair[[k, j, i]] > 0.0 {
            *l = 4;
        }
    }
    case.seg = Some(brats_io::Volume::new(labels, g).unwrap());
    // As a model would give them: sure of the tumour, less of its core and enhancement.
    let seg = case.seg.as_ref().unwrap();
    let maps = [(&[1u8, 2, 4][..], 0.9f32), (&[1, 4], 0.6), (&[4], 0.3)]
        .map(|(labels, p)| seg.map(|l| if labels.contains(l) { p } else { 0.0 }));
    let mut d = Diagnoser::new(&kb)
        .diagnose_with_probabilities(
            Site::Mask {
                case: &case,
                mask: seg,
                scheme: &LabelScheme::brats2021(),
            },
            &intake,
            &maps,
        )
        .unwrap();
    assert!(d.finding.lesions.len() >= 2, "{:?}", d.finding.lesions);
    d.write(&dir.join("report")).unwrap().html
}

#[test]
fn the_report_renders_and_its_viewer_scrolls_in_headless_chromium() {
    let exe = match browser() {
        Ok(p) => p,
        Err(why) => {
            eprintln!(
                "SKIPPED the_report_renders_and_its_viewer_scrolls_in_headless_chromium: {why}"
            );
            return;
        }
    };
    let dir = tempfile::tempdir().unwrap();
    let html = report(dir.path());
    let url = format!("file://{}", html.display());

    let (dom, log) = chromium(
        &exe,
        &dir.path().join("profile1"),
        &["--dump-dom"],
        &format!("{url}#selftest"),
    );
    let start = dom
        .rfind("<pre id=\"viewer-selftest\">")
        .unwrap_or_else(|| panic!("no self-test result in the page; browser log:\n{log}"));
    let rest = &dom[start + "<pre id=\"viewer-selftest\">".len()..];
    let json = &rest[..rest.find("</pre>").expect("closed")];
    let json = json
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&");
    let v: serde_json::Value = serde_json::from_str(&json).expect("self-test JSON");
    assert_eq!(v["ready"], true, "{v}");
    assert_eq!(v["errors"], serde_json::json!([]), "{v}");
    assert_eq!(
        v["changed"], true,
        "scrolling changes the axial picture: {v}"
    );
    assert_eq!(v["mirrored"], true, "the convention switch mirrors it: {v}");
    assert_eq!(
        v["probability_shown"], true,
        "showing the model's P(whole tumour) changes the picture: {v}"
    );
    assert_eq!(v["labels_back"], true, "and the labels come back: {v}");
    // Several lesions: the tumour's centroid and each lesion are places to jump to.
    assert!(v["places"].as_u64().unwrap() >= 3, "{v}");
    assert_eq!(
        v["place_reached"], true,
        "a place's button moves the cross-hair there: {v}"
    );
    assert_eq!(v["place_moved"], true, "and the picture with it: {v}");
    let (before, after) = (
        v["slice_before"].as_u64().unwrap(),
        v["slice_after"].as_u64().unwrap(),
    );
    assert_eq!(
        after,
        (before + 10).min(v["dims"][2].as_u64().unwrap() - 1),
        "{v}"
    );
    let readout = v["readout"].as_str().unwrap();
    assert!(
        readout.contains("RAS (mm)") && readout.contains("atlas:"),
        "{readout}"
    );
    assert!(
        readout.contains("the model: P(whole tumour) ") && readout.contains("P(enhancing) "),
        "{readout}"
    );
    // Console messages of the page (errors, warnings, logs) are logged as CONSOLE lines.
    let console: Vec<&str> = log.lines().filter(|l| l.contains(":CONSOLE")).collect();
    assert!(console.is_empty(), "console messages: {console:#?}");

    let shot = dir.path().join("viewer.png");
    let (_, log) = chromium(
        &exe,
        &dir.path().join("profile2"),
        &[
            "--window-size=1150,700",
            &format!("--screenshot={}", shot.display()),
        ],
        &format!("{url}#viewer-first"),
    );
    let png = std::fs::read(&shot).unwrap_or_else(|e| panic!("no screenshot ({e}); log:\n{log}"));
    assert_eq!(&png[1..4], b"PNG");
    // A blank page compresses to a few KB; three slices of a brain do not.
    assert!(
        png.len() > 30_000,
        "screenshot of {} bytes looks blank",
        png.len()
    );
}
