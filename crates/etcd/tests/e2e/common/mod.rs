//! Test harness shared by every integration test file: it starts a server
//! process (our `etcd` or the reference etcd 3.4 at `/usr/bin/etcd`) on
//! loopback with a fresh temp data dir, waits for it to be ready by reading
//! its JSON log, and hands out clients (etcdctl and etcd-client) to talk to it.
//!
//! Layout of the suite (one concept per file, each test run against both
//! targets): `etcdctl_kv.rs` and `etcdctl_cluster.rs` (the etcdctl flows),
//! `etcdctl_ours.rs` (our `etcdctl` beside etcdctl 3.5.1, output for output),
//! `grpc_kv.rs` (Range/Put/DeleteRange/Compact/headers), `grpc_txn.rs`,
//! `grpc_errors.rs` (exact codes and messages), `grpc_bad_input.rs` (raw
//! malformed bodies), `restart.rs` (SIGTERM + restart) and `crash.rs`
//! (SIGKILL under concurrent writes; `ETCD_RS_CRASH_ROUNDS`, `ETCD_RS_SEED`),
//! `tls.rs` and `tls_cluster.rs` (client and peer TLS; certificates from
//! [`certs`]; a node's listeners, peer scheme and client TLS come from
//! [`NodeOptions`]), `tls_clients.rs` (more TLS clients: Python etcd3 from
//! the venv of [`python`], etcdctl 3.5.1 from [`etcd351`], and `unixs://`
//! listeners, see [`NodeOptions::unix_listener`]), `grpc_auth.rs` and
//! `auth_clients.rs` (auth enforcement; their users from [`auth`]),
//! `http_health.rs` (`/health`, `/version`), `http_gateway.rs` (the JSON
//! gateway, `/v3/...` over curl and Python's stdlib) and `http_metrics.rs`
//! (Prometheus `/metrics`, checked with `prometheus_client`); their curl
//! wrapper is [`http`].
//! All files are modules of the one `e2e` test binary (see `main.rs`). Run
//! one half with `cargo test -p etcd --test e2e reference` or `... etcd_rs`,
//! or one file with `cargo test -p etcd --test e2e grpc_txn::`.
//!
//! Every test body is written once and run against both servers through the
//! [`both!`] macro, so the expectations are first proven against the real etcd
//! and then hold ours to the same behaviour. This module does not contain
//! test cases itself, and it never skips: a missing reference binary fails
//! the reference variant with an install hint.

pub mod auth;
pub mod certs;
pub mod cluster;
pub mod etcd351;
pub mod http;
pub mod python;
pub mod raw_codec;
pub mod transcript;

use std::fmt::Debug;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use etcd_client::{Client, ConnectOptions, TlsOptions};
use serde_json::Value;
use tokio::sync::mpsc;

/// The real etcd, installed by Debian's `etcd-server` package.
pub const REFERENCE_ETCD: &str = "/usr/bin/etcd";
/// The real etcdctl, installed by Debian's `etcd-client` package.
pub const ETCDCTL: &str = "/usr/bin/etcdctl";
/// How long a server gets to report that it serves clients.
const READY_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a server gets to exit after SIGTERM.
const TERMINATE_TIMEOUT: Duration = Duration::from_secs(20);
/// How often a launch is retried when a chosen port was taken meanwhile.
const LAUNCH_ATTEMPTS: u32 = 5;
/// The log line (JSON `msg`) carrying the bound address of a plain client
/// listener; both servers print it once the listener serves, and etcd 3.4
/// prints it only after the server is ready (it waits on ReadyNotify first).
const SERVING_MSG: &str = "serving client traffic insecurely; this is strongly discouraged!";
/// The same line for a TLS (`https://`) client listener, as etcd 3.4's zap
/// logger prints it.
const SERVING_SECURELY_MSG: &str = "serving client traffic securely";
/// What a server logs (warn) for a TLS handshake it refused, with fields
/// `remote-addr`, `server-name` and `error`.
pub const REJECTED_MSG: &str = "rejected connection";
/// The readiness milestone. etcd 3.4 with `--logger=zap` never prints it (it
/// is only logged by the capnslog logger), so it is required from ours only.
const READY_MSG: &str = "ready to serve client requests";

/// Which server binary a test runs against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// Our server, built by this package (`CARGO_BIN_EXE_etcd`).
    EtcdRs,
    /// Debian's etcd 3.4.23, the behaviour we must reproduce.
    Reference,
}

impl Target {
    /// The executable to run; fails the test when the reference is missing.
    pub fn binary(self) -> PathBuf {
        match self {
            Target::EtcdRs => PathBuf::from(env!("CARGO_BIN_EXE_etcd")),
            Target::Reference => {
                require_file(REFERENCE_ETCD);
                PathBuf::from(REFERENCE_ETCD)
            }
        }
    }
}

fn require_file(path: &str) {
    assert!(
        Path::new(path).exists(),
        "{path} is missing: the reference tests need Debian's real etcd \
         (`apt-get install -y etcd-server etcd-client`)"
    );
}

/// The scheme of a listener URL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    Http,
    /// TLS: the server needs a certificate (`--cert-file`/`--key-file`,
    /// `--auto-tls`, or their `--peer-*` forms).
    Https,
}

impl Scheme {
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }

    /// The JSON `msg` a server logs once a client listener of this scheme
    /// serves.
    fn serving_msg(self) -> &'static str {
        match self {
            Scheme::Http => SERVING_MSG,
            Scheme::Https => SERVING_SECURELY_MSG,
        }
    }
}

