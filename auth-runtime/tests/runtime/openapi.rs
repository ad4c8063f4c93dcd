//! `#[utoipa::path]` next to the auth attributes, in every order, and the OpenAPI document
//! `JwtAuth::secure_openapi` completes: operation by operation, against a real server that
//! enforces what the document says.

use actix_web::http::Method;
use actix_web::{App, HttpResponse, get, post, put, web};
use auth_runtime::openapi::BearerSecurity;
use auth_runtime::testing::TestIssuer;
use auth_runtime::{
    Anonymous, JwtAuth, allow_anonymous, requires_group, requires_role, requires_scope,
};
use serde_json::json;
use utoipa::OpenApi;

use crate::support::{Server, client, config_with, get as fetch, send, serve_app};

/// utoipa's attribute first, then ours, then the route.
#[utoipa::path(responses((status = 200, description = "For admins")))]
#[requires_role("admin")]
#[get("/oa/utoipa-first")]
async fn utoipa_first() -> HttpResponse {
    HttpResponse::Ok().body("utoipa first")
}

/// Ours first: utoipa sees the hidden extractor parameter.
#[requires_role("admin")]
#[utoipa::path(responses((status = 200, description = "For admins")))]
#[get("/oa/ours-first")]
async fn ours_first() -> HttpResponse {
    HttpResponse::Ok().body("ours first")
}

/// Ours below the route attribute.
#[utoipa::path(responses((status = 201, description = "Written")))]
#[post("/oa/ours-below")]
#[requires_scope("articles:write")]
async fn ours_below() -> HttpResponse {
    HttpResponse::Created().body("ours below")
}

#[derive(serde::Deserialize, serde::Serialize, utoipa::ToSchema)]
struct Deployment {
    v: u32,
}

/// Two attributes of ours around utoipa's, a path parameter and a JSON body.
#[requires_group("eng")]
#[utoipa::path(
    params(("id" = u32, Path, description = "The deployment")),
    request_body = Deployment,
    responses((status = 200, description = "Deployed"))
)]
#[requires_scope("deploy:*")]
#[put("/oa/deployments/{id}")]
async fn deploy_by_id(id: web::Path<u32>, body: web::Json<Deployment>) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "id": id.into_inner(), "body": body.into_inner() }))
}

#[allow_anonymous]
#[utoipa::path(responses((status = 200, description = "Up")))]
#[get("/oa/anonymous-first")]
async fn anonymous_first() -> HttpResponse {
    HttpResponse::Ok().body("anonymous first")
}

#[utoipa::path(responses((status = 200, description = "Up")))]
#[allow_anonymous]
#[get("/oa/anonymous-second")]
async fn anonymous_second() -> HttpResponse {
    HttpResponse::Ok().body("anonymous second")
}

/// No attribute of ours: any valid token.
#[utoipa::path(params(("id" = u32, Path)), responses((status = 200, description = "An item")))]
#[get("/oa/items/{id}")]
async fn item_by_id(id: web::Path<u32>) -> HttpResponse {
    HttpResponse::Ok().body(id.to_string())
}

/// Two handlers named `twin`, in two modules: one operation id for two policies.
mod first {
    use super::*;

    #[utoipa::path(responses((status = 200, description = "First twin")))]
    #[requires_role("auditor")]
    #[get("/oa/first/twin")]
    pub async fn twin() -> HttpResponse {
        HttpResponse::Ok().body("first twin")
    }
}

mod second {
    use super::*;

    #[allow_anonymous]
    #[utoipa::path(responses((status = 200, description = "Second twin")))]
    #[get("/oa/second/twin")]
    pub async fn twin() -> HttpResponse {
        HttpResponse::Ok().body("second twin")
    }
}

/// A third `twin`, with no attribute: it needs a token whatever its namesakes do.
mod third {
    use super::*;

    #[utoipa::path(responses((status = 200, description = "Third twin")))]
    #[get("/oa/third/twin")]
    pub async fn twin() -> HttpResponse {
        HttpResponse::Ok().body("third twin")
    }
}

/// Anonymous at `/ping`: a protected path that merely ends the same way stays protected.
#[allow_anonymous]
#[utoipa::path(responses((status = 200, description = "Pong")))]
#[get("/ping")]
async fn ping() -> HttpResponse {
    HttpResponse::Ok().body("pong")
}

#[utoipa::path(responses((status = 200, description = "A deeper pong")))]
#[get("/oa/deep/ping")]
async fn deep_ping() -> HttpResponse {
    HttpResponse::Ok().body("deep pong")
}

