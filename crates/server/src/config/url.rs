//! The URLs etcd takes in its URL flags (`--listen-client-urls`,
//! `--initial-advertise-peer-urls`, ...), parsed and checked with etcd's
//! rules and messages.
//!
//! A URL here is `scheme://host:port` with scheme `http`, `https`, `unix` or
//! `unixs`, a port (possibly empty, as etcd allows) and no path. Lists are
//! comma-separated, sorted and de-duplicated like etcd's `types.NewURLs`.
//! This module does not resolve names or bind sockets.

use std::fmt;
use std::net::IpAddr;

use super::value::go_quote;

/// One validated etcd URL (`http://127.0.0.1:2379`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Url {
    /// Lower-cased scheme: `http`, `https`, `unix` or `unixs`.
    scheme: String,
    /// `user[:password]` before an `@`, kept only so the URL prints back as given.
    userinfo: Option<String>,
    /// `host:port` as written (IPv6 hosts keep their brackets).
    host: String,
    /// Raw query after `?`, kept for printing; etcd ignores it.
    query: Option<String>,
    /// Raw fragment after `#`, kept for printing; etcd ignores it.
    fragment: Option<String>,
}

impl Url {
    /// Parses one URL with etcd's rules (see `types.NewURLs`).
    pub fn parse(raw: &str) -> Result<Url, String> {
        let input = raw.trim();
        let url = parse_generic(input)?;
        let Some(scheme) = url
            .scheme
            .filter(|s| matches!(s.as_str(), "http" | "https" | "unix" | "unixs"))
        else {
            return Err(format!(
                "URL scheme must be http, https, unix, or unixs: {input}"
            ));
        };
        let host = url.host.unwrap_or_default();
        if split_host_port(&host).is_err() {
            return Err(format!(
                "URL address does not have the form \"host:port\": {input}"
            ));
        }
        if url.has_path {
            return Err(format!("URL must not contain a path: {input}"));
        }
        Ok(Url {
            scheme,
            userinfo: url.userinfo,
            host,
            query: url.query,
            fragment: url.fragment,
        })
    }

    /// Parses a comma-separated list, then sorts and de-duplicates it.
    pub fn parse_list(raw: &str) -> Result<Vec<Url>, String> {
        let mut urls = raw
            .split(',')
            .map(Url::parse)
            .collect::<Result<Vec<_>, _>>()?;
        sort_dedup(&mut urls);
        Ok(urls)
    }

    /// The scheme, lower-cased.
    pub fn scheme(&self) -> &str {
        &self.scheme
    }

    /// `host:port` as written, e.g. `127.0.0.1:2379` or `[::1]:2379`.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The host without port or IPv6 brackets, e.g. `::1`.
    pub fn hostname(&self) -> &str {
        split_host_port(&self.host).map_or("", |(h, _)| h)
    }

    /// The port as written (may be empty: etcd accepts `http://host:`).
    pub fn port(&self) -> &str {
        split_host_port(&self.host).map_or("", |(_, p)| p)
    }

    /// Whether the scheme asks for TLS (`https`, `unixs`).
    pub fn is_tls(&self) -> bool {
        matches!(self.scheme.as_str(), "https" | "unixs")
    }

    /// Whether the URL names a unix socket (`unix`, `unixs`).
    pub fn is_unix(&self) -> bool {
        matches!(self.scheme.as_str(), "unix" | "unixs")
    }
}

impl fmt::Display for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://", self.scheme)?;
        if let Some(user) = &self.userinfo {
            write!(f, "{user}@")?;
        }
        f.write_str(&self.host)?;
        if let Some(q) = &self.query {
            write!(f, "?{q}")?;
        }
        if let Some(frag) = &self.fragment {
            write!(f, "#{frag}")?;
        }
        Ok(())
    }
}

/// Sorts URLs by their printed form and drops duplicates, as etcd's flag
/// values do.
pub(crate) fn sort_dedup(urls: &mut Vec<Url>) {
    urls.sort_by_key(|u| u.to_string());
    urls.dedup();
}

