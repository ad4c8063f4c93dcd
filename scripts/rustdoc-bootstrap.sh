# Sourced by scripts/docs.sh and scripts/public-api.sh: `bootstrapped_rustdoc DIR` writes
# DIR/rustdoc, a rustdoc that may use unstable options (RUSTC_BOOTSTRAP=1), and prints its path.
# The variable goes to rustdoc alone, through this wrapper, because build scripts (proc-macro2's,
# anyhow's) rerun when it changes for rustc, and every crate above them would then be rebuilt,
# here and again for the next build without it.
bootstrapped_rustdoc() {
    cat >"$1/rustdoc" <<WRAPPER
#!/bin/sh
RUSTC_BOOTSTRAP=1 exec "${RUSTDOC:-rustdoc}" "\$@"
WRAPPER
    chmod +x "$1/rustdoc"
    echo "$1/rustdoc"
}
