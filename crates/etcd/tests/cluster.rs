//! A three-member cluster of our `etcd` processes, bootstrapped statically
//! from `--initial-cluster` and talking over the Raft peer transport on
//! `--listen-peer-urls`.
//!
//! Ours only: the shared harness starts single members, so this file has its
//! own small launcher (fixed free peer ports, client port 0 read back from
//! each member's log, as the harness does). What is checked: every member
//! becomes ready; all agree on exactly one leader; a write on the leader is
//! readable with a serializable read on every member; `member list` shows the
//! three members with the ids etcd derives. Writes on followers are not
//! checked: forwarding to the leader does not exist yet.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

const ETCDCTL: &str = "/usr/bin/etcdctl";
const SERVING_MSG: &str = "serving client traffic insecurely; this is strongly discouraged!";
const READY_MSG: &str = "ready to serve client requests";
const READY_TIMEOUT: Duration = Duration::from_secs(30);
const TOKEN: &str = "cluster-test-token";

/// One member process; killed when dropped (its log is printed if the test
/// failed).
struct Member {
    name: String,
    peer_url: String,
    client_port: u16,
    child: Child,
    log: PathBuf,
}

impl Member {
    fn endpoint(&self) -> String {
        format!("127.0.0.1:{}", self.client_port)
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            eprintln!("--- log of {} (last lines) ---", self.name);
            for line in tail.into_iter().rev() {
                eprintln!("{line}");
            }
        }
    }
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Starts every member of a new cluster at once (they must find each other
/// to elect), then waits until each reports its client address and readiness.
fn start_cluster(dir: &Path, names: &[&str]) -> Vec<Member> {
    let peers: Vec<(String, String)> = names
        .iter()
        .map(|n| (n.to_string(), format!("http://127.0.0.1:{}", free_port())))
        .collect();
    let initial_cluster = peers
        .iter()
        .map(|(n, u)| format!("{n}={u}"))
        .collect::<Vec<_>>()
        .join(",");
    let mut launched = Vec::new();
    for (name, peer_url) in &peers {
        let log = dir.join(format!("{name}.log"));
        let mut child = Command::new(env!("CARGO_BIN_EXE_etcd"))
            .args([
                format!("--name={name}"),
                format!("--data-dir={}", dir.join(name).display()),
                "--listen-client-urls=http://127.0.0.1:0".to_string(),
                "--advertise-client-urls=http://127.0.0.1:0".to_string(),
                format!("--listen-peer-urls={peer_url}"),
                format!("--initial-advertise-peer-urls={peer_url}"),
                format!("--initial-cluster={initial_cluster}"),
                format!("--initial-cluster-token={TOKEN}"),
                "--initial-cluster-state=new".to_string(),
                "--logger=zap".to_string(),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, rx) = mpsc::channel();
        pump(child.stdout.take().unwrap(), log.clone(), tx.clone());
        pump(child.stderr.take().unwrap(), log.clone(), tx);
        launched.push((name.clone(), peer_url.clone(), child, log, rx));
    }
    let deadline = Instant::now() + READY_TIMEOUT;
    let mut members = Vec::new();
    // Members are built first so a failure below still kills every process.
    let mut receivers = Vec::new();
    for (name, peer_url, child, log, rx) in launched {
        members.push(Member {
            name,
            peer_url,
            client_port: 0,
            child,
            log,
        });
        receivers.push(rx);
    }
    for (member, rx) in members.iter_mut().zip(receivers) {
        member.client_port = wait_ready(&member.name, &rx, deadline);
    }
    members
}

/// Copies a child's output into its log file and to the startup reader.
fn pump(stream: impl Read + Send + 'static, log: PathBuf, tx: mpsc::Sender<String>) {
    std::thread::spawn(move || {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap();
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            let _ = writeln!(file, "{line}");
            let _ = tx.send(line);
        }
    });
}

/// Reads log lines until the member serves clients and is ready; returns the
/// bound client port.
fn wait_ready(name: &str, rx: &mpsc::Receiver<String>, deadline: Instant) -> u16 {
    let mut port = None;
    let mut ready = false;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = rx
            .recv_timeout(left)
            .unwrap_or_else(|e| panic!("member {name} did not become ready: {e}"));
        let Ok(json) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        match json["msg"].as_str() {
            Some(SERVING_MSG) => {
                let address = json["address"].as_str().unwrap_or_default();
                port = address.rsplit(':').next().and_then(|p| p.parse().ok());
            }
            Some(READY_MSG) => ready = true,
            _ => {}
        }
        if let (Some(port), true) = (port, ready) {
            return port;
        }
    }
}

