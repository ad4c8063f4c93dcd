use actix_web::{HttpResponse, get};
use auth_runtime::{requires_role, requires_scope};

#[doc(hidden)]
#[allow(non_camel_case_types)]
struct __auth_policy_other;

impl auth_runtime::__private::Policy for __auth_policy_other {
    const ROLES: &'static [&'static str] = &[];
    const SCOPES: &'static [&'static str] = &[];
    const GROUPS: &'static [&'static str] = &[];
}

/// A hand-written mark under an outer attribute cannot take the outer check away.
#[requires_role("admin")]
#[requires_scope(__auth_merged)]
#[get("/x")]
async fn handler(_: auth_runtime::__private::Require<__auth_policy_other>) -> HttpResponse {
    HttpResponse::Ok().finish()
}

fn main() {}
