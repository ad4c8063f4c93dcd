use auth_runtime::requires_scope;

#[requires_scope("articles:read articles:write")]
async fn space() {}

#[requires_scope("articles:\"write\"")]
async fn quote() {}

#[requires_scope("articles*")]
async fn star_without_colon() {}

#[requires_scope("articles:*:write")]
async fn star_in_the_middle() {}

#[requires_scope("*")]
async fn star_alone() {}

#[requires_scope(":*")]
async fn no_prefix() {}

#[requires_scope("artículos:write")]
async fn not_ascii() {}

fn main() {}
