//! The verified claims in the application's own type: `Claims<T>` as an extractor and
//! `Principal::claims_as`, deserialised once per token.

use std::sync::atomic::{AtomicUsize, Ordering};

use actix_web::{HttpResponse, get, web};
use auth_runtime::testing::TestIssuer;
use auth_runtime::{Claims, JwtAuth, Principal};
use serde::Deserialize;
use serde_json::json;

use crate::support::{client, send, serve_routes};

static DESERIALISED: AtomicUsize = AtomicUsize::new(0);

/// What this application reads from its tokens.
#[derive(Debug)]
struct ShopClaims {
    sub: String,
    tenant: String,
    plan: Option<String>,
}

impl<'de> Deserialize<'de> for ShopClaims {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Wire {
            sub: String,
            tenant: String,
            plan: Option<String>,
        }
        DESERIALISED.fetch_add(1, Ordering::SeqCst);
        let wire = Wire::deserialize(deserializer)?;
        Ok(ShopClaims {
            sub: wire.sub,
            tenant: wire.tenant,
            plan: wire.plan,
        })
    }
}

#[get("/shop/me")]
async fn me(claims: Claims<ShopClaims>, principal: Principal) -> HttpResponse {
    let again = principal
        .claims_as::<ShopClaims>()
        .expect("the same claims");
    HttpResponse::Ok().json(json!({
        "sub": claims.sub,
        "tenant": claims.tenant,
        "plan": claims.plan,
        "same": std::sync::Arc::ptr_eq(&claims.into_inner(), &again),
    }))
}

fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(me);
}

#[actix_web::test]
async fn claims_come_in_the_apps_type_once_per_token_and_a_token_without_them_is_401() {
    let issuer = TestIssuer::start();
    let server = serve_routes(JwtAuth::new(issuer.config()).unwrap(), routes);
    let url = format!("{}/shop/me", server.base);
    let token = issuer
        .token()
        .sub("alice")
        .claim("tenant", json!("acme"))
        .sign();

    for _ in 0..3 {
        let reply = send(client().get(&url).bearer_auth(&token)).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert_eq!(reply.body["tenant"], "acme");
        assert_eq!(reply.body["sub"], "alice");
        assert!(reply.body["plan"].is_null());
        assert_eq!(reply.body["same"], true);
    }
    assert_eq!(
        DESERIALISED.load(Ordering::SeqCst),
        1,
        "deserialised once for the token, kept with its verdict"
    );

    let without = issuer.token().sub("bob").sign();
    let reply = send(client().get(&url).bearer_auth(&without)).await;
    assert_eq!(reply.status, 401, "{}", reply.body);
    assert!(
        reply.body["detail"]
            .as_str()
            .is_some_and(|detail| detail.contains("claims")),
        "{}",
        reply.body
    );
}
