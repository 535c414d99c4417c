//! Fetching a profile from a URL without letting the URL reach places it should not.
//!
//! A URL handed to `cao install` may come from anyone. The fetch is https only; it never
//! connects to a private, link-local, metadata or otherwise non-public address (checked on
//! every address the host resolves to, at connect time, so DNS tricks between check and
//! connect do not help); it follows redirects only within the same scheme, host and port; it
//! reads at most [`MAX_PROFILE_BYTES`](super::MAX_PROFILE_BYTES) and gives up after a timeout.
//! For a test server on this machine, `--allow-http-loopback` allows loopback addresses
//! (127.0.0.0/8, ::1), over http or https; link-local (169.254.0.0/16, fe80::/10) is never allowed.
//! Proxy variables are ignored: the checks hold for the address actually connected to.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ureq::Agent;
use ureq::config::Config as HttpConfig;
use ureq::http::Uri;
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{DefaultConnector, NextTimeout};

/// Limits and permissions of one fetch.
#[derive(Debug, Clone)]
pub struct FetchPolicy {
    /// Allow loopback addresses (and plain http to them): for local test servers only.
    pub allow_http_loopback: bool,
    /// Largest body accepted.
    pub max_bytes: usize,
    /// Time allowed for the whole fetch, redirects included.
    pub timeout: Duration,
    /// Most redirects followed (each within the same origin).
    pub max_redirects: usize,
}

impl Default for FetchPolicy {
    fn default() -> Self {
        FetchPolicy {
            allow_http_loopback: false,
            max_bytes: super::MAX_PROFILE_BYTES,
            timeout: Duration::from_secs(20),
            max_redirects: 5,
        }
    }
}

/// The kind of network an IP address belongs to; only [`AddressClass::Public`] is fetched from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressClass {
    /// Globally routable.
    Public,
    /// 127.0.0.0/8, ::1.
    Loopback,
    /// 10/8, 172.16/12, 192.168/16, fc00::/7, fec0::/10.
    Private,
    /// 169.254.0.0/16, fe80::/10 — where cloud metadata services answer.
    LinkLocal,
    /// A known cloud metadata endpoint outside the link-local range (e.g. 168.63.129.16).
    Metadata,
    /// 100.64.0.0/10, carrier-grade NAT space.
    SharedNat,
    /// 0.0.0.0/8, ::.
    Unspecified,
    /// 224.0.0.0/4, ff00::/8, 255.255.255.255.
    Multicast,
    /// 192.0.2/24, 198.51.100/24, 203.0.113/24, 2001:db8::/32.
    Documentation,
    /// 198.18.0.0/15.
    Benchmarking,
    /// Anything else set aside (240/4, 192.0.0/24, Teredo, discard-only, ...).
    Reserved,
}

impl fmt::Display for AddressClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AddressClass::Public => "public",
            AddressClass::Loopback => "loopback",
            AddressClass::Private => "private-network",
            AddressClass::LinkLocal => "link-local (cloud metadata)",
            AddressClass::Metadata => "cloud metadata",
            AddressClass::SharedNat => "shared (carrier-grade NAT)",
            AddressClass::Unspecified => "unspecified",
            AddressClass::Multicast => "multicast/broadcast",
            AddressClass::Documentation => "documentation-only",
            AddressClass::Benchmarking => "benchmarking",
            AddressClass::Reserved => "reserved",
        })
    }
}