impl std::fmt::Display for Scheme {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a client speaks TLS to a server: whom it trusts and which
/// certificate (if any) it presents. The harness's clients use the node's
/// ([`NodeOptions::client_tls`]); a test passes its own to try others.
#[derive(Clone, Debug)]
pub struct ClientTls {
    /// The CA the server's certificate must chain to; `None` skips the
    /// verification (etcdctl's `--insecure-skip-tls-verify`, for
    /// `--auto-tls` servers).
    pub ca: Option<PathBuf>,
    /// The client certificate and key presented to the server.
    pub identity: Option<(PathBuf, PathBuf)>,
}

impl ClientTls {
    /// Trusts `ca`, presents no certificate.
    pub fn ca(ca: &Path) -> ClientTls {
        ClientTls {
            ca: Some(ca.to_path_buf()),
            identity: None,
        }
    }

    /// Trusts any server certificate, presents none.
    pub fn skip_verify() -> ClientTls {
        ClientTls {
            ca: None,
            identity: None,
        }
    }

    /// Also presents `cert` (with its `key`).
    pub fn with_identity(mut self, cert: &Path, key: &Path) -> ClientTls {
        self.identity = Some((cert.to_path_buf(), key.to_path_buf()));
        self
    }

    /// etcdctl's flags for this: `--cacert`, `--cert`, `--key`, or
    /// `--insecure-transport=false --insecure-skip-tls-verify` (etcdctl 3.4
    /// only uses TLS without certificate flags when told the transport is
    /// not insecure).
    pub fn etcdctl_args(&self) -> Vec<String> {
        let mut args = Vec::new();
        match &self.ca {
            Some(ca) => args.push(format!("--cacert={}", ca.display())),
            None => {
                args.push("--insecure-transport=false".to_string());
                args.push("--insecure-skip-tls-verify".to_string());
            }
        }
        if let Some((cert, key)) = &self.identity {
            args.push(format!("--cert={}", cert.display()));
            args.push(format!("--key={}", key.display()));
        }
        args
    }