/// Anonymous, mounted in a scope the attribute does not see: documented as needing a token,
/// the safe side, since `/open` alone does not say which operation it is.
#[allow_anonymous]
#[utoipa::path(path = "/oa/scoped/open", responses((status = 200, description = "Open")))]
#[get("/open")]
async fn scoped_open() -> HttpResponse {
    HttpResponse::Ok().body("scoped open")
}

/// The same, saying itself that it needs no token: kept as it says.
#[allow_anonymous]
#[utoipa::path(
    path = "/oa/scoped/declared",
    security(()),
    responses((status = 200, description = "Open"))
)]
#[get("/declared")]
async fn scoped_declared() -> HttpResponse {
    HttpResponse::Ok().body("scoped declared")
}

/// Registered by hand, anonymous through `Anonymous` and `JwtAuth::anonymous_route`.
#[utoipa::path(get, path = "/oa/status", responses((status = 200, description = "Status")))]
async fn status() -> HttpResponse {
    HttpResponse::Ok().body("status")
}

/// Under `public_paths`.
#[utoipa::path(get, path = "/oa/public/info", responses((status = 200, description = "Info")))]
async fn public_info() -> HttpResponse {
    HttpResponse::Ok().body("info")
}

#[derive(OpenApi)]
#[openapi(paths(
    utoipa_first,
    ours_first,
    ours_below,
    deploy_by_id,
    anonymous_first,
    anonymous_second,
    item_by_id,
    first::twin,
    second::twin,
    third::twin,
    ping,
    deep_ping,
    scoped_open,
    scoped_declared,
    status,
    public_info
))]
struct ApiDoc;

fn auth(issuer: &TestIssuer) -> JwtAuth {
    let config = config_with(issuer, |raw| raw.public_paths = vec!["/oa/public".into()]);
    JwtAuth::new(config)
        .unwrap()
        .anonymous_route(&[Method::GET], "/oa/status")
}

fn serve(auth: JwtAuth) -> Server {
    serve_app(1, move || {
        App::new()
            .wrap(auth.clone())
            .service(utoipa_first)
            .service(ours_first)
            .service(ours_below)
            .service(deploy_by_id)
            .service(anonymous_first)
            .service(anonymous_second)
            .service(item_by_id)
            .service(first::twin)
            .service(second::twin)
            .service(web::resource("/oa/status").route(web::get().to(status).wrap(Anonymous)))
            .route("/oa/public/info", web::get().to(public_info))
    })
}

#[actix_web::test]
async fn every_order_of_utoipa_and_auth_attributes_is_enforced() {
    let issuer = TestIssuer::start();
    let server = serve(auth(&issuer));
    let viewer = issuer.token().role("viewer").sign();
    let admin = issuer.token().role("admin").sign();
    let writer = issuer
        .token()
        .claim("scope", json!("articles:write"))
        .sign();
    let engineer = issuer
        .token()
        .groups(&["eng"])
        .claim("scope", json!("deploy:prod"))
        .sign();

    for path in ["/oa/utoipa-first", "/oa/ours-first", "/oa/first/twin"] {
        assert_eq!(fetch(&server, path, None).await.status, 401, "{path}");
        assert_eq!(
            fetch(&server, path, Some(&viewer)).await.status,
            403,
            "{path}"
        );
    }
    assert_eq!(
        fetch(&server, "/oa/utoipa-first", Some(&admin))
            .await
            .status,
        200
    );
    assert_eq!(
        fetch(&server, "/oa/ours-first", Some(&admin)).await.status,
        200
    );

    let post = |token: &str| {
        client()
            .post(format!("{}/oa/ours-below", server.base))
            .bearer_auth(token.to_owned())
    };
    assert_eq!(send(post(&viewer)).await.status, 403);
    assert_eq!(send(post(&writer)).await.status, 201);

    let put = |token: &str, body: &str| {
        client()
            .put(format!("{}/oa/deployments/7", server.base))
            .bearer_auth(token.to_owned())
            .header("content-type", "application/json")
            .body(body.to_owned())
    };
    // Refused before the body is read: broken JSON still gets the 403.
    assert_eq!(send(put(&writer, "{broken")).await.status, 403);
    let reply = send(put(&engineer, "{\"v\": 2}")).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(reply.body, json!({ "id": 7, "body": { "v": 2 } }));

    for path in [
        "/oa/anonymous-first",
        "/oa/anonymous-second",
        "/oa/second/twin",
        "/oa/status",
        "/oa/public/info",
    ] {
        assert_eq!(fetch(&server, path, None).await.status, 200, "{path}");
    }
    assert_eq!(fetch(&server, "/oa/items/3", None).await.status, 401);
    assert_eq!(
        fetch(&server, "/oa/items/3", Some(&viewer)).await.status,
        200
    );
}

