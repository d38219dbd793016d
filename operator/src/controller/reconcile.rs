//! One reconcile of a tenant: the finalizer, the pipeline or the cleanup, the status it ends
//! with, and the bounds around them (a timeout, the metrics, the liveness probe).

use std::sync::Arc;
use std::time::Duration;

use kube::api::Api;
use kube::runtime::controller::Action;
use kube::runtime::finalizer::{Event, finalizer};
use kube::{Resource, ResourceExt};
use municipio_crds::MunicipalityTenant;
use tracing::{Instrument, info, info_span, warn};

use super::events::Note;
use super::status::{self, Observed, Outcome};
use super::{Context, Error, cleanup, pipeline};
use crate::labels::FINALIZER;
use crate::metrics::{InFlight, ReconcileResult, TenantConditions};

/// Longer than any reconcile takes: a handful of API calls.
const RECONCILE_TIMEOUT: Duration = Duration::from_secs(120);

/// After a failed reconcile: retried with a backoff per tenant.
pub fn error_policy(tenant: Arc<MunicipalityTenant>, error: &Error, ctx: Arc<Context>) -> Action {
    let name = tenant.name_any();
    let delay = ctx.failed(&name);
    warn!(tenant = %name, %error, retry_in = ?delay, "reconcile failed");
    Action::requeue(delay)
}

/// A reconcile in flight, for the metrics and the liveness probe, until dropped.
struct Running<'a> {
    ctx: &'a Context,
    _timer: InFlight<'a>,
    finished: bool,
}

impl<'a> Running<'a> {
    fn start(ctx: &'a Context) -> Self {
        ctx.health.reconcile_started();
        Self {
            ctx,
            _timer: ctx.metrics.reconcile_started(),
            finished: false,
        }
    }

    fn finish(mut self) {
        self.finished = true;
    }
}

impl Drop for Running<'_> {
    /// Dropped before `finish`: the reconcile was abandoned half-way, which a stop does only
    /// to what is still in flight after its stop timeout.
    fn drop(&mut self) {
        self.ctx.health.reconcile_finished(self.finished);
    }
}

