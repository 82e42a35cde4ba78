//! The HTTP endpoints beside gRPC on the client port, asked with curl as
//! load balancers and Kubernetes probes ask: `/health`, `/version`,
//! `/livez` and `/readyz`, and Go's 404 for every other path.
//!
//! etcd-rs answers as etcd 3.5 does; the reference is etcd 3.4.23, so where
//! the two differ the test asserts each target's answer (every value below
//! was first read from the real servers, 3.4.23 and the 3.5.1 release):
//! - `/health`: 3.4 prints `{"health":"true"}` / `{"health":"false"}`; 3.5
//!   adds a `reason` (`""`, `ALARM NOSPACE`, `RAFT NO LEADER`, `RANGE
//!   ERROR:...`). Both take `?exclude=NOSPACE`. `?serializable=true`
//!   (3.5.3+) skips the leader check and reads locally; 3.4 (and 3.5.1)
//!   ignore it.
//! - `/version`: each its own versions; ours reports the 3.5 API level.
//! - `/livez` and `/readyz` exist from 3.5.11 on; 3.4 answers 404.
//!
//! etcd also adds its CORS headers (`Access-Control-Allow-*`) to every
//! HTTP answer; those are not asserted here.

use std::time::Duration;

use crate::common;
use crate::quota::{fill, quota};

use common::cluster::Cluster;
use common::http::{self, Answer};
use common::{eventually, Node, Target};

/// `curl -X METHOD` of `path` on the node's client URL.
async fn request(node: &Node, method: &str, path: &str) -> Answer {
    http::curl(&format!("{}{path}", node.client_url()), &["-X", method]).await
}

async fn get(node: &Node, path: &str) -> Answer {
    request(node, "GET", path).await
}

