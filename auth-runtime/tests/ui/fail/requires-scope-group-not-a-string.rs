use auth_runtime::{requires_group, requires_scope};

const WRITE: &str = "articles:write";

#[requires_scope(WRITE)]
async fn a() {}

#[requires_group(7)]
async fn b() {}

fn main() {}
