use auth_runtime::{requires_group, requires_scope};

#[requires_scope("")]
async fn a() {}

#[requires_group(" ")]
async fn b() {}

fn main() {}
