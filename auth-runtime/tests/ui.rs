//! Compile-time behaviour of the attributes (`#[requires_role]`, `#[requires_scope]`,
//! `#[requires_group]`, `#[allow_anonymous]`): every supported stacking compiles, every
//! misuse is one error that says the fix.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass/*.rs");
    t.compile_fail("tests/ui/fail/*.rs");
}