/// Joins URLs with commas, the way etcd prints a URL list.
pub(crate) fn join(urls: &[Url]) -> String {
    urls.iter()
        .map(Url::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// etcd's check for URLs it will listen on: the host must be `localhost` or
/// an IP address (unix sockets are exempt).
pub(crate) fn check_bind_urls(urls: &[Url]) -> Result<(), String> {
    for url in urls {
        if url.is_unix() {
            continue;
        }
        let host = url.hostname();
        if host == "localhost" {
            continue;
        }
        if host.parse::<IpAddr>().is_err() {
            return Err(format!("expected IP in URL for binding ({url})"));
        }
    }
    Ok(())
}

/// etcd's check for URLs it advertises: the host must not be empty.
pub(crate) fn check_host_urls(urls: &[Url]) -> Result<(), String> {
    for url in urls {
        if url.hostname().is_empty() {
            return Err(format!("unexpected empty host ({url})"));
        }
    }
    Ok(())
}

/// The pieces of a generic URL, before etcd's own checks.
struct Generic {
    scheme: Option<String>,
    userinfo: Option<String>,
    host: Option<String>,
    has_path: bool,
    query: Option<String>,
    fragment: Option<String>,
}

/// A generic URL parse following Go's `net/url.Parse` closely enough that
/// the same inputs are accepted and rejected; its errors read
/// `parse "<url>": <reason>` like Go's.
fn parse_generic(raw: &str) -> Result<Generic, String> {
    let fail = |reason: String| format!("parse {}: {reason}", go_quote(raw));
    let (rest, fragment) = match raw.split_once('#') {
        Some((r, f)) => (r, Some(f.to_string())),
        None => (raw, None),
    };
    if rest.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return Err(fail("net/url: invalid control character in URL".into()));
    }
    let (scheme, rest) = split_scheme(rest).map_err(fail)?;
    let (rest, query) = match rest.split_once('?') {
        Some((r, q)) => (r, Some(q.to_string())),
        None => (rest, None),
    };
    let mut url = Generic {
        scheme,
        userinfo: None,
        host: None,
        has_path: false,
        query,
        fragment,
    };
    if !rest.starts_with('/') && url.scheme.is_some() {
        // An opaque URL such as `http:foo` has no host at all.
        return Ok(url);
    }
    let mut path = rest;
    if let Some(after) = rest.strip_prefix("//").filter(|a| !a.starts_with('/')) {
        let end = after.find('/').unwrap_or(after.len());
        let authority = &after[..end];
        path = &after[end..];
        let host = match authority.rfind('@') {
            Some(i) => {
                url.userinfo = Some(authority[..i].to_string());
                &authority[i + 1..]
            }
            None => authority,
        };
        check_host(host).map_err(fail)?;
        url.host = Some(host.to_string());
    }
    url.has_path = !path.is_empty();
    Ok(url)
}

/// Splits `scheme:` off the front, lower-casing it (Go's `getScheme`).
fn split_scheme(raw: &str) -> Result<(Option<String>, &str), String> {
    for (i, c) in raw.char_indices() {
        match c {
            'a'..='z' | 'A'..='Z' => {}
            '0'..='9' | '+' | '-' | '.' if i > 0 => {}
            ':' if i == 0 => return Err("missing protocol scheme".into()),
            ':' => return Ok((Some(raw[..i].to_ascii_lowercase()), &raw[i + 1..])),
            _ => return Ok((None, raw)),
        }
    }
    Ok((None, raw))
}

/// Go's host syntax check: bracketed IPv6, a numeric optional port, and
/// only characters that may appear in a host name.
fn check_host(host: &str) -> Result<(), String> {
    let name = if let Some(after) = host.strip_prefix('[') {
        let Some(close) = after.find(']') else {
            return Err("missing ']' in host".into());
        };
        let port = &after[close + 1..];
        if !valid_optional_port(port) {
            return Err(format!("invalid port {} after host", go_quote(port)));
        }
        &after[..close]
    } else {
        if let Some(i) = host.rfind(':') {
            let port = &host[i..];
            if !valid_optional_port(port) {
                return Err(format!("invalid port {} after host", go_quote(port)));
            }
        }
        host
    };
    for c in name.chars() {
        let allowed =
            !c.is_ascii() || c.is_ascii_alphanumeric() || "-_.~!$&'()*+,;=:[]<>\"%".contains(c);
        if !allowed {
            return Err(format!(
                "invalid character {} in host name",
                go_quote(&c.to_string())
            ));
        }
    }
    Ok(())
}

/// `""` or `:` followed by digits only.
fn valid_optional_port(port: &str) -> bool {
    port.is_empty()
        || port
            .strip_prefix(':')
            .is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()))
}

