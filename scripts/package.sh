#!/usr/bin/env bash
# Packages auth-macros, auth-runtime and auth-server as `cargo publish` would, in that order:
# each .crate is unpacked and built on its own, against the ones before it through a temporary
# local registry. Then checks what each .crate holds: regular files only, none over 1 MiB,
# nothing from target/, node_modules/ or the test fixtures. Arguments go to `cargo package`
# (`--allow-dirty` to try uncommitted changes).
set -euo pipefail
cd "$(dirname "$0")/.."

crates=(auth-macros auth-runtime auth-server)
max_file_bytes=$((1024 * 1024))

args=()
for crate in "${crates[@]}"; do
    args+=(-p "$crate")
done
# Cargo unpacks each .crate it verifies against from the temporary registry into
# $CARGO_HOME/registry/src/<registry>/NAME-VERSION, and reuses that directory when it exists.
# The temporary registry of a checkout at the same path gets the same directory, so a copy
# unpacked by an earlier run, of older code under the same version, would be built instead of
# the .crate just made. Those copies are removed first; crates.io's own directories are not
# touched (their names start with the host, the local registries' with "-").
cargo_home=${CARGO_HOME:-$HOME/.cargo}
for crate in "${crates[@]}"; do
    rm -rf "$cargo_home"/registry/src/-*/"$crate"-[0-9]* "$cargo_home"/registry/cache/-*/"$crate"-[0-9]*
done
cargo package --locked "${args[@]}" "$@"

# The .crate files are in the target directory, named after each package's version.
metadata=$(cargo metadata --format-version 1 --no-deps --locked)
target_dir=$(python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])' <<<"$metadata")

status=0
for crate in "${crates[@]}"; do
    version=$(python3 -c '
import json, sys
print(next(p["version"] for p in json.load(sys.stdin)["packages"] if p["name"] == sys.argv[1]))
' "$crate" <<<"$metadata")
    file="$target_dir/package/$crate-$version.crate"
    # `tar -tv` columns: mode, owner, size, date, time, path.
    if ! tar -tzvf "$file" | awk -v max="$max_file_bytes" -v crate="$crate" '
        { files++; bytes += $3 }
        $1 !~ /^[-d]/ { print crate ": not a regular file: " $6; bad = 1 }
        $3 > max { print crate ": " $6 " is " $3 " bytes, over " max; bad = 1 }
        $6 ~ /(^|\/)(target|node_modules|fixtures)\// { print crate ": must not be packaged: " $6; bad = 1 }
        END {
            printf "%s: %d files, %d bytes unpacked\n", crate, files, bytes
            exit bad
        }'; then
        status=1
    fi
    echo "$crate: $(wc -c <"$file") bytes compressed ($file)"
done
exit "$status"
