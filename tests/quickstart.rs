//! Drives the built quickstart example from outside, as a newcomer (or another tool) would:
//! start the binary, read what it prints, talk HTTP to it.

mod common;

use std::process::{Command, Stdio};

use auth_runtime::testing::TestIssuer;
use serde_json::{Value, json};

struct Quickstart {
    _running: common::Running,
    base: String,
    lines: Vec<String>,
}

fn command(env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(common::example_binary("quickstart"));
    command
        .env("BIND_ADDR", "127.0.0.1:0")
        .env_remove("AUTH_CONFIG")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (key, value) in env {
        command.env(key, value);
    }
    command
}

/// Starts the example and reads its output until the line `until` starts with appears.
fn start(env: &[(&str, &str)], until: &str) -> Quickstart {
    let child = command(env).spawn().expect("start the quickstart example");
    let (running, lines) = common::Running::start(child, until);
    Quickstart {
        base: common::Running::base(&lines),
        _running: running,
        lines,
    }
}

fn exported(lines: &[String], name: &str) -> String {
    let prefix = format!("export {name}='");
    lines
        .iter()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|rest| rest.strip_suffix('\''))
        .unwrap_or_else(|| panic!("no {name} token printed"))
        .to_owned()
}

async fn call(
    method: reqwest::Method,
    url: String,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let client = reqwest::Client::new();
    let mut req = client.request(method, url);
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    if let Some(body) = body {
        req = req.json(&body);
    }
    let res = req.send().await.expect("request");
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn get(qs: &Quickstart, path: &str, token: Option<&str>) -> (u16, Value) {
    call(
        reqwest::Method::GET,
        format!("{}{path}", qs.base),
        token,
        None,
    )
    .await
}

#[tokio::test]
async fn demo_mode_prints_tokens_that_show_200_401_and_403() {
    let qs = start(&[], "curl -i -H \"Authorization: Bearer $ADMIN\" -H");
    let viewer = exported(&qs.lines, "VIEWER");
    let admin = exported(&qs.lines, "ADMIN");

    assert_eq!(
        get(&qs, "/health", None).await,
        (200, json!({"message": "ok"}))
    );
    let (status, body) = get(&qs, "/api/public", Some("not-a-token")).await;
    assert_eq!(status, 200);
    assert!(body["message"].is_string());

    let (status, body) = get(&qs, "/api/profile", None).await;
    assert_eq!(
        (status, body["detail"].as_str()),
        (401, Some("Missing or invalid Authorization header"))
    );
    let (status, body) = get(&qs, "/api/profile", Some(&viewer)).await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"subject": "viewer-1", "email": "viewer@example.com", "role": "viewer",
               "org_id": "", "roles": ["viewer"]})
    );

    let (status, body) = get(&qs, "/api/admin/dashboard", Some(&viewer)).await;
    assert_eq!(
        (status, body["detail"].as_str()),
        (403, Some("Requires one of roles: ['admin']"))
    );
    let (status, body) = get(&qs, "/api/admin/dashboard", Some(&admin)).await;
    assert_eq!(
        (status, body),
        (200, json!({"message": "Welcome, admin-1"}))
    );

    let (status, body) = get(&qs, "/api/whoami", Some(&viewer)).await;
    assert_eq!((status, body), (200, json!({"subject": "viewer-1"})));

    let article = json!({"title": "Hello"});
    let url = format!("{}/api/articles", qs.base);
    let (status, body) = call(
        reqwest::Method::POST,
        url.clone(),
        Some(&admin),
        Some(article.clone()),
    )
    .await;
    assert_eq!(
        (status, body),
        (201, json!({"title": "Hello", "author": "admin-1"}))
    );
    let (status, _) = call(
        reqwest::Method::POST,
        url.clone(),
        Some(&viewer),
        Some(article.clone()),
    )
    .await;
    assert_eq!(status, 403);
    let (status, _) = call(reqwest::Method::POST, url.clone(), None, Some(article)).await;
    assert_eq!(status, 401);
    // The role is checked before the body is read: a viewer's broken JSON is still a 403.
    let broken = reqwest::Client::new()
        .post(url)
        .bearer_auth(&viewer)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("request");
    assert_eq!(broken.status().as_u16(), 403);
}

