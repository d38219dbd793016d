//! The identity connector's keys: one Secret per tenant in the operator's namespace (the only
//! namespace whose Secrets the operator reads, from the watch it keeps), made here on first
//! need and rotated on the schedule of `--identity-key-rotation`; then what is published for
//! the gateway, made from them. Keys are made off the async threads (a 3072-bit RSA key takes
//! a while), so a tenant making keys holds up no other.
//!
//! A keys Secret that cannot be read back is never replaced by new keys: the municipality's
//! keys are registered with the federations, and new ones would need a new onboarding. The
//! tenant says why instead, until someone repairs or deletes the Secret.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::api::Api;
use kube::runtime::controller::Action;
use kube::runtime::reflector::ObjectRef;
use municipio_crds::{MunicipalityTenant, ValidTenant};
use tracing::info;

use super::Context;
use super::events::Note;
use super::keys::KeysError;
use super::own_secret::{self, OwnSecret};
use super::pipeline::{BLOCKED_RETRY, Stop};
use super::status::Outcome;
use crate::children::Owner;
use crate::connectors::identity::gateway::rfc3339;
use crate::connectors::identity::keyring::{self, KeyRing};
use crate::connectors::identity::keys::{KeyError, SigningKey};
use crate::connectors::identity::publish::{Published, publish};
use crate::connectors::identity::rotation::{Plan, plan};
use crate::connectors::identity::{CLIENT_SECRET_KEY, keys_secret_name};
use crate::labels::{ISTAT_CODE_LABEL, MANAGED_BY, MANAGED_BY_LABEL, TENANT_LABEL};

/// How many tenants may have keys advanced (perhaps made) at once: half the cores, at least one.
static KEY_MAKERS: std::sync::LazyLock<tokio::sync::Semaphore> = std::sync::LazyLock::new(|| {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    tokio::sync::Semaphore::new((cores / 2).max(1))
});

/// The label that marks a tenant's identity keys Secret.
pub const IDENTITY_KEYS_LABEL: &str = "tenancy.municipio.io/identity-keys";

#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("writing the identity keys to Secret {namespace}/{name}: {source}")]
    Write {
        namespace: String,
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error("reading the identity keys Secret {namespace}/{name}: {source}")]
    Read {
        namespace: String,
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error("making an identity key: {0}")]
    Make(String),
}

/// What the identity step hands on: the keys Secret as it now is (dereference takes the
/// workloads' credential from it, even before the watch has seen it) and what to publish.
pub struct IdentityKeys {
    pub secret: Arc<Secret>,
    pub published: Published,
}

