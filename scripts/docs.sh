#!/usr/bin/env bash
# The documentation of auth-macros, auth-runtime and auth-server, as users and docs.rs see it:
# built without features, with all of them, and as docs.rs builds it (`--cfg docsrs`, which
# shows each gated item's feature), every warning (a broken link, a missing doc) an error.
set -euo pipefail
cd "$(dirname "$0")/.."

crates=(-p auth-macros -p auth-runtime -p auth-server)

echo "docs: no features"
RUSTDOCFLAGS="-D warnings" cargo doc --locked --quiet --no-deps "${crates[@]}"
echo "docs: all features"
RUSTDOCFLAGS="-D warnings" cargo doc --locked --quiet --no-deps --all-features "${crates[@]}"

# docs.rs's `doc_cfg` is unstable rustdoc, which the stable toolchain runs with
# RUSTC_BOOTSTRAP=1.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
. scripts/rustdoc-bootstrap.sh
rustdoc=$(bootstrapped_rustdoc "$work")
echo "docs: as docs.rs builds them"
RUSTDOC="$rustdoc" RUSTDOCFLAGS="--cfg docsrs -D warnings" \
    cargo doc --locked --quiet --no-deps --all-features "${crates[@]}"
