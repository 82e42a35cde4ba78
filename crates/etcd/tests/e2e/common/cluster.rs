//! Multi-member clusters for integration tests: N member processes (ours or
//! Debian's etcd 3.4) on loopback, bootstrapped statically from
//! `--initial-cluster` like etcd's docs show, each a [`Node`] with its own
//! temp data dir and log.
//!
//! What a test gets: the members by index ([`Cluster::member`] gives the
//! [`Node`] with `endpoint()`, `client()`, `kill9()`, `restart()`,
//! `terminate()`, `data_dir()`, `log()`), who leads (from each member's
//! Maintenance.Status), a client over all endpoints, a member that joins with
//! `--initial-cluster-state existing`, and — ours only — network partitions
//! through the fault-injectable peer transport (`ETCD_RS_PEER_FAULTS_FILE`,
//! see `crates/raft/src/faults.rs`). [`Writers`] keep writing through all
//! members and remember what was acknowledged, for checks that nothing
//! acknowledged is lost ([`Cluster::assert_acks_everywhere`]). Every
//! member's log is printed when a test fails (by [`Node`]'s drop).
//!
//! Timing: members run with `--heartbeat-interval=50 --election-timeout=500`
//! unless the test passes its own; a test may pass any other flag
//! (`--snapshot-count`, ...) for all members.
//!
//! TLS: [`Cluster::start_with`] takes [`ClusterOptions`]: the listeners'
//! and peer URLs' schemes and the client TLS of every member (a
//! [`NodeOptions`]), flags for single members (each its own peer
//! certificate), and members that are started but must never be let in
//! (kept out: not waited for, left out of leader checks and clients).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use etcd_client::{Client, GetOptions};

use super::{
    connect_options, eventually, free_port, ClientTls, MemberFlags, Node, NodeOptions, Scheme,
    Target,
};

/// The `--initial-cluster-token` of every test cluster.
pub const TOKEN: &str = "etcd-rs-test-cluster";
/// Timing flags used unless a test passes its own.
pub const HEARTBEAT_MS: u64 = 50;
pub const ELECTION_MS: u64 = 500;
/// The variable naming our server's peer fault file.
pub const FAULTS_ENV: &str = "ETCD_RS_PEER_FAULTS_FILE";
/// How long a status probe of one member may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// A member that has a name and peer URL but is not started yet: add it with
/// `etcdctl member add NAME --peer-urls=URL`, then [`Cluster::join`] it.
#[derive(Clone, Debug)]
pub struct PendingMember {
    pub name: String,
    pub peer_port: u16,
    /// The cluster's peer scheme.
    pub peer_scheme: Scheme,
}

impl PendingMember {
    pub fn peer_url(&self) -> String {
        format!("{}://127.0.0.1:{}", self.peer_scheme, self.peer_port)
    }
}

/// How [`Cluster::start_with`] starts the members.
#[derive(Clone, Debug, Default)]
pub struct ClusterOptions {
    /// Flags, schemes and client TLS of every member (joiners included).
    pub node: NodeOptions,
    /// Flags for member `i` alone (by start index), after the shared ones.
    pub member_args: Vec<Vec<String>>,
    /// Members that are started but must never serve: not waited for, and
    /// left out like removed ones (see [`Cluster::active`]).
    pub kept_out: Vec<usize>,
}

impl ClusterOptions {
    pub fn new(node: NodeOptions) -> ClusterOptions {
        ClusterOptions {
            node,
            ..ClusterOptions::default()
        }
    }

    /// Adds flags for member `i` alone.
    pub fn member_args<S: AsRef<str>>(mut self, i: usize, args: &[S]) -> ClusterOptions {
        if self.member_args.len() <= i {
            self.member_args.resize(i + 1, Vec::new());
        }
        self.member_args[i].extend(args.iter().map(|a| a.as_ref().to_string()));
        self
    }

    /// Member `i` is started but must never be let in.
    pub fn kept_out(mut self, i: usize) -> ClusterOptions {
        self.kept_out.push(i);
        self
    }
}

/// A running cluster; every member is killed when it is dropped.
pub struct Cluster {
    target: Target,
    members: Vec<Node>,
    /// Member ids by index, learned from Status once each member served
    /// (0 for a kept-out member).
    ids: Vec<u64>,
    /// Members removed from the cluster, or kept out of it: left out of
    /// `--initial-cluster` for joiners, of leader checks and of the
    /// all-endpoints client.
    removed: Vec<bool>,
    /// The flags, schemes and client TLS every member gets.
    options: NodeOptions,
    /// Holds each member's peer fault file (ours only).
    faults_dir: tempfile::TempDir,
    next_name: usize,
}

