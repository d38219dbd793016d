//! When the identity connector's keys change. Each key lives `lifetime` from when it is made.
//! Its successor is made `overlap` before it expires and is published at once, but signs only
//! `lead` later: by then the parties that copy what is published (the region's intermediate
//! registering the federation keys, identity providers caching the protocol keys, the SPID
//! registry federating the metadata) hold it. The old key signs until then and stays
//! published until it expires, so a party holding either copy verifies (the federation's
//! rule: new keys are added before old ones are removed). Pure: the times in, the plan out.

/// The rotation schedule, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rotation {
    pub lifetime: i64,
    pub overlap: i64,
    /// How long a new key is published before it signs.
    pub lead: i64,
}

/// Why a schedule cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "a key rotation needs 0 < lead < overlap < lifetime (lifetime {lifetime} s, overlap {overlap} s, lead {lead} s)"
)]
pub struct BadRotation {
    pub lifetime: i64,
    pub overlap: i64,
    pub lead: i64,
}

impl Rotation {
    pub fn new(lifetime: i64, overlap: i64, lead: i64) -> Result<Self, BadRotation> {
        if 0 < lead && lead < overlap && overlap < lifetime {
            Ok(Self {
                lifetime,
                overlap,
                lead,
            })
        } else {
            Err(BadRotation {
                lifetime,
                overlap,
                lead,
            })
        }
    }

    /// When a key made at `created` expires.
    pub fn expires(&self, created: i64) -> i64 {
        created + self.lifetime
    }

    /// When the successor of a key made at `created` is made.
    pub fn successor_due(&self, created: i64) -> i64 {
        created + self.lifetime - self.overlap
    }
}

/// A stored key's identity and times (Unix seconds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyTimes {
    pub kid: String,
    pub created: i64,
    pub expires: i64,
}

/// What to do with the keys at `now`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// A key must be made now (there is none, or the newest is due for a successor); plan
    /// again once it is stored.
    pub make_key: bool,
    /// The key that signs: the newest one published for `lead` (the first key signs at once:
    /// there is no older one anybody could hold).
    pub signer: Option<String>,
    /// The keys to publish: every one alive, newest first.
    pub published: Vec<String>,
    /// Expired keys, to forget.
    pub retired: Vec<String>,
    /// When the plan changes next (a successor due, a key expiring).
    pub next_change: Option<i64>,
}

/// The plan for `keys` at `now`.
pub fn plan(keys: &[KeyTimes], now: i64, rotation: &Rotation) -> Plan {
    let mut alive: Vec<&KeyTimes> = keys.iter().filter(|k| k.expires > now).collect();
    alive.sort_by(|a, b| b.created.cmp(&a.created).then_with(|| a.kid.cmp(&b.kid)));
    let newest = alive.first();
    let successor_due = newest.map(|k| rotation.successor_due(k.created));
    let make_key = successor_due.is_none_or(|due| now >= due);
    let signer = alive
        .iter()
        .find(|k| k.created + rotation.lead <= now)
        .or(alive.last());
    let next_change = successor_due
        .into_iter()
        .chain(alive.iter().map(|k| k.expires))
        .chain(
            alive
                .iter()
                .filter(|k| signer.is_some_and(|s| s.created < k.created))
                .map(|k| k.created + rotation.lead),
        )
        .filter(|t| *t > now)
        .min();
    Plan {
        make_key,
        signer: signer.map(|k| k.kid.clone()),
        published: alive.iter().map(|k| k.kid.clone()).collect(),
        retired: keys
            .iter()
            .filter(|k| k.expires <= now)
            .map(|k| k.kid.clone())
            .collect(),
        next_change,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400;

    fn rotation() -> Rotation {
        Rotation::new(365 * DAY, 30 * DAY, 7 * DAY).unwrap()
    }

    fn key(kid: &str, created: i64) -> KeyTimes {
        KeyTimes {
            kid: kid.into(),
            created,
            expires: rotation().expires(created),
        }
    }

    #[test]
    fn the_schedule_needs_a_lead_shorter_than_the_overlap_shorter_than_the_lifetime() {
        assert!(Rotation::new(10, 0, 0).is_err());
        assert!(Rotation::new(10, 10, 1).is_err());
        assert!(Rotation::new(10, 3, 3).is_err());
        assert!(Rotation::new(10, 3, 0).is_err());
        assert!(Rotation::new(10, 3, 1).is_ok());
    }

    #[test]
    fn a_key_is_made_first_then_its_successor_before_it_expires_and_both_are_published() {
        let r = rotation();
        let none = plan(&[], 0, &r);
        assert!(none.make_key && none.signer.is_none());

        let k1 = key("k1", 0);
        let fresh = plan(std::slice::from_ref(&k1), 100, &r);
        assert_eq!(
            fresh,
            Plan {
                make_key: false,
                signer: Some("k1".into()),
                published: vec!["k1".into()],
                retired: vec![],
                next_change: Some(335 * DAY),
            }
        );
        assert!(plan(std::slice::from_ref(&k1), 335 * DAY, &r).make_key);

        let k2 = key("k2", 335 * DAY);
        let overlap = plan(&[k1.clone(), k2.clone()], 335 * DAY, &r);
        assert!(!overlap.make_key);
        assert_eq!(overlap.signer.as_deref(), Some("k1"), "k2 is not held yet");
        assert_eq!(overlap.published, ["k2", "k1"]);
        assert_eq!(
            overlap.next_change,
            Some(342 * DAY),
            "k2 signs after its lead"
        );

        let led = plan(&[k1.clone(), k2.clone()], 342 * DAY, &r);
        assert_eq!(led.signer.as_deref(), Some("k2"));
        assert_eq!(led.published, ["k2", "k1"]);
        assert_eq!(led.next_change, Some(365 * DAY), "k1 expires");

        let after = plan(&[k1, k2], 365 * DAY, &r);
        assert_eq!(after.published, ["k2"]);
        assert_eq!(after.retired, ["k1"]);
        assert_eq!(after.next_change, Some(335 * DAY + 335 * DAY));
    }

    /// Day by day over ten years, following the plans: a key always signs; after the first,
    /// it has been published for the lead; what signed within the overlap minus the lead is
    /// still published; no more than two keys are ever published.
    #[test]
    fn over_years_a_signer_was_published_first_and_recent_signers_stay_published() {
        let r = rotation();
        let mut keys: Vec<KeyTimes> = Vec::new();
        let mut signed: Vec<(i64, String)> = Vec::new();
        let mut published_since: std::collections::HashMap<String, i64> = Default::default();
        for day in 0..3650 {
            let now = day * DAY;
            let mut p = plan(&keys, now, &r);
            if p.make_key {
                keys.push(key(&format!("k{day}"), now));
                p = plan(&keys, now, &r);
            }
            assert!(!p.make_key, "day {day}");
            keys.retain(|k| !p.retired.contains(&k.kid));
            for kid in &p.published {
                published_since.entry(kid.clone()).or_insert(now);
            }
            let signer = p.signer.clone().expect("a signer");
            if signer != "k0" {
                assert!(
                    now - published_since[&signer] >= r.lead,
                    "day {day}: {signer} signs before it was published for the lead"
                );
            }
            assert!(p.published.len() <= 2, "day {day}: {:?}", p.published);
            for (when, kid) in &signed {
                if now - when < r.overlap - r.lead {
                    assert!(
                        p.published.contains(kid),
                        "day {day}: {kid} signed on {when}"
                    );
                }
            }
            signed.push((now, signer));
        }
    }
}
