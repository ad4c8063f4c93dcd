//! Mistakes in several attributes of one handler: each is reported once, by the outermost.

use auth_runtime::{requires_group, requires_role, requires_scope};

#[requires_role("")]
#[requires_scope("articles write")]
#[requires_group]
async fn a() {}

fn main() {}