#[test]
fn the_document_says_how_each_operation_is_protected() {
    let issuer_free_auth = {
        // The document needs the middleware's public paths and hand-declared routes, not a
        // running issuer: a configuration pointing at a closed port is enough.
        let raw = auth_runtime::RawConfig {
            issuer: "https://id.example".into(),
            audience: auth_runtime::Audience(vec!["api".into()]),
            public_paths: vec!["/oa/public".into()],
            ..Default::default()
        };
        JwtAuth::new(raw.validate().unwrap())
            .unwrap()
            .anonymous_route(&[Method::GET], "/oa/status")
    };
    let mut doc = ApiDoc::openapi();
    issuer_free_auth.secure_openapi(&mut doc);
    let doc = serde_json::to_value(&doc).unwrap();

    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"],
        json!({ "type": "http", "scheme": "bearer", "bearerFormat": "JWT" })
    );
    let op = |path: &str, method: &str| doc["paths"][path][method].clone();
    let bearer = |scopes: &[&str]| json!([{ "bearer": scopes }]);

    for (path, method, scopes, forbidden) in [
        ("/oa/utoipa-first", "get", vec![], "one of the roles admin"),
        ("/oa/ours-first", "get", vec![], "one of the roles admin"),
        (
            "/oa/ours-below",
            "post",
            vec!["articles:write"],
            "one of the scopes articles:write",
        ),
        (
            "/oa/deployments/{id}",
            "put",
            vec!["deploy:*"],
            "one of the scopes deploy:*; and one of the groups eng",
        ),
        ("/oa/first/twin", "get", vec![], "one of the roles auditor"),
    ] {
        let operation = op(path, method);
        assert_eq!(operation["security"], bearer(&scopes), "{path}");
        let responses = &operation["responses"];
        assert!(responses["401"]["description"].is_string(), "{path}");
        let description = responses["403"]["description"].as_str().unwrap_or("");
        assert!(description.contains(forbidden), "{path}: {description}");
        // The operation's own responses are still there.
        assert!(
            responses["200"].is_object() || responses["201"].is_object(),
            "{path}"
        );
    }

    // Any valid token: 401, no 403.
    let item = op("/oa/items/{id}", "get");
    assert_eq!(item["security"], bearer(&[]));
    assert!(item["responses"]["401"].is_object());
    assert!(item["responses"]["403"].is_null());

    // No token needed: no requirement, no 401 or 403.
    for path in [
        "/oa/anonymous-first",
        "/oa/anonymous-second",
        "/oa/second/twin",
        "/oa/status",
        "/oa/public/info",
    ] {
        let operation = op(path, "get");
        assert_eq!(operation["security"], json!([]), "{path}");
        assert!(operation["responses"]["401"].is_null(), "{path}");
        assert!(operation["responses"]["403"].is_null(), "{path}");
    }

    // A namesake or a path ending never makes an operation open.
    for path in ["/oa/third/twin", "/oa/deep/ping", "/oa/scoped/open"] {
        let operation = op(path, "get");
        assert_eq!(operation["security"], bearer(&[]), "{path}");
        assert!(operation["responses"]["401"].is_object(), "{path}");
    }
    assert_eq!(op("/ping", "get")["security"], json!([]));
    let declared = op("/oa/scoped/declared", "get");
    assert_eq!(declared["security"], json!([{}]));
    assert!(declared["responses"]["401"].is_null());

    // The hidden parameter does not show; the real ones do.
    let deploy = op("/oa/deployments/{id}", "put");
    let names: Vec<&str> = deploy["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["id"]);
    assert!(deploy["requestBody"].is_object());
    assert!(op("/oa/utoipa-first", "get")["parameters"].is_null());
}

#[test]
fn the_modifier_works_without_a_middleware() {
    #[derive(OpenApi)]
    #[openapi(paths(ours_first, anonymous_first, item_by_id), modifiers(&BearerSecurity))]
    struct Small;

    let doc = serde_json::to_value(Small::openapi()).unwrap();
    assert_eq!(
        doc["paths"]["/oa/ours-first"]["get"]["security"],
        json!([{ "bearer": [] }])
    );
    assert!(doc["paths"]["/oa/ours-first"]["get"]["responses"]["403"].is_object());
    assert_eq!(
        doc["paths"]["/oa/anonymous-first"]["get"]["security"],
        json!([])
    );
    assert_eq!(
        doc["paths"]["/oa/items/{id}"]["get"]["security"],
        json!([{ "bearer": [] }])
    );
}