/// Classifies an address; IPv6 forms that embed an IPv4 address are judged by that address.
pub fn classify(ip: IpAddr) -> AddressClass {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(ip: Ipv4Addr) -> AddressClass {
    let [a, b, c, _] = ip.octets();
    match (a, b, c) {
        _ if ip == Ipv4Addr::new(168, 63, 129, 16) => AddressClass::Metadata,
        _ if ip == Ipv4Addr::BROADCAST => AddressClass::Multicast,
        (0, _, _) => AddressClass::Unspecified,
        (10, _, _) | (172, 16..=31, _) | (192, 168, _) => AddressClass::Private,
        (100, 64..=127, _) => AddressClass::SharedNat,
        (127, _, _) => AddressClass::Loopback,
        (169, 254, _) => AddressClass::LinkLocal,
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => AddressClass::Documentation,
        (198, 18..=19, _) => AddressClass::Benchmarking,
        (192, 0, 0) | (192, 88, 99) | (240..=255, _, _) => AddressClass::Reserved,
        (224..=239, _, _) => AddressClass::Multicast,
        _ => AddressClass::Public,
    }
}

fn classify_v6(ip: Ipv6Addr) -> AddressClass {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return classify_v4(v4);
    }
    let s = ip.segments();
    let embedded_low =
        || Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    match s {
        _ if ip.is_unspecified() => AddressClass::Unspecified,
        _ if ip.is_loopback() => AddressClass::Loopback,
        // IPv4-compatible (::a.b.c.d, deprecated) and NAT64 (64:ff9b::a.b.c.d).
        [0, 0, 0, 0, 0, 0, _, _] | [0x64, 0xff9b, 0, 0, 0, 0, _, _] => classify_v4(embedded_low()),
        // 6to4: 2002:AABB:CCDD::/48 carries an IPv4 address.
        [0x2002, hi, lo, ..] => classify_v4(Ipv4Addr::new(
            (hi >> 8) as u8,
            hi as u8,
            (lo >> 8) as u8,
            lo as u8,
        )),
        [0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x0254] => AddressClass::Metadata,
        [x, ..] if x & 0xfe00 == 0xfc00 => AddressClass::Private,
        [x, ..] if x & 0xffc0 == 0xfe80 => AddressClass::LinkLocal,
        [x, ..] if x & 0xffc0 == 0xfec0 => AddressClass::Private,
        [x, ..] if x & 0xff00 == 0xff00 => AddressClass::Multicast,
        [0x2001, 0x0db8, ..] => AddressClass::Documentation,
        [0x2001, 0, ..] | [0x0100, 0, 0, 0, ..] => AddressClass::Reserved,
        [x, ..] if x & 0xe000 != 0x2000 => AddressClass::Reserved,
        _ => AddressClass::Public,
    }
}

/// Why a fetch was refused or failed. Each class of bad input has its own variant.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// Not a usable URL.
    #[error("cannot use URL {url:?}: {reason}")]
    BadUrl {
        /// The URL.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A scheme other than https (or http under the flag).
    #[error(
        "URL scheme '{scheme}' is not supported; give an https:// URL, a file path or a profile name"
    )]
    UnsupportedScheme {
        /// The scheme.
        scheme: String,
    },
    /// Plain http without `--allow-http-loopback`.
    #[error(
        "plain http:// is refused: profiles are fetched over https:// only (for a test server on 127.0.0.1, pass --allow-http-loopback)"
    )]
    HttpRefused,
    /// Plain http to a host that is not loopback.
    #[error("http:// is allowed only to a loopback address, and {host} is {ip}; use https://")]
    HttpNotLoopback {
        /// The host.
        host: String,
        /// The address it resolved to.
        ip: IpAddr,
    },
    /// The host is (or resolves to) an address cao does not fetch from.
    #[error("refusing to fetch from {host} ({ip}): it is a {class} address, and cao fetches profiles only from public hosts{}", hint(*.class))]
    ForbiddenAddress {
        /// The host.
        host: String,
        /// The offending address.
        ip: IpAddr,
        /// Its class.
        class: AddressClass,
    },
    /// A redirect that leaves the original scheme, host and port.
    #[error(
        "refusing the redirect from {from} to {to}: redirects must stay on the same scheme, host and port; install from the final URL directly if you trust it"
    )]
    CrossHostRedirect {
        /// Where the redirect came from.
        from: String,
        /// Where it pointed.
        to: String,
    },
    /// Too many redirects.
    #[error("more than {max} redirects; install from the final URL directly")]
    TooManyRedirects {
        /// The limit.
        max: usize,
    },
    /// The server did not answer 200.
    #[error("{url} answered HTTP {code}; check the URL")]
    Status {
        /// The URL.
        url: String,
        /// The status code.
        code: u16,
    },
    /// The body is over the size cap.
    #[error(
        "the response from {url} is larger than {max} bytes, the limit for a profile; check that the URL points at a profile .md file"
    )]
    TooLarge {
        /// The URL.
        url: String,
        /// The limit.
        max: usize,
    },
    /// The fetch took too long.
    #[error(
        "no complete answer from {url} within {secs}s; check the URL or your network, then retry"
    )]
    Timeout {
        /// The URL.
        url: String,
        /// The limit.
        secs: u64,
    },
    /// The body is not text.
    #[error("the response from {url} is not UTF-8 text; a profile is a Markdown file")]
    NotUtf8 {
        /// The URL.
        url: String,
    },
    /// Anything else on the way (DNS, TLS, connection).
    #[error("cannot fetch {url}: {reason}; check the URL and your network")]
    Network {
        /// The URL.
        url: String,
        /// What failed.
        reason: String,
    },
}

