//! `endpoint health` and `endpoint status`, one connection per endpoint.
//!
//! Health is etcdctl 3.5's: a linearizable Get of the key `health` (a
//! read that needs the quorum, so a member cut off from it is unhealthy;
//! "permission denied" still proves the quorum answered), then the alarm
//! list, since a member with an active alarm is not healthy either. The
//! endpoints are checked at once and reported in the order they finish.
//! Status asks each endpoint in turn and reports the ones that answered.

use std::time::Instant;

use etcd_proto::etcdserverpb::kv_client::KvClient;
use etcd_proto::etcdserverpb::maintenance_client::MaintenanceClient;
use etcd_proto::etcdserverpb::{
    AlarmRequest, AlarmType, RangeRequest, StatusRequest, StatusResponse,
};

use crate::cli::Global;
use crate::connect::{connect, failed, within, Settings};
use crate::member;
use crate::output::{array, go_duration, header_json, humanize_bytes, table, Format, Obj};
use crate::{CtlError, Exit, EXIT_ERROR};

/// One endpoint's health, as etcdctl's `epHealth`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    pub endpoint: String,
    pub healthy: bool,
    /// How long the Get took, in Go's duration format.
    pub took: String,
    /// Why it is unhealthy; empty when healthy.
    pub error: String,
}

/// etcd's message for a request its auth refuses: the read still went
/// through consensus, so the member is healthy.
const PERMISSION_DENIED: &str = "etcdserver: permission denied";

/// The endpoints a command works on: `--endpoints`, or with `--cluster`
/// every member's client URLs.
async fn endpoints(global: &Global, cluster: bool) -> Result<Vec<String>, CtlError> {
    if !cluster {
        return Ok(global.settings.endpoints.clone());
    }
    let response = member::fetch(&global.settings).await.map_err(|e| {
        CtlError::error(format!(
            "failed to fetch endpoints from etcd cluster member list: {}",
            e.message
        ))
    })?;
    Ok(response
        .members
        .into_iter()
        .flat_map(|m| m.client_ur_ls)
        .collect())
}

pub async fn health(global: &Global, cluster: bool) -> Result<Exit, CtlError> {
    let format = global.format()?;
    let mut checks = tokio::task::JoinSet::new();
    for endpoint in endpoints(global, cluster).await? {
        let settings = global.settings.clone();
        checks.spawn(async move { check(&settings, endpoint).await });
    }
    let mut results = Vec::new();
    while let Some(result) = checks.join_next().await {
        if let Ok(health) = result {
            results.push(health);
        }
    }
    let (stdout, stderr) = print_health(&results, format);
    print!("{stdout}");
    eprint!("{stderr}");
    if results.iter().any(|h| !h.error.is_empty()) {
        return Err(CtlError::error("unhealthy cluster"));
    }
    Ok(0)
}

/// One endpoint's check, within the command timeout (connecting
/// included, as etcd's client dials lazily).
async fn check(settings: &Settings, endpoint: String) -> Health {
    let started = Instant::now();
    let endpoints = [endpoint.clone()];
    let mut health = Health {
        endpoint,
        healthy: false,
        took: String::new(),
        error: String::new(),
    };
    let outcome = within(settings.command_timeout, async {
        let conn = connect(settings, &endpoints).await?;
        let get = KvClient::new(conn.clone())
            .range(RangeRequest {
                key: b"health".to_vec(),
                ..RangeRequest::default()
            })
            .await;
        let took = started.elapsed();
        match get {
            Err(status) if status.message() != PERMISSION_DENIED => {
                return Ok((took, Err(failed(status).message)))
            }
            _ => {}
        }
        let alarms = MaintenanceClient::new(conn)
            .alarm(AlarmRequest::default())
            .await
            .map(|r| r.into_inner().alarms);
        Ok((took, Ok(alarms)))
    })
    .await;
    match outcome {
        Err(error) => {
            health.took = go_duration(started.elapsed());
            health.error = error.message;
        }
        Ok((took, result)) => {
            health.took = go_duration(took);
            match result {
                Err(error) => health.error = error,
                Ok(Err(_)) => health.error = "Unable to fetch the alarm list".to_string(),
                Ok(Ok(alarms)) if !alarms.is_empty() => {
                    let mut text = "Active Alarm(s): ".to_string();
                    for alarm in alarms {
                        text.push_str(match AlarmType::try_from(alarm.alarm) {
                            Ok(AlarmType::Nospace) => "NOSPACE ",
                            Ok(AlarmType::Corrupt) => "CORRUPT ",
                            _ => "UNKNOWN ",
                        });
                    }
                    health.error = text;
                }
                Ok(Ok(_)) => health.healthy = true,
            }
        }
    }
    health
}

