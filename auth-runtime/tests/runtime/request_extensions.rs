//! The `Principal` in the request extensions: `web::ReqData<Principal>` in handlers, a rate
//! limiter keyed by subject inside `JwtAuth`, an access log outside it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use actix_web::dev::Service as _;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{App, HttpMessage as _, HttpResponse, get, post, web};
use auth_runtime::testing::TestIssuer;
use auth_runtime::{JwtAuth, Principal, allow_anonymous, requires_role};
use serde_json::json;

use crate::support::{Server, client, get as fetch, send, serve_app};

#[get("/ext/me")]
async fn my_subject(me: web::ReqData<Principal>) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "sub": me.claims().sub }))
}

#[requires_role("admin")]
#[post("/ext/admin")]
async fn admin(me: web::ReqData<Principal>, body: web::Json<serde_json::Value>) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "sub": me.claims().sub, "body": body.into_inner() }))
}

/// Registered before the anonymous route below: `/ext/wide/open` may be anonymous before
/// routing and is not after it.
#[get("/ext/wide/{name}")]
async fn wide(me: web::ReqData<Principal>) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "sub": me.claims().sub }))
}

#[allow_anonymous]
#[get("/ext/wide/open")]
async fn open() -> HttpResponse {
    HttpResponse::Ok().finish()
}

#[allow_anonymous]
#[get("/ext/public")]
async fn public(me: Option<web::ReqData<Principal>>) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "identity": me.is_some() }))
}

/// Requests per subject, counted by the limiter.
type Counts = Arc<Mutex<HashMap<String, u32>>>;

fn serve(auth: JwtAuth, limit: u32, counts: Counts, log: Arc<Mutex<Vec<String>>>) -> Server {
    serve_app(1, move || {
        let counts = Arc::clone(&counts);
        let log = Arc::clone(&log);
        App::new()
            // Inside `JwtAuth` (registered before it): runs after authentication, before
            // routing. At most `limit` requests per subject.
            .wrap_fn(move |req, srv| {
                let subject = req
                    .extensions()
                    .get::<Principal>()
                    .map(|me| me.claims().sub.clone());
                let over = subject.as_ref().is_some_and(|subject| {
                    let mut counts = counts.lock().unwrap();
                    let count = counts.entry(subject.clone()).or_insert(0);
                    *count += 1;
                    *count > limit
                });
                let res = (!over).then(|| srv.call(req));
                async move {
                    match res {
                        Some(res) => res.await,
                        None => Err(actix_web::error::ErrorTooManyRequests("slow down")),
                    }
                }
            })
            .wrap(auth.clone())
            // Outside `JwtAuth`: sees the caller on the way out.
            .wrap_fn(move |req, srv| {
                let res = srv.call(req);
                let log = Arc::clone(&log);
                async move {
                    let mut res = res.await?;
                    let subject = res
                        .request()
                        .extensions()
                        .get::<Principal>()
                        .map(|me| me.claims().sub.clone());
                    let line = format!(
                        "{} {} {}",
                        res.status().as_u16(),
                        res.request().path(),
                        subject.as_deref().unwrap_or("-")
                    );
                    log.lock().unwrap().push(line);
                    let value = HeaderValue::from_str(subject.as_deref().unwrap_or("-")).unwrap();
                    res.headers_mut()
                        .insert(HeaderName::from_static("x-logged-subject"), value);
                    Ok(res)
                }
            })
            .service(my_subject)
            .service(admin)
            .service(wide)
            .service(open)
            .service(public)
    })
}

#[actix_web::test]
async fn req_data_principal_works_on_every_kind_of_route() {
    let issuer = TestIssuer::start();
    let log = Arc::new(Mutex::new(Vec::new()));
    let server = serve(
        JwtAuth::new(issuer.config()).unwrap(),
        100,
        Counts::default(),
        Arc::clone(&log),
    );
    let alice = issuer.token().sub("alice").role("viewer").sign();
    let root = issuer.token().sub("root").role("admin").sign();

    let reply = fetch(&server, "/ext/me", Some(&alice)).await;
    assert_eq!(
        (reply.status, reply.body["sub"].as_str()),
        (200, Some("alice"))
    );
    assert_eq!(reply.header("x-logged-subject"), "alice");

    // Validated after a route that may be anonymous turned out not to be.
    let reply = fetch(&server, "/ext/wide/open", Some(&alice)).await;
    assert_eq!(
        (reply.status, reply.body["sub"].as_str()),
        (200, Some("alice"))
    );
    assert_eq!(reply.header("x-logged-subject"), "alice");

    let req = client()
        .post(format!("{}/ext/admin", server.base))
        .bearer_auth(&root)
        .json(&json!({ "n": 1 }));
    let reply = send(req).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(reply.body, json!({ "sub": "root", "body": { "n": 1 } }));

    // Anonymous routes have no identity there either, token or not.
    for token in [None, Some(alice.as_str()), Some("not.a.token")] {
        let reply = fetch(&server, "/ext/public", token).await;
        assert_eq!(reply.body["identity"], false, "{token:?}");
        assert_eq!(reply.header("x-logged-subject"), "-", "{token:?}");
    }

    // Rejections carry no identity: no token, a forged one, a missing role.
    let forged = format!("{alice}x");
    assert_eq!(fetch(&server, "/ext/me", Some(&forged)).await.status, 401);
    let viewer_on_admin = send(
        client()
            .post(format!("{}/ext/admin", server.base))
            .bearer_auth(&alice)
            .json(&json!({})),
    )
    .await;
    assert_eq!(viewer_on_admin.status, 403);
    assert_eq!(viewer_on_admin.header("x-logged-subject"), "alice");

    let lines = log.lock().unwrap().clone();
    assert!(lines.contains(&"200 /ext/me alice".to_owned()), "{lines:?}");
    assert!(lines.contains(&"401 /ext/me -".to_owned()), "{lines:?}");
    assert!(
        lines.contains(&"200 /ext/admin root".to_owned()),
        "{lines:?}"
    );
}

#[actix_web::test]
async fn a_limiter_inside_jwt_auth_is_keyed_by_subject() {
    let issuer = TestIssuer::start();
    let counts = Counts::default();
    let server = serve(
        JwtAuth::new(issuer.config()).unwrap(),
        3,
        Arc::clone(&counts),
        Arc::default(),
    );
    let alice = issuer.token().sub("alice").sign();
    let bob = issuer.token().sub("bob").sign();
    for n in 1..=3 {
        assert_eq!(
            fetch(&server, "/ext/me", Some(&alice)).await.status,
            200,
            "{n}"
        );
    }
    assert_eq!(fetch(&server, "/ext/me", Some(&alice)).await.status, 429);
    assert_eq!(fetch(&server, "/ext/me", Some(&bob)).await.status, 200);
    // Requests without a token are not counted under anyone; a valid token on an anonymous
    // route is (the limiter runs before routing picks the route).
    assert_eq!(fetch(&server, "/ext/public", None).await.status, 200);
    let reply = fetch(&server, "/ext/public", Some(&bob)).await;
    assert_eq!(
        (reply.status, &reply.body["identity"]),
        (200, &json!(false))
    );
    let counts = counts.lock().unwrap().clone();
    assert_eq!(counts.get("alice"), Some(&4));
    assert_eq!(counts.get("bob"), Some(&2));
    assert_eq!(counts.len(), 2);
}
