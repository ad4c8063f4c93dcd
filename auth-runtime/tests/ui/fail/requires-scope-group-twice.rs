use auth_runtime::{requires_group, requires_role, requires_scope};

#[requires_scope("articles:read")]
#[requires_scope("articles:write")]
async fn a() {}

#[requires_group("eng")]
#[requires_role("admin")]
#[requires_group("ops")]
async fn b() {}

fn main() {}
