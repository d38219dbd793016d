//! The identity connector's keys as they are stored: one Secret per tenant in the operator's
//! namespace (the only place the operator reads Secrets), one ring of keys per purpose, each
//! key under its kid with the times of its life. `advance` makes and retires keys as the
//! rotation plan says; what it returns tells what to publish and when to look again.

use std::collections::BTreeMap;

use super::keys::{KeyError, SigningKey};
use super::rotation::{KeyTimes, Plan, Rotation, plan};

/// What a ring of keys signs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Purpose {
    /// The SAML metadata, through the certificate of each key.
    Saml,
    /// The federation's entity configuration.
    Federation,
    /// The OpenID Connect protocol (request objects, client assertions).
    Protocol,
    /// What OpenID providers encrypt userinfo to.
    Encryption,
}

impl Purpose {
    pub const ALL: [Purpose; 4] = [
        Purpose::Saml,
        Purpose::Federation,
        Purpose::Protocol,
        Purpose::Encryption,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Purpose::Saml => "saml",
            Purpose::Federation => "federation",
            Purpose::Protocol => "protocol",
            Purpose::Encryption => "encryption",
        }
    }
}

/// A key and its times.
#[derive(Debug)]
pub struct StoredKey {
    pub key: SigningKey,
    pub times: KeyTimes,
}

/// The keys of one purpose.
#[derive(Debug)]
pub struct KeyRing {
    pub purpose: Purpose,
    pub keys: Vec<StoredKey>,
}

/// A stored entry that cannot be read back, by its name in the Secret.
#[derive(Debug, thiserror::Error)]
pub enum KeyringError {
    #[error("entry {entry}: {reason}")]
    Entry { entry: String, reason: String },
    #[error("entry {entry}: {source}")]
    Key {
        entry: String,
        #[source]
        source: KeyError,
    },
}

impl KeyRing {
    /// An empty ring of each purpose, in [`Purpose::ALL`]'s order.
    pub fn every_purpose() -> Vec<KeyRing> {
        Purpose::ALL
            .into_iter()
            .map(|purpose| KeyRing {
                purpose,
                keys: Vec::new(),
            })
            .collect()
    }

    /// Makes a key if the plan says so (with `make`, at `now`), forgets the expired ones,
    /// and returns the plan for what is left.
    pub fn advance(
        &mut self,
        now: i64,
        rotation: &Rotation,
        make: impl FnOnce() -> Result<SigningKey, KeyError>,
    ) -> Result<Plan, KeyError> {
        let times: Vec<KeyTimes> = self.keys.iter().map(|k| k.times.clone()).collect();
        let mut current = plan(&times, now, rotation);
        if current.make_key {
            let key = make()?;
            let times = KeyTimes {
                kid: key.kid().to_owned(),
                created: now,
                expires: rotation.expires(now),
            };
            self.keys.push(StoredKey { key, times });
            let times: Vec<KeyTimes> = self.keys.iter().map(|k| k.times.clone()).collect();
            current = plan(&times, now, rotation);
        }
        self.keys.retain(|k| k.times.expires > now);
        Ok(current)
    }

    /// The published keys, the signer first, then the others newest first.
    pub fn published<'a>(&'a self, plan: &Plan) -> Vec<&'a StoredKey> {
        let signer = plan.signer.iter();
        let others = plan
            .published
            .iter()
            .filter(|kid| Some(*kid) != plan.signer.as_ref());
        signer
            .chain(others)
            .filter_map(|kid| self.keys.iter().find(|k| &k.times.kid == kid))
            .collect()
    }
}

/// The Secret's data for `rings`: `<purpose>.<kid>.key` (PKCS#8 DER), `.created` and
/// `.expires` (Unix seconds, decimal).
pub fn to_secret_data(rings: &[KeyRing]) -> BTreeMap<String, Vec<u8>> {
    let mut data = BTreeMap::new();
    for ring in rings {
        for k in &ring.keys {
            let prefix = format!("{}.{}", ring.purpose.name(), k.times.kid);
            data.insert(format!("{prefix}.key"), k.key.pkcs8().to_vec());
            data.insert(
                format!("{prefix}.created"),
                k.times.created.to_string().into_bytes(),
            );
            data.insert(
                format!("{prefix}.expires"),
                k.times.expires.to_string().into_bytes(),
            );
        }
    }
    data
}