#[tokio::test]
async fn configured_issuer_is_the_only_one_trusted() {
    let issuer = TestIssuer::start_with(auth_runtime::Algorithm::RS256, "my-api");
    let qs = start(
        &[
            ("AUTH_CLIENT__ISSUER", issuer.issuer()),
            ("AUTH_CLIENT__AUDIENCE", "my-api"),
        ],
        "trusting the configured issuer",
    );
    assert!(
        !qs.lines.iter().any(|l| l.starts_with("export ")),
        "no demo tokens"
    );

    let admin = issuer.token().sub("boss").role("admin").sign();
    let (status, body) = get(&qs, "/api/admin/dashboard", Some(&admin)).await;
    assert_eq!((status, body), (200, json!({"message": "Welcome, boss"})));

    let stranger = TestIssuer::start_with(auth_runtime::Algorithm::RS256, "my-api");
    let foreign = stranger
        .token()
        .issuer(issuer.issuer())
        .role("admin")
        .sign();
    assert_eq!(
        get(&qs, "/api/admin/dashboard", Some(&foreign)).await.0,
        401
    );
}

#[tokio::test]
async fn discovery_from_the_environment_finds_the_keys_through_the_issuer() {
    let issuer = TestIssuer::start_with(auth_runtime::Algorithm::ES256, "my-api");
    let qs = start(
        &[
            ("AUTH_CLIENT__ISSUER", issuer.issuer()),
            ("AUTH_CLIENT__AUDIENCE", "my-api"),
            ("AUTH_CLIENT__DISCOVERY", "true"),
            ("AUTH_CLIENT__ACCEPTED_ALGORITHMS", "[ES256]"),
        ],
        "trusting the configured issuer",
    );
    let admin = issuer.token().sub("boss").role("admin").sign();
    let (status, body) = get(&qs, "/api/admin/dashboard", Some(&admin)).await;
    assert_eq!((status, body), (200, json!({"message": "Welcome, boss"})));
    assert_eq!(issuer.discovery_fetch_count(), 1);
    assert_eq!(issuer.fetch_count(), 1);
}

/// A newcomer's first start warns of nothing: the URL DPoP proofs name defaults to the one the
/// example listens on.
#[test]
fn the_first_start_logs_no_warning() {
    use std::io::{BufRead as _, BufReader, Read as _};
    let mut child = command(&[]).spawn().expect("start the quickstart example");
    let stdout = child.stdout.take().expect("piped stdout");
    let listening = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .any(|line| line.starts_with("listening on"));
    let _ = child.kill();
    let _ = child.wait();
    assert!(listening, "the example never listened");
    let mut logs = String::new();
    child
        .stderr
        .take()
        .expect("piped stderr")
        .read_to_string(&mut logs)
        .expect("stderr read");
    assert!(!logs.contains("WARN"), "{logs}");
}

#[test]
fn bad_configuration_fails_at_start_with_the_key_and_the_fix() {
    let output = command(&[("AUTH_CLIENT__ISSUER", "http://id.example.com")])
        .output()
        .expect("run the quickstart example");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("auth_client.jwks_endpoint"), "{stderr}");
    assert!(stderr.contains("use https"), "{stderr}");
}

async fn scrape(qs: &Quickstart) -> String {
    let res = reqwest::get(format!("{}/metrics", qs.base))
        .await
        .expect("scrape");
    assert_eq!(res.status(), 200, "/metrics is anonymous");
    let content_type = res.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    res.text().await.expect("exposition")
}

