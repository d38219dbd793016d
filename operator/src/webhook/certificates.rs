//! Self-managed serving certificates: a CA and a certificate for the webhook Service's DNS
//! names, kept in a Secret of the operator namespace that every replica shares, the CA written
//! into the `ValidatingWebhookConfiguration`'s `caBundle`, and the certificate renewed well
//! before it expires.
//!
//! Replicas race only through the API server: the Secret is created or replaced with its
//! resourceVersion, and the loser of a race reads what the winner wrote.
//!
//! The CA lives ten years and signs only serving certificates that end before it does; when
//! less than a serving certificate's life is left, a new CA is made and the old one stays in
//! the `caBundle` (as `previous-ca.crt`) until it ends, so certificates it signed that a
//! replica still serves stay trusted.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::ByteString;
use k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{Api, ObjectMeta, PostParams};
use kube::{Client, ResourceExt};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use tokio_rustls::rustls::sign::CertifiedKey;
use tracing::{info, warn};

use super::server::{self, Certificate};

/// How long a serving certificate is valid, and how long before its end it is renewed.
const VALIDITY: SignedDuration = SignedDuration::from_hours(365 * 24);
const RENEW_BEFORE: SignedDuration = SignedDuration::from_hours(30 * 24);
/// How long a CA is valid.
const CA_VALIDITY: SignedDuration = SignedDuration::from_hours(10 * 365 * 24);
/// How often the Secret and the caBundle are looked at: a renewal (due, or by another
/// replica), a configuration created or re-applied without its caBundle, are taken up within
/// this time. Two reads.
const CHECK_EVERY: Duration = Duration::from_secs(60);

const NOT_AFTER_ANNOTATION: &str = "tenancy.municipio.io/not-after";
const DNS_NAMES_ANNOTATION: &str = "tenancy.municipio.io/dns-names";
const CA_NAME: &str = "municipio webhook CA";

/// Where the certificate lives and what it is for.
#[derive(Debug, Clone)]
pub struct SelfManaged {
    pub namespace: String,
    /// The Secret holding `ca.crt`, `ca.key`, `tls.crt` and `tls.key`.
    pub secret: String,
    /// The `ValidatingWebhookConfiguration` whose `caBundle` the CA goes into.
    pub configuration: String,
    /// The names the certificate is valid for: the Service's DNS names, and any extra names
    /// or IP addresses.
    pub names: Vec<String>,
}

