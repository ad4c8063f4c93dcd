//! PEM public keys (RFC 7468), as a `keys_file` may hold them instead of a JWKS document.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::key::VerifyingKey;

/// Whether `text` is PEM rather than JSON: its first line is a `-----BEGIN` line.
pub(crate) fn is_pem(text: &[u8]) -> bool {
    text.trim_ascii_start().starts_with(b"-----BEGIN ")
}

/// The public keys of a PEM file, in order. Fails on anything but `PUBLIC KEY` and
/// `RSA PUBLIC KEY` blocks (a private key or a certificate is refused, so that a private key
/// put there by mistake is noticed), and on a block that does not parse. The error never
/// repeats the file's content.
pub(crate) fn keys_from_pem(text: &[u8]) -> Result<Vec<VerifyingKey>, String> {
    let text = std::str::from_utf8(text).map_err(|_| "it is not UTF-8 text".to_owned())?;
    let mut keys = Vec::new();
    let mut lines = text.lines().map(str::trim).enumerate();
    while let Some((number, line)) = lines.next() {
        if line.is_empty() {
            continue;
        }
        let Some(label) = line
            .strip_prefix("-----BEGIN ")
            .and_then(|rest| rest.strip_suffix("-----"))
        else {
            return Err(format!(
                "line {}: text outside a -----BEGIN/-----END block",
                number + 1
            ));
        };
        let pkcs1 = match label {
            "PUBLIC KEY" => false,
            "RSA PUBLIC KEY" => true,
            label if label.contains("PRIVATE KEY") => {
                return Err(format!(
                    "line {}: a private key ({}); give the public key only",
                    number + 1,
                    label.escape_debug()
                ));
            }
            label => {
                return Err(format!(
                    "line {}: a {} block; only PUBLIC KEY and RSA PUBLIC KEY are read",
                    number + 1,
                    label.escape_debug()
                ));
            }
        };
        let end = format!("-----END {label}-----");
        let mut body = String::new();
        let mut closed = false;
        for (_, line) in lines.by_ref() {
            if line == end {
                closed = true;
                break;
            }
            body.push_str(line);
        }
        if !closed {
            return Err(format!(
                "the {label} block of line {} has no end",
                number + 1
            ));
        }
        let der = STANDARD
            .decode(body.as_bytes())
            .map_err(|_| format!("the {label} block of line {} is not base64", number + 1))?;
        let key = VerifyingKey::from_public_key_der(&der, pkcs1)
            .map_err(|why| format!("the {label} block of line {}: {why}", number + 1))?;
        keys.push(key);
    }
    Ok(keys)
}