#[tokio::test]
async fn metrics_count_requests_cache_keys_and_verification() {
    let qs = start(&[], "curl -i -H \"Authorization: Bearer $ADMIN\" -H");
    let viewer = exported(&qs.lines, "VIEWER");
    let admin = exported(&qs.lines, "ADMIN");
    let forged = format!("{viewer}x");

    // Nothing went through authentication yet: no auth metric at all.
    let before = scrape(&qs).await;
    assert!(!before.contains("auth_requests_total"), "{before}");
    let requests = |outcome: &str, reason: &str| {
        format!("auth_requests_total{{outcome=\"{outcome}\",reason=\"{reason}\"}}")
    };

    for _ in 0..3 {
        assert_eq!(get(&qs, "/api/profile", Some(&viewer)).await.0, 200);
    }
    assert_eq!(get(&qs, "/api/admin/dashboard", Some(&admin)).await.0, 200);
    assert_eq!(get(&qs, "/api/admin/dashboard", Some(&viewer)).await.0, 403);
    assert_eq!(get(&qs, "/api/profile", None).await.0, 401);
    assert_eq!(get(&qs, "/api/profile", None).await.0, 401);
    assert_eq!(get(&qs, "/api/profile", Some(&forged)).await.0, 401);
    assert_eq!(get(&qs, "/api/public", Some(&admin)).await.0, 200);
    assert_eq!(get(&qs, "/health", None).await.0, 200);
    // An unbound token sent as DPoP.
    let dpop = reqwest::Client::new()
        .get(format!("{}/api/profile", qs.base))
        .header("Authorization", format!("DPoP {viewer}"))
        .send()
        .await
        .expect("request");
    assert_eq!(dpop.status(), 401);

    let after = scrape(&qs).await;
    let count =
        |series: &str| common::sample(&after, series).unwrap_or_else(|| panic!("no {series}"));
    // 3 profile + 1 dashboard for the admin; the dashboard for the viewer is the 403.
    assert_eq!(count(&requests("authenticated", "none")), 4.0);
    assert_eq!(count(&requests("forbidden", "insufficient_role")), 1.0);
    assert_eq!(count(&requests("rejected", "missing_token")), 2.0);
    assert_eq!(count(&requests("rejected", "bad_signature")), 1.0);
    assert_eq!(count(&requests("rejected", "token_not_bound")), 1.0);
    // A token on an anonymous route is checked, then ignored.
    assert_eq!(count(&requests("anonymous", "none")), 1.0);
    // Every outcome and reason is there from the first authentication on, at zero if need be.
    assert_eq!(count(&requests("rejected", "expired")), 0.0);
    assert_eq!(count(&requests("forbidden", "insufficient_scope")), 0.0);
    assert_eq!(count(&requests("rejected", "dpop_replayed")), 0.0);
    assert_eq!(count(&requests("rejected", "use_dpop_nonce")), 0.0);
    // Two distinct good tokens and one forged: three verifications, the rest from the cache
    // (the viewer's token sent as DPoP too).
    assert_eq!(count("auth_token_cache_misses_total"), 3.0);
    assert_eq!(count("auth_token_cache_hits_total"), 5.0);
    assert_eq!(count("auth_token_cache_entries"), 2.0);
    assert!(count("auth_token_cache_bytes") > 0.0);
    assert_eq!(
        count("auth_token_verification_seconds_count{algorithm=\"RS256\"}"),
        3.0
    );
    assert!(count("auth_token_verification_seconds_sum{algorithm=\"RS256\"}") > 0.0);
    let issuer = qs
        .lines
        .iter()
        .find_map(|line| line.strip_prefix("demo issuer "))
        .and_then(|rest| rest.split(' ').next())
        .expect("demo issuer printed")
        .to_owned();
    assert_eq!(
        count(&format!(
            "auth_jwks_fetches_total{{issuer=\"{issuer}\",result=\"ok\"}}"
        )),
        1.0
    );
    let fetched = count(&format!(
        "auth_jwks_last_success_timestamp_seconds{{issuer=\"{issuer}\"}}"
    ));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!(
        (now - fetched).abs() < 120.0,
        "fetched at {fetched}, now {now}"
    );
    // Every metric has its help text.
    for name in [
        "auth_requests_total",
        "auth_token_cache_hits_total",
        "auth_token_verification_seconds",
    ] {
        assert!(after.contains(&format!("# HELP {name} ")), "{name}");
    }
    // No token ever shows up there.
    assert!(!after.contains(&viewer[viewer.len() - 20..]));
}

