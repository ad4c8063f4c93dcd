//! A wallet signing in to the `embedded` example, step by step.
//!
//! ```text
//! cargo run --release --example wallet_client          # BASE_URL defaults to http://127.0.0.1:8100
//! ```
//!
//! It makes an Ed25519 key, asks for a challenge, signs it, signs in, calls a protected route,
//! refreshes its tokens, calls it again with the new token, and shows that the spent refresh
//! token is refused.

use std::process::ExitCode;

use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use serde_json::{Value, json};

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

async fn call(request: reqwest::RequestBuilder, expected: u16) -> Result<Value, String> {
    let response = request
        .send()
        .await
        .map_err(|err| format!("request failed: {err} (is the embedded example running?)"))?;
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    if status != expected {
        return Err(format!("expected {expected}, got {status}: {body}"));
    }
    Ok(body)
}

fn field<'a>(body: &'a Value, name: &str) -> Result<&'a str, String> {
    body[name]
        .as_str()
        .ok_or_else(|| format!("answer has no `{name}`: {body}"))
}

async fn run() -> Result<(), String> {
    let base = std::env::var("BASE_URL").unwrap_or_else(|_| "http://127.0.0.1:8100".to_owned());
    let auth = format!("{base}/api/v1/auth");
    let client = reqwest::Client::new();

    let wallet = Ed25519KeyPair::generate().map_err(|_| "cannot make an Ed25519 key")?;
    let address = hex(wallet.public_key().as_ref());
    println!("1. made an Ed25519 wallet, address {address}");

    let body = call(
        client
            .post(format!("{auth}/challenge"))
            .json(&json!({ "address": address })),
        200,
    )
    .await?;
    let challenge = field(&body, "challenge")?.to_owned();
    println!("2. challenge {challenge} (valid {}s)", body["ttl"]);

    let signature = hex(wallet.sign(challenge.as_bytes()).as_ref());
    println!("3. signed it: {}...", &signature[..32]);

    let body = call(
        client.post(format!("{auth}/sign-in")).json(&json!({
            "address": address,
            "public_key": address,
            "signature": signature,
            "challenge": challenge,
            "algorithm": "Ed25519",
        })),
        200,
    )
    .await?;
    let access = field(&body, "access_token")?.to_owned();
    let refresh = field(&body, "refresh_token")?.to_owned();
    println!(
        "4. signed in: access token {}..., refresh token {}...",
        &access[..24],
        &refresh[..8]
    );

    let profile = call(
        client
            .get(format!("{base}/api/profile"))
            .bearer_auth(&access),
        200,
    )
    .await?;
    println!("5. GET /api/profile -> {profile}");

    let body = call(
        client
            .post(format!("{auth}/refresh"))
            .json(&json!({ "refresh_token": refresh })),
        200,
    )
    .await?;
    let new_access = field(&body, "access_token")?.to_owned();
    println!("6. refreshed: new access token {}...", &new_access[..24]);

    let profile = call(
        client
            .get(format!("{base}/api/profile"))
            .bearer_auth(&new_access),
        200,
    )
    .await?;
    println!("7. GET /api/profile with the new token -> {profile}");

    let refused = call(
        client
            .post(format!("{auth}/refresh"))
            .json(&json!({ "refresh_token": refresh })),
        401,
    )
    .await?;
    println!("8. the spent refresh token again -> 401 {refused}");
    println!("done");
    Ok(())
}
