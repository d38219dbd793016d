//! The error of a reconcile: which step failed, and why.

use std::time::Duration;

use super::apply::ApplyError;
use super::identity::IdentityError;
use super::keys::KeysError;
use super::namespace::ClaimError;
use super::prune::PruneError;
use super::status::StatusError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("reading the tenant: {0}")]
    Read(#[source] kube::Error),
    #[error("{0}")]
    Claim(#[from] ClaimError),
    #[error("{0}")]
    Keys(#[from] KeysError),
    #[error("{0}")]
    Identity(#[from] IdentityError),
    #[error("applying {0}")]
    Apply(#[from] ApplyError),
    #[error("{0}")]
    Prune(#[from] PruneError),
    #[error("{0}")]
    Status(#[from] StatusError),
    #[error("cleaning up: {0}")]
    Cleanup(#[source] kube::Error),
    #[error("{0}")]
    Finalizer(#[source] Box<kube::runtime::finalizer::Error<Error>>),
    #[error("the reconcile took longer than {0:?} and was abandoned")]
    TimedOut(Duration),
}

impl Error {
    /// The API server's answer behind the error, if there is one.
    fn api_error(&self) -> Option<&kube::Error> {
        match self {
            Error::Read(e) | Error::Cleanup(e) => Some(e),
            Error::Claim(e) => Some(&e.source),
            Error::Keys(KeysError::Revoke { source, .. }) => Some(source),
            Error::Keys(KeysError::Unwatched) => None,
            Error::Identity(
                IdentityError::Write { source, .. } | IdentityError::Read { source, .. },
            ) => Some(source),
            Error::Identity(IdentityError::Make(_)) => None,
            Error::Apply(e) => Some(&e.source),
            Error::Prune(e) => Some(&e.source),
            Error::Status(e) => Some(&e.source),
            Error::Finalizer(_) | Error::TimedOut(_) => None,
        }
    }

    /// The API server answered that it is overloaded or unavailable (429, 503, 504).
    pub fn overloaded(&self) -> bool {
        matches!(
            self.api_error(),
            Some(kube::Error::Api(status)) if matches!(status.code, 429 | 503 | 504)
        )
    }
}

#[cfg(test)]
pub(super) fn api_error(code: u16) -> kube::Error {
    kube::Error::Api(
        serde_json::from_value::<kube::core::Status>(serde_json::json!({
            "status": "Failure", "message": "m", "reason": "r", "code": code
        }))
        .unwrap()
        .into(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_overloaded_api_server_is_retried_without_a_status() {
        for code in [429, 503, 504] {
            assert!(Error::Read(api_error(code)).overloaded(), "{code}");
            let apply = ApplyError {
                child: "Service x/y".into(),
                source: api_error(code),
            };
            assert!(Error::Apply(apply).overloaded(), "{code}");
        }
        for code in [400, 403, 404, 409, 422, 500] {
            assert!(!Error::Read(api_error(code)).overloaded(), "{code}");
        }
        assert!(!Error::Keys(KeysError::Unwatched).overloaded());
    }
}
