//! The `htu` of a proof and the URL of a request, each reduced to one spelling before they
//! are compared (RFC 9449 section 4.3: without query and fragment, normalised per RFC 3986
//! section 6.2.2 and 6.2.3).

/// `url` in the one form compared: scheme and host in lower case, the scheme's default port
/// left out, an empty path as `/`, percent-encodings of unreserved characters decoded and
/// the others in upper case, dot segments removed; query and fragment dropped. `None` for
/// anything but an absolute `http` or `https` URL without user information.
pub(crate) fn normalise(url: &str) -> Option<String> {
    let url = url.split(['#', '?']).next().unwrap_or_default();
    let (scheme, rest) = url.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "http" => 80,
        "https" => 443,
        _ => return None,
    };
    let (authority, path) = match rest.find('/') {
        Some(slash) => rest.split_at(slash),
        None => (rest, ""),
    };
    let origin = origin(authority, default_port)?;
    let mut normalised = format!("{scheme}://{origin}");
    normalised.push_str(&path_of(path)?);
    Some(normalised)
}

/// The URL a request was sent to, from its parts as the server sees them: `scheme`, the
/// `host` (a `Host` header: a host name or an IP literal and an optional port, nothing else),
/// and the `path` as sent. `None` when the host is not one, or the path has dot segments
/// (`.` or `..`, in any spelling): routing reads the path as sent, so a proof may only name
/// it as sent.
pub(crate) fn request_url(scheme: &str, host: &str, path: &str) -> Option<String> {
    let host_ok = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'));
    if !host_ok {
        return None;
    }
    under(&format!("{scheme}://{host}"), path)
}

/// The URL of `path` under `base` (an absolute URL without query, and `path` as sent);
/// `None` when the path has dot segments or does not start with `/`.
pub(crate) fn under(base: &str, path: &str) -> Option<String> {
    if !path.starts_with('/') {
        return None;
    }
    let decoded = decode_path(path)?;
    if decoded
        .split('/')
        .any(|segment| segment == "." || segment == "..")
    {
        return None;
    }
    normalise(&format!("{base}{path}"))
}

/// `host[:port]` in lower case, without the default port; `None` with user information, an
/// empty host or a port that is not a number.
fn origin(authority: &str, default_port: u16) -> Option<String> {
    if authority.contains('@') || authority.is_empty() {
        return None;
    }
    // An IPv6 literal holds colons: the port comes after its closing bracket.
    let port_at = match authority.rfind(']') {
        Some(bracket) => authority[bracket..].find(':').map(|at| bracket + at),
        None => authority.rfind(':'),
    };
    let (host, port) = match port_at {
        Some(at) => (&authority[..at], &authority[at + 1..]),
        None => (authority, ""),
    };
    if host.is_empty() {
        return None;
    }
    let host = host.to_ascii_lowercase();
    if port.is_empty() {
        return Some(host);
    }
    let port: u16 = port
        .parse()
        .ok()
        .filter(|_| port.bytes().all(|b| b.is_ascii_digit()))?;
    Some(if port == default_port {
        host
    } else {
        format!("{host}:{port}")
    })
}

/// The path with its percent-encodings in one form and its dot segments removed; `/` for an
/// empty one. `None` for a broken percent-encoding.
fn path_of(path: &str) -> Option<String> {
    Some(remove_dot_segments(&decode_path(path)?))
}

/// The path with the percent-encodings of unreserved characters decoded and the others in
/// upper case. `None` for a broken percent-encoding or a byte outside ASCII.
fn decode_path(path: &str) -> Option<String> {
    let bytes = path.as_bytes();
    let mut decoded = String::with_capacity(path.len().max(1));
    let mut at = 0;
    while at < bytes.len() {
        let byte = bytes[at];
        if byte != b'%' {
            decoded.push(char::from(byte));
            at += 1;
            continue;
        }
        let hex = bytes.get(at + 1..at + 3)?;
        let value = u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?;
        if value.is_ascii_alphanumeric() || matches!(value, b'-' | b'.' | b'_' | b'~') {
            decoded.push(char::from(value));
        } else {
            decoded.push('%');
            decoded.push_str(&std::str::from_utf8(hex).ok()?.to_ascii_uppercase());
        }
        at += 3;
    }
    if !path.is_ascii() {
        return None;
    }
    Some(decoded)
}