impl Cluster {
    /// Starts `size` members of a new cluster at once (they need each other
    /// to elect) and waits until every one serves clients.
    pub async fn start(target: Target, size: usize, extra_args: &[&str]) -> Cluster {
        let options = ClusterOptions::new(NodeOptions::new().args(extra_args));
        Cluster::start_with(target, size, options).await
    }

    /// Like [`Cluster::start`], with TLS, per-member flags and kept-out
    /// members; waits until every member not kept out serves clients.
    pub async fn start_with(target: Target, size: usize, options: ClusterOptions) -> Cluster {
        let ClusterOptions {
            node: mut node_options,
            member_args,
            kept_out,
        } = options;
        let extra_args = &mut node_options.args;
        if !extra_args
            .iter()
            .any(|a| a.starts_with("--heartbeat-interval"))
        {
            extra_args.push(format!("--heartbeat-interval={HEARTBEAT_MS}"));
        }
        if !extra_args
            .iter()
            .any(|a| a.starts_with("--election-timeout"))
        {
            extra_args.push(format!("--election-timeout={ELECTION_MS}"));
        }
        let faults_dir = tempfile::Builder::new()
            .prefix("etcd-faults-")
            .tempdir()
            .expect("create temp dir");
        let mut cluster = Cluster {
            target,
            members: Vec::new(),
            ids: Vec::new(),
            removed: Vec::new(),
            options: node_options,
            faults_dir,
            next_name: 0,
        };
        let pending: Vec<PendingMember> = (0..size).map(|_| cluster.pending_member()).collect();
        let initial_cluster = pending
            .iter()
            .map(|p| format!("{}={}", p.name, p.peer_url()))
            .collect::<Vec<_>>()
            .join(",");
        let nodes: Vec<Node> = pending
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let own = member_args.get(i).map(Vec::as_slice).unwrap_or_default();
                cluster.unstarted(p, &initial_cluster, "new", own)
            })
            .collect();
        // Launched concurrently: each waits for a quorum to become ready.
        let tasks: Vec<_> = nodes
            .into_iter()
            .enumerate()
            .map(|(i, mut node)| {
                let wait = !kept_out.contains(&i);
                tokio::spawn(async move {
                    if wait {
                        node.launch(false).await;
                    } else {
                        node.launch_detached();
                    }
                    node
                })
            })
            .collect();
        let mut failure = None;
        for task in tasks {
            match task.await {
                Ok(node) => cluster.members.push(node),
                Err(e) => failure = Some(e),
            }
        }
        if let Some(e) = failure {
            // The failed member printed its log; the others print theirs as
            // the cluster drops during this panic.
            panic!("a member of the {target:?} cluster did not start: {e}");
        }
        for i in 0..size {
            if kept_out.contains(&i) {
                cluster.ids.push(0);
                cluster.removed.push(true);
                continue;
            }
            let id = cluster.probe_member_id(i).await;
            cluster.ids.push(id);
            cluster.removed.push(false);
        }
        cluster
    }

    /// What the harness's clients use on the members' listeners: the
    /// members' client TLS when they listen on `https`, else none.
    pub fn client_tls(&self) -> Option<&ClientTls> {
        match self.options.listeners[0] {
            Scheme::Http => None,
            Scheme::Https => self.options.client_tls.as_ref(),
        }
    }

    pub fn target(&self) -> Target {
        self.target
    }

    pub fn member(&self, i: usize) -> &Node {
        &self.members[i]
    }

    /// `--initial-cluster` naming members `among` (`name=peer-url,...`).
    pub fn initial_cluster(&self, among: &[usize]) -> String {
        among
            .iter()
            .map(|&i| format!("{}={}", self.member(i).name(), self.member(i).peer_url()))
            .collect::<Vec<_>>()
            .join(",")
    }

    pub fn member_mut(&mut self, i: usize) -> &mut Node {
        &mut self.members[i]
    }

    /// The member's id (as its Status header reports it).
    pub fn member_id(&self, i: usize) -> u64 {
        self.ids[i]
    }

    /// The index of the member with this id.
    pub fn index_of(&self, id: u64) -> Option<usize> {
        self.ids.iter().position(|m| *m == id)
    }

    /// Indexes of the members that were not removed.
    pub fn active(&self) -> Vec<usize> {
        (0..self.members.len())
            .filter(|i| !self.removed[*i])
            .collect()
    }

    /// Indexes of the active members whose process runs.
    pub fn running(&mut self) -> Vec<usize> {
        self.active()
            .into_iter()
            .filter(|i| self.members[*i].is_running())
            .collect()
    }

    /// The client endpoints of the running active members.
    pub fn endpoints(&mut self) -> Vec<String> {
        self.running()
            .into_iter()
            .map(|i| self.members[i].endpoint())
            .collect()
    }

    /// One etcd-client over the endpoints of every running member. Built
    /// anew after restarts: ours binds a new client port each launch.
    pub async fn client(&mut self) -> Client {
        let endpoints = self.endpoints();
        let options = connect_options(
            self.client_tls(),
            Duration::from_secs(5),
            Duration::from_secs(10),
        );
        Client::connect(endpoints.clone(), Some(options))
            .await
            .unwrap_or_else(|e| panic!("connect to {endpoints:?}: {e}"))
    }

    /// A client of member `i` only, with short timeouts, for probes.
    pub async fn probe_client(&self, i: usize) -> Option<Client> {
        let options = self.members[i].connect_options(PROBE_TIMEOUT, PROBE_TIMEOUT);
        Client::connect([self.members[i].endpoint()], Some(options))
            .await
            .ok()
    }

    /// (member id, leader id) as member `i` reports them now; `None` when it
    /// does not answer.
    pub async fn status(&self, i: usize) -> Option<(u64, u64)> {
        let mut client = self.probe_client(i).await?;
        let status = client.status().await.ok()?;
        Some((status.header()?.member_id(), status.leader()))
    }

    async fn probe_member_id(&self, i: usize) -> u64 {
        let what = format!("member {i} answers Status");
        eventually(Duration::from_secs(20), &what, || async {
            self.status(i).await.map(|(id, _)| id)
        })
        .await
    }

    /// The index of the member that `among` all name as leader (and that is
    /// itself among them), if they agree right now.
    pub async fn agreed_leader(&self, among: &[usize]) -> Option<usize> {
        let mut leader = None;
        for &i in among {
            let (_, l) = self.status(i).await?;
            if l == 0 || leader.is_some_and(|seen| seen != l) {
                return None;
            }
            leader = Some(l);
        }
        let index = self.index_of(leader?)?;
        among.contains(&index).then_some(index)
    }

    /// Waits until every running member names the same leader; its index.
    pub async fn wait_leader(&mut self, timeout: Duration) -> usize {
        let among = self.running();
        self.wait_leader_among(&among, timeout).await
    }

    /// Waits until the members `among` name the same leader, one of them.
    pub async fn wait_leader_among(&self, among: &[usize], timeout: Duration) -> usize {
        let what = format!("members {among:?} agree on a leader among them");
        eventually(timeout, &what, || self.agreed_leader(among)).await
    }

    /// Reserves a name and a peer port for a member to add later.
    pub fn pending_member(&mut self) -> PendingMember {
        self.next_name += 1;
        PendingMember {
            name: format!("m{}", self.next_name),
            peer_port: free_port(),
            peer_scheme: self.options.peer_scheme,
        }
    }

    /// Starts `pending` with `--initial-cluster-state existing`, naming every
    /// active member and itself in `--initial-cluster` (it must have been
    /// added with MemberAdd first); waits until it serves and returns its
    /// index.
    pub async fn join(&mut self, pending: &PendingMember) -> usize {
        let mut initial: Vec<String> = self
            .active()
            .into_iter()
            .map(|i| {
                let m = &self.members[i];
                format!("{}={}", m.name(), m.peer_url())
            })
            .collect();
        initial.push(format!("{}={}", pending.name, pending.peer_url()));
        let mut node = self.unstarted(pending, &initial.join(","), "existing", &[]);
        node.launch(false).await;
        self.members.push(node);
        let i = self.members.len() - 1;
        let id = self.probe_member_id(i).await;
        self.ids.push(id);
        self.removed.push(false);
        i
    }

    /// `etcdctl member add NAME --peer-urls=URL [--learner] -w json` through
    /// member `via`; the JSON answer. etcd refuses changes until it has
    /// heard from every peer for a while ("unhealthy cluster", e.g. right
    /// after a start or a join): that refusal is retried, anything else
    /// must succeed.
    pub async fn member_add(
        &self,
        via: usize,
        name: &str,
        peer_url: &str,
        learner: bool,
    ) -> serde_json::Value {
        let peer_urls = format!("--peer-urls={peer_url}");
        let mut args = vec!["member", "add", name, &peer_urls, "-w", "json"];
        if learner {
            args.push("--learner");
        }
        let output = eventually(
            Duration::from_secs(30),
            "member add is accepted",
            || async {
                let output = super::etcdctl(self.member(via), &args).await;
                let unhealthy =
                    String::from_utf8_lossy(&output.stderr).contains("unhealthy cluster");
                (!unhealthy).then_some(output)
            },
        )
        .await;
        super::assert_output_ok(&args, &output);
        serde_json::from_slice(&output.stdout).expect("member add JSON")
    }

    /// Stops every active member — SIGKILL when `kill`, else SIGTERM — then
    /// starts them all again at once (a lone member cannot elect) and waits
    /// until each serves.
    pub async fn restart_all(&mut self, kill: bool) {
        let active = self.active();
        for &i in &active {
            if kill {
                self.members[i].kill9();
            } else {
                self.members[i].terminate().await;
            }
        }
        let mut slots: Vec<Option<Node>> = std::mem::take(&mut self.members)
            .into_iter()
            .map(Some)
            .collect();
        let tasks: Vec<_> = active
            .iter()
            .map(|&i| {
                let mut node = slots[i].take().expect("each member once");
                let task = tokio::spawn(async move {
                    node.launch(false).await;
                    node
                });
                (i, task)
            })
            .collect();
        for (i, task) in tasks {
            let node = task
                .await
                .unwrap_or_else(|e| panic!("member {i} did not restart: {e}"));
            slots[i] = Some(node);
        }
        self.members = slots.into_iter().flatten().collect();
    }

    /// Marks member `i` as removed from the cluster (after MemberRemove):
    /// its process is killed if it still runs.
    pub fn forget(&mut self, i: usize) {
        self.members[i].kill9();
        self.removed[i] = true;
    }

    /// A member with the shared options plus `own_args`.
    fn unstarted(
        &self,
        pending: &PendingMember,
        initial_cluster: &str,
        state: &'static str,
        own_args: &[String],
    ) -> Node {
        let mut options = self.options.clone();
        options.args.extend(own_args.iter().cloned());
        let env = match self.target {
            Target::EtcdRs => vec![(
                FAULTS_ENV.to_string(),
                self.faults_file(&pending.name).display().to_string(),
            )],
            Target::Reference => Vec::new(),
        };
        Node::unstarted_member(
            self.target,
            &pending.name,
            pending.peer_port,
            MemberFlags {
                initial_cluster: initial_cluster.to_string(),
                token: TOKEN.to_string(),
                state,
            },
            options,
            env,
        )
    }

    fn faults_file(&self, name: &str) -> PathBuf {
        self.faults_dir.path().join(format!("{name}.faults"))
    }

    /// Cuts the members `side` off from all other active members: each side
    /// refuses to send to the other (ours only). Replaces any earlier
    /// partition.
    pub fn partition(&self, side: &[usize]) {
        assert_eq!(
            self.target,
            Target::EtcdRs,
            "partitions need our fault-injectable peer transport"
        );
        let active = self.active();
        for &i in &active {
            let blocked: Vec<u64> = active
                .iter()
                .filter(|j| side.contains(&i) != side.contains(j))
                .map(|&j| self.ids[j])
                .collect();
            self.write_faults(i, &blocked);
        }
    }

    /// Lifts every partition.
    pub fn heal(&self) {
        for i in self.active() {
            self.write_faults(i, &[]);
        }
    }

    /// Replaces member `i`'s fault file atomically (a reader never sees half
    /// a list, and the rename gives the file a new mtime).
    fn write_faults(&self, i: usize, blocked: &[u64]) {
        let path = self.faults_file(self.members[i].name());
        let body: String = blocked.iter().map(|id| format!("{id:x}\n")).collect();
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, body).expect("write fault file");
        std::fs::rename(&tmp, &path).expect("install fault file");
    }

    /// Waits until members `among` are at least at `revision` in a
    /// serializable (local) read: replication reached them.
    pub async fn wait_revision(&self, among: &[usize], revision: i64, timeout: Duration) {
        for &i in among {
            let what = format!("member {i} applied revision {revision}");
            eventually(timeout, &what, || async {
                let mut client = self.probe_client(i).await?;
                let options = etcd_client::GetOptions::new().with_serializable();
                let got = client.get("\0", Some(options)).await.ok()?;
                (super::rev(got.header()) >= revision).then_some(())
            })
            .await;
        }
    }

    /// Every member's HashKV at `revision`, in `among`'s order.
    pub async fn hash_kvs(&self, among: &[usize], revision: i64) -> Vec<u32> {
        let mut hashes = Vec::new();
        for &i in among {
            let mut client = self.members[i].client().await;
            let hash = client
                .hash_kv(revision)
                .await
                .unwrap_or_else(|e| panic!("HashKV({revision}) on member {i}: {e}"));
            hashes.push(hash.hash());
        }
        hashes
    }

    /// After a run of [`Writers`]: one more write fixes a revision every
    /// active member must reach; then every acknowledged write must be on
    /// every member with the revision it was acknowledged with, and all
    /// members' HashKV at that revision must agree.
    pub async fn assert_acks_everywhere(&mut self, acks: &[Ack]) {
        let leader = self.wait_leader(Duration::from_secs(15)).await;
        let mut client = self.members[leader].client().await;
        let last = client
            .put("writers-done", "", None)
            .await
            .expect("last put");
        let revision = super::rev(last.header());
        let members = self.active();
        self.wait_revision(&members, revision, Duration::from_secs(20))
            .await;
        for &i in &members {
            let mut client = self.members[i].client().await;
            let options = GetOptions::new()
                .with_prefix()
                .with_serializable()
                .with_revision(revision);
            let got = client
                .get(WRITERS_PREFIX, Some(options))
                .await
                .unwrap_or_else(|e| panic!("read the writers' keys on member {i}: {e}"));
            let stored: HashMap<&[u8], (&[u8], i64)> = got
                .kvs()
                .iter()
                .map(|kv| (kv.key(), (kv.value(), kv.mod_revision())))
                .collect();
            for ack in acks {
                assert_eq!(
                    stored.get(ack.key.as_bytes()),
                    Some(&(ack.value.as_bytes(), ack.revision)),
                    "member {i} lost or changed the acknowledged write {ack:?}"
                );
            }
        }
        let hashes = self.hash_kvs(&members, revision).await;
        assert!(
            hashes.iter().all(|h| *h == hashes[0]),
            "HashKV at revision {revision} differs between members {members:?}: {hashes:?}"
        );
    }

    /// Prints a line to the test's output with the time since `start`, for
    /// measurements (fail-over times).
    pub fn report(what: &str, start: Instant) {
        eprintln!("[cluster] {what}: {:?}", start.elapsed());
    }
}

