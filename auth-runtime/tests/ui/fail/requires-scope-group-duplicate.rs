use auth_runtime::{requires_group, requires_scope};

#[requires_scope("articles:write", "articles:write")]
async fn a() {}

#[requires_group("eng", "ops", "eng")]
async fn b() {}

fn main() {}