/// RFC 3986 section 5.2.4, on a path that starts with `/` (or is empty).
fn remove_dot_segments(path: &str) -> String {
    let mut output: Vec<&str> = Vec::new();
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    let last = segments.len().saturating_sub(1);
    let mut trailing_slash = false;
    for (index, segment) in segments.iter().enumerate() {
        match *segment {
            "." => trailing_slash = index == last,
            ".." => {
                output.pop();
                trailing_slash = index == last;
            }
            other => {
                output.push(other);
                trailing_slash = false;
            }
        }
    }
    let mut result = String::with_capacity(path.len().max(1));
    for segment in &output {
        result.push('/');
        result.push_str(segment);
    }
    if trailing_slash || result.is_empty() {
        result.push('/');
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_of_one_url_meet() {
        let same = [
            "https://api.example.com/orders/42",
            "HTTPS://API.Example.COM/orders/42",
            "https://api.example.com:443/orders/42",
            "https://api.example.com/orders/42?page=2",
            "https://api.example.com/orders/42#top",
            "https://api.example.com/orders/./42",
            "https://api.example.com/orders/x/../42",
            "https://api.example.com/%6Frders/42",
        ];
        for url in same {
            assert_eq!(
                normalise(url).as_deref(),
                Some("https://api.example.com/orders/42"),
                "{url}"
            );
        }
    }

    #[test]
    fn different_urls_stay_apart() {
        let base = normalise("https://api.example.com/orders/42");
        for url in [
            "http://api.example.com/orders/42",
            "https://api.example.com:8443/orders/42",
            "https://api.example.org/orders/42",
            "https://api.example.com/orders/43",
            "https://api.example.com/orders/42/",
            "https://api.example.com/orders%2F42",
            "https://api.example.com/Orders/42",
        ] {
            assert_ne!(normalise(url), base, "{url}");
        }
    }

    #[test]
    fn what_is_not_an_http_url_is_refused() {
        for url in [
            "api.example.com/orders",
            "ftp://api.example.com/",
            "https://user@api.example.com/",
            "https:///orders",
            "https://api.example.com:x/",
            "https://api.example.com/%zz",
            "https://api.example.com/\u{e9}",
        ] {
            assert_eq!(normalise(url), None, "{url}");
        }
    }

    #[test]
    fn a_request_url_takes_a_host_only_and_a_path_without_dot_segments() {
        assert_eq!(
            request_url("http", "API.example.com:80", "/a/%7eb").as_deref(),
            Some("http://api.example.com/a/~b")
        );
        assert_eq!(
            request_url("https", "[::1]:8443", "/a").as_deref(),
            Some("https://[::1]:8443/a")
        );
        for host in ["h/a?", "h#", "h/", "u@h", "h x", "", "h\\"] {
            assert_eq!(request_url("http", host, "/a"), None, "{host}");
        }
        for path in ["/../a", "/./a", "/x/..", "/%2e%2E/a", "/x/%2E/a", "a", ""] {
            assert_eq!(request_url("http", "h", path), None, "{path}");
        }
        assert_eq!(
            under("https://api.example.com/v1", "/orders").as_deref(),
            Some("https://api.example.com/v1/orders")
        );
        assert_eq!(under("https://api.example.com/v1", "/../orders"), None);
    }

    #[test]
    fn the_path_is_kept_where_it_has_no_dots() {
        assert_eq!(normalise("http://h").as_deref(), Some("http://h/"));
        assert_eq!(normalise("http://h:80/a/").as_deref(), Some("http://h/a/"));
        assert_eq!(normalise("http://h/a/b/..").as_deref(), Some("http://h/a/"));
        assert_eq!(
            normalise("http://h/%7e%2f").as_deref(),
            Some("http://h/~%2F")
        );
        assert_eq!(
            normalise("http://[::1]:8080/x").as_deref(),
            Some("http://[::1]:8080/x")
        );
        assert_eq!(
            normalise("http://[::1]/x").as_deref(),
            Some("http://[::1]/x")
        );
    }
}
