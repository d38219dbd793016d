//! `spec.admins`: who administers the municipality's namespace.

use super::*;

pub(super) fn admins(p: &mut Problems, admins: &[Admin], path: &FieldPath) -> Vec<Admin> {
    for (i, admin) in admins.iter().enumerate() {
        let at = path.index(i);
        if admin.name.is_empty()
            || admin
                .name
                .chars()
                .any(|c| c.is_control() || c.is_whitespace() || invisible(c))
        {
            p.push(
                at.child("name"),
                Problem::invalid(
                    "SubjectName",
                    format!(
                        "{:?} is not a subject name (no spaces, control or invisible characters)",
                        admin.name
                    ),
                ),
            );
        }
        match admin.kind {
            AdminKind::ServiceAccount => match &admin.namespace {
                None => p.push(
                    at.child("namespace"),
                    Problem::Required("for a ServiceAccount"),
                ),
                Some(ns) => {
                    p.parse(at.child("namespace"), ns, |s| DnsLabel::parse_max(s, 63));
                    p.parse(at.child("name"), &admin.name, check_dns_subdomain);
                }
            },
            AdminKind::Group | AdminKind::User => {
                if admin.namespace.is_some() {
                    p.push(
                        at.child("namespace"),
                        Problem::Forbidden("only a ServiceAccount has a namespace"),
                    );
                }
                if admin.name.starts_with("system:") {
                    p.push(at.child("name"), Problem::ReservedSubject("system:* users and groups (such as system:authenticated, every user of the cluster) cannot be tenant admins"));
                }
            }
        }
    }
    // RBAC knows a subject by kind, namespace and name: a group and a user may share a name.
    p.unique(admins.iter().enumerate().map(|(i, a)| {
        let subject = format!(
            "{:?} {}/{}",
            a.kind,
            a.namespace.as_deref().unwrap_or(""),
            a.name
        );
        (path.index(i).child("name"), subject)
    }));
    admins.to_vec()
}

/// Unicode's default-ignorable code points (zero-width spaces and joiners, bidirectional
/// overrides, the byte order mark, variation selectors, tags...): they show as nothing, or
/// reorder what is around them, so a name holding one reads like another name. RBAC compares
/// subject names byte for byte: `comune-modena\u{200b}-admins` is not the group it shows as in a
/// review, and `\u{200b}system:masters` would slip past the `system:` check.
pub(super) fn invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00ad}'
            | '\u{034f}'
            | '\u{061c}'
            | '\u{115f}'..='\u{1160}'
            | '\u{17b4}'..='\u{17b5}'
            | '\u{180b}'..='\u{180f}'
            | '\u{200b}'..='\u{200f}'
            | '\u{202a}'..='\u{202e}'
            | '\u{2060}'..='\u{206f}'
            | '\u{3164}'
            | '\u{fe00}'..='\u{fe0f}'
            | '\u{feff}'
            | '\u{ffa0}'
            | '\u{fff0}'..='\u{fff8}'
            | '\u{1bca0}'..='\u{1bca3}'
            | '\u{1d173}'..='\u{1d17a}'
            | '\u{e0000}'..='\u{e0fff}'
    )
}