    /// The etcd-client (rustls) options; it has no way to skip verifying
    /// the server, so a CA is required.
    pub fn tls_options(&self) -> TlsOptions {
        let ca = self
            .ca
            .as_ref()
            .expect("etcd-client cannot skip server verification: give it a CA");
        let mut options =
            TlsOptions::new().ca_certificate(etcd_client::Certificate::from_pem(read_file(ca)));
        if let Some((cert, key)) = &self.identity {
            options = options.identity(etcd_client::Identity::from_pem(
                read_file(cert),
                read_file(key),
            ));
        }
        options
    }
}

fn read_file(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// How a node is started: its flags, its listeners' schemes and how the
/// harness's clients talk to it. `NodeOptions::new()` is what
/// [`Node::start`] uses: one plain client listener, a plain peer URL.
#[derive(Clone, Debug)]
pub struct NodeOptions {
    /// Flags added to the harness's own; repeated on every restart.
    pub args: Vec<String>,
    /// One client listener per entry, in `--listen-client-urls` order (all
    /// advertised); the first is the one [`Node::client_url`] names.
    pub listeners: Vec<Scheme>,
    /// The scheme of the peer URL (listened on and advertised).
    pub peer_scheme: Scheme,
    /// What the harness's clients (etcdctl, etcd-client, Go) use on an
    /// `https` listener; required when the first listener is `https`.
    pub client_tls: Option<ClientTls>,
    /// Client listeners on unix sockets, by scheme (`Http`: `unix://`,
    /// `Https`: `unixs://`) and socket name; see
    /// [`NodeOptions::unix_listener`].
    pub unix_listeners: Vec<(Scheme, String)>,
    /// The server's working directory; `None`: the test's own.
    pub current_dir: Option<PathBuf>,
}

impl Default for NodeOptions {
    fn default() -> NodeOptions {
        NodeOptions {
            args: Vec::new(),
            listeners: vec![Scheme::Http],
            peer_scheme: Scheme::Http,
            client_tls: None,
            unix_listeners: Vec::new(),
            current_dir: None,
        }
    }
}

impl NodeOptions {
    pub fn new() -> NodeOptions {
        NodeOptions::default()
    }

    /// One `https` client listener, reached with `tls`.
    pub fn https(tls: ClientTls) -> NodeOptions {
        NodeOptions {
            listeners: vec![Scheme::Https],
            client_tls: Some(tls),
            ..NodeOptions::default()
        }
    }

    /// Adds flags.
    pub fn args<S: AsRef<str>>(mut self, args: &[S]) -> NodeOptions {
        self.args
            .extend(args.iter().map(|a| a.as_ref().to_string()));
        self
    }

    pub fn listeners(mut self, listeners: &[Scheme]) -> NodeOptions {
        self.listeners = listeners.to_vec();
        self
    }

    pub fn peer_scheme(mut self, scheme: Scheme) -> NodeOptions {
        self.peer_scheme = scheme;
        self
    }

    /// Also listens for clients on the unix socket `localhost:NAME`
    /// (`unix://localhost:NAME`, or `unixs://` for `Scheme::Https`), after
    /// the tcp listeners in `--listen-client-urls`, not advertised. Both
    /// servers create the socket file `localhost:NAME` relative to their
    /// working directory (give one of the test's own with
    /// [`NodeOptions::current_dir`]) and log the listener's serving line
    /// with that name as `address`: the harness waits for that line too.
    /// `NAME` must be digits, since etcd parses the URL with Go's net/url,
    /// which requires a numeric port.
    pub fn unix_listener(mut self, scheme: Scheme, name: &str) -> NodeOptions {
        assert!(
            !name.is_empty() && name.bytes().all(|b| b.is_ascii_digit()),
            "a unix listener's name must be digits (Go's net/url wants a port), not {name:?}"
        );
        self.unix_listeners.push((scheme, name.to_string()));
        self
    }

    /// Runs the server in `dir` (where unix sockets are created).
    pub fn current_dir(mut self, dir: &Path) -> NodeOptions {
        self.current_dir = Some(dir.to_path_buf());
        self
    }
}

/// Generates one `#[tokio::test]` per target from a single test body:
/// `both!(name, |target| async move { ... })` gives `name::etcd_rs` and
/// `name::reference_etcd`, so `cargo test reference` runs the reference half.
macro_rules! both {
    ($name:ident, $body:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn etcd_rs() {
                ($body)($crate::common::Target::EtcdRs).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn reference_etcd() {
                ($body)($crate::common::Target::Reference).await
            }
        }
    };
}

/// A running (or stopped) server process with its own temp dir.
pub struct Node {
    target: Target,
    /// The member name, also what `member list` must report.
    name: String,
    /// Flags the test added; repeated on every restart.
    extra_args: Vec<String>,
    /// Holds the data dir and the log; removed when the node is dropped.
    dir: tempfile::TempDir,
    /// The process, `None` while stopped.
    child: Option<Child>,
    /// The client listeners' schemes, in `--listen-client-urls` order.
    listeners: Vec<Scheme>,
    /// Their bound ports, same order (learned from the log for ours; 0
    /// until known).
    client_ports: Vec<u16>,
    /// How the harness's clients speak TLS to the `https` listeners.
    client_tls: Option<ClientTls>,
    /// The unix socket listeners (scheme, name), after the tcp ones.
    unix_listeners: Vec<(Scheme, String)>,
    /// The server's working directory, if not the test's.
    current_dir: Option<PathBuf>,
    /// The peer port; kept across restarts so the member keeps its URL.
    peer_port: u16,
    /// The peer URL's scheme.
    peer_scheme: Scheme,
    /// Counts launches so the log shows where each one begins.
    launches: u32,
    /// A per-file size limit (RLIMIT_FSIZE) for the next launches, to make
    /// the disk "full" without privileges: writes past it fail with EFBIG.
    file_size_limit: Option<u64>,
    /// Set for a member of a multi-member cluster (see [`cluster`]).
    membership: Option<MemberFlags>,
    /// Variables set for the server on top of the hermetic environment.
    env: Vec<(String, String)>,
}

/// The bootstrap flags of one member of a multi-member cluster.
#[derive(Clone, Debug)]
pub struct MemberFlags {
    /// `--initial-cluster`, every member as `name=peer-url`.
    pub initial_cluster: String,
    /// `--initial-cluster-token`.
    pub token: String,
    /// `--initial-cluster-state`: `new` or `existing`.
    pub state: &'static str,
}

/// What the log reader saw before the server became ready or died.
enum Startup {
    /// The bound port of every client listener, in order.
    Ready {
        client_ports: Vec<u16>,
    },
    Exited,
    TimedOut,
}

impl Node {
    /// Starts a fresh node (new temp data dir) and waits until it serves.
    pub async fn start(target: Target, extra_args: &[&str]) -> Node {
        Node::start_with(target, NodeOptions::new().args(extra_args)).await
    }

    /// Starts a fresh node with these listeners, flags and client TLS, and
    /// waits until every client listener serves.
    pub async fn start_with(target: Target, options: NodeOptions) -> Node {
        let mut node = Node::single(target, options);
        node.launch(true).await;
        node
    }

    /// Starts a fresh node that must refuse to start: waits (bounded) for
    /// it to exit before serving clients; its exit status and log.
    pub async fn start_failing(target: Target, options: NodeOptions) -> FailedStart {
        let mut node = Node::single(target, options);
        node.peer_port = free_port();
        node.choose_client_ports();
        let (rx, child) = node.spawn();
        node.child = Some(child);
        match wait_ready(target, rx, &node.wanted_listeners()).await {
            Startup::Exited => {}
            Startup::Ready { client_ports } => {
                panic!(
                    "{target:?} started (serving on {client_ports:?}) although it must refuse to"
                )
            }
            Startup::TimedOut => {
                node.kill9();
                panic!("{target:?} neither exited nor served within {READY_TIMEOUT:?}")
            }
        }
        let status = node
            .child
            .take()
            .expect("the process was spawned")
            .wait()
            .expect("wait for the server");
        FailedStart {
            status,
            log: node.log(),
        }
    }

    /// A single-member node, not started yet.
    fn single(target: Target, options: NodeOptions) -> Node {
        Node::unstarted(target, "node-1", 0, None, options, Vec::new())
    }

    /// A member of a multi-member cluster, not started yet: its peer port is
    /// fixed (the others' `--initial-cluster` names it), so launches never
    /// pick another one.
    fn unstarted_member(
        target: Target,
        name: &str,
        peer_port: u16,
        membership: MemberFlags,
        options: NodeOptions,
        env: Vec<(String, String)>,
    ) -> Node {
        Node::unstarted(target, name, peer_port, Some(membership), options, env)
    }

    fn unstarted(
        target: Target,
        name: &str,
        peer_port: u16,
        membership: Option<MemberFlags>,
        options: NodeOptions,
        env: Vec<(String, String)>,
    ) -> Node {
        let prefix = match membership {
            Some(_) => format!("etcd-member-{name}-"),
            None => "etcd-test-".to_string(),
        };
        let dir = tempfile::Builder::new()
            .prefix(&prefix)
            .tempdir()
            .expect("create temp dir");
        Node {
            target,
            name: name.to_string(),
            extra_args: options.args,
            dir,
            child: None,
            client_ports: vec![0; options.listeners.len()],
            listeners: options.listeners,
            client_tls: options.client_tls,
            unix_listeners: options.unix_listeners,
            current_dir: options.current_dir,
            peer_port,
            peer_scheme: options.peer_scheme,
            launches: 0,
            file_size_limit: None,
            membership,
            env,
        }
    }

    pub fn target(&self) -> Target {
        self.target
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// `SCHEME://127.0.0.1:PORT`, the (first) client URL.
    pub fn client_url(&self) -> String {
        self.client_url_at(0)
    }

    /// The URL of client listener `i` (in [`NodeOptions::listeners`] order).
    pub fn client_url_at(&self, i: usize) -> String {
        format!("{}://127.0.0.1:{}", self.listeners[i], self.client_ports[i])
    }

    /// The URL of unix listener `i` (in [`NodeOptions::unix_listener`]
    /// order): `unix://localhost:NAME` or `unixs://localhost:NAME`. A client
    /// resolves it relative to its own working directory, so it must run in
    /// the server's ([`Node::current_dir`]).
    pub fn unix_url(&self, i: usize) -> String {
        let (scheme, name) = &self.unix_listeners[i];
        let scheme = match scheme {
            Scheme::Http => "unix",
            Scheme::Https => "unixs",
        };
        format!("{scheme}://localhost:{name}")
    }

    /// The socket file of unix listener `i`.
    pub fn unix_socket(&self, i: usize) -> PathBuf {
        let dir = self
            .current_dir
            .clone()
            .unwrap_or_else(|| std::env::current_dir().expect("the test's working directory"));
        dir.join(format!("localhost:{}", self.unix_listeners[i].1))
    }

    /// `127.0.0.1:PORT`, the (first) client endpoint for gRPC clients; the
    /// scheme comes from the client's options ([`Node::connect_options`]).
    pub fn endpoint(&self) -> String {
        format!("127.0.0.1:{}", self.client_ports[0])
    }

    /// `SCHEME://127.0.0.1:PORT`, the peer URL the member advertises.
    pub fn peer_url(&self) -> String {
        format!("{}://127.0.0.1:{}", self.peer_scheme, self.peer_port)
    }

    /// The client TLS for the first listener: the node's if it is `https`,
    /// none for `http`.
    fn first_listener_tls(&self) -> Option<&ClientTls> {
        match self.listeners[0] {
            Scheme::Http => None,
            Scheme::Https => Some(
                self.client_tls
                    .as_ref()
                    .expect("an https listener needs NodeOptions::client_tls"),
            ),
        }
    }

    /// etcd-client options for this node's first listener (TLS included).
    pub fn connect_options(&self, connect: Duration, call: Duration) -> ConnectOptions {
        connect_options(self.first_listener_tls(), connect, call)
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }

    /// The whole server log so far (all launches).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// The process id of the running server.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("node is not running").id()
    }

    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// The JSON log lines of all launches whose `msg` is `msg`.
    pub fn log_entries(&self, msg: &str) -> Vec<Value> {
        self.log()
            .lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .filter(|json| json["msg"] == msg)
            .collect()
    }

    /// A gRPC client connected to this node (over TLS for an `https` first
    /// listener).
    pub async fn client(&self) -> Client {
        let options = self.connect_options(Duration::from_secs(5), Duration::from_secs(10));
        Client::connect([self.endpoint()], Some(options))
            .await
            .unwrap_or_else(|e| panic!("connect to {}: {e}", self.endpoint()))
    }

    /// SIGKILL: the process gets no chance to flush anything.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, then waits (bounded) for the process to exit.
    pub async fn terminate(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM failed");
        let deadline = Instant::now() + TERMINATE_TIMEOUT;
        loop {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "{:?} did not exit within {TERMINATE_TIMEOUT:?} of SIGTERM",
                    self.target
                );
            }
            // Polls the exit status (a condition), not a guess at timing.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Starts the server again on the same data dir (terminating it first if
    /// it still runs). The reference keeps its ports; ours binds a new client
    /// port (port 0), so clients must be re-created after a restart.
    pub async fn restart(&mut self) {
        if self.child.is_some() {
            self.terminate().await;
        }
        self.launch(false).await;
    }

    /// Spawns the process and waits until it serves; retries with other
    /// ports when one was taken between choosing and binding it. A restart
    /// keeps the peer port (the member's identity) unless that one is taken.
    async fn launch(&mut self, fresh_ports: bool) {
        if fresh_ports {
            self.peer_port = free_port();
            self.client_ports.fill(0);
        }
        for attempt in 1..=LAUNCH_ATTEMPTS {
            self.choose_client_ports();
            let (rx, child) = self.spawn();
            self.child = Some(child);
            match wait_ready(self.target, rx, &self.wanted_listeners()).await {
                Startup::Ready { client_ports } => {
                    self.client_ports = client_ports;
                    return;
                }
                // The node's Drop prints the server log while panicking.
                Startup::TimedOut => {
                    self.kill9();
                    let serving: Vec<&str> =
                        self.listeners.iter().map(|s| s.serving_msg()).collect();
                    panic!(
                        "{:?} did not log that it serves clients within {READY_TIMEOUT:?} \
                         (expected JSON msgs {serving:?}{})",
                        self.target,
                        match self.target {
                            Target::EtcdRs => format!(" and {READY_MSG:?}"),
                            Target::Reference => String::new(),
                        }
                    );
                }
                Startup::Exited => {
                    let status = self.child.take().and_then(|mut child| child.wait().ok());
                    let busy = self.busy_port_lines();
                    if busy.is_empty() || attempt == LAUNCH_ATTEMPTS {
                        panic!(
                            "{:?} exited before becoming ready ({status:?})",
                            self.target
                        );
                    }
                    let peer = format!(":{}", self.peer_port);
                    if busy.iter().any(|line| line.contains(&peer)) {
                        // The other members know a cluster member by its
                        // peer URL; it cannot move.
                        assert!(self.membership.is_none(), "peer port {peer} is taken");
                        self.peer_port = free_port();
                    }
                    self.client_ports.fill(0);
                }
            }
        }
    }

    /// Spawns the process without waiting for it to serve (for a member
    /// that is expected never to become ready); see [`Node::log_entries`]
    /// and [`Node::is_running`] to observe it.
    pub fn launch_detached(&mut self) {
        self.choose_client_ports();
        let (_rx, child) = self.spawn();
        self.child = Some(child);
    }

    /// The reference gets its client ports chosen here (kept across
    /// restarts); ours binds port 0 and reports the port it got.
    fn choose_client_ports(&mut self) {
        if self.target == Target::Reference {
            for port in self.client_ports.iter_mut().filter(|p| **p == 0) {
                *port = free_port();
            }
        }
    }

    /// The ports the client listeners are told to bind: the chosen ones for
    /// the reference, 0 (any) for ours.
    fn wanted_ports(&self) -> Vec<u16> {
        match self.target {
            Target::EtcdRs => vec![0; self.listeners.len()],
            Target::Reference => self.client_ports.clone(),
        }
    }

    /// What [`wait_ready`] waits for: each tcp listener (scheme, wanted
    /// port), then each unix listener (scheme, socket name).
    fn wanted_listeners(&self) -> Wanted {
        Wanted {
            tcp: self
                .listeners
                .iter()
                .copied()
                .zip(self.wanted_ports())
                .collect(),
            unix: self
                .unix_listeners
                .iter()
                .map(|(scheme, name)| (*scheme, format!("localhost:{name}")))
                .collect(),
        }
    }

    /// The lines of the latest launch's log that report a port in use.
    fn busy_port_lines(&self) -> Vec<String> {
        let log = self.log();
        let latest = log.rsplit("===== launch ").next().unwrap_or_default();
        latest
            .lines()
            .filter(|line| line.to_lowercase().contains("address already in use"))
            .map(str::to_string)
            .collect()
    }

    fn command_args(&self) -> Vec<String> {
        let peer = self.peer_url();
        // Ours reports the ports it bound in its log.
        let client = self
            .listeners
            .iter()
            .zip(self.wanted_ports())
            .map(|(scheme, port)| format!("{scheme}://127.0.0.1:{port}"))
            .collect::<Vec<_>>()
            .join(",");
        let listen = std::iter::once(client.clone())
            .chain((0..self.unix_listeners.len()).map(|i| self.unix_url(i)))
            .collect::<Vec<_>>()
            .join(",");
        let mut args = vec![
            format!("--name={}", self.name),
            format!("--data-dir={}", self.data_dir().display()),
            format!("--listen-client-urls={listen}"),
            format!("--advertise-client-urls={client}"),
            format!("--listen-peer-urls={peer}"),
            format!("--initial-advertise-peer-urls={peer}"),
            "--logger=zap".to_string(),
        ];
        if let Some(m) = &self.membership {
            // The cluster chooses the timing flags for all members.
            args.push(format!("--initial-cluster={}", m.initial_cluster));
            args.push(format!("--initial-cluster-token={}", m.token));
            args.push(format!("--initial-cluster-state={}", m.state));
        } else {
            args.push(format!("--initial-cluster={}={peer}", self.name));
        }
        if self.target == Target::Reference && self.membership.is_none() {
            // etcd waits most of an election timeout (1 s by default) before
            // electing itself; short timeouts make the reference start (and
            // restart) in ~100 ms. They change no observable KV behaviour.
            args.push("--heartbeat-interval=10".to_string());
            args.push("--election-timeout=100".to_string());
        }
        args.extend(self.extra_args.iter().cloned());
        args
    }

    fn spawn(&mut self) -> (mpsc::UnboundedReceiver<String>, Child) {
        self.launches += 1;
        let args = self.command_args();
        let mut log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("open server log");
        writeln!(
            log,
            "===== launch {} of {:?}: {}",
            self.launches,
            self.target,
            args.join(" ")
        )
        .expect("write server log");
        let mut command = match self.file_size_limit {
            None => Command::new(self.target.binary()),
            Some(limit) => {
                // SIGXFSZ would kill the server outright; ignored, the write
                // fails with EFBIG instead, like a full disk. `exec` keeps the
                // pid, so kill9 still hits the server.
                let mut c = Command::new("bash");
                c.arg("-c")
                    .arg(r#"trap '' XFSZ; exec prlimit --fsize="$0" -- "$@""#)
                    .arg(limit.to_string())
                    .arg(self.target.binary());
                c
            }
        };
        // Both servers read ETCD_* variables as flags: keep the run hermetic
        // (this also hides the suite's own ETCD_RS_* knobs from them).
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("ETCD_") {
                command.env_remove(name);
            }
        }
        command.envs(self.env.iter().map(|(k, v)| (k, v)));
        if let Some(dir) = &self.current_dir {
            command.current_dir(dir);
        }
        let mut child = command
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {:?}: {e}", self.target.binary()));
        let (tx, rx) = mpsc::unbounded_channel();
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        pump_lines(stdout, self.log_path(), tx.clone());
        pump_lines(stderr, self.log_path(), tx);
        (rx, child)
    }

    /// Limits the size of every file the server writes from its next launch
    /// on (`None` lifts the limit).
    pub fn set_file_size_limit(&mut self, limit: Option<u64>) {
        self.file_size_limit = limit;
    }

    /// Waits for the process to exit on its own; its exit status.
    pub async fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    self.child = None;
                    return Some(status);
                }
            } else {
                return None;
            }
            if std::time::Instant::now() > deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The last part of the log, for failure messages.
    pub fn log_tail(&self) -> String {
        let log = self.log();
        let start = log.len().saturating_sub(16 * 1024);
        let start = (start..log.len())
            .find(|i| log.is_char_boundary(*i))
            .unwrap_or(0);
        format!(
            "----- server log ({}) tail -----\n{}\n----- end of server log -----",
            self.log_path().display(),
            &log[start..]
        )
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill9();
        if std::thread::panicking() {
            eprintln!("{}", self.log_tail());
        }
    }
}

