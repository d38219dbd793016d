//! The faults of a chaos run and when they come: at random moments, from a seed, within the
//! time the clean run took to roll out (so that they fall during the rollout).

use std::time::Duration;

use crate::Plan;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// SIGKILL, then a new process after `down_ms`.
    KillOperator { down_ms: u64 },
    /// SIGKILL to the API server, started again on the same port.
    RestartApiServer,
    /// SIGTERM to etcd, started again on the same data.
    RestartEtcd,
    /// etcd compacted to its current revision, then the API server restarted: every watch
    /// resumes from a resourceVersion that is gone (410 Gone) and must list again.
    Compact,
    /// The operator killed, the tenants to delete deleted, the operator started again.
    DeleteWhileDown,
}

pub struct Schedule(Vec<(Duration, Fault)>);

impl Schedule {
    pub fn random(plan: &Plan, span: Duration) -> Self {
        let mut rng = fastrand::Rng::with_seed(plan.seed);
        let mut faults = Vec::new();
        for _ in 0..plan.kills {
            faults.push(Fault::KillOperator {
                down_ms: rng.u64(0..2000),
            });
        }
        faults.extend(std::iter::repeat_n(
            Fault::RestartApiServer,
            plan.apiserver_restarts,
        ));
        faults.extend(std::iter::repeat_n(Fault::RestartEtcd, plan.etcd_restarts));
        faults.extend(std::iter::repeat_n(Fault::Compact, plan.compactions));
        if plan.deletions > 0 {
            faults.push(Fault::DeleteWhileDown);
        }
        let mut timed: Vec<(Duration, Fault)> = faults
            .into_iter()
            .map(|f| (span.mul_f64(rng.f64()), f))
            .collect();
        timed.sort_by_key(|(at, _)| *at);
        Self(timed)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The faults in order, each with its moment counted from the operator's first start.
    pub fn faults(&self) -> impl Iterator<Item = (Duration, &Fault)> {
        self.0.iter().map(|(at, f)| (*at, f))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(seed: u64) -> Plan {
        Plan {
            tenants: 10,
            kills: 20,
            apiserver_restarts: 3,
            etcd_restarts: 1,
            compactions: 1,
            deletions: 2,
            concurrency: 16,
            seed,
        }
    }

    #[test]
    fn every_planned_fault_comes_once_in_order_within_the_span() {
        let span = Duration::from_secs(60);
        let s = Schedule::random(&plan(7), span);
        assert_eq!(s.len(), 20 + 3 + 1 + 1 + 1);
        let times: Vec<Duration> = s.faults().map(|(at, _)| at).collect();
        assert!(times.windows(2).all(|w| w[0] <= w[1]));
        assert!(times.iter().all(|t| *t <= span));
        let count = |f: fn(&Fault) -> bool| s.faults().filter(|(_, x)| f(x)).count();
        assert_eq!(count(|f| matches!(f, Fault::KillOperator { .. })), 20);
        assert_eq!(count(|f| *f == Fault::RestartApiServer), 3);
        assert_eq!(count(|f| *f == Fault::DeleteWhileDown), 1);
    }

    #[test]
    fn a_seed_gives_the_same_schedule() {
        let span = Duration::from_secs(60);
        let a: Vec<_> = Schedule::random(&plan(1), span).0;
        assert_eq!(a, Schedule::random(&plan(1), span).0);
        assert_ne!(a, Schedule::random(&plan(2), span).0);
    }
}