/// The rings stored in `data` (every purpose, empty when it has no key yet).
pub fn from_secret_data(data: &BTreeMap<String, Vec<u8>>) -> Result<Vec<KeyRing>, KeyringError> {
    let mut rings = KeyRing::every_purpose();
    for (entry, der) in data {
        let Some(prefix) = entry.strip_suffix(".key") else {
            continue;
        };
        let bad = |reason: String| KeyringError::Entry {
            entry: entry.clone(),
            reason,
        };
        let (purpose, kid) = prefix
            .split_once('.')
            .ok_or_else(|| bad("not <purpose>.<kid>.key".to_owned()))?;
        let ring = rings
            .iter_mut()
            .find(|r| r.purpose.name() == purpose)
            .ok_or_else(|| bad(format!("no purpose {purpose}")))?;
        let time = |what: &str| -> Result<i64, KeyringError> {
            let name = format!("{prefix}.{what}");
            let text = data
                .get(&name)
                .ok_or_else(|| bad(format!("{name} is missing")))?;
            std::str::from_utf8(text)
                .ok()
                .and_then(|t| t.parse().ok())
                .ok_or_else(|| bad(format!("{name} is not a time in seconds")))
        };
        let key = SigningKey::from_pkcs8(der).map_err(|source| KeyringError::Key {
            entry: entry.clone(),
            source,
        })?;
        if key.kid() != kid {
            return Err(bad(format!("the key's id is {}, not {kid}", key.kid())));
        }
        let times = KeyTimes {
            kid: kid.to_owned(),
            created: time("created")?,
            expires: time("expires")?,
        };
        ring.keys.push(StoredKey { key, times });
    }
    Ok(rings)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connectors::identity::keys::tests::test_key;

    const DAY: i64 = 86_400;

    fn ring() -> KeyRing {
        KeyRing {
            purpose: Purpose::Federation,
            keys: Vec::new(),
        }
    }

    fn copy_of_test_key() -> Result<SigningKey, KeyError> {
        SigningKey::from_pkcs8(test_key().pkcs8())
    }

    #[test]
    fn advance_makes_the_first_key_and_then_nothing_until_its_successor_is_due() {
        let rotation = Rotation::new(365 * DAY, 30 * DAY, 7 * DAY).unwrap();
        let mut ring = ring();
        let first = ring.advance(0, &rotation, copy_of_test_key).unwrap();
        assert_eq!(first.signer.as_deref(), Some(test_key().kid()));
        assert_eq!(ring.keys.len(), 1);
        let later = ring
            .advance(DAY, &rotation, || panic!("no key is made before it is due"))
            .unwrap();
        assert_eq!(later.published, [test_key().kid()]);
        assert_eq!(ring.published(&later).len(), 1);
        // Long after: the old key expired, a new one is made and the old one forgotten.
        let much_later = ring
            .advance(400 * DAY, &rotation, copy_of_test_key)
            .unwrap();
        assert_eq!(much_later.retired.len(), 1);
        assert_eq!(ring.keys.len(), 1);
        assert_eq!(ring.keys[0].times.created, 400 * DAY);
    }

    #[test]
    fn the_stored_rings_read_back_and_a_bad_entry_is_named() {
        let rotation = Rotation::new(365 * DAY, 30 * DAY, 7 * DAY).unwrap();
        let mut federation = ring();
        federation.advance(7, &rotation, copy_of_test_key).unwrap();
        let data = to_secret_data(&[federation]);
        let rings = from_secret_data(&data).unwrap();
        let federation = rings
            .iter()
            .find(|r| r.purpose == Purpose::Federation)
            .unwrap();
        assert_eq!(federation.keys[0].times.created, 7);
        assert_eq!(federation.keys[0].times.expires, 7 + 365 * DAY);
        assert!(
            rings
                .iter()
                .filter(|r| r.purpose != Purpose::Federation)
                .all(|r| r.keys.is_empty())
        );

        let kid = test_key().kid();
        let mut broken = data.clone();
        broken.insert(format!("federation.{kid}.expires"), b"soon".to_vec());
        let error = from_secret_data(&broken).unwrap_err().to_string();
        assert!(
            error.contains(&format!("federation.{kid}.expires is not a time")),
            "{error}"
        );
        let mut broken = data.clone();
        broken.insert(format!("federation.{kid}.key"), b"not a key".to_vec());
        let error = from_secret_data(&broken).unwrap_err().to_string();
        assert!(
            error.starts_with(&format!("entry federation.{kid}.key: the key is not")),
            "{error}"
        );
        let mut renamed = BTreeMap::new();
        for (k, v) in data {
            renamed.insert(k.replace(kid, "other"), v);
        }
        let error = from_secret_data(&renamed).unwrap_err().to_string();
        assert!(error.contains("not other"), "{error}");
    }
}
