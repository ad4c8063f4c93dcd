//! Every README snippet that shows a `Cargo.toml` block and then Rust code builds as pasted in
//! a new crate: the dependency lines as written (the crates of this workspace taken by path,
//! with the features the line names), the code as `src/main.rs`, or as a test file when it is
//! a test. A snippet that needs a crate its block does not list fails here.

use std::path::{Path, PathBuf};
use std::process::Command;

/// One `Cargo.toml` block of the README and the Rust block after it.
struct Snippet {
    line: usize,
    toml: String,
    rust: String,
}

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A fenced block of the README.
struct Block {
    /// The line of its opening fence, and of its closing one.
    first: usize,
    last: usize,
    info: String,
    body: String,
}

/// The fenced blocks of `text`.
fn blocks(text: &str) -> Vec<Block> {
    let mut found = Vec::new();
    let mut open: Option<Block> = None;
    for (index, line) in text.lines().enumerate() {
        match (&mut open, line.strip_prefix("```")) {
            (None, Some(info)) => {
                open = Some(Block {
                    first: index + 1,
                    last: index + 1,
                    info: info.trim().to_owned(),
                    body: String::new(),
                })
            }
            (Some(block), Some(_)) => {
                block.last = index + 1;
                found.extend(open.take());
            }
            (Some(Block { body, .. }), None) => {
                body.push_str(line);
                body.push('\n');
            }
            (None, None) => {}
        }
    }
    found
}

/// Each Rust block paired with the `Cargo.toml` block (one with a dependency section) above
/// it in the same section of the README: what a reader pastes together. A manifest with no
/// Rust block under it is built with an empty `main`, so that its crates and features resolve.
/// Manifests with a placeholder (`<commit>`) are left out.
fn snippets(readme: &str) -> Vec<Snippet> {
    let headings: Vec<usize> = readme
        .lines()
        .enumerate()
        .filter(|(_, line)| line.starts_with("## ") || line.starts_with("### "))
        .map(|(index, _)| index + 1)
        .collect();
    let section = |line: usize| headings.iter().filter(|&&heading| heading < line).count();
    let blocks = blocks(readme);
    let mut found = Vec::new();
    let mut manifest: Option<(&Block, bool)> = None;
    for block in &blocks {
        if manifest.is_some_and(|(toml, _)| section(toml.first) != section(block.first)) {
            if let Some((toml, false)) = manifest {
                found.push(Snippet {
                    line: toml.first,
                    toml: toml.body.clone(),
                    rust: "fn main() {}\n".to_owned(),
                });
            }
            manifest = None;
        }
        let is_manifest = block.info == "toml"
            && (block.body.contains("[dependencies]") || block.body.contains("[dev-dependencies]"))
            && !block.body.contains('<');
        if is_manifest {
            manifest = Some((block, false));
        } else if block.info.starts_with("rust")
            && !block.info.contains("ignore")
            && let Some((toml, _)) = manifest
        {
            found.push(Snippet {
                line: block.first,
                toml: toml.body.clone(),
                rust: block.body.clone(),
            });
            manifest = Some((toml, true));
        }
    }
    if let Some((toml, false)) = manifest {
        found.push(Snippet {
            line: toml.first,
            toml: toml.body.clone(),
            rust: "fn main() {}\n".to_owned(),
        });
    }
    found
}

/// A dependency line on a crate of this workspace, taken by path with the features it names.
fn by_path(line: &str) -> String {
    let trimmed = line.trim_start();
    for name in ["auth-runtime", "auth-server"] {
        if let Some(rest) = trimmed.strip_prefix(name)
            && rest.trim_start().starts_with('=')
        {
            // The version the README names is the one these crates have.
            let written = rest.split('"').nth(1).expect("a version in quotes");
            assert!(
                env!("CARGO_PKG_VERSION").starts_with(written),
                "the README depends on {name} {written}; the crates are {}",
                env!("CARGO_PKG_VERSION")
            );
            let features = rest
                .split_once("features")
                .and_then(|(_, after)| {
                    let start = after.find('[')?;
                    let end = after.find(']')?;
                    Some(after[start..=end].to_owned())
                })
                .unwrap_or_else(|| "[]".to_owned());
            let path = workspace().join(name);
            return format!(
                "{name} = {{ path = {:?}, features = {features} }}",
                path.display().to_string()
            );
        }
    }
    line.to_owned()
}

fn build(snippet: &Snippet, dir: &Path) {
    let is_test = snippet.rust.contains("#[actix_web::test]");
    let mut manifest = String::from(
        "[package]\nname = \"readme-snippet\"\nversion = \"0.0.0\"\nedition = \"2024\"\npublish = false\n\n[workspace]\n\n",
    );
    for line in snippet.toml.lines() {
        manifest.push_str(&by_path(line));
        manifest.push('\n');
    }
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::write(dir.join("Cargo.toml"), manifest).unwrap();
    // The workspace's lock file: the same versions as every other test here.
    std::fs::copy(workspace().join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();
    if is_test {
        std::fs::create_dir_all(dir.join("tests")).unwrap();
        std::fs::write(dir.join("tests/snippet.rs"), &snippet.rust).unwrap();
        std::fs::write(dir.join("src/lib.rs"), "").unwrap();
    } else {
        std::fs::write(dir.join("src/main.rs"), &snippet.rust).unwrap();
    }
    let mut cargo = Command::new(env!("CARGO"));
    if is_test {
        cargo.args(["test", "--no-run"]);
    } else {
        cargo.arg("build");
    }
    let output = cargo
        .arg("--quiet")
        .current_dir(dir)
        // A target folder of its own, kept between runs, so that the snippets' dependencies
        // build once.
        .env(
            "CARGO_TARGET_DIR",
            workspace().join("target").join("readme-snippets"),
        )
        // As pasted into a crate that allows no warning: an unused import fails too.
        .env("RUSTFLAGS", "-D warnings")
        .output()
        .expect("cargo runs");
    assert!(
        output.status.success(),
        "the README's snippet at line {} does not build as pasted:\n{}",
        snippet.line,
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn every_cargo_toml_and_rust_snippet_of_the_readme_builds_as_pasted() {
    let readme = std::fs::read_to_string(workspace().join("README.md")).unwrap();
    let snippets = snippets(&readme);
    assert!(
        snippets.len() >= 4,
        "the app, the features and the test kit's two snippets: {} found",
        snippets.len()
    );
    for snippet in &snippets {
        let dir = std::env::temp_dir().join(format!(
            "readme-snippet-{}-{}",
            std::process::id(),
            snippet.line
        ));
        let _ = std::fs::remove_dir_all(&dir);
        build(snippet, &dir);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