/// Copies a child's output line by line into the log file and the channel.
/// The channel closes once both stdout and stderr reached EOF (process gone).
fn pump_lines(stream: impl Read + Send + 'static, log: PathBuf, tx: mpsc::UnboundedSender<String>) {
    std::thread::spawn(move || {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .expect("open server log");
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            let _ = writeln!(file, "{line}");
            // The receiver is gone once startup finished; keep logging.
            let _ = tx.send(line);
        }
    });
}

/// The client listeners a launch waits for.
struct Wanted {
    /// Each tcp listener's scheme and the port it is told to bind (0: any).
    tcp: Vec<(Scheme, u16)>,
    /// Each unix listener's scheme and the `address` its serving line
    /// carries (the socket name, `localhost:NAME`).
    unix: Vec<(Scheme, String)>,
}

/// Reads log lines until the server is ready, exits, or the timeout passes.
/// Ready means: every tcp listener (`wanted.tcp[i]`, a scheme and the port
/// it was told to bind, 0 for any) was reported serving by the line of its
/// scheme, every unix listener by the line of its scheme naming its socket,
/// and for ours the readiness milestone was logged too. A tcp listener with
/// a fixed port needs the line with that port; one on port 0 takes the
/// first unclaimed line of its scheme (listeners of one scheme are
/// interchangeable).
async fn wait_ready(
    target: Target,
    mut rx: mpsc::UnboundedReceiver<String>,
    wanted: &Wanted,
) -> Startup {
    let deadline = tokio::time::Instant::now() + READY_TIMEOUT;
    let mut serving: Vec<(Scheme, u16)> = Vec::new();
    let mut unix_serving = vec![false; wanted.unix.len()];
    let mut ready_line = target == Target::Reference;
    let (listeners, ports): (Vec<Scheme>, Vec<u16>) = wanted.tcp.iter().copied().unzip();
    loop {
        let line = match tokio::time::timeout_at(deadline, rx.recv()).await {
            Err(_) => return Startup::TimedOut,
            Ok(None) => return Startup::Exited,
            Ok(Some(line)) => line,
        };
        let Ok(json) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        let msg = json.get("msg").and_then(Value::as_str);
        if msg == Some(READY_MSG) {
            ready_line = true;
        }
        if let Some(scheme) = [Scheme::Http, Scheme::Https]
            .into_iter()
            .find(|s| msg == Some(s.serving_msg()))
        {
            let address = json["address"].as_str().unwrap_or_default();
            if let Some(i) = wanted
                .unix
                .iter()
                .position(|(s, socket)| *s == scheme && socket == address)
            {
                unix_serving[i] = true;
            } else {
                let port = address
                    .rsplit(':')
                    .next()
                    .and_then(|p| p.parse::<u16>().ok())
                    .unwrap_or_else(|| panic!("no port in serving address {line}"));
                serving.push((scheme, port));
            }
        }
        if !ready_line || unix_serving.contains(&false) {
            continue;
        }
        if let Some(client_ports) = assign_ports(&listeners, &ports, &serving) {
            return Startup::Ready { client_ports };
        }
    }
}

