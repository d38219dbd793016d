//! Inventory: which children exist, kept by the metadata watches of the child kinds, so that a
//! reconcile reads from the API server only what it cannot know.
//!
//! Children are filed by where they are (the tenant namespace they live in, or for a
//! namespace, its own name) and belong to the tenant whose UID their controller owner
//! reference carries: never by a label, which anyone who may edit the child may change (a
//! child relabelled with another tenant's name would otherwise escape drift correction).
//!
//! For each child it keeps the resourceVersion, the controller's UID and the applied-hash
//! annotation (as fixed-size fingerprints: 110,000 children of all Italy's municipalities take
//! a few megabytes), and the resourceVersion at which this process last saw the child as built: the object it applied, or one it read and found as
//! desired. A child still at that resourceVersion, built the same way, is as desired without a
//! read; any other write to it (another field manager, a deletion) moves the resourceVersion,
//! and its watch event brings the tenant back to be reconciled and the child to be read.
//! A child absent from a listed inventory does not exist: it is applied without a read. One
//! its watch said was deleted is read first: it may only have been relabelled out of the
//! watch's selector, and then it is drift to report. Prune deletes from here, without listing.

use std::collections::HashMap;
use std::sync::Mutex;

use kube::core::PartialObjectMeta;
use kube::runtime::watcher;
use kube::{Resource, ResourceExt};

use crate::labels::APPLIED_HASH_ANNOTATION;

/// A child: its kind (`Kind::KIND`), namespace (empty for a cluster-scoped one) and name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ChildKey {
    pub kind: &'static str,
    pub namespace: Box<str>,
    pub name: Box<str>,
}

impl ChildKey {
    pub fn of<K: Resource>(kind: &'static str, object: &K) -> Self {
        Self {
            kind,
            namespace: object.namespace().unwrap_or_default().into(),
            name: object.name_any().into(),
        }
    }

    /// The tenant namespace the child is part of: the one it lives in, or, for a namespace,
    /// itself. A tenant's children all share it.
    fn place(&self) -> &str {
        if self.namespace.is_empty() {
            &self.name
        } else {
            &self.namespace
        }
    }
}

#[derive(Debug, Default, Clone)]
struct Child {
    resource_version: Fingerprint,
    controller: Option<Fingerprint>,
    applied_hash: Option<Fingerprint>,
    /// The resourceVersion at which this process last saw the child as built.
    verified: Option<Fingerprint>,
    /// The list that last saw it: a relist forgets what it did not see.
    list: u64,
    /// Its watch said it was deleted. It may only have left the watch's label selector
    /// (someone changed the labels the watch selects by): it is read before it is applied.
    gone: bool,
}

impl Child {
    fn describe<K: Resource>(&mut self, object: &K) {
        self.gone = false;
        self.resource_version = Fingerprint::of(&object.resource_version().unwrap_or_default());
        self.controller = object
            .owner_references()
            .iter()
            .find(|r| r.controller == Some(true))
            .map(|r| Fingerprint::of(&r.uid));
        self.applied_hash = object
            .annotations()
            .get(APPLIED_HASH_ANNOTATION)
            .map(|h| Fingerprint::of(h));
    }
}

/// A string (a resourceVersion, a UID, a digest) as 128 bits of its SHA-256: equal strings give
/// equal fingerprints, and different ones never meet in practice.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Fingerprint(u128);

impl Fingerprint {
    fn of(s: &str) -> Self {
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(s.as_bytes());
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&digest[..16]);
        Self(u128::from_le_bytes(bytes))
    }
}

/// What the inventory knows of a child about to be applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Known {
    /// No such object: apply it without reading.
    Absent,
    /// As this process last applied or read it, and built the same way: nothing to do.
    AsBuilt,
    /// Changed since, or never seen as built: read it and compare.
    Unsure,
}

#[derive(Default)]
struct Inner {
    /// By tenant namespace ([`ChildKey::place`]).
    by_place: HashMap<Box<str>, HashMap<ChildKey, Child>>,
    /// Per kind, the number of the list under way or last done.
    lists: HashMap<&'static str, u64>,
    /// The kinds listed at least once.
    listed: Vec<&'static str>,
}

pub struct Inventory {
    inner: Mutex<Inner>,
    /// Fields of children (JSON pointers) that another manager set and the API server puts
    /// back when they are removed: defaults it fills in (an object made by someone else, or
    /// restored from a backup, owns them). Not removed again.
    back: Mutex<std::collections::HashSet<(ChildKey, String)>>,
    /// How many kinds have been listed once.
    listed: tokio::sync::watch::Sender<usize>,
    /// How many kinds are watched into it.
    watched: std::sync::atomic::AtomicUsize,
}