fn etcdctl(endpoint: &str, args: &[&str]) -> Output {
    let mut command = Command::new(ETCDCTL);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("ETCDCTL_") {
            command.env_remove(name);
        }
    }
    command
        .env("ETCDCTL_API", "3")
        .arg(format!("--endpoints={endpoint}"))
        .arg("--command-timeout=5s")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn etcdctl_json(endpoint: &str, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.extend(["-w", "json"]);
    let out = etcdctl(endpoint, &all);
    assert!(
        out.status.success(),
        "etcdctl {args:?} on {endpoint} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Retries `check` until it returns Some or the deadline passes.
fn poll<T>(what: &str, timeout: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// (member id, leader id) as one member's `endpoint status` reports them.
fn status(member: &Member) -> (u64, u64) {
    let v = etcdctl_json(&member.endpoint(), &["endpoint", "status"]);
    let s = &v[0]["Status"];
    (
        s["header"]["member_id"].as_u64().unwrap(),
        s["leader"].as_u64().unwrap_or(0),
    )
}

#[test]
fn three_members_elect_one_leader_and_replicate() {
    let dir = tempfile::Builder::new()
        .prefix("etcd-cluster-")
        .tempdir()
        .unwrap();
    let members = start_cluster(dir.path(), &["a", "b", "c"]);

    // Exactly one leader, and every member names it.
    let (ids, leader) = poll("one agreed leader", Duration::from_secs(10), || {
        let statuses: Vec<(u64, u64)> = members.iter().map(status).collect();
        let leader = statuses[0].1;
        let leaders = statuses.iter().filter(|(id, l)| id == l).count();
        (leader != 0 && leaders == 1 && statuses.iter().all(|(_, l)| *l == leader)).then(|| {
            (
                statuses.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
                leader,
            )
        })
    });

    // The ids are etcd's: derived from each member's peer URL and the token.
    for (member, id) in members.iter().zip(&ids) {
        let expected = etcd_server::ids::member_id(std::slice::from_ref(&member.peer_url), TOKEN);
        assert_eq!(*id, expected, "member id of {}", member.name);
    }

    // A write on the leader reaches every member's state machine.
    let leader_member = members
        .iter()
        .zip(&ids)
        .find(|(_, id)| **id == leader)
        .map(|(m, _)| m)
        .unwrap();
    let out = etcdctl(
        &leader_member.endpoint(),
        &["put", "cluster-key", "replicated"],
    );
    assert!(
        out.status.success(),
        "put on the leader failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    for member in &members {
        poll(
            &format!("the write on member {}", member.name),
            Duration::from_secs(10),
            || {
                let out = etcdctl(
                    &member.endpoint(),
                    &[
                        "get",
                        "cluster-key",
                        "--consistency=s",
                        "--print-value-only",
                    ],
                );
                (String::from_utf8_lossy(&out.stdout).trim() == "replicated").then_some(())
            },
        );
    }

    // Every member lists the same three members, by name, peer URL and id.
    let mut cluster_ids = Vec::new();
    for member in &members {
        let list = etcdctl_json(&member.endpoint(), &["member", "list"]);
        cluster_ids.push(list["header"]["cluster_id"].as_u64().unwrap());
        let mut listed: Vec<(u64, String, String)> = list["members"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    m["ID"].as_u64().unwrap(),
                    m["name"].as_str().unwrap_or_default().to_string(),
                    m["peerURLs"][0].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect();
        listed.sort();
        let mut expected: Vec<(u64, String, String)> = members
            .iter()
            .zip(&ids)
            .map(|(m, id)| (*id, m.name.clone(), m.peer_url.clone()))
            .collect();
        expected.sort();
        assert_eq!(listed, expected, "member list on {}", member.name);
    }
    let expected_cluster = etcd_server::ids::cluster_id(&ids);
    assert!(
        cluster_ids.iter().all(|c| *c == expected_cluster),
        "cluster ids {cluster_ids:?}, etcd derives {expected_cluster}"
    );
}
