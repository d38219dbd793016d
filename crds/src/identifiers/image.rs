use std::fmt;
use std::str::FromStr;
use std::sync::LazyLock;

use regex::Regex;

// The grammar of github.com/distribution/reference: [domain[:port]/]path[:tag][@digest].
static DOMAIN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*(?::[0-9]+)?$")
        .expect("valid regex")
});
static PATH_COMPONENT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$").expect("valid regex"));
static TAG: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$").expect("valid regex"));
static DIGEST: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[0-9a-fA-F]{32,}$").expect("valid regex")
});

/// A container image reference with an explicit tag or digest: without one the runtime would
/// silently pull `:latest`, and what runs would change under the tenant's feet.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ImageRef(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImageError {
    #[error("is not a valid image reference: {0}")]
    Format(&'static str),
    #[error("has no tag or digest (it would mean :latest); pin a version, e.g. {0}:1.0.0")]
    Unpinned(String),
}

impl ImageRef {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for ImageRef {
    type Err = ImageError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() > 512 {
            return Err(ImageError::Format("longer than 512 characters"));
        }
        let (rest, digest) = match s.split_once('@') {
            Some((rest, digest)) => (rest, Some(digest)),
            None => (s, None),
        };
        if let Some(digest) = digest {
            if !DIGEST.is_match(digest) {
                return Err(ImageError::Format("the digest must be <algorithm>:<hex>"));
            }
            if let Some(hex) = digest.strip_prefix("sha256:")
                && (hex.len() != 64 || hex.bytes().any(|b| b.is_ascii_uppercase()))
            {
                return Err(ImageError::Format(
                    "a sha256 digest is 64 lowercase hex digits",
                ));
            }
        }
        // A ':' after the last '/' starts the tag; one before it is a registry port.
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
            None => (rest, None),
        };
        if let Some(tag) = tag
            && !TAG.is_match(tag)
        {
            return Err(ImageError::Format(
                "the tag must be letters, digits, '_', '.' and '-' (at most 128)",
            ));
        }
        if name.is_empty() || name.len() > 255 {
            return Err(ImageError::Format(
                "the repository name must have 1 to 255 characters",
            ));
        }
        let mut components: Vec<&str> = name.split('/').collect();
        let first = components[0];
        if components.len() > 1 && (first.contains(['.', ':']) || first == "localhost") {
            if !DOMAIN.is_match(first) {
                return Err(ImageError::Format(
                    "the registry must be a host name with an optional port",
                ));
            }
            components.remove(0);
        }
        if !components.iter().all(|c| PATH_COMPONENT.is_match(c)) {
            return Err(ImageError::Format(
                "repository path components are lowercase letters and digits separated by '.', '_' or '-'",
            ));
        }
        if tag.is_none() && digest.is_none() {
            return Err(ImageError::Unpinned(name.to_owned()));
        }
        Ok(Self(s.to_owned()))
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn pinned_references_are_accepted() {
        for image in [
            "registry.regione.example/comuni/portale:2.3.1".to_owned(),
            "nginx:1.27".to_owned(),
            "localhost:5000/portale:dev".to_owned(),
            format!("ghcr.io/comuni/portale@{SHA}"),
            format!("ghcr.io/comuni/portale:2.3.1@{SHA}"),
            "registry:5000/a/b_c/d-e:v1.0.0-rc.1".to_owned(),
        ] {
            assert!(image.parse::<ImageRef>().is_ok(), "{image}");
        }
    }

    #[test]
    fn unpinned_references_are_refused() {
        assert_eq!(
            "registry.example/portale".parse::<ImageRef>(),
            Err(ImageError::Unpinned("registry.example/portale".into()))
        );
        assert!(matches!(
            "localhost:5000/portale".parse::<ImageRef>(),
            Err(ImageError::Unpinned(_))
        ));
    }

    #[test]
    fn malformed_references_are_refused() {
        for image in [
            "",
            "Portale:1",
            "portale:",
            "portale:1 ; rm -rf /",
            "portale:$(id)",
            "portale@sha256:abc",
            "portale:1\n",
            "/portale:1",
            "registry.example//portale:1",
            "pοrtale:1", // Greek omicron
        ] {
            assert!(
                matches!(image.parse::<ImageRef>(), Err(ImageError::Format(_))),
                "{image:?}"
            );
        }
    }
}
