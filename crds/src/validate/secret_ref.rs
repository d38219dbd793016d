//! References to keys in source Secrets (both connectors name them).

use super::*;

pub(super) fn check_secret_key_ref(p: &mut Problems, r: &SecretKeyRef, path: &FieldPath) {
    check_secret_name(p, &r.secret_name, &path.child("secretName"));
    check_secret_key(p, &r.key, &path.child("key"));
}

pub(super) fn check_secret_name(p: &mut Problems, name: &str, path: &FieldPath) {
    if let Err(e) = check_dns_subdomain(name) {
        p.push(
            path.clone(),
            Problem::invalid("SecretName", format!("Secret name {e}")),
        );
    }
}

pub(super) fn check_secret_key(p: &mut Problems, key: &str, path: &FieldPath) {
    if key.is_empty()
        || key.len() > 253
        || !key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b))
    {
        p.push(
            path.clone(),
            Problem::invalid(
                "SecretKey",
                format!("{key:?} is not a Secret key (letters, digits, '-', '_', '.')"),
            ),
        );
    }
}
