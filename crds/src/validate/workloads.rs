//! `spec.workloads`: what runs in the namespace.

use super::*;

pub(super) fn workloads(
    p: &mut Problems,
    tenant: &MunicipalityTenant,
    path: &FieldPath,
) -> Option<Vec<ValidWorkload>> {
    let before = p.0.len();
    let enabled: HashSet<Connector> = [
        (
            Connector::Pagopa,
            tenant.spec.pagopa.as_ref().is_some_and(|c| c.enabled),
        ),
        (
            Connector::Io,
            tenant.spec.io.as_ref().is_some_and(|c| c.enabled),
        ),
        (
            Connector::Identity,
            tenant.spec.identity.as_ref().is_some_and(|c| c.enabled),
        ),
    ]
    .into_iter()
    .filter_map(|(c, on)| on.then_some(c))
    .collect();
    let mut out = Vec::new();
    for (i, w) in tenant.spec.workloads.iter().enumerate() {
        let at = path.index(i);
        let name = p.parse(at.child("name"), &w.name, |s| {
            DnsLabel::parse_dns1035(s, 40)
        });
        let image = p
            .parse_opt::<ImageRef>(at.child("image"), Some(&w.image))
            .filter(|image| match latest_tag(image.as_str()) {
                Some(name) => {
                    p.push(
                        at.child("image"),
                        Problem::invalid(
                            "ImageUnpinned",
                            format!(
                                "image has the tag latest, which moves with every push; pin a version, e.g. {name}:1.0.0, or a digest"
                            ),
                        ),
                    );
                    false
                }
                None => true,
            });
        match w.replicas {
            Some(r) if r < 0 => p.push(
                at.child("replicas"),
                Problem::invalid("Replicas", format!("{r} is negative")),
            ),
            Some(r) if r > 100 => p.push(
                at.child("replicas"),
                Problem::TooLarge {
                    value: r.to_string(),
                    max: "100",
                },
            ),
            _ => {}
        }
        let port = match w.port.map(u16::try_from) {
            None => Some(None),
            Some(Ok(port)) if port > 0 => Some(Some(port)),
            Some(_) => {
                p.push(
                    at.child("port"),
                    Problem::invalid(
                        "Port",
                        format!(
                            "{} is not a TCP port (1 to 65535)",
                            w.port.unwrap_or_default()
                        ),
                    ),
                );
                None
            }
        };
        let (requests, limits) = resources(p, w.resources.as_ref(), &at.child("resources"));
        for (j, e) in w.env.iter().enumerate() {
            if e.value.as_deref().is_some_and(|v| v.contains('\0')) {
                p.push(
                    at.child("env").index(j).child("value"),
                    Problem::Forbidden(
                        "a NUL character: no process can receive it in its environment",
                    ),
                );
            }
        }
        let env: Vec<(EnvVarName, String)> = w
            .env
            .iter()
            .enumerate()
            .filter_map(|(j, e)| {
                Some((
                    p.parse_opt::<EnvVarName>(
                        at.child("env").index(j).child("name"),
                        Some(&e.name),
                    )?,
                    e.value.clone().unwrap_or_default(),
                ))
            })
            .collect();
        p.unique(
            w.env
                .iter()
                .enumerate()
                .map(|(j, e)| (at.child("env").index(j).child("name"), e.name.as_str())),
        );
        let mut connectors = BTreeSet::new();
        let connector_paths = w
            .connectors
            .iter()
            .enumerate()
            .map(|(j, c)| (at.child("connectors").index(j), c.name()));
        p.unique(connector_paths);
        for (j, c) in w.connectors.iter().enumerate() {
            if !enabled.contains(c) {
                p.push(
                    at.child("connectors").index(j),
                    Problem::ConnectorNotEnabled(c.name()),
                );
            }
            connectors.insert(*c);
        }
        if let (Some(name), Some(image), Some(port)) = (name, image, port) {
            out.push(ValidWorkload {
                name,
                image,
                replicas: w.replicas,
                port,
                requests,
                limits,
                env,
                connectors,
            });
        }
    }
    p.unique(
        tenant
            .spec
            .workloads
            .iter()
            .enumerate()
            .map(|(i, w)| (path.index(i).child("name"), w.name.as_str())),
    );
    (p.0.len() == before).then_some(out)
}

/// The repository of a (well-formed) image reference pinned by nothing but the tag `latest`,
/// which every push moves: what runs would change under the tenant's feet as without a tag.
/// With a digest, the digest pins it.
pub(super) fn latest_tag(image: &str) -> Option<&str> {
    if image.contains('@') {
        return None;
    }
    image.strip_suffix(":latest")
}

pub(super) fn resources(
    p: &mut Problems,
    r: Option<&crate::v1alpha1::Resources>,
    path: &FieldPath,
) -> (ValidCompute, ValidCompute) {
    let r = r.cloned().unwrap_or_default();
    let compute = |p: &mut Problems, c: Option<&ComputeResources>, at: FieldPath| ValidCompute {
        cpu: bounded(
            p,
            at.child("cpu"),
            c.and_then(|c| c.cpu.as_ref()),
            MAX_CPU_CORES,
            MAX_CPU_TEXT,
            false,
        ),
        memory: bounded(
            p,
            at.child("memory"),
            c.and_then(|c| c.memory.as_ref()),
            MAX_MEMORY_BYTES,
            MAX_MEMORY_TEXT,
            false,
        ),
    };
    let requests = compute(p, r.requests.as_ref(), path.child("requests"));
    let limits = compute(p, r.limits.as_ref(), path.child("limits"));
    for (resource, request, limit) in [
        ("cpu", &requests.cpu, &limits.cpu),
        ("memory", &requests.memory, &limits.memory),
    ] {
        if let (Some(request), Some(limit)) = (request, limit)
            && request.value() > limit.value()
        {
            p.push(
                path.child("requests").child(resource),
                Problem::RequestAboveLimit {
                    request: request.to_string(),
                    limit: limit.to_string(),
                },
            );
        }
    }
    (requests, limits)
}