/// Matches the listeners to the serving lines seen (see [`wait_ready`]);
/// `None` while one is still missing.
fn assign_ports(
    listeners: &[Scheme],
    wanted: &[u16],
    serving: &[(Scheme, u16)],
) -> Option<Vec<u16>> {
    let mut claimed = vec![false; serving.len()];
    let mut ports = Vec::with_capacity(listeners.len());
    for (scheme, want) in listeners.iter().zip(wanted) {
        let i = (0..serving.len()).find(|&i| {
            !claimed[i] && serving[i].0 == *scheme && (*want == 0 || serving[i].1 == *want)
        })?;
        claimed[i] = true;
        ports.push(serving[i].1);
    }
    Some(ports)
}

/// How a start that had to fail ended.
pub struct FailedStart {
    pub status: std::process::ExitStatus,
    /// The whole server log (stdout and stderr).
    pub log: String,
}

impl FailedStart {
    /// The log's JSON lines at level `error` or `fatal` (and etcd's "failed
    /// to verify flags", a warning), each as its `msg`
    /// and `error` fields joined (`listener failed: open ...`), and every
    /// non-JSON line as it is: what a person reads to learn why it stopped.
    pub fn errors(&self) -> Vec<String> {
        self.log
            .lines()
            .filter(|line| !line.starts_with("===== launch "))
            .filter_map(|line| match serde_json::from_str::<Value>(line) {
                Ok(json) => {
                    let level = json["level"].as_str().unwrap_or_default();
                    // etcd refuses a configuration at level warn.
                    let refused = json["msg"] == "failed to verify flags";
                    (refused || matches!(level, "error" | "fatal" | "panic")).then(|| {
                        format!(
                            "{}: {}",
                            json["msg"].as_str().unwrap_or_default(),
                            json["error"].as_str().unwrap_or_default()
                        )
                    })
                }
                Err(_) => Some(line.to_string()),
            })
            .collect()
    }
}