fn hint(class: AddressClass) -> &'static str {
    match class {
        AddressClass::Loopback => "; for a local test server pass --allow-http-loopback",
        AddressClass::LinkLocal | AddressClass::Metadata => {
            " (never allowed: cloud metadata services answer there)"
        }
        _ => "",
    }
}

/// A fetched profile text and the URL it finally came from.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// The body.
    pub text: String,
    /// The URL after redirects.
    pub url: String,
}

/// Whether `ip` may be connected to for `scheme` under `policy`.
fn check_ip(
    host: &str,
    ip: IpAddr,
    http: bool,
    policy_allows_loopback: bool,
) -> Result<(), FetchError> {
    let class = classify(ip);
    match class {
        AddressClass::Loopback if policy_allows_loopback => Ok(()),
        AddressClass::Public if http => Err(FetchError::HttpNotLoopback {
            host: host.to_string(),
            ip,
        }),
        AddressClass::Public => Ok(()),
        class => Err(FetchError::ForbiddenAddress {
            host: host.to_string(),
            ip,
            class,
        }),
    }
}

/// Resolver that refuses to hand ureq any address the policy forbids, so the check applies to
/// the very addresses connected to (and to every redirect hop).
#[derive(Debug)]
struct GuardedResolver {
    allow_loopback: bool,
    refusal: Arc<Mutex<Option<FetchError>>>,
}

impl Resolver for GuardedResolver {
    fn resolve(
        &self,
        uri: &Uri,
        config: &HttpConfig,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let addrs = DefaultResolver::default().resolve(uri, config, timeout)?;
        let host = uri.host().unwrap_or_default();
        let http = uri.scheme_str() == Some("http");
        for addr in addrs.iter() {
            if let Err(e) = check_ip(host, addr.ip(), http, self.allow_loopback) {
                *self.refusal.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
                return Err(ureq::Error::HostNotFound);
            }
        }
        Ok(addrs)
    }
}

/// Checks a URL before any network traffic: scheme, credentials, host, and an IP-literal host.
fn check_url(raw: &str, policy: &FetchPolicy) -> Result<Uri, FetchError> {
    let bad = |reason: &str| FetchError::BadUrl {
        url: raw.to_string(),
        reason: reason.to_string(),
    };
    if raw.len() > 2048 {
        return Err(bad("it is longer than 2048 characters"));
    }
    if raw.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(bad("it contains spaces or control characters"));
    }
    let scheme = raw.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
    match scheme.as_deref() {
        Some("https") => {}
        Some("http") if policy.allow_http_loopback => {}
        Some("http") => return Err(FetchError::HttpRefused),
        Some(other) => {
            return Err(FetchError::UnsupportedScheme {
                scheme: other.to_string(),
            });
        }
        None => return Err(bad("it has no scheme; write https://...")),
    }
    let uri: Uri = raw
        .parse()
        .map_err(|e: ureq::http::uri::InvalidUri| bad(&e.to_string()))?;
    let authority = uri.authority().ok_or_else(|| bad("it has no host"))?;
    if authority.as_str().contains('@') {
        return Err(bad(
            "credentials in URLs are refused; use a URL without user:password@",
        ));
    }
    let host = uri.host().unwrap_or_default();
    if host.is_empty() {
        return Err(bad("it has no host"));
    }
    let literal = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = literal.parse::<IpAddr>() {
        check_ip(
            host,
            ip,
            uri.scheme_str() == Some("http"),
            policy.allow_http_loopback,
        )?;
    }
    Ok(uri)
}

/// Scheme, lowercased host and effective port: what a redirect must keep.
fn origin(uri: &Uri) -> (String, String, u16) {
    let scheme = uri.scheme_str().unwrap_or_default().to_ascii_lowercase();
    let port = uri
        .port_u16()
        .unwrap_or(if scheme == "http" { 80 } else { 443 });
    (
        scheme,
        uri.host().unwrap_or_default().to_ascii_lowercase(),
        port,
    )
}