/// Go's `net.SplitHostPort`: `host:port` or `[v6]:port`, port may be empty.
pub(crate) fn split_host_port(hostport: &str) -> Result<(&str, &str), ()> {
    let colon = hostport.rfind(':').ok_or(())?;
    let (host, port) = (&hostport[..colon], &hostport[colon + 1..]);
    let host = if let Some(inner) = host.strip_prefix('[') {
        let inner = inner.strip_suffix(']').ok_or(())?;
        if inner.contains(['[', ']']) {
            return Err(());
        }
        inner
    } else {
        if host.contains([':', '[', ']']) {
            return Err(());
        }
        host
    };
    if port.contains(['[', ']']) {
        return Err(());
    }
    Ok((host, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_etcd_urls() {
        let u = Url::parse(" HTTP://127.0.0.1:2379 ").unwrap();
        assert_eq!(u.to_string(), "http://127.0.0.1:2379");
        assert_eq!(u.hostname(), "127.0.0.1");
        assert_eq!(u.port(), "2379");
        let v6 = Url::parse("https://[::1]:2379").unwrap();
        assert_eq!(v6.hostname(), "::1");
        assert!(v6.is_tls());
        assert!(Url::parse("unix://localhost:1").unwrap().is_unix());
        // etcd lets an empty port through.
        assert_eq!(Url::parse("http://a:").unwrap().port(), "");
    }

    #[test]
    fn rejects_with_etcd_messages() {
        assert_eq!(
            Url::parse("foo").unwrap_err(),
            "URL scheme must be http, https, unix, or unixs: foo"
        );
        assert_eq!(
            Url::parse("ftp://a:1").unwrap_err(),
            "URL scheme must be http, https, unix, or unixs: ftp://a:1"
        );
        assert_eq!(
            Url::parse("http://localhost").unwrap_err(),
            "URL address does not have the form \"host:port\": http://localhost"
        );
        assert_eq!(
            Url::parse("http://localhost:2379/").unwrap_err(),
            "URL must not contain a path: http://localhost:2379/"
        );
        assert_eq!(
            Url::parse("http://a b:1").unwrap_err(),
            "parse \"http://a b:1\": invalid character \" \" in host name"
        );
        assert_eq!(
            Url::parse("http://a:x").unwrap_err(),
            "parse \"http://a:x\": invalid port \":x\" after host"
        );
        assert_eq!(
            Url::parse(":2379").unwrap_err(),
            "parse \":2379\": missing protocol scheme"
        );
    }

    #[test]
    fn lists_are_sorted_and_deduplicated() {
        let urls = Url::parse_list("http://b:1,http://a:1,http://b:1").unwrap();
        assert_eq!(join(&urls), "http://a:1,http://b:1");
    }

    #[test]
    fn bind_and_host_checks() {
        let ok = Url::parse_list("http://localhost:1,http://10.0.0.1:2,http://[::1]:3").unwrap();
        assert!(check_bind_urls(&ok).is_ok());
        let named = Url::parse_list("http://example.com:2379").unwrap();
        assert_eq!(
            check_bind_urls(&named).unwrap_err(),
            "expected IP in URL for binding (http://example.com:2379)"
        );
        let empty = Url::parse_list("http://:2379").unwrap();
        assert_eq!(
            check_host_urls(&empty).unwrap_err(),
            "unexpected empty host (http://:2379)"
        );
    }
}