/// etcd-client options: the timeouts, and TLS when `tls` is given (the
/// endpoints are then dialled as `https://`).
pub fn connect_options(
    tls: Option<&ClientTls>,
    connect: Duration,
    call: Duration,
) -> ConnectOptions {
    let options = ConnectOptions::new()
        .with_connect_timeout(connect)
        .with_timeout(call);
    match tls {
        Some(tls) => options.with_tls(tls.tls_options()),
        None => options,
    }
}

/// Ports handed out by [`free_port`]: below Linux's ephemeral range
/// (32768-60999), where the kernel never picks source ports for outgoing
/// connections or port-0 binds, so a chosen port stays free until the
/// server binds it (a port from bind-0 could be taken meanwhile by any
/// connection a concurrent test opens).
const TEST_PORTS: std::ops::Range<u16> = 20000..32000;

/// A port that was free a moment ago: random in [`TEST_PORTS`], checked by
/// binding it, and never handed out twice by this process.
pub fn free_port() -> u16 {
    use std::sync::Mutex;
    static GIVEN: Mutex<Vec<u16>> = Mutex::new(Vec::new());
    let mut rng = Rng::from_time();
    loop {
        let port = rng.range(u64::from(TEST_PORTS.start), u64::from(TEST_PORTS.end - 1)) as u16;
        let mut given = GIVEN.lock().unwrap_or_else(|p| p.into_inner());
        if given.contains(&port) {
            continue;
        }
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            given.push(port);
            return port;
        }
    }
}

// ---------------------------------------------------------------- etcdctl

