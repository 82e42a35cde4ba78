//! etcd's health endpoints, as etcd 3.5 serves them (3.4 differs where
//! noted):
//! - `/health`: one verdict, `{"health":"true","reason":""}` (200), or
//!   `"false"` with the first failed check's reason (503): an active alarm
//!   of any member (`ALARM NOSPACE`, `ALARM CORRUPT`; `?exclude=NOSPACE`
//!   ignores that alarm), no leader (`RAFT NO LEADER`), a linearizable probe
//!   read failing within the request timeout (`RANGE ERROR:<error>`).
//!   `?serializable=true` (3.5.3+) skips the leader check and reads
//!   serializably: is this member alive rather than is the cluster ready.
//!   etcd 3.4 prints no `reason` and has no `serializable`.
//! - `/livez` and `/readyz` (3.5.11+; 404 in 3.4): lists of named checks,
//!   all run, each reported as `[+]name ok` or `[-]name failed: <error>`;
//!   200 `ok` (the report first with `?verbose`), or 503 with the report.
//!   `?exclude=NAME` leaves a check out; `/readyz/NAME` runs that one alone.
//!   etcd runs a list in map order; here it runs in the order below.

use etcd_proto::etcdserverpb::{AlarmMember, AlarmType};
use serde::Serialize;
use tonic::body::Body;
use tonic::codegen::http::{Response, StatusCode};

use super::{Query, TEXT};
use crate::errors::EtcdError;
use crate::server::{Consistency, EtcdServer};

/// `/health`'s body, in etcd's field order.
#[derive(Serialize)]
struct Verdict<'a> {
    health: &'a str,
    reason: &'a str,
}

pub(super) async fn health(server: &EtcdServer, query: &Query) -> Response<Body> {
    let excluded: Vec<&str> = query.values("exclude").collect();
    let serializable = query.first("serializable") == Some("true");
    let checked = check_health(server, &excluded, serializable).await;
    let (health, reason) = match &checked {
        Ok(()) => ("true", ""),
        Err(reason) => ("false", reason.as_str()),
    };
    let body = serde_json::to_string(&Verdict { health, reason }).unwrap_or_default();
    if checked.is_ok() {
        return super::ok(TEXT, body);
    }
    tracing::warn!(output = %body, "status-code" = 503, "/health error");
    super::error(StatusCode::SERVICE_UNAVAILABLE, &body)
}

/// `/health`'s checks in etcd's order; the error is the reason.
async fn check_health(
    server: &EtcdServer,
    excluded: &[&str],
    serializable: bool,
) -> Result<(), String> {
    let alarms = server.alarms().await.map_err(range_error)?;
    if let Some(alarm) = alarms
        .iter()
        .find(|a| !excluded.contains(&alarm_name(a).as_str()))
    {
        return Err(alarm_reason(alarm).to_string());
    }
    if !serializable && server.leader().is_none() {
        return Err("RAFT NO LEADER".to_string());
    }
    let consistency = match serializable {
        true => Consistency::Serializable,
        false => Consistency::Linearizable,
    };
    server.probe_read(consistency).await.map_err(range_error)
}

fn range_error(e: EtcdError) -> String {
    format!("RANGE ERROR:{e}")
}

/// An alarm's name as `?exclude=` gives it (Go's enum `String()`).
fn alarm_name(alarm: &AlarmMember) -> String {
    match AlarmType::try_from(alarm.alarm) {
        Ok(kind) => kind.as_str_name().to_string(),
        Err(_) => alarm.alarm.to_string(),
    }
}

fn alarm_reason(alarm: &AlarmMember) -> &'static str {
    match alarm.alarm() {
        AlarmType::Nospace => "ALARM NOSPACE",
        AlarmType::Corrupt => "ALARM CORRUPT",
        AlarmType::None => "ALARM UNKNOWN",
    }
}

/// One named check of `/livez` or `/readyz`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Check {
    /// No CORRUPT alarm is active.
    DataCorruption,
    /// This member can read its own store.
    SerializableRead,
    /// The cluster agrees on a read (a ReadIndex through the leader).
    LinearizableRead,
    /// This member is a voting member (3.5.19+).
    NonLearner,
}

const LIVEZ: &[Check] = &[Check::SerializableRead];
const READYZ: &[Check] = &[
    Check::DataCorruption,
    Check::SerializableRead,
    Check::LinearizableRead,
    Check::NonLearner,
];

impl Check {
    fn name(self) -> &'static str {
        match self {
            Check::DataCorruption => "data_corruption",
            Check::SerializableRead => "serializable_read",
            Check::LinearizableRead => "linearizable_read",
            Check::NonLearner => "non_learner",
        }
    }

    async fn run(self, server: &EtcdServer) -> Result<(), String> {
        match self {
            Check::DataCorruption => {
                let alarms = server.alarms().await.map_err(|e| e.to_string())?;
                if alarms.iter().any(|a| a.alarm() == AlarmType::Corrupt) {
                    return Err("alarm activated: CORRUPT".to_string());
                }
                Ok(())
            }
            Check::SerializableRead => server
                .probe_read(Consistency::Serializable)
                .await
                .map_err(|e| e.to_string()),
            Check::LinearizableRead => server
                .probe_read(Consistency::Linearizable)
                .await
                .map_err(|e| e.to_string()),
            Check::NonLearner if server.is_learner() => {
                Err("not supported for learner".to_string())
            }
            Check::NonLearner => Ok(()),
        }
    }
}

