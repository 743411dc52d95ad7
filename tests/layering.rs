//! The platform's layering rules, checked over the source tree: no service reaches
//! into another service's store (they call each other's `facade` or service
//! methods), and the database layer knows nothing of HTTP.

use std::path::{Path, PathBuf};

const SERVICES: &[&str] = &[
    "identity",
    "compute",
    "image",
    "network",
    "placement",
    "volume",
    "object",
    "orchestration",
    "dashboard",
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every `(file, line, service)` where code outside `src/<service>/` names
/// `<service>::store`.
fn store_violations(files: &[(String, String)]) -> Vec<(String, usize, &'static str)> {
    let mut out = Vec::new();
    for (path, text) in files {
        for service in SERVICES {
            if path.starts_with(&format!("src/{service}/")) {
                continue;
            }
            let needle = format!("{service}::store");
            for (i, line) in text.lines().enumerate() {
                if line.contains(&needle) {
                    out.push((path.clone(), i + 1, *service));
                }
            }
        }
    }
    out
}

fn sources() -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    files
        .into_iter()
        .map(|p| {
            let rel = p.strip_prefix(root).expect("under root");
            let text = std::fs::read_to_string(&p).expect("read source");
            (rel.to_string_lossy().into_owned(), text)
        })
        .collect()
}

#[test]
fn no_service_reaches_into_another_services_store() {
    let files = sources();
    assert!(files.len() > 50, "the source tree was not found");
    let violations = store_violations(&files);
    assert!(
        violations.is_empty(),
        "other services' stores used directly (use their facade): {violations:?}"
    );
}

#[test]
fn the_store_check_catches_a_violation() {
    let files = vec![
        (
            "src/compute/flavors.rs".to_string(),
            "let p = crate::identity::store::project_get(c, id)?;".to_string(),
        ),
        (
            "src/identity/resources.rs".to_string(),
            "use super::store; crate::identity::store::x();".to_string(),
        ),
    ];
    let v = store_violations(&files);
    assert_eq!(
        v,
        vec![("src/compute/flavors.rs".to_string(), 1, "identity")]
    );
}

#[test]
fn the_database_layer_knows_no_http() {
    for (path, text) in sources() {
        if path.starts_with("src/db/") {
            assert!(
                !text.contains("crate::http") && !text.contains("axum"),
                "{path} depends on the HTTP layer"
            );
        }
    }
}
