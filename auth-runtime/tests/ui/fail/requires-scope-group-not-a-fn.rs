use auth_runtime::{requires_group, requires_scope};

#[requires_scope("articles:write")]
struct A;

#[requires_group("eng")]
const B: u8 = 1;

fn main() {}
