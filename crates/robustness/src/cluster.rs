//! Clusters of real server processes on loopback for the harness: etcd-rs
//! or etcd 3.4, started with the same etcd flags, each member behind its
//! own peer [`proxy`](crate::proxy) so faults between members need no
//! privileges and no hook in the server.
//!
//! A member listens for peers on a private port and advertises its proxy's
//! port in `--initial-cluster`, so every byte between members crosses the
//! fault table of one shared [`Network`]. Process faults are signals:
//! SIGKILL and restart with the same flags and data dir, SIGSTOP/SIGCONT.

use std::fs::File;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use etcd_client::{Client, ConnectOptions};

use crate::proxy::{Network, PeerProxy};

/// Which server the binary is; only the readiness wording and log flags
/// differ, everything a test does is the same.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    EtcdRs,
    Etcd,
}

/// The server under test.
#[derive(Clone, Debug)]
pub struct Server {
    pub flavor: Flavor,
    pub binary: PathBuf,
}

impl Server {
    pub fn name(&self) -> &'static str {
        match self.flavor {
            Flavor::EtcdRs => "etcd-rs",
            Flavor::Etcd => "etcd 3.4",
        }
    }
}

/// Raft timing of every member: short, so faults resolve within a
/// scenario, and the same for both servers.
pub const HEARTBEAT_MS: u64 = 50;
pub const ELECTION_MS: u64 = 500;
/// How long a member gets to serve after a (re)start.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

pub struct Member {
    pub index: usize,
    pub name: String,
    pub client_addr: SocketAddr,
    proxy: PeerProxy,
    data_dir: PathBuf,
    log_path: PathBuf,
    args: Vec<String>,
    child: Option<Child>,
    paused: bool,
    /// Started under a file size limit (a full disk).
    limited: bool,
    /// How many times the member was replaced (names its successor).
    generation: u32,
    /// Removed and not added back (a replacement that failed): no longer
    /// started, faulted or checked.
    removed: bool,
}

impl Member {
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.client_addr)
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// The tail of the member's log, for a failure report.
    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log_path).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

pub struct Cluster {
    pub server: Server,
    pub members: Vec<Member>,
    pub network: Network,
    _dir: tempfile::TempDir,
}

fn free_addr() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("local addr")
}

impl Cluster {
    /// Starts `size` members with `extra` flags each and waits until every
    /// one serves clients and the cluster has a leader.
    pub async fn start(server: Server, size: usize, extra: &[String]) -> Cluster {
        let dir = tempfile::Builder::new()
            .prefix("etcd-robustness-")
            .tempdir()
            .expect("temp dir");
        let network = Network::new();
        let mut peer_addrs = Vec::new();
        let mut proxies = Vec::new();
        for index in 0..size {
            let peer_addr = free_addr();
            let proxy = PeerProxy::start(network.clone(), index, free_addr(), peer_addr)
                .await
                .expect("start a peer proxy");
            peer_addrs.push(peer_addr);
            proxies.push(proxy);
        }
        let mut members = Vec::new();
        let initial_cluster = proxies
            .iter()
            .enumerate()
            .map(|(i, p)| format!("m{i}=http://{}", p.local_addr()))
            .collect::<Vec<_>>()
            .join(",");
        for (index, proxy) in proxies.into_iter().enumerate() {
            let name = format!("m{index}");
            let client_addr = free_addr();
            let data_dir = dir.path().join(format!("{name}.etcd"));
            let log_path = dir.path().join(format!("{name}.log"));
            let mut args = vec![
                format!("--name={name}"),
                format!("--data-dir={}", data_dir.display()),
                format!("--listen-client-urls=http://{client_addr}"),
                format!("--advertise-client-urls=http://{client_addr}"),
                format!("--listen-peer-urls=http://{}", peer_addrs[index]),
                format!(
                    "--initial-advertise-peer-urls=http://{}",
                    proxy.local_addr()
                ),
                format!("--initial-cluster={initial_cluster}"),
                "--initial-cluster-state=new".to_string(),
                "--initial-cluster-token=etcd-robustness".to_string(),
                format!("--heartbeat-interval={HEARTBEAT_MS}"),
                format!("--election-timeout={ELECTION_MS}"),
            ];
            if server.flavor == Flavor::Etcd {
                args.push("--logger=zap".to_string());
            }
            args.extend(extra.iter().cloned());
            members.push(Member {
                index,
                name,
                client_addr,
                proxy,
                data_dir,
                log_path,
                args,
                child: None,
                paused: false,
                limited: false,
                generation: 0,
                removed: false,
            });
        }
        let mut cluster = Cluster {
            server,
            members,
            network,
            _dir: dir,
        };
        for index in 0..size {
            cluster.spawn(index);
        }
        for index in 0..size {
            cluster.wait_ready(index).await;
        }
        cluster
    }