/// Runs `etcdctl` (API v3) against the node.
pub async fn etcdctl(node: &Node, args: &[&str]) -> Output {
    etcdctl_stdin(node, args, "").await
}

/// Debian's `etcdctl` speaking v3 to `endpoint`, with no `ETCDCTL_*`
/// variables of the caller's environment (they would act as flags).
pub fn etcdctl_command(endpoint: &str) -> tokio::process::Command {
    require_file(ETCDCTL);
    etcdctl_command_with(Path::new(ETCDCTL), endpoint)
}

/// Like [`etcdctl_command`] with another etcdctl binary (etcdctl 3.5.1 of
/// [`etcd351`]).
pub fn etcdctl_command_with(binary: &Path, endpoint: &str) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(binary);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("ETCDCTL_") {
            command.env_remove(name);
        }
    }
    command
        .env("ETCDCTL_API", "3")
        .arg(format!("--endpoints={endpoint}"));
    command
}

/// Debian's etcdctl (v3) against the node's first listener, with the TLS
/// flags of the node's [`ClientTls`] when that listener is `https`: for
/// long-running commands (`watch`) a test reads as they go.
pub fn node_etcdctl_command(node: &Node) -> tokio::process::Command {
    let mut command = etcdctl_command(&node.client_url());
    if let Some(tls) = node.first_listener_tls() {
        command.args(tls.etcdctl_args());
    }
    command
}

/// Runs `etcdctl` with `stdin` as its standard input (for `txn`); over
/// TLS with the node's [`ClientTls`] when its first listener is `https`.
pub async fn etcdctl_stdin(node: &Node, args: &[&str], stdin: &str) -> Output {
    etcdctl_run(&node.client_url(), node.first_listener_tls(), args, stdin).await
}

/// Runs `etcdctl` against `url` with the TLS flags of `tls` (none: plain),
/// whatever the node's own settings: for a listener other than the first,
/// or for credentials other than the node's (clients that must be refused).
pub async fn etcdctl_at(url: &str, tls: Option<&ClientTls>, args: &[&str]) -> Output {
    etcdctl_run(url, tls, args, "").await
}

/// Like [`etcdctl_at`], asserting success; stdout.
pub async fn etcdctl_at_ok(url: &str, tls: Option<&ClientTls>, args: &[&str]) -> String {
    let output = etcdctl_at(url, tls, args).await;
    assert_output_ok(args, &output);
    String::from_utf8(output.stdout).expect("etcdctl stdout is UTF-8")
}

async fn etcdctl_run(url: &str, tls: Option<&ClientTls>, args: &[&str], stdin: &str) -> Output {
    etcdctl_run_command(etcdctl_command(url), tls, args, stdin).await
}

/// Runs a prepared etcdctl `command` ([`etcdctl_command`] or
/// [`etcdctl_command_with`], perhaps given a working directory) with the
/// TLS flags of `tls` (none: plain), `--command-timeout=10s`, then `args`,
/// and `stdin` as its standard input; bounded to 30 s.
pub async fn etcdctl_run_command(
    mut command: tokio::process::Command,
    tls: Option<&ClientTls>,
    args: &[&str],
    stdin: &str,
) -> Output {
    let tls_args = tls.map(ClientTls::etcdctl_args).unwrap_or_default();
    // A test's own `--command-timeout` comes later and wins.
    let mut child = command
        .args(tls_args)
        .arg("--command-timeout=10s")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn etcdctl");
    let mut input = child.stdin.take().expect("piped stdin");
    let stdin = stdin.to_string();
    let writer = tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        let _ = input.write_all(stdin.as_bytes()).await;
    });
    let output = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .expect("etcdctl did not finish in 30 s")
        .expect("wait for etcdctl");
    let _ = writer.await;
    output
}

/// Like [`etcdctl_run_command`] without stdin, asserting success; stdout.
pub async fn etcdctl_run_command_ok(
    command: tokio::process::Command,
    tls: Option<&ClientTls>,
    args: &[&str],
) -> String {
    let output = etcdctl_run_command(command, tls, args, "").await;
    assert_output_ok(args, &output);
    String::from_utf8(output.stdout).expect("etcdctl stdout is UTF-8")
}

/// Runs `etcdctl`, asserts it succeeded, returns its stdout.
pub async fn etcdctl_ok(node: &Node, args: &[&str]) -> String {
    let output = etcdctl(node, args).await;
    assert_output_ok(args, &output);
    String::from_utf8(output.stdout).expect("etcdctl stdout is UTF-8")
}

/// Runs `etcdctl`, asserts it failed, returns its last stderr line (where
/// etcdctl prints `Error: ...`).
pub async fn etcdctl_fails(node: &Node, args: &[&str]) -> String {
    let output = etcdctl(node, args).await;
    assert!(
        !output.status.success(),
        "etcdctl {args:?} must fail; stdout: {}",
        String::from_utf8_lossy(&output.stdout)
    );
    String::from_utf8_lossy(&output.stderr)
        .lines()
        .last()
        .unwrap_or_default()
        .to_string()
}

/// Runs `etcdctl ... -w json`, asserts it succeeded, parses stdout.
pub async fn etcdctl_json(node: &Node, args: &[&str]) -> Value {
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["-w", "json"]);
    let output = etcdctl(node, &all).await;
    assert_output_ok(&all, &output);
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "etcdctl {all:?} printed no JSON ({e}): {}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

