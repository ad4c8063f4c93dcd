#!/usr/bin/env bash
# The public API of auth-macros, auth-runtime and auth-server, all features on: one line per
# public item (and per trait impl, blanket impls left out), read by cargo-public-api from
# rustdoc's JSON output, compared with the snapshots in api/<crate>.txt.
#
#   scripts/public-api.sh           fails with a diff when the code's API differs from api/
#   scripts/public-api.sh --bless   rewrites api/ from the code (commit the result)
set -euo pipefail
cd "$(dirname "$0")/.."

# cargo-public-api 0.52.0 (its locked rustdoc-types 0.57) reads rustdoc JSON format 57, the one
# rustc 1.95 writes. Another toolchain writes another format: then pick the cargo-public-api
# whose locked rustdoc-types has that number, and bless.
tool_version=0.52.0
format_version=57
crates=(auth-macros auth-runtime auth-server)

bless=false
case "${1:-}" in
    "") ;;
    --bless) bless=true ;;
    *)
        echo "usage: $0 [--bless]" >&2
        exit 2
        ;;
esac

if [ "$(cargo public-api --version 2>/dev/null)" != "cargo-public-api $tool_version" ]; then
    cargo install cargo-public-api --version "=$tool_version" --locked
fi

target_dir=$(cargo metadata --format-version 1 --no-deps --locked |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# JSON output is unstable rustdoc, which the stable toolchain writes with RUSTC_BOOTSTRAP=1.
. scripts/rustdoc-bootstrap.sh
rustdoc=$(bootstrapped_rustdoc "$work")

status=0
mkdir -p api
for crate in "${crates[@]}"; do
    json="$target_dir/doc/${crate//-/_}.json"
    rm -f "$json"
    RUSTDOC="$rustdoc" cargo rustdoc --locked --quiet -p "$crate" --lib --all-features \
        -- -Z unstable-options --output-format json
    if [ ! -f "$json" ]; then
        echo "cargo rustdoc wrote no $json" >&2
        exit 1
    fi
    found=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["format_version"])' "$json")
    if [ "$found" != "$format_version" ]; then
        echo "$json is rustdoc JSON format $found; cargo-public-api $tool_version reads $format_version." >&2
        echo "Set tool_version and format_version in $0 for this toolchain, then run it with --bless." >&2
        exit 1
    fi
    cargo public-api --rustdoc-json "$json" --simplified --color never >"$work/$crate.txt"
    echo "$crate: $(wc -l <"$work/$crate.txt") public items and impls"
    if $bless; then
        cp "$work/$crate.txt" "api/$crate.txt"
    elif ! diff -u --label "api/$crate.txt (recorded)" --label "$crate (the code)" \
        "api/$crate.txt" "$work/$crate.txt"; then
        echo "The public API of $crate differs from api/$crate.txt (diff above)." >&2
        status=1
    fi
done

if [ "$status" -ne 0 ]; then
    echo "If the change is intended, record it: scripts/public-api.sh --bless, and commit api/." >&2
fi
exit "$status"