/// The tenant's identity keys, made or rotated as due at `now`, and what they publish; `None`
/// when the connector is not enabled.
pub async fn keys(
    ctx: &Context,
    tenant: &MunicipalityTenant,
    valid: &ValidTenant,
    owner: &Owner,
) -> Result<Option<IdentityKeys>, Stop> {
    if valid.identity.is_none() {
        return Ok(None);
    }
    ctx.source_secrets_listed
        .clone()
        .wait_for(|listed| *listed)
        .await
        .map_err(|_| KeysError::Unwatched)?;
    let namespace = ctx.config.operator_namespace.clone();
    let name = keys_secret_name(valid.name.as_str());
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), &namespace);
    let stored = match ctx
        .source_secrets
        .get(&ObjectRef::new(&name).within(&namespace))
    {
        Some(stored) => Some(stored),
        // Not seen by the watch: read once, since one just made may not have reached it (keys
        // made again for nothing, and a create refused). A tenant's first pass only.
        None => api
            .get_opt(&name)
            .await
            .map_err(|source| IdentityError::Read {
                namespace: namespace.clone(),
                name: name.clone(),
                source,
            })?
            .map(Arc::new),
    };
    let blocked = |reason: &'static str, message: String| {
        Stop::At(
            Outcome::Blocked { reason, message },
            Action::requeue(BLOCKED_RETRY),
        )
    };
    let (rings, client_secret) = match &stored {
        None => (KeyRing::every_purpose(), new_client_secret()?),
        Some(secret) => {
            let istat = valid.municipality.istat_code.as_str();
            if !made_for(secret, valid.name.as_str(), istat) {
                return Err(blocked(
                    "IdentityKeysNotOurs",
                    format!(
                        "Secret {namespace}/{name} exists but was not made by the operator for this tenant (labels {MANAGED_BY_LABEL}: {MANAGED_BY}, {TENANT_LABEL}: {}, {ISTAT_CODE_LABEL}: {istat}, {IDENTITY_KEYS_LABEL}: \"true\"): it is left alone; delete or rename it",
                        valid.name
                    ),
                ));
            }
            read(secret).map_err(|why| {
                blocked(
                    "IdentityKeysUnusable",
                    format!("Secret {namespace}/{name}: {why}; repair it or delete it (deleting makes new keys, which the federations must then be given again)"),
                )
            })?
        }
    };
    let now = now_seconds();
    let rotation = ctx.config.identity.rotation;
    let before: Vec<Vec<String>> = rings.iter().map(kids).collect();
    let due = rings.iter().any(|ring| {
        let times: Vec<_> = ring.keys.iter().map(|k| k.times.clone()).collect();
        plan(&times, now, &rotation).make_key
    });
    let (rings, plans) = if due {
        // Making keys is a CPU's work for a while: a few tenants at a time, so that a region
        // onboarded at once (or its keys due together a year later) leaves cores to every
        // other reconcile.
        let _permit = KEY_MAKERS
            .acquire()
            .await
            .map_err(|e| IdentityError::Make(e.to_string()))?;
        tokio::task::spawn_blocking(move || advance(rings, now, &rotation))
            .await
            .map_err(|e| IdentityError::Make(e.to_string()))?
    } else {
        advance(rings, now, &rotation)
    }
    .map_err(|e| IdentityError::Make(e.to_string()))?;
    // Written when a key was made or retired, or to take back keys a deleted tenant of the
    // same municipality retained (owned by no tenant, or by the one before).
    let owned = stored
        .as_ref()
        .is_some_and(|s| s.owner_references().iter().any(|r| r.uid == owner.uid));
    let changed = !owned || rings.iter().map(kids).collect::<Vec<_>>() != before;
    let secret = if changed {
        let written = Written {
            owner,
            istat_code: valid.municipality.istat_code.as_str(),
            stored: stored.as_deref(),
            rings: &rings,
            client_secret: &client_secret,
        };
        let secret = write(&api, &namespace, &name, &written).await?;
        tell_rotation(ctx, tenant, &before, &rings, &plans).await;
        Arc::new(secret)
    } else {
        stored.expect("unchanged keys are stored keys")
    };
    let published =
        publish(valid, &ctx.config, &rings, &plans, &client_secret, now).map_err(|e| {
            blocked(
                "IdentitySigningFailed",
                format!("publishing the identity artifacts: {e}"),
            )
        })?;
    Ok(Some(IdentityKeys { secret, published }))
}

/// Now, in Unix seconds.
fn now_seconds() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn kids(ring: &KeyRing) -> Vec<String> {
    ring.keys.iter().map(|k| k.times.kid.clone()).collect()
}

/// Whether the operator made `secret` for this tenant of this municipality: a tenant of the
/// same name for another municipality never gets its keys.
fn made_for(secret: &Secret, tenant: &str, istat_code: &str) -> bool {
    let labels = secret.labels();
    let is = |label: &str, value: &str| labels.get(label).map(String::as_str) == Some(value);
    is(MANAGED_BY_LABEL, MANAGED_BY)
        && is(TENANT_LABEL, tenant)
        && is(ISTAT_CODE_LABEL, istat_code)
        && is(IDENTITY_KEYS_LABEL, "true")
}

