//! The web identifiers of the identity connector: HTTPS URLs as the national federations take
//! them, and email addresses.
//!
//! The URL rule is narrower than URL syntax on purpose, and written here rather than taken
//! from a URL crate: these URLs are published verbatim (metadata, entity configurations) and
//! compared byte for byte by the identity providers, so a URL crate's normalising (dropping
//! `:443`, lowering the host, resolving `..`) would publish something other than what was
//! written. The SPID/CIE OIDC rules ask for HTTPS with no port, query or fragment.

use std::fmt;
use std::str::FromStr;

/// An `https://` URL with a host name (not an address), no user, port, query or fragment, and
/// a path of printable ASCII without spaces.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HttpsUrl(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error("{0:?} is not an https:// URL")]
    NotHttps(String),
    #[error("{0:?} has a port: the federations take the default HTTPS port only")]
    Port(String),
    #[error("{0:?} has a query: the federations refuse one")]
    Query(String),
    #[error("{0:?} has a fragment: the federations refuse one")]
    Fragment(String),
    #[error("{0:?} has a user before its host")]
    UserInfo(String),
    #[error(
        "{0:?} does not have a host name (lowercase labels of letters, digits and '-', with a dot)"
    )]
    Host(String),
    #[error(
        "{0:?} has a character a URL path cannot hold unescaped (a space, a control, non-ASCII)"
    )]
    Path(String),
}

impl HttpsUrl {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `https://<host>`.
    pub fn origin(&self) -> HttpsUrl {
        let rest = &self.0["https://".len()..];
        let host = rest.split('/').next().unwrap_or(rest);
        HttpsUrl(format!("https://{host}"))
    }
}

impl FromStr for HttpsUrl {
    type Err = UrlError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let rest = s
            .strip_prefix("https://")
            .ok_or_else(|| UrlError::NotHttps(s.to_owned()))?;
        if s.contains('#') {
            return Err(UrlError::Fragment(s.to_owned()));
        }
        if s.contains('?') {
            return Err(UrlError::Query(s.to_owned()));
        }
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        if authority.contains('@') {
            return Err(UrlError::UserInfo(s.to_owned()));
        }
        if authority.contains(':') {
            return Err(UrlError::Port(s.to_owned()));
        }
        if !is_host_name(authority) {
            return Err(UrlError::Host(s.to_owned()));
        }
        if !is_path(path) {
            return Err(UrlError::Path(s.to_owned()));
        }
        Ok(Self(s.to_owned()))
    }
}

/// RFC 3986's path: segments of unreserved characters, sub-delimiters, `:` and `@`, and
/// percent-encoded octets.
fn is_path(path: &str) -> bool {
    let bytes = path.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' {
            let hex = |j: usize| bytes.get(j).is_some_and(u8::is_ascii_hexdigit);
            if !(hex(i + 1) && hex(i + 2)) {
                return false;
            }
            i += 3;
            continue;
        }
        if !(b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/".contains(&b)) {
            return false;
        }
        i += 1;
    }
    true
}

/// Lowercase DNS labels, at least two, the last not all digits (so not an IPv4 address).
fn is_host_name(host: &str) -> bool {
    let labels: Vec<&str> = host.split('.').collect();
    let label_ok = |l: &&str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    };
    host.len() <= 253
        && labels.len() >= 2
        && labels.iter().all(label_ok)
        && !labels
            .last()
            .is_some_and(|l| l.bytes().all(|b| b.is_ascii_digit()))
}

impl fmt::Display for HttpsUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An email address as published in metadata: `local@domain`, printable ASCII, a host name as
/// the domain. (Not RFC 5322's full grammar: quoted local parts and address literals are not
/// what a municipality publishes, and a published contact must be one a person can type.)
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EmailAddress(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{0:?} is not an email address (local@domain: letters, digits and . _ % + - before the @, a host name after)"
)]
pub struct EmailError(String);

impl EmailAddress {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for EmailAddress {
    type Err = EmailError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let error = || EmailError(s.to_owned());
        let (local, domain) = s.rsplit_once('@').ok_or_else(error)?;
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..")
            && local
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._%+-".contains(&b));
        match local_ok && is_host_name(&domain.to_ascii_lowercase()) {
            true => Ok(Self(s.to_owned())),
            false => Err(error()),
        }
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_urls_with_a_host_name_and_a_path_are_taken_as_written() {
        for ok in [
            "https://servizi.comune.modena.it/auth/callback",
            "https://servizi.comune.modena.it",
            "https://a.b/",
            "https://login.regione.example/c_f257/callback/",
            "https://servizi.comune.modena.it/auth/callback;v=1/%C3%A0",
        ] {
            assert_eq!(ok.parse::<HttpsUrl>().unwrap().as_str(), ok);
        }
        let url: HttpsUrl = "https://servizi.comune.modena.it/auth/callback"
            .parse()
            .unwrap();
        assert_eq!(url.origin().as_str(), "https://servizi.comune.modena.it");
    }

    #[test]
    fn what_the_federations_refuse_is_named() {
        use UrlError::*;
        type Expected = fn(String) -> UrlError;
        let cases: [(&str, Expected); 14] = [
            ("http://servizi.comune.modena.it/cb", NotHttps),
            ("HTTPS://servizi.comune.modena.it/cb", NotHttps),
            ("https://servizi.comune.modena.it:443/cb", Port),
            ("https://servizi.comune.modena.it/cb?next=1", Query),
            ("https://servizi.comune.modena.it/cb#top", Fragment),
            ("https://user@servizi.comune.modena.it/cb", UserInfo),
            ("https://10.0.0.1/cb", Host),
            ("https://Servizi.Comune.Modena.it/cb", Host),
            ("https://localhost/cb", Host),
            ("https://servizi.comune.modena.it/a b", Path),
            ("https://servizi.comune.modena.it/città", Path),
            ("https://servizi.comune.modena.it/a\"b", Path),
            ("https://servizi.comune.modena.it/{x}", Path),
            ("https://servizi.comune.modena.it/100%", Path),
        ];
        for (bad, expected) in cases {
            assert_eq!(bad.parse::<HttpsUrl>(), Err(expected(bad.to_owned())));
        }
    }

    #[test]
    fn email_addresses() {
        for ok in [
            "urp@comune.modena.it",
            "comune.modena@cert.comune.modena.it",
            "protocollo+pec@Comune.Example.IT",
        ] {
            assert!(ok.parse::<EmailAddress>().is_ok(), "{ok}");
        }
        for bad in [
            "urp",
            "@comune.modena.it",
            "urp@",
            "urp@localhost",
            "u rp@comune.modena.it",
            ".urp@comune.modena.it",
            "a..b@comune.modena.it",
            "urp@comune..it",
        ] {
            assert!(bad.parse::<EmailAddress>().is_err(), "{bad}");
        }
    }
}