impl SelfManaged {
    /// The DNS names of Service `service` in `namespace`, plus `extra`.
    pub fn names_of(service: &str, namespace: &str, extra: &[String]) -> Vec<String> {
        let mut names = vec![
            service.to_owned(),
            format!("{service}.{namespace}"),
            format!("{service}.{namespace}.svc"),
            format!("{service}.{namespace}.svc.cluster.local"),
        ];
        names.extend(extra.iter().cloned());
        names
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error("making a certificate: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("Secret {0} holds an unusable certificate or key: {1}")]
    Stored(String, String),
    #[error(transparent)]
    Load(#[from] server::Error),
    #[error("{0} keeps changing under this replica; giving up for now")]
    Contended(String),
}

/// A CA, as PEM texts, and the CA it replaced while that one is still valid.
struct Authority {
    cert: String,
    key: String,
    previous: Option<String>,
}

/// The PEM texts of a CA and a serving certificate.
struct Issued {
    ca: Authority,
    cert: String,
    key: String,
    not_after: Timestamp,
}

/// The end of validity of the first certificate in `pem`.
fn not_after(pem: &str) -> Option<Timestamp> {
    let (_, pem) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).ok()?;
    let certificate = pem.parse_x509().ok()?;
    Timestamp::from_second(certificate.validity().not_after.timestamp()).ok()
}

/// The UTC day of `t` (certificate validity is kept to whole days).
fn ymd(t: Timestamp) -> (i32, u8, u8) {
    let d = t.to_zoned(k8s_openapi::jiff::tz::TimeZone::UTC).date();
    (
        i32::from(d.year()),
        d.month().unsigned_abs(),
        d.day().unsigned_abs(),
    )
}

macro_rules! day {
    ($t:expr) => {{
        let (y, m, d) = ymd($t);
        rcgen::date_time_ymd(y, m, d)
    }};
}

fn ca_params(now: Timestamp) -> Result<CertificateParams, rcgen::Error> {
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.distinguished_name.push(DnType::CommonName, CA_NAME);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca.not_before = day!(now - SignedDuration::from_hours(24));
    ca.not_after = day!(now + CA_VALIDITY);
    Ok(ca)
}

/// A serving certificate for `names`, signed by the stored CA when it outlives the
/// certificate, otherwise by a new CA (which then keeps the stored one as its previous).
fn issue(stored: Option<Authority>, names: &[String], now: Timestamp) -> Result<Issued, Error> {
    let cert_not_after = now + VALIDITY;
    let outlives = |ca: &Authority| not_after(&ca.cert).is_some_and(|end| end >= cert_not_after);
    let ca = match stored {
        Some(ca) if outlives(&ca) => Authority {
            previous: ca
                .previous
                .filter(|p| not_after(p).is_some_and(|end| end > now)),
            ..ca
        },
        stored => {
            let key = KeyPair::generate()?;
            Authority {
                cert: ca_params(now)?.self_signed(&key)?.pem(),
                key: key.serialize_pem(),
                previous: stored
                    .map(|old| old.cert)
                    .filter(|p| not_after(p).is_some_and(|end| end > now)),
            }
        }
    };
    let ca_key =
        KeyPair::from_pem(&ca.key).map_err(|e| Error::Stored("ca.key".into(), e.to_string()))?;
    let issuer = Issuer::from_ca_cert_pem(&ca.cert, &ca_key)
        .map_err(|e| Error::Stored("ca.crt".into(), e.to_string()))?;
    let mut params = CertificateParams::new(names.to_vec())?;
    params.distinguished_name.push(
        DnType::CommonName,
        names.first().map_or("municipio", String::as_str),
    );
    params.not_before = day!(now - SignedDuration::from_hours(24));
    params.not_after = day!(cert_not_after);
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, &issuer)?;
    Ok(Issued {
        ca,
        cert: cert.pem(),
        key: key.serialize_pem(),
        not_after: cert_not_after,
    })
}

fn text(secret: &Secret, key: &str) -> Option<String> {
    let bytes = secret.data.as_ref()?.get(key)?;
    String::from_utf8(bytes.0.clone()).ok()
}

/// The certificate in `secret`, if it is complete, for `names`, and not due for renewal.
fn usable(secret: &Secret, names: &[String], now: Timestamp) -> bool {
    let annotations = secret.annotations();
    let not_after = annotations
        .get(NOT_AFTER_ANNOTATION)
        .and_then(|t| t.parse::<Timestamp>().ok());
    let same_names = annotations.get(DNS_NAMES_ANNOTATION) == Some(&names.join(","));
    let complete = ["ca.crt", "ca.key", "tls.crt", "tls.key"]
        .iter()
        .all(|k| text(secret, k).is_some());
    // A pair that does not load (a corrupt or hand-edited Secret) is issued again.
    let loads = certified_key(secret, "").is_ok();
    complete && loads && same_names && not_after.is_some_and(|t| t - RENEW_BEFORE > now)
}

/// The Secret holding `issued`, replacing `previous`: its labels, annotations and owners
/// (a Helm release's, say) are kept.
fn secret_of(settings: &SelfManaged, issued: &Issued, previous: Option<&Secret>) -> Secret {
    let bytes = |text: &str| ByteString(text.as_bytes().to_vec());
    let mut data = BTreeMap::from([
        ("ca.crt".to_owned(), bytes(&issued.ca.cert)),
        ("ca.key".to_owned(), bytes(&issued.ca.key)),
        ("tls.crt".to_owned(), bytes(&issued.cert)),
        ("tls.key".to_owned(), bytes(&issued.key)),
    ]);
    if let Some(previous_ca) = &issued.ca.previous {
        data.insert("previous-ca.crt".to_owned(), bytes(previous_ca));
    }
    let kept = previous.map(|p| p.metadata.clone()).unwrap_or_default();
    let mut annotations = kept.annotations.unwrap_or_default();
    annotations.insert(
        NOT_AFTER_ANNOTATION.to_owned(),
        issued.not_after.to_string(),
    );
    annotations.insert(DNS_NAMES_ANNOTATION.to_owned(), settings.names.join(","));
    Secret {
        metadata: ObjectMeta {
            name: Some(settings.secret.clone()),
            namespace: Some(settings.namespace.clone()),
            resource_version: kept.resource_version,
            labels: kept.labels,
            annotations: Some(annotations),
            owner_references: kept.owner_references,
            ..ObjectMeta::default()
        },
        type_: Some("kubernetes.io/tls".to_owned()),
        data: Some(data),
        ..Secret::default()
    }
}

/// What the API server is told to trust: the CA, and the one it replaced while valid.
fn ca_bundle(secret: &Secret) -> Vec<u8> {
    let mut bundle = text(secret, "ca.crt").unwrap_or_default();
    if let Some(previous) = text(secret, "previous-ca.crt") {
        if !bundle.ends_with('\n') {
            bundle.push('\n');
        }
        bundle.push_str(&previous);
    }
    bundle.into_bytes()
}

/// The Secret with a usable certificate, issued (or renewed) first when needed.
async fn current(client: &Client, settings: &SelfManaged) -> Result<Secret, Error> {
    let api: Api<Secret> = Api::namespaced(client.clone(), &settings.namespace);
    for _ in 0..5 {
        let now = Timestamp::now();
        let stored = api.get_opt(&settings.secret).await?;
        if let Some(s) = stored.as_ref().filter(|s| usable(s, &settings.names, now)) {
            return Ok(s.clone());
        }
        // Renewal keeps the CA while it lasts, so the caBundle the API server trusts stays
        // valid.
        let ca = stored.as_ref().and_then(|s| {
            Some(Authority {
                cert: text(s, "ca.crt")?,
                key: text(s, "ca.key")?,
                previous: text(s, "previous-ca.crt"),
            })
        });
        let issued = issue(ca, &settings.names, now)?;
        let secret = secret_of(settings, &issued, stored.as_ref());
        let written = match &stored {
            None => api.create(&PostParams::default(), &secret).await,
            Some(_) => {
                api.replace(&settings.secret, &PostParams::default(), &secret)
                    .await
            }
        };
        match written {
            Ok(s) => {
                info!(secret = %settings.secret, not_after = %issued.not_after, "serving certificate issued");
                return Ok(s);
            }
            // Another replica wrote first: take what it wrote.
            Err(kube::Error::Api(e)) if e.code == 409 => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(Error::Contended(settings.secret.clone()))
}

/// Writes the CA into every webhook of the configuration, unless it is there already.
async fn inject_ca(client: &Client, settings: &SelfManaged, ca: &[u8]) -> Result<(), Error> {
    let api: Api<ValidatingWebhookConfiguration> = Api::all(client.clone());
    // Replicas (and a GitOps tool) may write the configuration at once: read again on conflict.
    for _ in 0..5 {
        let Some(mut configuration) = api.get_opt(&settings.configuration).await? else {
            warn!(
                configuration = %settings.configuration,
                "no ValidatingWebhookConfiguration of that name yet: the API server cannot call the webhook until it exists (looked at again every minute)"
            );
            return Ok(());
        };
        let mut changed = false;
        for webhook in configuration.webhooks.iter_mut().flatten() {
            if webhook
                .client_config
                .ca_bundle
                .as_ref()
                .map(|b| b.0.as_slice())
                != Some(ca)
            {
                webhook.client_config.ca_bundle = Some(ByteString(ca.to_vec()));
                changed = true;
            }
        }
        if !changed {
            return Ok(());
        }
        match api
            .replace(
                &settings.configuration,
                &PostParams::default(),
                &configuration,
            )
            .await
        {
            Ok(_) => {
                info!(configuration = %settings.configuration, "caBundle written");
                return Ok(());
            }
            Err(kube::Error::Api(e)) if e.code == 409 => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(Error::Contended(settings.configuration.clone()))
}

fn certified_key(secret: &Secret, name: &str) -> Result<Arc<CertifiedKey>, Error> {
    let (Some(cert), Some(key)) = (text(secret, "tls.crt"), text(secret, "tls.key")) else {
        return Err(Error::Stored(
            name.to_owned(),
            "tls.crt or tls.key missing".into(),
        ));
    };
    Ok(server::certified_key(
        cert.as_bytes(),
        key.as_bytes(),
        name,
    )?)
}

/// The serving certificate, issued if needed, with its CA in the webhook configuration.
pub async fn ensure(client: &Client, settings: &SelfManaged) -> Result<Arc<CertifiedKey>, Error> {
    let secret = current(client, settings).await?;
    inject_ca(client, settings, &ca_bundle(&secret)).await?;
    certified_key(&secret, &settings.secret)
}

/// Looks again every minute: renews when due (or picks up another replica's renewal), and
/// serves the new certificate from then on.
pub async fn keep_renewed(client: Client, settings: SelfManaged, certificate: Arc<Certificate>) {
    loop {
        tokio::time::sleep(CHECK_EVERY).await;
        match ensure(&client, &settings).await {
            Ok(key) => certificate.replace(key),
            Err(error) => warn!(%error, "serving certificate not renewed; retried in a minute"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Vec<String> {
        SelfManaged::names_of(
            "municipio-webhook",
            "municipio-system",
            &["127.0.0.1".into()],
        )
    }

    fn stored(issued: &Issued) -> Secret {
        let settings = SelfManaged {
            namespace: "municipio-system".into(),
            secret: "municipio-webhook-tls".into(),
            configuration: "municipio".into(),
            names: names(),
        };
        secret_of(&settings, issued, None)
    }

    #[test]
    fn a_fresh_certificate_is_usable_until_a_month_before_its_end() {
        let now = Timestamp::now();
        let issued = issue(None, &names(), now).unwrap();
        let secret = stored(&issued);
        assert!(usable(&secret, &names(), now));
        assert!(!usable(
            &secret,
            &names(),
            now + VALIDITY - RENEW_BEFORE + SignedDuration::from_hours(1)
        ));
        assert!(
            !usable(&secret, &names()[..2], now),
            "other names: reissued"
        );
        certified_key(&secret, "test").expect("the key goes with the certificate");
        let mut corrupt = secret.clone();
        corrupt
            .data
            .as_mut()
            .unwrap()
            .insert("tls.key".into(), ByteString(b"not a key".to_vec()));
        assert!(
            !usable(&corrupt, &names(), now),
            "a corrupt pair is issued again"
        );
    }

    fn authority(issued: &Issued) -> Option<Authority> {
        Some(Authority {
            cert: issued.ca.cert.clone(),
            key: issued.ca.key.clone(),
            previous: issued.ca.previous.clone(),
        })
    }

    /// The issuer of the first certificate in `pem`, and its subject.
    fn issuer_and_subject(pem: &str) -> (String, String) {
        let (_, pem) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).unwrap();
        let c = pem.parse_x509().unwrap();
        (c.issuer().to_string(), c.subject().to_string())
    }

    #[test]
    fn a_renewal_keeps_the_ca() {
        let now = Timestamp::now();
        let first = issue(None, &names(), now).unwrap();
        let renewed = issue(authority(&first), &names(), now).unwrap();
        assert_eq!(renewed.ca.cert, first.ca.cert);
        assert_ne!(renewed.cert, first.cert);
        assert_ne!(renewed.key, first.key);
        assert_eq!(
            issuer_and_subject(&renewed.cert).0,
            issuer_and_subject(&renewed.ca.cert).1
        );
        assert_eq!(ca_bundle(&stored(&renewed)), first.ca.cert.as_bytes());
    }

    #[test]
    fn a_serving_certificate_never_outlives_its_ca() {
        let start = Timestamp::now();
        let first = issue(None, &names(), start).unwrap();
        let ca_end = not_after(&first.ca.cert).unwrap();
        assert!(ca_end >= start + CA_VALIDITY - SignedDuration::from_hours(24));

        // Nine and a half years on, the CA has less than a year left: a new CA signs, and the
        // old one stays trusted beside it until it ends.
        let late = start + SignedDuration::from_hours(9 * 365 * 24 + 180 * 24);
        let renewed = issue(authority(&first), &names(), late).unwrap();
        assert_ne!(renewed.ca.cert, first.ca.cert);
        assert!(not_after(&renewed.cert).unwrap() <= not_after(&renewed.ca.cert).unwrap());
        assert_eq!(renewed.ca.previous.as_deref(), Some(first.ca.cert.as_str()));
        let bundle = String::from_utf8(ca_bundle(&stored(&renewed))).unwrap();
        assert!(bundle.starts_with(&renewed.ca.cert) && bundle.ends_with(&first.ca.cert));

        // Once the old CA has ended it leaves the bundle.
        let later = ca_end + SignedDuration::from_hours(24);
        let again = issue(authority(&renewed), &names(), later).unwrap();
        assert_eq!(again.ca.cert, renewed.ca.cert);
        assert_eq!(again.ca.previous, None);
    }

    #[test]
    fn a_renewal_keeps_the_secrets_labels_and_annotations() {
        let now = Timestamp::now();
        let mut secret = stored(&issue(None, &names(), now).unwrap());
        secret.metadata.labels =
            Some([("app.kubernetes.io/managed-by".into(), "Helm".into())].into());
        secret
            .metadata
            .annotations
            .get_or_insert_default()
            .insert("meta.helm.sh/release-name".into(), "municipio".into());
        let settings = SelfManaged {
            namespace: "municipio-system".into(),
            secret: "municipio-webhook-tls".into(),
            configuration: "municipio".into(),
            names: names(),
        };
        let renewed = secret_of(
            &settings,
            &issue(None, &names(), now).unwrap(),
            Some(&secret),
        );
        assert_eq!(renewed.metadata.labels, secret.metadata.labels);
        let annotations = renewed.metadata.annotations.unwrap();
        assert_eq!(annotations["meta.helm.sh/release-name"], "municipio");
        assert!(annotations.contains_key(NOT_AFTER_ANNOTATION));
    }
}