/// `/health`'s body for a verdict: 3.4's has no reason.
fn verdict(target: Target, healthy: bool, reason: &str) -> String {
    match target {
        Target::Reference => format!(r#"{{"health":"{healthy}"}}"#),
        Target::EtcdRs => format!(r#"{{"health":"{healthy}","reason":"{reason}"}}"#),
    }
}

/// A 503 body: Go's `http.Error` adds a newline to the message.
fn unhealthy(target: Target, reason: &str) -> String {
    format!("{}\n", verdict(target, false, reason))
}

const TEXT: &str = "text/plain; charset=utf-8";
const NOT_FOUND: (u16, &str) = (404, "404 page not found\n");

fn assert_not_found(answer: &Answer) {
    assert_eq!(answer.pair(), NOT_FOUND);
    assert_eq!(answer.header("content-type"), Some(TEXT));
    assert_eq!(answer.header("x-content-type-options"), Some("nosniff"));
}

both!(health_version_and_unknown_paths, |target| async move {
    let node = Node::start(target, &[]).await;

    let health = get(&node, "/health").await;
    assert_eq!(health.pair(), (200, verdict(target, true, "").as_str()));
    assert_eq!(health.header("content-type"), Some(TEXT));
    // Read locally: 3.4 ignores the parameter, and the answer is the same.
    let local = get(&node, "/health?serializable=true").await;
    assert_eq!(local.pair(), (200, verdict(target, true, "").as_str()));
    // Excluding an alarm that is not raised changes nothing.
    let excluded = get(&node, "/health?exclude=NOSPACE").await;
    assert_eq!(excluded.pair(), (200, verdict(target, true, "").as_str()));

    let version = get(&node, "/version").await;
    let expected = match target {
        Target::Reference => r#"{"etcdserver":"3.4.23","etcdcluster":"3.4.0"}"#,
        Target::EtcdRs => r#"{"etcdserver":"3.5.0","etcdcluster":"3.5.0"}"#,
    };
    assert_eq!(version.pair(), (200, expected));
    assert_eq!(version.header("content-type"), Some("application/json"));

    // Only GET; the path is matched first.
    for path in ["/health", "/version"] {
        for method in ["POST", "PUT"] {
            let refused = request(&node, method, path).await;
            assert_eq!(
                refused.pair(),
                (405, "Method Not Allowed\n"),
                "{method} {path}"
            );
            assert_eq!(refused.header("allow"), Some("GET"));
            assert_eq!(refused.header("x-content-type-options"), Some("nosniff"));
        }
    }
    for path in ["/nope", "/health/", "/healthz", "/version/x", "/"] {
        assert_not_found(&get(&node, path).await);
    }
    assert_not_found(&request(&node, "POST", "/nope").await);
});

both!(livez_and_readyz, |target| async move {
    let node = Node::start(target, &[]).await;
    let paths = [
        "/livez",
        "/readyz",
        "/livez?verbose",
        "/readyz?verbose&exclude=non_learner",
        "/readyz/linearizable_read",
    ];
    if target == Target::Reference {
        // Added in etcd 3.5.11.
        for path in paths {
            assert_not_found(&get(&node, path).await);
        }
        return;
    }
    let livez = get(&node, "/livez").await;
    assert_eq!(livez.pair(), (200, "ok\n"));
    assert_eq!(livez.header("content-type"), Some(TEXT));
    assert_eq!(livez.header("x-content-type-options"), Some("nosniff"));
    let readyz = get(&node, "/readyz").await;
    assert_eq!(readyz.pair(), (200, "ok\n"));
    assert_eq!(
        get(&node, "/livez?verbose").await.pair(),
        (200, "[+]serializable_read ok\nok\n")
    );
    assert_eq!(
        get(&node, "/readyz?verbose").await.pair(),
        (
            200,
            "[+]data_corruption ok\n[+]serializable_read ok\n[+]linearizable_read ok\n\
             [+]non_learner ok\nok\n"
        )
    );
    // Excluded checks are left out; names that are no check are ignored.
    assert_eq!(
        get(
            &node,
            "/readyz?verbose&exclude=non_learner&exclude=data_corruption&exclude=x"
        )
        .await
        .pair(),
        (
            200,
            "[+]serializable_read ok\n[+]linearizable_read ok\nok\n"
        )
    );
    // A check's own path runs it alone.
    assert_eq!(
        get(&node, "/readyz/linearizable_read?verbose").await.pair(),
        (200, "[+]linearizable_read ok\nok\n")
    );
    assert_eq!(
        get(&node, "/livez/serializable_read").await.pair(),
        (200, "ok\n")
    );
    for path in ["/livez/", "/livez/linearizable_read", "/readyz/nope"] {
        assert_not_found(&get(&node, path).await);
    }
    let refused = request(&node, "POST", "/readyz").await;
    assert_eq!(refused.pair(), (405, "Method Not Allowed\n"));
});

both!(health_with_auth_enabled, |target| async move {
    // The probe read runs as root: an anonymous probe needs no token.
    let node = Node::start(target, &[]).await;
    common::auth::enable_auth(&mut node.client().await).await;
    let healthy = verdict(target, true, "");
    assert_eq!(get(&node, "/health").await.pair(), (200, healthy.as_str()));
    let local = get(&node, "/health?serializable=true").await;
    assert_eq!(local.pair(), (200, healthy.as_str()));
    if target == Target::EtcdRs {
        assert_eq!(get(&node, "/readyz").await.pair(), (200, "ok\n"));
    }
});

both!(no_leader_after_losing_quorum, |target| async move {
    let mut cluster = Cluster::start(target, 3, &[]).await;
    cluster.wait_leader(Duration::from_secs(20)).await;
    assert_eq!(
        get(cluster.member(0), "/health").await.pair(),
        (200, verdict(target, true, "").as_str())
    );
    cluster.member_mut(1).kill9();
    cluster.member_mut(2).kill9();
    let survivor = cluster.member(0);

    // Until the survivor notices it lost its leader (check-quorum on a
    // leader, the election timeout on a follower) the probe read fails
    // instead, with another reason; the leader check then answers at once.
    let expected = unhealthy(target, "RAFT NO LEADER");
    let wanted = expected.as_str();
    let health = eventually(
        Duration::from_secs(30),
        "no leader on /health",
        || async move {
            let answer = get(survivor, "/health").await;
            (answer.body == wanted).then_some(answer)
        },
    )
    .await;
    assert_eq!(health.status, 503);
    assert_eq!(health.header("content-type"), Some(TEXT));
    assert_eq!(health.header("x-content-type-options"), Some("nosniff"));

    // etcd 3.5.3+ reads locally under `serializable=true` and skips the
    // leader check: the member is alive. 3.4 ignores the parameter.
    let local = get(survivor, "/health?serializable=true").await;
    match target {
        Target::Reference => assert_eq!(local.pair(), (503, expected.as_str())),
        Target::EtcdRs => {
            assert_eq!(local.pair(), (200, verdict(target, true, "").as_str()))
        }
    }

    if target == Target::EtcdRs {
        // Alive, not ready: the linearizable read runs out of time.
        assert_eq!(get(survivor, "/livez").await.pair(), (200, "ok\n"));
        let readyz = get(survivor, "/readyz").await;
        assert_eq!(
            readyz.pair(),
            (
                503,
                "[+]data_corruption ok\n[+]serializable_read ok\n\
                 [-]linearizable_read failed: etcdserver: request timed out\n\
                 [+]non_learner ok\n\n"
            )
        );
        assert_eq!(
            get(survivor, "/readyz?exclude=linearizable_read")
                .await
                .pair(),
            (200, "ok\n")
        );
    }
});

both!(nospace_alarm, |target| async move {
    let node = Node::start(target, &["--quota-backend-bytes", quota(target)]).await;
    let mut client = node.client().await;
    assert!(fill(&mut client).await > 0, "the first write was refused");

    let expected = unhealthy(target, "ALARM NOSPACE");
    let health = get(&node, "/health").await;
    assert_eq!(health.pair(), (503, expected.as_str()));
    assert_eq!(health.header("x-content-type-options"), Some("nosniff"));
    // The alarm fails a serializable check too.
    let local = get(&node, "/health?serializable=true").await;
    assert_eq!(local.pair(), (503, expected.as_str()));
    // Excluding the alarm by its name (case matters) passes; another name
    // does not.
    let healthy = verdict(target, true, "");
    for path in [
        "/health?exclude=NOSPACE",
        "/health?exclude=NOSPACE&serializable=true",
        "/health?exclude=CORRUPT&exclude=NOSPACE",
    ] {
        assert_eq!(
            get(&node, path).await.pair(),
            (200, healthy.as_str()),
            "{path}"
        );
    }
    for path in [
        "/health?exclude=CORRUPT",
        "/health?exclude=nospace",
        "/health?exclude=",
    ] {
        assert_eq!(
            get(&node, path).await.pair(),
            (503, expected.as_str()),
            "{path}"
        );
    }

    if target == Target::EtcdRs {
        // Readiness looks at CORRUPT only: a full member still serves reads.
        assert_eq!(get(&node, "/readyz").await.pair(), (200, "ok\n"));
        assert_eq!(get(&node, "/livez").await.pair(), (200, "ok\n"));
    }

    // Disarmed, healthy again.
    common::etcdctl_ok(&node, &["alarm", "disarm"]).await;
    assert_eq!(get(&node, "/health").await.pair(), (200, healthy.as_str()));
});
