use auth_runtime::{requires_group, requires_scope};

#[requires_scope("articles:write", all = true)]
async fn a() {}

#[requires_group(any = "eng")]
async fn b() {}

fn main() {}