/// The checks a `/livez` or `/readyz` path asks for.
pub(super) struct Checks {
    /// The endpoint's whole list.
    list: &'static [Check],
    /// The one check a sub-path (`/readyz/linearizable_read`) names.
    only: Option<Check>,
}

impl Checks {
    /// The checks of `path`, if it is `/livez`, `/readyz` or one of their
    /// checks' sub-paths.
    pub(super) fn of(path: &str) -> Option<Checks> {
        let (list, rest) = if let Some(rest) = path.strip_prefix("/livez") {
            (LIVEZ, rest)
        } else {
            (READYZ, path.strip_prefix("/readyz")?)
        };
        if rest.is_empty() {
            return Some(Checks { list, only: None });
        }
        let name = rest.strip_prefix('/')?;
        let check = list.iter().copied().find(|c| c.name() == name)?;
        Some(Checks {
            list,
            only: Some(check),
        })
    }

    /// The checks to run: the sub-path's one, or the list without the
    /// excluded (names that are no check are ignored, as etcd does).
    fn chosen(&self, query: &Query) -> Vec<Check> {
        if let Some(check) = self.only {
            return vec![check];
        }
        let excluded: Vec<&str> = query.values("exclude").collect();
        self.list
            .iter()
            .copied()
            .filter(|c| !excluded.contains(&c.name()))
            .collect()
    }

    pub(super) async fn run(&self, server: &EtcdServer, query: &Query) -> Response<Body> {
        let mut results = Vec::new();
        for check in self.chosen(query) {
            results.push((check, check.run(server).await));
        }
        let (report, failed) = report(&results);
        if failed {
            tracing::error!(reason = %report, "status-code" = 503, "Health check error");
            return super::error(StatusCode::SERVICE_UNAVAILABLE, &report);
        }
        let mut body = if query.has("verbose") {
            report
        } else {
            String::new()
        };
        body.push_str("ok\n");
        super::nosniff(super::ok(TEXT, body))
    }
}

/// One line per check, and whether any failed.
fn report(results: &[(Check, Result<(), String>)]) -> (String, bool) {
    let mut report = String::new();
    for (check, result) in results {
        match result {
            Ok(()) => report.push_str(&format!("[+]{} ok\n", check.name())),
            Err(e) => report.push_str(&format!("[-]{} failed: {e}\n", check.name())),
        }
    }
    (report, results.iter().any(|(_, r)| r.is_err()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_paths() {
        let root = Checks::of("/readyz").unwrap();
        assert_eq!((root.list, root.only), (READYZ, None));
        let one = Checks::of("/livez/serializable_read").unwrap();
        assert_eq!((one.list, one.only), (LIVEZ, Some(Check::SerializableRead)));
        let one = Checks::of("/readyz/non_learner").unwrap();
        assert_eq!(one.only, Some(Check::NonLearner));
        for path in [
            "/livez/",
            "/livez/linearizable_read",
            "/readyz/x",
            "/readyzz",
            "/live",
        ] {
            assert!(Checks::of(path).is_none(), "{path}");
        }
    }

    #[test]
    fn exclude_leaves_checks_out_but_not_of_a_sub_path() {
        let query = Query::parse(Some("exclude=linearizable_read&exclude=nonsense"));
        let chosen = Checks::of("/readyz").unwrap().chosen(&query);
        assert_eq!(
            chosen,
            [
                Check::DataCorruption,
                Check::SerializableRead,
                Check::NonLearner
            ]
        );
        let query = Query::parse(Some("exclude=serializable_read"));
        let chosen = Checks::of("/livez/serializable_read")
            .unwrap()
            .chosen(&query);
        assert_eq!(chosen, [Check::SerializableRead]);
    }

    #[test]
    fn report_lines() {
        let results = [
            (Check::SerializableRead, Ok(())),
            (
                Check::LinearizableRead,
                Err("etcdserver: request timed out".to_string()),
            ),
        ];
        assert_eq!(
            report(&results),
            (
                "[+]serializable_read ok\n[-]linearizable_read failed: etcdserver: request timed out\n"
                    .to_string(),
                true
            )
        );
        assert!(!report(&results[..1]).1);
    }

    #[test]
    fn alarm_names_and_reasons() {
        let alarm = |kind: AlarmType| AlarmMember {
            member_id: 1,
            alarm: kind as i32,
        };
        assert_eq!(alarm_name(&alarm(AlarmType::Nospace)), "NOSPACE");
        assert_eq!(alarm_name(&alarm(AlarmType::Corrupt)), "CORRUPT");
        assert_eq!(alarm_reason(&alarm(AlarmType::Nospace)), "ALARM NOSPACE");
        assert_eq!(alarm_reason(&alarm(AlarmType::Corrupt)), "ALARM CORRUPT");
    }
}