/// The prefix of every key [`Writers`] write.
pub const WRITERS_PREFIX: &str = "writers/";

/// One acknowledged write.
#[derive(Clone, Debug)]
pub struct Ack {
    pub key: String,
    pub value: String,
    /// The revision the put was acknowledged with.
    pub revision: i64,
    pub sent: Instant,
    pub acked: Instant,
}

/// Concurrent writers that run until stopped, each with its own keys,
/// recording every acknowledged write. Writer `w` sends through member
/// `w % n` and moves on to the next member when a write fails (no leader,
/// member down or cut off), so most writes reach the leader through a
/// follower.
pub struct Writers {
    stop: Arc<AtomicBool>,
    acks: Arc<Mutex<Vec<Ack>>>,
    failures: Arc<Mutex<Vec<String>>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Writers {
    pub async fn start(endpoints: Vec<String>, writers: usize) -> Writers {
        Writers::start_tls(endpoints, writers, None).await
    }

    /// Like [`Writers::start`], over TLS with `tls` when given (the members
    /// listen on `https`; see [`Cluster::client_tls`]).
    pub async fn start_tls(
        endpoints: Vec<String>,
        writers: usize,
        tls: Option<&ClientTls>,
    ) -> Writers {
        let stop = Arc::new(AtomicBool::new(false));
        let acks = Arc::new(Mutex::new(Vec::new()));
        let failures = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for w in 0..writers {
            let mut clients = Vec::new();
            for endpoint in &endpoints {
                // A short deadline: a write stuck on a dead or cut-off member
                // is retried elsewhere instead of stalling the writer.
                let options = connect_options(tls, Duration::from_secs(1), Duration::from_secs(3));
                let client = Client::connect([endpoint.clone()], Some(options))
                    .await
                    .unwrap_or_else(|e| panic!("connect to {endpoint}: {e}"));
                clients.push(client);
            }
            let (stop, acks, failures) = (stop.clone(), acks.clone(), failures.clone());
            tasks.push(tokio::spawn(async move {
                let mut via = w % clients.len();
                let mut seq = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    seq += 1;
                    let key = format!("{WRITERS_PREFIX}{w}/{seq:06}");
                    let value = format!("value {w}-{seq}");
                    let sent = Instant::now();
                    match clients[via].put(key.as_str(), value.as_str(), None).await {
                        Ok(put) => {
                            let revision = super::rev(put.header());
                            let acked = Instant::now();
                            let ack = Ack {
                                key,
                                value,
                                revision,
                                sent,
                                acked,
                            };
                            acks.lock().unwrap().push(ack);
                        }
                        Err(e) => {
                            failures.lock().unwrap().push(format!("via {via}: {e}"));
                            via = (via + 1) % clients.len();
                            // Paces retries while no leader is known.
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                    }
                }
            }));
        }
        Writers {
            stop,
            acks,
            failures,
            tasks,
        }
    }

    /// How many writes were acknowledged so far.
    pub fn acked(&self) -> usize {
        self.acks.lock().unwrap().len()
    }

    /// The acknowledged writes so far.
    pub fn acks(&self) -> Vec<Ack> {
        self.acks.lock().unwrap().clone()
    }

    /// Waits until `count` writes in all were acknowledged.
    pub async fn wait_acked(&self, count: usize, what: &str) {
        eventually(Duration::from_secs(20), what, || async {
            (self.acked() >= count).then_some(())
        })
        .await;
    }

    /// Stops the writers; the acknowledged writes and the failed attempts.
    pub async fn stop(self) -> (Vec<Ack>, Vec<String>) {
        self.stop.store(true, Ordering::Relaxed);
        for task in self.tasks {
            task.await.expect("writer task");
        }
        let acks = self.acks.lock().unwrap().clone();
        let failures = self.failures.lock().unwrap().clone();
        (acks, failures)
    }
}

/// Kills the leader of `cluster` (three members, up) with SIGKILL while
/// four clients write (over TLS when the cluster's clients use it), and
/// checks etcd's promises: a new leader within ten election timeouts,
/// writes resuming, and once the killed member is back every acknowledged
/// write on every member with its acknowledged revision, HashKV agreeing.
/// Prints the fail-over time and the write gap.
pub async fn kill_leader_under_writes(target: Target, mut cluster: Cluster) {
    let old_leader = cluster.wait_leader(Duration::from_secs(10)).await;

    let tls = cluster.client_tls().cloned();
    let writers = Writers::start_tls(cluster.endpoints(), 4, tls.as_ref()).await;
    writers.wait_acked(50, "50 writes before the kill").await;

    let killed_at = Instant::now();
    cluster.member_mut(old_leader).kill9();
    let acked_at_kill = writers.acked();
    let survivors: Vec<usize> = (0..3).filter(|i| *i != old_leader).collect();
    let new_leader = cluster
        .wait_leader_among(&survivors, Duration::from_secs(15))
        .await;
    let failover = killed_at.elapsed();
    eprintln!(
        "[{target:?}] fail-over: member {new_leader} leads {failover:?} after killing the leader \
         (member {old_leader}); election timeout {ELECTION_MS} ms"
    );
    assert!(
        failover < Duration::from_millis(10 * ELECTION_MS),
        "no new leader within 10 election timeouts ({failover:?})"
    );

    writers
        .wait_acked(acked_at_kill + 50, "50 more writes after the fail-over")
        .await;
    let resumed = {
        writers
            .acks()
            .iter()
            .filter(|a| a.sent > killed_at)
            .map(|a| a.acked)
            .min()
            .expect("a write sent after the kill was acknowledged")
    };
    eprintln!(
        "[{target:?}] writes resumed {:?} after the kill",
        resumed - killed_at
    );

    // The killed member comes back and catches up while writes go on.
    cluster.member_mut(old_leader).restart().await;
    let acked_at_restart = writers.acked();
    writers
        .wait_acked(acked_at_restart + 20, "20 writes after the restart")
        .await;
    let (acks, failures) = writers.stop().await;
    eprintln!(
        "[{target:?}] {} writes acknowledged, {} failed attempts",
        acks.len(),
        failures.len()
    );

    cluster.assert_acks_everywhere(&acks).await;
}