/// What `endpoint health` prints: (stdout, stderr). In `simple`, the
/// unhealthy lines go to stderr, as etcdctl's printer does.
pub fn print_health(results: &[Health], format: Format) -> (String, String) {
    let (mut stdout, mut stderr) = (String::new(), String::new());
    match format {
        Format::Simple => {
            for h in results {
                if h.error.is_empty() {
                    stdout.push_str(&format!(
                        "{} is healthy: successfully committed proposal: took = {}\n",
                        h.endpoint, h.took
                    ));
                } else {
                    stderr.push_str(&format!(
                        "{} is unhealthy: failed to commit proposal: {}\n",
                        h.endpoint, h.error
                    ));
                }
            }
        }
        Format::Table => {
            let rows: Vec<Vec<String>> = results
                .iter()
                .map(|h| {
                    vec![
                        h.endpoint.clone(),
                        h.healthy.to_string(),
                        h.took.clone(),
                        h.error.clone(),
                    ]
                })
                .collect();
            stdout = table(&["endpoint", "health", "took", "error"], &rows);
        }
        Format::Json => {
            let items = results
                .iter()
                .map(|h| {
                    Obj::new()
                        .string("endpoint", &h.endpoint, true)
                        .boolean("health", h.healthy, true)
                        .string("took", &h.took, true)
                        .string("error", &h.error, false)
                        .end()
                })
                .collect();
            stdout = array(items) + "\n";
        }
    }
    (stdout, stderr)
}

pub async fn status(global: &Global, cluster: bool) -> Result<Exit, CtlError> {
    let format = global.format()?;
    let settings = &global.settings;
    let mut statuses = Vec::new();
    let mut any_failed = false;
    for endpoint in endpoints(global, cluster).await? {
        let endpoints = [endpoint.clone()];
        let answer = within(settings.command_timeout, async {
            let conn = connect(settings, &endpoints).await?;
            MaintenanceClient::new(conn)
                .status(StatusRequest {})
                .await
                .map_err(failed)
        })
        .await;
        match answer {
            Ok(response) => statuses.push((endpoint, response.into_inner())),
            Err(error) => {
                any_failed = true;
                eprintln!(
                    "Failed to get the status of endpoint {endpoint} ({})",
                    error.message
                );
            }
        }
    }
    print!("{}", print_status(&statuses, format));
    if any_failed {
        // etcdctl exits without another message: the lines above said it.
        return Err(CtlError::new(EXIT_ERROR, ""));
    }
    Ok(0)
}

/// endpoint, ID, version, db size, is leader, is learner, raft term, raft
/// index, raft applied index, errors.
fn status_rows(statuses: &[(String, StatusResponse)]) -> Vec<Vec<String>> {
    statuses
        .iter()
        .map(|(endpoint, s)| {
            let member_id = s.header.as_ref().map_or(0, |h| h.member_id);
            vec![
                endpoint.clone(),
                format!("{member_id:x}"),
                s.version.clone(),
                humanize_bytes(s.db_size.max(0) as u64),
                (s.leader == member_id).to_string(),
                s.is_learner.to_string(),
                s.raft_term.to_string(),
                s.raft_index.to_string(),
                s.raft_applied_index.to_string(),
                s.errors.join(", "),
            ]
        })
        .collect()
}