pub fn assert_output_ok(args: &[&str], output: &Output) {
    assert!(
        output.status.success(),
        "etcdctl {args:?} failed ({}):\nstdout: {}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

// ---------------------------------------------------------------- JSON

/// The identity fields of a response header, which legitimately differ
/// between servers (and so are checked for consistency, not value).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeaderIds {
    pub cluster_id: u64,
    pub member_id: u64,
    pub raft_term: u64,
}

/// Removes `cluster_id`, `member_id` and `raft_term` from `value["header"]`
/// (asserting they are non-zero) and returns them, so the rest of the JSON
/// can be compared exactly.
pub fn take_header_ids(value: &mut Value) -> HeaderIds {
    let header = value
        .get_mut("header")
        .and_then(Value::as_object_mut)
        .unwrap_or_else(|| panic!("no header object"));
    let mut take = |field: &str| {
        let v = header
            .remove(field)
            .and_then(|v| v.as_u64())
            .unwrap_or_else(|| panic!("header has no numeric {field}"));
        assert_ne!(v, 0, "header {field} is zero");
        v
    };
    HeaderIds {
        cluster_id: take("cluster_id"),
        member_id: take("member_id"),
        raft_term: take("raft_term"),
    }
}

/// Collects the header ids of many responses and checks they agree.
#[derive(Default)]
pub struct IdsSeen(Option<HeaderIds>);

impl IdsSeen {
    /// Strips the ids from `value` and checks them against earlier ones.
    pub fn strip(&mut self, value: &mut Value) {
        let ids = take_header_ids(value);
        match self.0 {
            None => self.0 = Some(ids),
            Some(seen) => assert_eq!(seen, ids, "header ids changed between calls"),
        }
    }

    pub fn get(&self) -> HeaderIds {
        self.0.expect("no header seen yet")
    }
}

/// Standard base64 (with padding), as etcdctl prints bytes in JSON.
pub fn b64(data: impl AsRef<[u8]>) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let data = data.as_ref();
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

// ---------------------------------------------------------------- gRPC

/// The gRPC status of a failed call; panics if the call succeeded or failed
/// with something other than a status.
pub fn grpc_status<T: Debug>(result: Result<T, etcd_client::Error>) -> tonic::Status {
    match result {
        Ok(value) => panic!("expected a gRPC error, got {value:?}"),
        Err(etcd_client::Error::GRpcStatus(status)) => status,
        Err(other) => panic!("expected a gRPC status, got {other:?}"),
    }
}

/// Asserts the call failed with exactly this code and message.
pub fn assert_status<T: Debug>(
    result: Result<T, etcd_client::Error>,
    code: tonic::Code,
    message: &str,
) {
    let status = grpc_status(result);
    assert_eq!(
        (status.code(), status.message()),
        (code, message),
        "unexpected status {status:?}"
    );
}

/// A small deterministic PRNG (xorshift64*) so randomised tests can print
/// and replay their seed.
pub struct Rng(u64);

impl Rng {
    /// Seeded from `ETCD_RS_SEED` if set, else from the clock.
    pub fn from_env() -> Rng {
        let seed = std::env::var("ETCD_RS_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(1)
            });
        eprintln!("random seed: ETCD_RS_SEED={seed}");
        Rng(seed.max(1))
    }

    /// Seeded from the clock and the process id, silently (for choices
    /// that need no reproducing, like ports).
    pub fn from_time() -> Rng {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1);
        Rng((nanos ^ (u64::from(std::process::id()) << 32)).max(1))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform-ish in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo + 1)
    }
}

// ---------------------------------------------------------------- KV values

/// A key-value pair as plain data, so whole results compare with `assert_eq!`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Kv {
    pub key: Vec<u8>,
    pub value: Vec<u8>,
    pub create_revision: i64,
    pub mod_revision: i64,
    pub version: i64,
    pub lease: i64,
}

/// An expected pair without a lease.
pub fn kv(
    key: impl AsRef<[u8]>,
    value: impl AsRef<[u8]>,
    create_revision: i64,
    mod_revision: i64,
    version: i64,
) -> Kv {
    Kv {
        key: key.as_ref().to_vec(),
        value: value.as_ref().to_vec(),
        create_revision,
        mod_revision,
        version,
        lease: 0,
    }
}

impl From<&etcd_client::KeyValue> for Kv {
    fn from(kv: &etcd_client::KeyValue) -> Kv {
        Kv {
            key: kv.key().to_vec(),
            value: kv.value().to_vec(),
            create_revision: kv.create_revision(),
            mod_revision: kv.mod_revision(),
            version: kv.version(),
            lease: kv.lease(),
        }
    }
}

/// Converts a response's key-values to plain data.
pub fn kvs(list: &[etcd_client::KeyValue]) -> Vec<Kv> {
    list.iter().map(Kv::from).collect()
}

/// The keys of a response, as strings, in order.
pub fn keys(list: &[etcd_client::KeyValue]) -> Vec<String> {
    list.iter()
        .map(|kv| String::from_utf8_lossy(kv.key()).into_owned())
        .collect()
}

/// The header revision of any response that has a header.
pub fn rev(header: Option<&etcd_client::ResponseHeader>) -> i64 {
    header.expect("response has a header").revision()
}

/// Polls `check` every 50 ms until it yields a value; panics with `what`
/// once `timeout` has passed. For conditions that take time to become true
/// (expiry, replication), instead of fixed sleeps.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out after {timeout:?}: {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The shortest lease TTL each server grants under this harness: etcd's
/// rule rounds 1.5 election timeouts up to a second. Ours runs with the
/// default 1000 ms (→ 2 s); the reference with 100 ms (→ 1 s).
pub fn min_ttl(target: Target) -> i64 {
    match target {
        Target::EtcdRs => 2,
        Target::Reference => 1,
    }
}

/// Runs a setup script of the suite (`bash SCRIPT ARGS...`: a venv, a
/// download, a Go build) to completion; on failure, what it printed and
/// `hint`, for the test's panic message.
pub fn run_setup_script(
    what: &str,
    script: &Path,
    args: &[&std::ffi::OsStr],
    hint: &str,
) -> Result<(), String> {
    let output = Command::new("bash")
        .arg(script)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("could not run {}: {e}\n{hint}", script.display()))?;
    if !output.status.success() {
        return Err(format!(
            "{what} with {} failed ({}):\n{}{}\n{hint}",
            script.display(),
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr),
        ));
    }
    Ok(())
}
