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

/// Each `Cargo.toml` block with a dependency section and the Rust block right after it (at
/// most a line of text between them): what a reader pastes together.
fn snippets(readme: &str) -> Vec<Snippet> {
    let blocks = blocks(readme);
    blocks
        .windows(2)
        .filter_map(|pair| {
            let [toml, rust] = pair else {
                return None;
            };
            let manifest = toml.info == "toml"
                && (toml.body.contains("[dependencies]")
                    || toml.body.contains("[dev-dependencies]"));
            let together = rust.first <= toml.last + 3;
            (manifest && together && rust.info.starts_with("rust")).then(|| Snippet {
                line: toml.first,
                toml: toml.body.clone(),
                rust: rust.body.clone(),
            })
        })
        .collect()
}

/// A dependency line on a crate of this workspace, taken by path with the features it names.
fn by_path(line: &str) -> String {
    let trimmed = line.trim_start();
    for name in ["auth-runtime", "auth-server"] {
        if let Some(rest) = trimmed.strip_prefix(name)
            && rest.trim_start().starts_with('=')
        {
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
        .env_remove("RUSTFLAGS")
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
        snippets.len() >= 2,
        "the app and the test kit each show their dependencies: {} found",
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