/// The rings and the credential stored in `secret`, or why they cannot be read.
fn read(secret: &Secret) -> Result<(Vec<KeyRing>, Vec<u8>), String> {
    let data: BTreeMap<String, Vec<u8>> = secret
        .data
        .iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.0.clone()))
        .collect();
    let client_secret = data
        .get(CLIENT_SECRET_KEY)
        .filter(|v| v.len() >= 32)
        .cloned()
        .ok_or_else(|| format!("entry {CLIENT_SECRET_KEY} is missing or shorter than 32 bytes"))?;
    let rings = keyring::from_secret_data(&data).map_err(|e| e.to_string())?;
    Ok((rings, client_secret))
}

/// Each ring advanced to `now`: keys made as due, expired ones forgotten.
fn advance(
    mut rings: Vec<KeyRing>,
    now: i64,
    rotation: &crate::connectors::identity::rotation::Rotation,
) -> Result<(Vec<KeyRing>, Vec<Plan>), KeyError> {
    let plans = rings
        .iter_mut()
        .map(|ring| ring.advance(now, rotation, SigningKey::generate))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((rings, plans))
}

/// 32 random bytes, base64url: the workloads' credential at the gateway.
fn new_client_secret() -> Result<Vec<u8>, IdentityError> {
    use base64::Engine;
    use ring::rand::{SecureRandom, SystemRandom};
    let mut bytes = [0u8; 32];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| IdentityError::Make("no randomness for the client secret".to_owned()))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(bytes)
        .into_bytes())
}

/// What is written to the keys Secret.
struct Written<'a> {
    owner: &'a Owner,
    istat_code: &'a str,
    /// The Secret as read, if there is one.
    stored: Option<&'a Secret>,
    rings: &'a [KeyRing],
    client_secret: &'a [u8],
}

/// Creates or patches the keys Secret with the new key set (see [`own_secret::write`]).
async fn write(
    api: &Api<Secret>,
    namespace: &str,
    name: &str,
    w: &Written<'_>,
) -> Result<Secret, IdentityError> {
    let mut data = keyring::to_secret_data(w.rings);
    data.insert(CLIENT_SECRET_KEY.to_owned(), w.client_secret.to_vec());
    let own = OwnSecret {
        owner: w.owner,
        labels: BTreeMap::from([
            (MANAGED_BY_LABEL, MANAGED_BY),
            (TENANT_LABEL, w.owner.name.as_str()),
            (ISTAT_CODE_LABEL, w.istat_code),
            (IDENTITY_KEYS_LABEL, "true"),
        ]),
        annotations: BTreeMap::new(),
        data,
    };
    own_secret::write(api, name, w.stored, &own)
        .await
        .map_err(|source| IdentityError::Write {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            source,
        })
}

/// One Event for the keys made in this pass and one for those retired (ids and times only):
/// a new tenant's four keys are one write, not four.
async fn tell_rotation(
    ctx: &Context,
    tenant: &MunicipalityTenant,
    before: &[Vec<String>],
    rings: &[KeyRing],
    plans: &[Plan],
) {
    let (mut made, mut retired) = (Vec::new(), Vec::new());
    for ((ring, plan), old) in rings.iter().zip(plans).zip(before) {
        let purpose = ring.purpose.name();
        for key in ring.keys.iter().filter(|k| !old.contains(&k.times.kid)) {
            let signs = if plan.signer.as_deref() == Some(key.times.kid.as_str()) {
                "now".to_owned()
            } else {
                format!(
                    "from {}",
                    rfc3339(key.times.created + ctx.config.identity.rotation.lead)
                )
            };
            info!(purpose, kid = %key.times.kid, "identity key made");
            made.push(format!(
                "made {purpose} key {}: published now, signs {signs}, expires {}",
                key.times.kid,
                rfc3339(key.times.expires)
            ));
        }
        for kid in old
            .iter()
            .filter(|kid| !ring.keys.iter().any(|k| &&k.times.kid == kid))
        {
            info!(purpose, %kid, "identity key retired");
            retired.push(format!(
                "retired {purpose} key {kid}: expired, no longer published"
            ));
        }
    }
    for (reason, said) in [("IdentityKeysMade", made), ("IdentityKeysRetired", retired)] {
        if said.is_empty() {
            continue;
        }
        let note = Note {
            warning: false,
            reason: reason.to_owned(),
            action: "Rotate",
            note: said.join("; "),
        };
        ctx.events.on_tenant(tenant, note).await;
    }
}