pub fn print_status(statuses: &[(String, StatusResponse)], format: Format) -> String {
    match format {
        Format::Simple => status_rows(statuses)
            .into_iter()
            .map(|row| row.join(", ") + "\n")
            .collect(),
        Format::Table => table(
            &[
                "endpoint",
                "ID",
                "version",
                "db size",
                "is leader",
                "is learner",
                "raft term",
                "raft index",
                "raft applied index",
                "errors",
            ],
            &status_rows(statuses),
        ),
        Format::Json => {
            let items = statuses
                .iter()
                .map(|(endpoint, s)| {
                    let status = Obj::new()
                        .raw("header", header_json(s.header.as_ref()))
                        .string("version", &s.version, false)
                        .num("dbSize", s.db_size)
                        .num("leader", s.leader)
                        .num("raftIndex", s.raft_index)
                        .num("raftTerm", s.raft_term)
                        .num("raftAppliedIndex", s.raft_applied_index)
                        .strings("errors", &s.errors)
                        .num("dbSizeInUse", s.db_size_in_use)
                        .boolean("isLearner", s.is_learner, false)
                        .end();
                    Obj::new()
                        .string("Endpoint", endpoint, true)
                        .raw("Status", Some(status))
                        .end()
                })
                .collect();
            array(items) + "\n"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use etcd_proto::etcdserverpb::ResponseHeader;

    fn health(endpoint: &str, error: &str) -> Health {
        Health {
            endpoint: endpoint.into(),
            healthy: error.is_empty(),
            took: "2.164891ms".into(),
            error: error.into(),
        }
    }

    #[test]
    fn health_prints_as_etcdctl() {
        let results = [
            health("127.0.0.1:2379", ""),
            health("127.0.0.1:1", "context deadline exceeded"),
        ];
        let (out, err) = print_health(&results, Format::Simple);
        assert_eq!(
            out,
            "127.0.0.1:2379 is healthy: successfully committed proposal: took = 2.164891ms\n"
        );
        assert_eq!(
            err,
            "127.0.0.1:1 is unhealthy: failed to commit proposal: context deadline exceeded\n"
        );
        let (out, err) = print_health(&results, Format::Json);
        assert_eq!(
            out,
            "[{\"endpoint\":\"127.0.0.1:2379\",\"health\":true,\"took\":\"2.164891ms\"},\
             {\"endpoint\":\"127.0.0.1:1\",\"health\":false,\"took\":\"2.164891ms\",\"error\":\"context deadline exceeded\"}]\n"
        );
        assert!(err.is_empty());
    }

    #[test]
    fn status_prints_as_etcdctl() {
        let status = StatusResponse {
            header: Some(ResponseHeader {
                cluster_id: 1,
                member_id: 0xbdae9bbc11dd390d,
                revision: 7,
                raft_term: 2,
            }),
            version: "3.4.23".into(),
            db_size: 24576,
            leader: 0xbdae9bbc11dd390d,
            raft_index: 13,
            raft_term: 2,
            raft_applied_index: 13,
            errors: vec![],
            db_size_in_use: 16384,
            is_learner: false,
        };
        let list = [("127.0.0.1:23791".to_string(), status)];
        assert_eq!(
            print_status(&list, Format::Simple),
            "127.0.0.1:23791, bdae9bbc11dd390d, 3.4.23, 25 kB, true, false, 2, 13, 13, \n"
        );
        assert_eq!(
            print_status(&list, Format::Json),
            "[{\"Endpoint\":\"127.0.0.1:23791\",\"Status\":{\"header\":{\"cluster_id\":1,\"member_id\":13668033151171901709,\"revision\":7,\"raft_term\":2},\"version\":\"3.4.23\",\"dbSize\":24576,\"leader\":13668033151171901709,\"raftIndex\":13,\"raftTerm\":2,\"raftAppliedIndex\":13,\"dbSizeInUse\":16384}}]\n"
        );
        assert_eq!(print_status(&[], Format::Json), "[]\n");
    }
}
