//! Every snippet of the README and of the guide's pages (`docs/*.md`) that shows a `Cargo.toml`
//! block and then Rust code builds as pasted in a new crate: the dependency lines as written
//! (the crates of this workspace taken by path, with the features the line names), the code as
//! `src/main.rs`, or as a test file when it is a test. A snippet that needs a crate its block
//! does not list fails here. Every page of the guide is compiled as doctests too, and every
//! relative link between the README and the pages leads to a file and a heading that exist.

use std::path::{Path, PathBuf};
use std::process::Command;

/// One `Cargo.toml` block of a page and the Rust block after it.
struct Snippet {
    /// The page, relative to the workspace (`README.md`, `docs/issuer.md`).
    page: String,
    line: usize,
    toml: String,
    rust: String,
}

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A fenced block of a page.
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
/// it in the same section of the page: what a reader pastes together. A manifest with no
/// Rust block under it is built with an empty `main`, so that its crates and features resolve.
/// Manifests with a placeholder (`<commit>`) are left out.
fn snippets_of(page: &str, text: &str) -> Vec<Snippet> {
    let headings: Vec<usize> = text
        .lines()
        .enumerate()
        .filter(|(_, line)| line.starts_with("## ") || line.starts_with("### "))
        .map(|(index, _)| index + 1)
        .collect();
    let section = |line: usize| headings.iter().filter(|&&heading| heading < line).count();
    let blocks = blocks(text);
    let mut found = Vec::new();
    let mut manifest: Option<(&Block, bool)> = None;
    for block in &blocks {
        if manifest.is_some_and(|(toml, _)| section(toml.first) != section(block.first)) {
            if let Some((toml, false)) = manifest {
                found.push(Snippet {
                    page: page.to_owned(),
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
                page: page.to_owned(),
                line: block.first,
                toml: toml.body.clone(),
                rust: block.body.clone(),
            });
            manifest = Some((toml, true));
        }
    }
    if let Some((toml, false)) = manifest {
        found.push(Snippet {
            page: page.to_owned(),
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
            // The version the page names is the one these crates have.
            let written = rest.split('"').nth(1).expect("a version in quotes");
            assert!(
                env!("CARGO_PKG_VERSION").starts_with(written),
                "a snippet depends on {name} {written}; the crates are {}",
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
        // build once: under the workspace's target folder, or the one `CARGO_TARGET_DIR` names.
        .env(
            "CARGO_TARGET_DIR",
            std::env::var_os("CARGO_TARGET_DIR")
                .map_or_else(|| workspace().join("target"), PathBuf::from)
                .join("readme-snippets"),
        )
        // As pasted into a crate that allows no warning: an unused import fails too.
        .env("RUSTFLAGS", "-D warnings")
        .output()
        .expect("cargo runs");
    assert!(
        output.status.success(),
        "the snippet of {} at line {} does not build as pasted:\n{}",
        snippet.page,
        snippet.line,
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The README and the guide's pages, `docs/*.md` in name order, relative to the workspace.
fn pages() -> Vec<String> {
    let mut guide: Vec<String> = std::fs::read_dir(workspace().join("docs"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.ends_with(".md"))
        .map(|name| format!("docs/{name}"))
        .collect();
    guide.sort();
    assert!(!guide.is_empty(), "the guide's pages are in docs/");
    let mut pages = vec!["README.md".to_owned()];
    pages.extend(guide);
    pages
}

#[test]
fn every_cargo_toml_and_rust_snippet_of_the_readme_and_the_guide_builds_as_pasted() {
    let mut snippets = Vec::new();
    for page in pages() {
        let text = std::fs::read_to_string(workspace().join(&page)).unwrap();
        snippets.extend(snippets_of(&page, &text));
    }
    let in_readme = snippets.iter().filter(|s| s.page == "README.md").count();
    assert!(
        in_readme >= 3,
        "the README's app and the test kit's two snippets: {in_readme} found"
    );
    assert!(
        snippets.len() >= 5,
        "the README's three, the features and the embedded issuer: {} found",
        snippets.len()
    );
    for snippet in &snippets {
        let dir = std::env::temp_dir().join(format!(
            "readme-snippet-{}-{}-{}",
            std::process::id(),
            snippet.page.replace(['/', '.'], "-"),
            snippet.line
        ));
        let _ = std::fs::remove_dir_all(&dir);
        build(snippet, &dir);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// Every page of the guide is the documentation of a module of `src/lib.rs`, so that its Rust
/// blocks run as doctests like the README's.
#[test]
fn every_page_of_the_guide_is_compiled_as_doctests() {
    let lib = std::fs::read_to_string(workspace().join("src/lib.rs")).unwrap();
    for page in pages().iter().filter(|page| page.starts_with("docs/")) {
        let include = format!("#[doc = include_str!(\"../{page}\")]");
        assert!(
            lib.contains(&include),
            "src/lib.rs does not compile {page} as doctests: `{include}` missing"
        );
    }
}

/// The anchors GitHub gives the headings of `text`: lower case, punctuation other than `-` and
/// `_` dropped, spaces as `-`, a repeated anchor numbered (`-1`, `-2`...).
fn anchors(text: &str) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    let mut fenced = false;
    for line in text.lines() {
        if line.starts_with("```") {
            fenced = !fenced;
        }
        if fenced || !line.starts_with('#') {
            continue;
        }
        let title = line.trim_start_matches('#');
        if !title.starts_with(' ') {
            continue;
        }
        let base: String = title
            .trim()
            .to_lowercase()
            .chars()
            .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
            .map(|c| if c == ' ' { '-' } else { c })
            .collect();
        let mut anchor = base.clone();
        let mut n = 0;
        while found.contains(&anchor) {
            n += 1;
            anchor = format!("{base}-{n}");
        }
        found.push(anchor);
    }
    found
}

/// The targets of the inline links of `text` (`[text](target)`), outside fenced blocks.
fn links(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut fenced = false;
    for line in text.lines() {
        if line.starts_with("```") {
            fenced = !fenced;
        }
        if fenced {
            continue;
        }
        let mut rest = line;
        while let Some(start) = rest.find("](") {
            let after = &rest[start + 2..];
            let Some(end) = after.find(')') else { break };
            found.push(after[..end].to_owned());
            rest = &after[end..];
        }
    }
    found
}

#[test]
fn every_relative_link_of_the_readme_and_the_guide_resolves() {
    for page in pages() {
        let text = std::fs::read_to_string(workspace().join(&page)).unwrap();
        let folder = Path::new(&page).parent().unwrap().to_owned();
        for link in links(&text) {
            if link.contains("://") || link.starts_with("mailto:") {
                continue;
            }
            let (file, anchor) = link.split_once('#').unwrap_or((&link, ""));
            let target = if file.is_empty() {
                workspace().join(&page)
            } else {
                workspace().join(&folder).join(file)
            };
            assert!(target.exists(), "{page}: the link `{link}` leads nowhere");
            if !anchor.is_empty() {
                let target_text = std::fs::read_to_string(&target).unwrap();
                assert!(
                    anchors(&target_text).iter().any(|a| a == anchor),
                    "{page}: the link `{link}` names no heading of {}",
                    target.display()
                );
            }
        }
    }
}