impl From<IdentityError> for Stop {
    fn from(error: IdentityError) -> Self {
        Stop::Failed(error.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connectors::identity::keys::tests::test_key;
    use crate::connectors::identity::rotation::Rotation;
    use kube::api::ObjectMeta;

    const DAY: i64 = 86_400;

    fn stored(data: BTreeMap<String, Vec<u8>>, labels: &[(&str, &str)]) -> Secret {
        Secret {
            metadata: ObjectMeta {
                labels: Some(
                    labels
                        .iter()
                        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                        .collect(),
                ),
                ..ObjectMeta::default()
            },
            data: Some(
                data.into_iter()
                    .map(|(k, v)| (k, k8s_openapi::ByteString(v)))
                    .collect(),
            ),
            ..Secret::default()
        }
    }

    fn a_ring_of_each() -> BTreeMap<String, Vec<u8>> {
        let rotation = Rotation::new(365 * DAY, 30 * DAY, 7 * DAY).unwrap();
        let mut rings = KeyRing::every_purpose();
        for ring in &mut rings {
            ring.advance(0, &rotation, || SigningKey::from_pkcs8(test_key().pkcs8()))
                .unwrap();
        }
        let mut data = keyring::to_secret_data(&rings);
        data.insert(CLIENT_SECRET_KEY.to_owned(), vec![b'x'; 43]);
        data
    }

    #[test]
    fn stored_keys_read_back_and_what_cannot_is_named() {
        let (rings, secret) = read(&stored(a_ring_of_each(), &[])).unwrap();
        assert_eq!(rings.iter().map(|r| r.keys.len()).sum::<usize>(), 4);
        assert_eq!(secret.len(), 43);

        let mut no_secret = a_ring_of_each();
        no_secret.remove(CLIENT_SECRET_KEY);
        let why = read(&stored(no_secret, &[])).err().unwrap();
        assert!(why.contains("client-secret"), "{why}");

        let mut broken = a_ring_of_each();
        let entry = broken
            .keys()
            .find(|k| k.starts_with("protocol.") && k.ends_with(".key"))
            .cloned()
            .unwrap();
        broken.insert(entry.clone(), b"not a key".to_vec());
        let why = read(&stored(broken, &[])).err().unwrap();
        assert!(why.starts_with(&format!("entry {entry}")), "{why}");
    }

    #[test]
    fn a_keys_secret_is_the_operators_only_with_all_four_labels() {
        let ours = [
            (MANAGED_BY_LABEL, MANAGED_BY),
            (TENANT_LABEL, "modena"),
            (IDENTITY_KEYS_LABEL, "true"),
            (ISTAT_CODE_LABEL, "036023"),
        ];
        assert!(made_for(
            &stored(BTreeMap::new(), &ours),
            "modena",
            "036023"
        ));
        assert!(!made_for(
            &stored(BTreeMap::new(), &ours),
            "carpi",
            "036023"
        ));
        assert!(
            !made_for(&stored(BTreeMap::new(), &ours), "modena", "036005"),
            "a tenant of the same name for another municipality"
        );
        assert!(!made_for(
            &stored(BTreeMap::new(), &ours[..3]),
            "modena",
            "036023"
        ));
    }

    #[test]
    fn a_client_secret_is_43_characters_of_base64url() {
        let secret = new_client_secret().unwrap();
        assert_eq!(secret.len(), 43);
        assert!(
            secret
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_')
        );
        assert_ne!(secret, new_client_secret().unwrap());
    }
}