#[tokio::test]
async fn the_openapi_document_says_how_each_operation_is_protected() {
    let qs = start(&[], "curl -i -H \"Authorization: Bearer $ADMIN\" -H");
    let (status, doc) = get(&qs, "/api-docs/openapi.json", None).await;
    assert_eq!(status, 200, "the document is anonymous");
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"],
        json!({"type": "http", "scheme": "bearer", "bearerFormat": "JWT"})
    );
    let operation = |path: &str, method: &str| doc["paths"][path][method].clone();
    // Anonymous: no requirement, no 401.
    for path in ["/health", "/api/public"] {
        let op = operation(path, "get");
        assert_eq!(op["security"], json!([]), "{path}");
        assert!(op["responses"]["401"].is_null(), "{path}");
    }
    // Any valid token.
    for path in ["/api/profile", "/api/whoami"] {
        let op = operation(path, "get");
        assert_eq!(op["security"], json!([{"bearer": []}]), "{path}");
        assert!(op["responses"]["401"].is_object(), "{path}");
        assert!(op["responses"]["403"].is_null(), "{path}");
    }
    // A role: 401 and 403, the 403 naming the roles.
    for (path, method, roles) in [
        ("/api/admin/dashboard", "get", "admin"),
        ("/api/articles", "post", "editor, admin"),
    ] {
        let op = operation(path, method);
        assert_eq!(op["security"], json!([{"bearer": []}]), "{path}");
        assert!(op["responses"]["401"].is_object(), "{path}");
        let forbidden = op["responses"]["403"]["description"].as_str().unwrap_or("");
        assert!(
            forbidden.contains(&format!("one of the roles {roles}")),
            "{path}: {forbidden}"
        );
    }
    assert!(operation("/api/articles", "post")["requestBody"].is_object());
    assert_eq!(doc["paths"].as_object().map(|paths| paths.len()), Some(6));
}

/// The guide's HS256 command: a shared secret from the environment, no key set to fetch.
#[tokio::test]
async fn a_shared_secret_from_the_environment_verifies_hs256_tokens() {
    let secret = "a-legacy-jwt-secret-of-more-than-32-bytes-0123456789";
    let qs = start(
        &[
            (
                "AUTH_CLIENT__ISSUER",
                "https://project.supabase.example/auth/v1",
            ),
            ("AUTH_CLIENT__AUDIENCE", "authenticated"),
            ("AUTH_CLIENT__ACCEPTED_ALGORITHMS", "[HS256]"),
            ("AUTH_CLIENT__SHARED_SECRET", secret),
        ],
        "trusting the configured issuer",
    );
    assert!(
        !qs.lines.iter().any(|l| l.contains(secret)),
        "never printed"
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let sign = |key: &[u8]| {
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            &json!({
                "iss": "https://project.supabase.example/auth/v1", "aud": "authenticated",
                "sub": "user-1", "role": "admin", "iat": now, "exp": now + 300,
            }),
            &jsonwebtoken::EncodingKey::from_secret(key),
        )
        .unwrap()
    };
    let (status, body) = get(&qs, "/api/admin/dashboard", Some(&sign(secret.as_bytes()))).await;
    assert_eq!((status, body), (200, json!({"message": "Welcome, user-1"})));
    let forged = sign(b"not-the-secret-but-just-as-long-0123456789abcdefgh");
    assert_eq!(get(&qs, "/api/admin/dashboard", Some(&forged)).await.0, 401);
}