/// Resolves a `Location` header against the URL that sent it (RFC 3986 reference
/// resolution, by the `url` crate): `None` when the two do not make a URL.
fn resolve_location(base: &Uri, location: &str) -> Option<String> {
    let base = url::Url::parse(&base.to_string()).ok()?;
    Some(base.join(location).ok()?.to_string())
}

/// Where a redirect from `current` to `location` leads, if it stays on the same scheme, host
/// and port.
fn redirect_target(current: &Uri, location: &str) -> Result<Uri, FetchError> {
    let refused = |to: String| FetchError::CrossHostRedirect {
        from: current.to_string(),
        to,
    };
    let next_raw = resolve_location(current, location).ok_or_else(|| refused(location.into()))?;
    let next: Uri = next_raw.parse().map_err(|_| refused(next_raw.clone()))?;
    if origin(&next) != origin(current) {
        return Err(refused(next_raw));
    }
    Ok(next)
}

/// Fetches `url` under `policy`.
pub fn fetch(url: &str, policy: &FetchPolicy) -> Result<Fetched, FetchError> {
    let mut uri = check_url(url, policy)?;
    let refusal = Arc::new(Mutex::new(None));
    let config = Agent::config_builder()
        .timeout_global(Some(policy.timeout))
        .max_redirects(0)
        .http_status_as_error(false)
        .proxy(None)
        .user_agent(concat!("cao/", env!("CARGO_PKG_VERSION")))
        .max_response_header_size(32 * 1024)
        .build();
    let agent = Agent::with_parts(
        config,
        DefaultConnector::default(),
        GuardedResolver {
            allow_loopback: policy.allow_http_loopback,
            refusal: refusal.clone(),
        },
    );
    let start = std::time::Instant::now();
    let mut redirects = 0;
    loop {
        let current = uri.to_string();
        let network = |e: ureq::Error| {
            if let Some(refused) = refusal.lock().unwrap_or_else(|p| p.into_inner()).take() {
                return refused;
            }
            match e {
                ureq::Error::Timeout(_) => FetchError::Timeout {
                    url: current.clone(),
                    secs: policy.timeout.as_secs(),
                },
                ureq::Error::BodyExceedsLimit(_) => FetchError::TooLarge {
                    url: current.clone(),
                    max: policy.max_bytes,
                },
                other => FetchError::Network {
                    url: current.clone(),
                    reason: other.to_string(),
                },
            }
        };
        // One time budget for the whole fetch, redirects included.
        let Some(remaining) = policy.timeout.checked_sub(start.elapsed()) else {
            return Err(FetchError::Timeout {
                url: current,
                secs: policy.timeout.as_secs(),
            });
        };
        let mut response = agent
            .get(&current)
            .header("Accept", "text/markdown, text/plain;q=0.9, */*;q=0.1")
            .config()
            .timeout_global(Some(remaining))
            .build()
            .call()
            .map_err(network)?;
        let status = response.status().as_u16();
        if (300..400).contains(&status) {
            let location = response
                .headers()
                .get("location")
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| FetchError::Status {
                    url: current.clone(),
                    code: status,
                })?;
            let next = redirect_target(&uri, location)?;
            redirects += 1;
            if redirects > policy.max_redirects {
                return Err(FetchError::TooManyRedirects {
                    max: policy.max_redirects,
                });
            }
            uri = next;
            continue;
        }
        if status != 200 {
            return Err(FetchError::Status {
                url: current,
                code: status,
            });
        }
        let declared = response
            .headers()
            .get("content-length")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        if declared.is_some_and(|n| n > policy.max_bytes as u64) {
            return Err(FetchError::TooLarge {
                url: current,
                max: policy.max_bytes,
            });
        }
        let bytes = response
            .body_mut()
            .with_config()
            .limit(policy.max_bytes as u64)
            .read_to_vec()
            .map_err(network)?;
        if bytes.len() > policy.max_bytes {
            return Err(FetchError::TooLarge {
                url: current,
                max: policy.max_bytes,
            });
        }
        let text = String::from_utf8(bytes).map_err(|_| FetchError::NotUtf8 {
            url: current.clone(),
        })?;
        return Ok(Fetched { text, url: current });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::net::TcpListener;

    fn class(s: &str) -> AddressClass {
        classify(s.parse().unwrap())
    }

    #[test]
    fn address_classes() {
        for (ip, want) in [
            ("8.8.8.8", AddressClass::Public),
            ("127.0.0.1", AddressClass::Loopback),
            ("127.255.0.9", AddressClass::Loopback),
            ("10.1.2.3", AddressClass::Private),
            ("172.16.0.1", AddressClass::Private),
            ("172.31.255.255", AddressClass::Private),
            ("172.32.0.1", AddressClass::Public),
            ("192.168.1.1", AddressClass::Private),
            ("169.254.169.254", AddressClass::LinkLocal),
            ("168.63.129.16", AddressClass::Metadata),
            ("100.100.100.200", AddressClass::SharedNat),
            ("0.0.0.0", AddressClass::Unspecified),
            ("224.0.0.1", AddressClass::Multicast),
            ("255.255.255.255", AddressClass::Multicast),
            ("240.0.0.1", AddressClass::Reserved),
            ("192.0.0.192", AddressClass::Reserved),
            ("192.0.2.1", AddressClass::Documentation),
            ("198.18.0.1", AddressClass::Benchmarking),
            ("::1", AddressClass::Loopback),
            ("::", AddressClass::Unspecified),
            ("::ffff:169.254.169.254", AddressClass::LinkLocal),
            ("::ffff:10.0.0.1", AddressClass::Private),
            ("::10.0.0.1", AddressClass::Private),
            ("64:ff9b::a9fe:a9fe", AddressClass::LinkLocal),
            ("2002:a9fe:a9fe::1", AddressClass::LinkLocal),
            ("2002:0808:0808::1", AddressClass::Public),
            ("fd00:ec2::254", AddressClass::Metadata),
            ("fc00::1", AddressClass::Private),
            ("fe80::1", AddressClass::LinkLocal),
            ("fec0::1", AddressClass::Private),
            ("ff02::1", AddressClass::Multicast),
            ("2001:db8::1", AddressClass::Documentation),
            ("2001::1", AddressClass::Reserved),
            ("2606:4700::1111", AddressClass::Public),
        ] {
            assert_eq!(class(ip), want, "{ip}");
        }
    }

    fn refused(url: &str, allow: bool) -> FetchError {
        let policy = FetchPolicy {
            allow_http_loopback: allow,
            ..FetchPolicy::default()
        };
        fetch(url, &policy).expect_err(url)
    }

    #[test]
    fn urls_refused_before_any_traffic() {
        assert!(matches!(
            refused("http://8.8.8.8/a.md", false),
            FetchError::HttpRefused
        ));
        assert!(matches!(
            refused("http://8.8.8.8/a.md", true),
            FetchError::HttpNotLoopback { .. }
        ));
        assert!(matches!(
            refused("ftp://x/a.md", false),
            FetchError::UnsupportedScheme { .. }
        ));
        assert!(matches!(
            refused("file:///etc/passwd", false),
            FetchError::UnsupportedScheme { .. }
        ));
        assert!(matches!(
            refused("https://u:p@8.8.8.8/a.md", false),
            FetchError::BadUrl { .. }
        ));
        assert!(matches!(
            refused("https:// /a.md", false),
            FetchError::BadUrl { .. }
        ));
        for (url, want) in [
            ("https://10.0.0.1/a.md", AddressClass::Private),
            (
                "https://169.254.169.254/latest/meta-data",
                AddressClass::LinkLocal,
            ),
            ("https://[fe80::1]/a.md", AddressClass::LinkLocal),
            ("https://[::ffff:192.168.0.1]/a.md", AddressClass::Private),
            ("https://127.0.0.1/a.md", AddressClass::Loopback),
            ("https://[::1]/a.md", AddressClass::Loopback),
            ("https://0.0.0.0/a.md", AddressClass::Unspecified),
        ] {
            match refused(url, false) {
                FetchError::ForbiddenAddress { class, .. } => assert_eq!(class, want, "{url}"),
                other => panic!("{url}: {other}"),
            }
        }
        // The flag opens loopback, never link-local.
        assert!(matches!(
            refused("http://169.254.169.254/", true),
            FetchError::ForbiddenAddress {
                class: AddressClass::LinkLocal,
                ..
            }
        ));
    }

    #[test]
    fn hostnames_are_checked_after_resolution() {
        match refused("https://localhost:9/a.md", false) {
            FetchError::ForbiddenAddress { class, host, .. } => {
                assert_eq!(
                    (class, host.as_str()),
                    (AddressClass::Loopback, "localhost")
                );
            }
            other => panic!("{other}"),
        }
    }

    #[test]
    fn relative_redirects_resolve() {
        let base: Uri = "https://h:8443/dir/a.md".parse().unwrap();
        let resolve = |location: &str| resolve_location(&base, location).unwrap();
        assert_eq!(resolve("/x.md"), "https://h:8443/x.md");
        assert_eq!(resolve("b.md"), "https://h:8443/dir/b.md");
        assert_eq!(resolve("//other/x"), "https://other/x");
        assert_eq!(resolve("http://h:8443/x"), "http://h:8443/x");
        assert_eq!(
            resolve("/go?to=https://evil/x"),
            "https://h:8443/go?to=https://evil/x"
        );
    }

    /// RFC 3986 section 5.4 reference resolution, on a profile-like base. A query or a
    /// fragment alone keeps the file (the hand-written join put them on its directory), and
    /// dot segments are removed.
    #[test]
    fn redirects_resolve_as_rfc_3986_says() {
        let base: Uri = "https://h/a/b/c.md".parse().unwrap();
        for (location, want) in [
            ("?x", "https://h/a/b/c.md?x"),
            ("#f", "https://h/a/b/c.md#f"),
            ("c.md?x#f", "https://h/a/b/c.md?x#f"),
            ("", "https://h/a/b/c.md"),
            ("d.md", "https://h/a/b/d.md"),
            ("./d.md", "https://h/a/b/d.md"),
            ("../d.md", "https://h/a/d.md"),
            ("../../d.md", "https://h/d.md"),
            ("../../../d.md", "https://h/d.md"),
            ("/e.md", "https://h/e.md"),
            ("/a/./b/../e.md", "https://h/a/e.md"),
            ("//other/x", "https://other/x"),
        ] {
            assert_eq!(
                resolve_location(&base, location).as_deref(),
                Some(want),
                "{location:?}"
            );
        }
    }

    #[test]
    fn redirects_stay_on_the_same_origin() {
        let base: Uri = "https://h/a/b/c.md".parse().unwrap();
        let target = |location: &str| redirect_target(&base, location).map(|u| u.to_string());
        assert_eq!(target("?x").unwrap(), "https://h/a/b/c.md?x");
        // A fragment is for the reader: the request goes to the file.
        assert_eq!(target("#f").unwrap(), "https://h/a/b/c.md");
        assert_eq!(target("../d.md").unwrap(), "https://h/a/d.md");
        assert_eq!(target("/e.md").unwrap(), "https://h/e.md");
        // The same origin spelled differently is still the same origin.
        assert_eq!(target("//H:443/x").unwrap(), "https://h/x");
        assert_eq!(target("HTTPS://h/x").unwrap(), "https://h/x");
        for location in [
            "//other/x",
            "https://other/x",
            "http://h/x",
            "https://h:8443/x",
            "//h.evil/x",
            "\\\\other/x",
            "ftp://h/x",
        ] {
            match target(location) {
                Err(FetchError::CrossHostRedirect { from, to }) => {
                    assert_eq!(from, "https://h/a/b/c.md", "{location:?}");
                    assert!(!to.is_empty(), "{location:?}");
                }
                other => panic!("{location:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn timeout_is_enforced() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            // Read the request and never answer; return once the client gives up.
            let (mut s, _) = listener.accept().unwrap();
            let mut buf = [0u8; 1024];
            while matches!(s.read(&mut buf), Ok(n) if n > 0) {}
        });
        let policy = FetchPolicy {
            allow_http_loopback: true,
            timeout: Duration::from_millis(300),
            ..FetchPolicy::default()
        };
        let err = fetch(&format!("http://127.0.0.1:{port}/slow.md"), &policy).unwrap_err();
        assert!(matches!(err, FetchError::Timeout { .. }), "{err}");
        server.join().unwrap();
    }
}