    fn spawn(&mut self, index: usize) {
        self.spawn_limited(index, None);
    }

    /// Starts member `index`, with every file it writes limited to
    /// `file_size_limit` bytes if given (a full disk without privileges:
    /// writes past it fail with EFBIG; SIGXFSZ is ignored so the failure
    /// reaches the server as an error, and `exec` keeps the pid).
    pub fn spawn_limited(&mut self, index: usize, file_size_limit: Option<u64>) {
        let member = &mut self.members[index];
        let log = File::options()
            .create(true)
            .append(true)
            .open(&member.log_path)
            .expect("open member log");
        let mut command = match file_size_limit {
            None => Command::new(&self.server.binary),
            Some(limit) => {
                let mut c = Command::new("bash");
                c.arg("-c")
                    .arg(r#"trap '' XFSZ; exec prlimit --fsize="$0" -- "$@""#)
                    .arg(limit.to_string())
                    .arg(&self.server.binary);
                c
            }
        };
        // Both servers take ETCD_* variables as flags: keep runs hermetic.
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("ETCD_") {
                command.env_remove(name);
            }
        }
        let child = command
            .args(&member.args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone log handle"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", self.server.binary.display()));
        self.network.register_pid(index, child.id());
        member.child = Some(child);
        member.paused = false;
        member.limited = file_size_limit.is_some();
    }

    /// The size of the largest file in member `index`'s data dir.
    pub fn largest_file(&self, index: usize) -> u64 {
        fn walk(dir: &Path, largest: &mut u64) {
            for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                match entry.metadata() {
                    Ok(m) if m.is_dir() => walk(&entry.path(), largest),
                    Ok(m) => *largest = (*largest).max(m.len()),
                    Err(_) => {}
                }
            }
        }
        let mut largest = 0;
        walk(&self.members[index].data_dir, &mut largest);
        largest
    }

    /// Waits until member `index` answers a Status call.
    pub async fn wait_ready(&mut self, index: usize) {
        let deadline = Instant::now() + READY_TIMEOUT;
        let endpoint = self.members[index].endpoint();
        loop {
            if let Ok(mut client) = connect(std::slice::from_ref(&endpoint)).await {
                if client.status().await.is_ok() {
                    return;
                }
            }
            if let Some(child) = self.members[index].child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    panic!(
                        "member {} exited ({status}) while starting:\n{}",
                        self.members[index].name,
                        self.members[index].log_tail(40)
                    );
                }
            }
            assert!(
                Instant::now() < deadline,
                "member {} not ready in {READY_TIMEOUT:?}:\n{}",
                self.members[index].name,
                self.members[index].log_tail(40)
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The endpoints of the members in the cluster.
    pub fn endpoints(&self) -> Vec<String> {
        self.active().map(Member::endpoint).collect()
    }

    /// The members in the cluster (not removed).
    pub fn active(&self) -> impl Iterator<Item = &Member> {
        self.members.iter().filter(|m| !m.removed)
    }

    pub fn indexes(&self) -> Vec<usize> {
        self.active().map(|m| m.index).collect()
    }

    /// SIGKILL: no shutdown, no flush.
    pub fn kill(&mut self, index: usize) {
        let member = &mut self.members[index];
        if let Some(mut child) = member.child.take() {
            if member.paused {
                signal(child.id(), libc::SIGCONT);
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        member.paused = false;
    }

    /// Starts a killed member again with its flags and data dir.
    pub async fn restart(&mut self, index: usize) {
        if self.members[index].child.is_none() {
            self.spawn(index);
        }
        self.wait_ready(index).await;
    }

    pub fn pause(&mut self, index: usize) {
        let member = &mut self.members[index];
        if let Some(pid) = member.pid() {
            signal(pid, libc::SIGSTOP);
            member.paused = true;
        }
    }

    pub fn resume(&mut self, index: usize) {
        let member = &mut self.members[index];
        if let Some(pid) = member.pid() {
            signal(pid, libc::SIGCONT);
        }
        member.paused = false;
    }

    /// The index of the member that leads, by asking each running member.
    pub async fn leader(&self) -> Option<usize> {
        for member in self.members.iter().filter(|m| m.is_running() && !m.paused) {
            let Ok(mut client) = connect(&[member.endpoint()]).await else {
                continue;
            };
            let Ok(Ok(status)) =
                tokio::time::timeout(Duration::from_secs(1), client.status()).await
            else {
                continue;
            };
            if status.leader() == 0 {
                continue;
            }
            if status.leader() == status.header().map_or(0, |h| h.member_id()) {
                return Some(member.index);
            }
        }
        None
    }

    /// The member ids by index (from a running member's member list; 0 for
    /// a removed member).
    pub async fn member_ids(&self) -> Option<Vec<u64>> {
        let mut client = connect(&self.endpoints()).await.ok()?;
        let list = client.member_list().await.ok()?;
        self.members
            .iter()
            .map(|m| {
                if m.removed {
                    return Some(0);
                }
                list.members()
                    .iter()
                    .find(|x| x.name() == m.name)
                    .map(|x| x.id())
            })
            .collect()
    }

    /// Replaces member `index` under load, as an operator replaces a dead
    /// machine: MemberRemove, wipe its data, MemberAdd at the same peer URL
    /// under a new name, start it with `--initial-cluster-state existing`.
    /// It is waited for on [`Cluster::heal`].
    pub async fn replace(&mut self, index: usize) -> Result<String, String> {
        let ids = self.member_ids().await.ok_or("no member list")?;
        let others: Vec<String> = self
            .members
            .iter()
            .filter(|m| m.index != index)
            .map(Member::endpoint)
            .collect();
        let mut client = connect(&others).await.map_err(|e| e.to_string())?;
        // etcd refuses a removal that would leave too few members it
        // has heard from recently ("unhealthy cluster"), for example just
        // after another fault healed: retry for a while, as an operator would.
        let mut attempt = 0;
        while let Err(e) = client.member_remove(ids[index]).await {
            attempt += 1;
            if attempt == 20 {
                return Err(format!("member remove: {e}"));
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        self.kill(index);
        let member = &mut self.members[index];
        let _ = std::fs::remove_dir_all(&member.data_dir);
        let peer_url = format!("http://{}", member.proxy.local_addr());
        // The same refusal can meet the add right after the removal.
        let mut attempt = 0;
        let added = loop {
            match client.member_add([peer_url.as_str()], None).await {
                Ok(added) => break added,
                Err(e) => {
                    attempt += 1;
                    if attempt == 40 {
                        // The cluster goes on without it.
                        member.removed = true;
                        return Err(format!("member add: {e}"));
                    }
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
            }
        };
        let old_name = member.name.clone();
        member.generation += 1;
        member.name = format!("m{index}-{}", member.generation);
        let mut initial = Vec::new();
        for m in added.member_list() {
            let name = if m.name().is_empty() {
                member.name.clone()
            } else {
                m.name().to_string()
            };
            for url in m.peer_urls() {
                initial.push(format!("{name}={url}"));
            }
        }
        let name = member.name.clone();
        for arg in &mut member.args {
            if arg.starts_with("--name=") {
                *arg = format!("--name={name}");
            } else if arg.starts_with("--initial-cluster=") {
                *arg = format!("--initial-cluster={}", initial.join(","));
            } else if arg.starts_with("--initial-cluster-state=") {
                *arg = "--initial-cluster-state=existing".to_string();
            }
        }
        self.spawn(index);
        Ok(format!("replaced {old_name} with {name}"))
    }

    /// Brings every member back: continued, restarted, network healed.
    pub async fn heal(&mut self) {
        self.network.heal();
        for index in self.indexes() {
            if self.members[index].paused {
                self.resume(index);
            }
            if self.members[index].limited {
                // Room again: restart without the file size limit.
                self.kill(index);
            }
            if !self.members[index].is_running() {
                self.spawn(index);
            }
        }
        for index in self.indexes() {
            self.wait_ready(index).await;
        }
    }

    /// Every member's log tail, for a failure report.
    pub fn logs(&self, lines: usize) -> String {
        self.members
            .iter()
            .map(|m| format!("--- {} ---\n{}", m.name, m.log_tail(lines)))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for index in 0..self.members.len() {
            self.kill(index);
        }
    }
}

fn signal(pid: u32, sig: libc::c_int) {
    // SAFETY: kill(2) has no memory effects; the pid is our own child.
    unsafe {
        libc::kill(pid as libc::pid_t, sig);
    }
}

/// How long one client call may take before it counts as indeterminate.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(3);

/// A client over `endpoints` with the harness's timeouts.
pub async fn connect(endpoints: &[String]) -> Result<Client, etcd_client::Error> {
    let options = ConnectOptions::new()
        .with_connect_timeout(Duration::from_secs(2))
        .with_timeout(CALL_TIMEOUT)
        .with_keep_alive(Duration::from_secs(2), Duration::from_secs(2));
    Client::connect(endpoints, Some(options)).await
}