impl Default for Inventory {
    fn default() -> Self {
        Self {
            inner: Mutex::default(),
            back: Mutex::default(),
            listed: tokio::sync::watch::Sender::new(0),
            watched: std::sync::atomic::AtomicUsize::new(0),
        }
    }
}

impl Inventory {
    /// Counts one more kind whose watch feeds the inventory (before the controller runs).
    pub fn watching(&self) {
        self.watched
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }

    /// Until every watched kind has been listed once: before that, a child would look absent.
    pub async fn wait_listed(&self) {
        let kinds = self.watched.load(std::sync::atomic::Ordering::SeqCst);
        let mut listed = self.listed.subscribe();
        // The sender lives as long as self: waiting cannot fail.
        let _ = listed.wait_for(|n| *n >= kinds).await;
    }

    fn child(&self, key: &ChildKey) -> Option<Child> {
        self.lock()
            .by_place
            .get(key.place())
            .and_then(|c| c.get(key))
            .cloned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes in one watch event of the kind `kind`.
    pub fn observe<K: Resource>(
        &self,
        kind: &'static str,
        event: &watcher::Event<PartialObjectMeta<K>>,
    ) {
        let mut inner = self.lock();
        match event {
            watcher::Event::Init => *inner.lists.entry(kind).or_default() += 1,
            watcher::Event::InitApply(o) | watcher::Event::Apply(o) => {
                let list = inner.lists.get(kind).copied().unwrap_or_default();
                let key = ChildKey::of(kind, o);
                let children = inner.by_place.entry(key.place().into()).or_default();
                let child = children.entry(key).or_default();
                child.describe(o);
                child.list = list;
            }
            watcher::Event::Delete(o) => {
                let key = ChildKey::of(kind, o);
                if let Some(child) = inner
                    .by_place
                    .get_mut(key.place())
                    .and_then(|children| children.get_mut(&key))
                {
                    child.gone = true;
                    child.verified = None;
                }
            }
            watcher::Event::InitDone => {
                if !inner.listed.contains(&kind) {
                    inner.listed.push(kind);
                    self.listed.send_replace(inner.listed.len());
                }
                let list = inner.lists.get(kind).copied().unwrap_or_default();
                for children in inner.by_place.values_mut() {
                    children.retain(|k, c| k.kind != kind || c.list >= list);
                }
                inner.by_place.retain(|_, children| !children.is_empty());
            }
        }
    }

    /// What is known of `key`, a child of the tenant with UID `tenant_uid` about to be applied
    /// with `hash`. One that exists with another controller (its owner reference was changed)
    /// is read and compared like any other drift.
    pub fn known(&self, tenant_uid: &str, key: &ChildKey, hash: Option<&str>) -> Known {
        let Some(child) = self.child(key) else {
            return Known::Absent;
        };
        if child.gone || child.controller != Some(Fingerprint::of(tenant_uid)) {
            return Known::Unsure;
        }
        let as_built = child.verified == Some(child.resource_version)
            && child.applied_hash == hash.map(Fingerprint::of);
        if as_built {
            Known::AsBuilt
        } else {
            Known::Unsure
        }
    }

    /// Records that this process saw the child `object` as built (it applied it, or read it and
    /// found it as desired).
    pub fn as_built<K: Resource>(&self, kind: &'static str, object: &K) {
        let mut inner = self.lock();
        let list = inner.lists.get(kind).copied().unwrap_or_default();
        let key = ChildKey::of(kind, object);
        let children = inner.by_place.entry(key.place().into()).or_default();
        let child = children.entry(key).or_insert_with(|| {
            let mut child = Child::default();
            child.describe(object);
            child
        });
        // A child the watch knows keeps what the watch last showed: it may already be a later
        // write than this one (resourceVersions cannot be ordered), which must still be read.
        // Only this version is marked as built; the watch's event for it makes it current.
        child.verified = Some(Fingerprint::of(
            &object.resource_version().unwrap_or_default(),
        ));
        child.list = child.list.max(list);
    }

    /// The names of the children of `kind` in `namespace` whose controller is `controller_uid`
    /// (the tenant's UID).
    pub fn controlled(
        &self,
        kind: &'static str,
        namespace: &str,
        controller_uid: &str,
    ) -> Vec<String> {
        let inner = self.lock();
        let controller = Some(Fingerprint::of(controller_uid));
        let mut names: Vec<String> = inner
            .by_place
            .get(namespace)
            .into_iter()
            .flatten()
            .filter(|(k, c)| {
                k.kind == kind
                    && &*k.namespace == namespace
                    && c.controller == controller
                    && !c.gone
            })
            .map(|(k, _)| k.name.to_string())
            .collect();
        names.sort();
        names
    }

    /// Whether `key` is a child whose controller is `controller_uid` (the tenant's UID).
    pub fn controls(&self, key: &ChildKey, controller_uid: &str) -> bool {
        self.child(key)
            .is_some_and(|c| !c.gone && c.controller == Some(Fingerprint::of(controller_uid)))
    }

    /// Records that the field at `pointer` of `key` came back after its removal.
    pub fn came_back(&self, key: &ChildKey, pointer: &str) {
        let mut back = self.back.lock().unwrap_or_else(|e| e.into_inner());
        back.insert((key.clone(), pointer.to_owned()));
    }

    /// Whether the field at `pointer` of `key` came back after an earlier removal.
    pub fn comes_back(&self, key: &ChildKey, pointer: &str) -> bool {
        let back = self.back.lock().unwrap_or_else(|e| e.into_inner());
        back.contains(&(key.clone(), pointer.to_owned()))
    }

    /// Forgets the children in a tenant namespace (its tenant is gone; a retained child that
    /// is still watched comes back with its next event).
    pub fn forget(&self, namespace: &str) {
        self.lock().by_place.remove(namespace);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels::TENANT_LABEL;
    use k8s_openapi::api::core::v1::ConfigMap;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
    use kube::api::ObjectMeta;

    fn meta(name: &str, rv: &str, hash: &str) -> ObjectMeta {
        ObjectMeta {
            name: Some(name.to_owned()),
            namespace: Some("comune-a".to_owned()),
            resource_version: Some(rv.to_owned()),
            labels: Some([(TENANT_LABEL.to_owned(), "a".to_owned())].into()),
            annotations: Some([(APPLIED_HASH_ANNOTATION.to_owned(), hash.to_owned())].into()),
            owner_references: Some(vec![OwnerReference {
                uid: "uid-a".to_owned(),
                controller: Some(true),
                ..Default::default()
            }]),
            ..Default::default()
        }
    }

    fn partial(name: &str, rv: &str, hash: &str) -> PartialObjectMeta<ConfigMap> {
        PartialObjectMeta {
            metadata: meta(name, rv, hash),
            ..Default::default()
        }
    }

    fn config_map(name: &str, rv: &str, hash: &str) -> ConfigMap {
        ConfigMap {
            metadata: meta(name, rv, hash),
            ..Default::default()
        }
    }

    const KIND: &str = "ConfigMap";

    fn key(name: &str) -> ChildKey {
        ChildKey {
            kind: KIND,
            namespace: "comune-a".into(),
            name: name.into(),
        }
    }

    #[test]
    fn a_child_is_as_built_until_someone_else_writes_it_or_it_is_built_differently() {
        let inventory = Inventory::default();
        assert_eq!(
            inventory.known("uid-a", &key("x"), Some("h1")),
            Known::Absent
        );
        inventory.as_built(KIND, &config_map("x", "10", "h1"));
        assert_eq!(
            inventory.known("uid-a", &key("x"), Some("h1")),
            Known::AsBuilt
        );
        assert_eq!(
            inventory.known("uid-a", &key("x"), Some("h2")),
            Known::Unsure
        );
        // Its own write's event changes nothing; another write moves the resourceVersion.
        inventory.observe(KIND, &watcher::Event::Apply(partial("x", "10", "h1")));
        assert_eq!(
            inventory.known("uid-a", &key("x"), Some("h1")),
            Known::AsBuilt
        );
        inventory.observe(KIND, &watcher::Event::Apply(partial("x", "11", "h1")));
        assert_eq!(
            inventory.known("uid-a", &key("x"), Some("h1")),
            Known::Unsure
        );
        // Deleted, or only relabelled out of the watch's sight: read before it is applied.
        inventory.observe(KIND, &watcher::Event::Delete(partial("x", "11", "h1")));
        assert_eq!(
            inventory.known("uid-a", &key("x"), Some("h1")),
            Known::Unsure
        );
        assert!(!inventory.controls(&key("x"), "uid-a"), "not for prune");
        inventory.observe(KIND, &watcher::Event::Apply(partial("x", "12", "h1")));
        inventory.as_built(KIND, &config_map("x", "12", "h1"));
        assert_eq!(
            inventory.known("uid-a", &key("x"), Some("h1")),
            Known::AsBuilt
        );
        inventory.forget("comune-a");
        assert_eq!(
            inventory.known("uid-a", &key("x"), Some("h1")),
            Known::Absent
        );
    }

    #[test]
    fn a_relist_forgets_what_it_did_not_see_and_prune_sees_the_controlled_ones() {
        let inventory = Inventory::default();
        inventory.observe(KIND, &watcher::Event::<PartialObjectMeta<ConfigMap>>::Init);
        inventory.observe(KIND, &watcher::Event::InitApply(partial("x", "1", "h")));
        inventory.observe(KIND, &watcher::Event::InitApply(partial("y", "2", "h")));
        inventory.observe(
            KIND,
            &watcher::Event::<PartialObjectMeta<ConfigMap>>::InitDone,
        );
        assert_eq!(inventory.controlled(KIND, "comune-a", "uid-a"), ["x", "y"]);
        assert!(inventory.controlled(KIND, "comune-a", "uid-b").is_empty());
        // Deleted while the watch was down: the relist does not see it.
        inventory.observe(KIND, &watcher::Event::<PartialObjectMeta<ConfigMap>>::Init);
        inventory.observe(KIND, &watcher::Event::InitApply(partial("y", "2", "h")));
        inventory.observe(
            KIND,
            &watcher::Event::<PartialObjectMeta<ConfigMap>>::InitDone,
        );
        assert_eq!(inventory.controlled(KIND, "comune-a", "uid-a"), ["y"]);
        assert_eq!(
            inventory.known("uid-a", &key("x"), Some("h")),
            Known::Absent
        );
        inventory.forget("comune-a");
        assert_eq!(
            inventory.known("uid-a", &key("y"), Some("h")),
            Known::Absent
        );
    }

    #[test]
    fn a_child_belongs_to_its_controller_not_to_its_label() {
        let inventory = Inventory::default();
        inventory.as_built(KIND, &config_map("x", "10", "h1"));
        // Relabelled as another tenant's: still this tenant's, and drift to read.
        let mut relabelled = partial("x", "11", "h1");
        relabelled.metadata.labels = Some([(TENANT_LABEL.to_owned(), "b".to_owned())].into());
        inventory.observe(KIND, &watcher::Event::Apply(relabelled));
        assert_eq!(
            inventory.known("uid-a", &key("x"), Some("h1")),
            Known::Unsure
        );
        assert_eq!(inventory.controlled(KIND, "comune-a", "uid-a"), ["x"]);
        assert!(inventory.controlled(KIND, "comune-a", "uid-b").is_empty());
        // Another controller written into its owner reference: not the other tenant's to
        // prune, and this tenant reads it before applying.
        let mut taken = partial("x", "12", "h1");
        taken.metadata.owner_references.as_mut().unwrap()[0].uid = "uid-b".to_owned();
        inventory.observe(KIND, &watcher::Event::Apply(taken));
        assert_eq!(
            inventory.known("uid-a", &key("x"), Some("h1")),
            Known::Unsure
        );
        assert!(!inventory.controls(&key("x"), "uid-a"));
        // Labelled as a tenant's child without an owner reference: nobody's.
        let mut stray = partial("y", "1", "h1");
        stray.metadata.owner_references = None;
        inventory.observe(KIND, &watcher::Event::Apply(stray));
        assert!(!inventory.controls(&key("y"), "uid-a"));
        assert_eq!(
            inventory.known("uid-a", &key("y"), Some("h1")),
            Known::Unsure
        );
    }

    #[test]
    fn a_later_write_the_watch_showed_first_is_not_taken_for_the_operators() {
        let inventory = Inventory::default();
        inventory.observe(KIND, &watcher::Event::Apply(partial("x", "10", "h1")));
        // Another manager's write (11) arrives before the answer to the operator's (also 10,
        // say, or any earlier one) is recorded.
        inventory.observe(KIND, &watcher::Event::Apply(partial("x", "11", "h1")));
        inventory.as_built(KIND, &config_map("x", "10", "h1"));
        assert_eq!(
            inventory.known("uid-a", &key("x"), Some("h1")),
            Known::Unsure
        );
    }
}