pub async fn reconcile(
    tenant: Arc<MunicipalityTenant>,
    ctx: Arc<Context>,
) -> Result<Action, Error> {
    let running = Running::start(&ctx);
    let name = tenant.name_any();
    let span = info_span!("reconcile", tenant = %name);
    let api: Api<MunicipalityTenant> = Api::all(ctx.client.clone());
    // A tenant that seems to lack the finalizer may be a store that has not caught up with the
    // write that added it (a reconcile queued behind that one): the helper's patch would fail
    // its test and the reconcile with it. Such a tenant is read fresh.
    let lacks_finalizer = !tenant.finalizers().iter().any(|f| f == FINALIZER);
    let tenant = if lacks_finalizer && tenant.metadata.deletion_timestamp.is_none() {
        match api.get_opt(&name).await.map_err(Error::Read)? {
            Some(fresh) => Arc::new(fresh),
            None => return Ok(Action::await_change()),
        }
    } else {
        tenant
    };
    let finalized = finalizer(&api, FINALIZER, tenant.clone(), |event| async {
        match event {
            Event::Apply(tenant) => {
                let (observed, result) = pipeline::run(&tenant, &ctx).await;
                let (outcome, observed, result) = match result {
                    Ok((outcome, action)) => (outcome, observed, Ok(action)),
                    // An API server shedding load: retried with backoff, without a status write
                    // or an Event, which would only add to its load (the client does not retry
                    // by itself: see main.rs).
                    Err(error) if error.overloaded() => {
                        ctx.metrics.reconciled(ReconcileResult::error);
                        return Err(error);
                    }
                    // Status tells the failure too (and records it as an event), then the
                    // error policy retries with backoff.
                    Err(error) => {
                        let observed = Observed {
                            generation: tenant.metadata.generation,
                            ..Observed::default()
                        };
                        let outcome = Outcome::Blocked {
                            reason: "ReconcileError",
                            message: error.to_string(),
                        };
                        (outcome, observed, Err(error))
                    }
                };
                let counted = match (&result, &outcome) {
                    (Err(_), _) => ReconcileResult::error,
                    (Ok(_), Outcome::Ready) => ReconcileResult::ready,
                    (Ok(_), Outcome::Progressing { .. }) => ReconcileResult::progressing,
                    (Ok(_), Outcome::Blocked { .. }) => ReconcileResult::blocked,
                    (Ok(_), Outcome::Stalled { .. }) => ReconcileResult::stalled,
                    (Ok(_), Outcome::Suspended) => ReconcileResult::suspended,
                };
                ctx.metrics.tenant(
                    &tenant.name_any(),
                    Some(TenantConditions {
                        ready: outcome == Outcome::Ready,
                        stalled: matches!(outcome, Outcome::Stalled { .. }),
                        suspended: outcome == Outcome::Suspended,
                    }),
                );
                let cached = tenant
                    .status
                    .as_ref()
                    .and_then(|s| serde_json::to_value(s).ok());
                let regarding = tenant.object_ref(&());
                let written =
                    status::write(&ctx, &regarding, cached.as_ref(), observed, &outcome).await;
                ctx.metrics.reconciled(if written.is_ok() {
                    counted
                } else {
                    ReconcileResult::error
                });
                written?;
                result
            }
            Event::Cleanup(tenant) => {
                if let Err(error) =
                    cleanup::cleanup(&ctx.client, &tenant, &ctx.config.operator_namespace).await
                {
                    let note = Note {
                        warning: true,
                        reason: "CleanupError".to_owned(),
                        action: "Cleanup",
                        note: error.to_string(),
                    };
                    ctx.events.on_tenant(&tenant, note).await;
                    ctx.metrics.reconciled(ReconcileResult::error);
                    return Err(Error::Cleanup(error));
                }
                info!(policy = ?tenant.spec.deletion_policy, "tenant deleted");
                ctx.metrics.tenant(&tenant.name_any(), None);
                Ok(Action::await_change())
            }
        }
    })
    .instrument(span);
    // No API call may hold a tenant for ever (a connection to an API server that went away):
    // an abandoned reconcile is an error, retried with backoff.
    let result = match tokio::time::timeout(RECONCILE_TIMEOUT, finalized).await {
        // Cleaned up, and the tenant is already gone: a store behind the API server handed a
        // deleted tenant over once more (found by the chaos suite, where it was retried for
        // as long as the store lagged).
        Ok(Err(e)) if already_gone(&e) => {
            tracing::debug!(tenant = %name, "cleaned up; the tenant was already gone");
            Ok(Action::await_change())
        }
        Ok(result) => result.map_err(|e| Error::Finalizer(Box::new(e))),
        Err(_) => Err(Error::TimedOut(RECONCILE_TIMEOUT)),
    };
    if result.is_ok() {
        ctx.succeeded(&name);
    }
    running.finish();
    result
}

/// Whether the finalizer could not be removed because the tenant is gone: the cleanup is done.
fn already_gone(e: &kube::runtime::finalizer::Error<Error>) -> bool {
    matches!(
        e,
        kube::runtime::finalizer::Error::RemoveFinalizer(kube::Error::Api(status))
            if status.code == 404
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::error::api_error;
    use kube::runtime::finalizer;

    #[test]
    fn a_finalizer_removal_that_finds_the_tenant_gone_is_done() {
        assert!(already_gone(&finalizer::Error::<Error>::RemoveFinalizer(
            api_error(404)
        )));
        assert!(!already_gone(&finalizer::Error::<Error>::RemoveFinalizer(
            api_error(409)
        )));
        assert!(!already_gone(&finalizer::Error::<Error>::AddFinalizer(
            api_error(404)
        )));
    }
}
