//! Starting and stopping a member, in etcd's order and with etcd's milestone
//! log lines: bind listeners → open the backend → establish identity → start
//! Raft → wait for a leader and catch up → publish this member's attributes
//! through Raft → serve → on SIGTERM/SIGINT stop accepting, finish in-flight
//! requests, stop Raft, sync the backend.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use etcd_raft::membership::MembershipOptions;
use etcd_raft::{CommitObserver, InstallObserver, MemberNode, NodeOptions, ProposeError, RaftNode};
use etcd_storage::{Backend, Committed, ReadTxn};
use tokio::sync::watch;

use crate::api::watch::{WatchConfig, WatchService};
use crate::auth::Authenticator;
use crate::config::{Config, ConfigError};
use crate::lease::{self, Lessor, LessorConfig};
use crate::member::{self, Bootstrap};
use crate::serve::{self, security::TlsOptions, Security};
use crate::server::{EtcdServer, Limits};
use crate::watch::{Hub, HubConfig};
use crate::{CLUSTER_VERSION, VERSION};

/// How long in-flight requests may run on after a shutdown signal.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// How long a stopping leader may spend recording its leases' remaining TTLs.
const LEASE_CHECKPOINT_GRACE: Duration = Duration::from_secs(3);
/// How often a member waiting for a leader says so.
const LEADER_WAIT_WARN_EVERY: Duration = Duration::from_secs(5);
/// Between tries to publish this member's attributes.
const PUBLISH_RETRY_PAUSE: Duration = Duration::from_millis(500);

/// Everything `run` needs, in plain form; built from the parsed configuration.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub name: String,
    pub data_dir: PathBuf,
    pub wal_dir: PathBuf,
    pub listen_client_urls: Vec<String>,
    /// `--listen-client-http-urls`: when given, HTTP is served there only
    /// and the client URLs serve gRPC only.
    pub listen_client_http_urls: Vec<String>,
    pub listen_peer_urls: Vec<String>,
    pub advertise_client_urls: Vec<String>,
    pub initial_advertise_peer_urls: Vec<String>,
    /// `--initial-cluster` as (name, peer URL) pairs.
    pub initial_cluster: Vec<(String, String)>,
    pub initial_cluster_token: String,
    /// `--initial-cluster-state existing`: join a running cluster instead of
    /// bootstrapping one.
    pub join_existing: bool,
    /// `--strict-reconfig-check`.
    pub strict_reconfig_check: bool,
    pub heartbeat_interval: Duration,
    pub election_timeout: Duration,
    pub snapshot_count: u64,
    pub max_request_bytes: usize,
    pub max_txn_ops: usize,
    /// `--quota-backend-bytes` as given (0: etcd's default, negative: off).
    pub quota_backend_bytes: i64,
    pub http2: serve::Http2Settings,
    /// `--enable-grpc-gateway`: the JSON gateway on the client port.
    pub grpc_gateway: bool,
    /// Client and peer TLS (`--cert-file`, `--peer-cert-file`, ...).
    pub tls: TlsOptions,
    pub auto_compaction: crate::config::AutoCompaction,
    /// `--bcrypt-cost`.
    pub bcrypt_cost: u32,
    /// `--auth-token`: `simple`, or `jwt` with its options.
    pub auth_token: String,
    /// `--auth-token-ttl`: how long an unused simple token lives.
    pub auth_token_ttl: Duration,
    /// `--experimental-watch-progress-notify-interval` (0: etcd's default).
    pub watch_progress_notify_interval: Duration,
    /// The gates `--feature-gates` set, as etcd 3.6 logs them at start.
    pub feature_gates: String,
    /// `--listen-metrics-urls`: extra listeners serving `/metrics` and
    /// `/health` only.
    pub listen_metrics_urls: Vec<String>,
    /// `--metrics`.
    pub metrics: crate::metrics::Detail,
}

impl ServeOptions {
    /// Takes what `run` needs from the parsed flags.
    pub fn from_config(cfg: &Config) -> Result<ServeOptions, ConfigError> {
        let urls =
            |list: &[crate::config::Url]| list.iter().map(ToString::to_string).collect::<Vec<_>>();
        let mut initial_cluster = Vec::new();
        for (name, peer_urls) in cfg.initial_cluster_members()? {
            for url in peer_urls {
                initial_cluster.push((name.clone(), url.to_string()));
            }
        }
        Ok(ServeOptions {
            name: cfg.name.clone(),
            data_dir: cfg.data_dir(),
            wal_dir: cfg.wal_dir(),
            listen_client_urls: urls(&cfg.listen_client_urls),
            listen_client_http_urls: urls(&cfg.listen_client_http_urls),
            listen_peer_urls: urls(&cfg.listen_peer_urls),
            advertise_client_urls: urls(&cfg.advertise_client_urls),
            initial_advertise_peer_urls: urls(&cfg.initial_advertise_peer_urls),
            initial_cluster,
            initial_cluster_token: cfg.initial_cluster_token.clone(),
            join_existing: cfg.initial_cluster_state == crate::config::ClusterState::Existing,
            strict_reconfig_check: cfg.strict_reconfig_check,
            heartbeat_interval: cfg.heartbeat_interval(),
            election_timeout: cfg.election_timeout(),
            snapshot_count: cfg.snapshot_count,
            max_request_bytes: cfg.max_request_bytes as usize,
            max_txn_ops: cfg.max_txn_ops as usize,
            quota_backend_bytes: cfg.quota_backend_bytes,
            tls: tls_options(cfg),
            http2: serve::Http2Settings {
                max_concurrent_streams: Some(cfg.max_concurrent_streams),
                keepalive_interval: cfg.grpc_keepalive_interval,
                keepalive_timeout: cfg.grpc_keepalive_timeout,
            },
            auto_compaction: cfg.auto_compaction(),
            watch_progress_notify_interval: cfg.experimental_watch_progress_notify_interval,
            feature_gates: cfg.feature_gates.to_string(),
            bcrypt_cost: cfg.bcrypt_cost as u32,
            auth_token: cfg.auth_token.clone(),
            auth_token_ttl: Duration::from_secs(cfg.auth_token_ttl),
            grpc_gateway: cfg.enable_grpc_gateway,
            listen_metrics_urls: urls(&cfg.listen_metrics_urls),
            metrics: crate::metrics::Detail::parse(&cfg.metrics),
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Listen(#[from] etcd_transport::ListenError),
    #[error("failed to create token provider: {0}")]
    TokenProvider(crate::auth::jwt::JwtError),
    #[error(transparent)]
    Tls(#[from] etcd_transport::TlsError),
    #[error("cannot create data dir {path}: {source}")]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot open backend {path}: {source}")]
    Backend {
        path: PathBuf,
        source: etcd_storage::StorageError,
    },
    #[error(transparent)]
    Identity(#[from] member::IdentityError),
    #[error(transparent)]
    Join(#[from] crate::join::JoinError),
    #[error(transparent)]
    Raft(#[from] etcd_raft::StartError),
    #[error("member did not become ready: {0}")]
    NotReady(String),
    #[error("raft stopped: {0}")]
    Fatal(String),
}

/// Runs a member until `shutdown` resolves (a signal, in the binary).
pub async fn run(
    opts: ServeOptions,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), RunError> {
    // The first poll of `shutdown` installs the binary's signal handlers;
    // until then SIGTERM would kill the process before anything is synced.
    let mut shutdown = std::pin::pin!(shutdown);
    if futures::FutureExt::now_or_never(shutdown.as_mut()).is_some() {
        return Ok(());
    }
    let member_dir = opts.data_dir.join("member");
    let snap_dir = member_dir.join("snap");
    let db_path = snap_dir.join("db");
    tracing::info!(
        "etcd-version" = VERSION,
        name = %opts.name,
        "data-dir" = %opts.data_dir.display(),
        "member-dir" = %member_dir.display(),
        "wal-dir" = %opts.wal_dir.display(),
        "heartbeat-interval" = ?opts.heartbeat_interval,
        "election-timeout" = ?opts.election_timeout,
        "snapshot-count" = opts.snapshot_count,
        "max-request-bytes" = opts.max_request_bytes,
        "listen-client-urls" = ?opts.listen_client_urls,
        "advertise-client-urls" = ?opts.advertise_client_urls,
        "initial-cluster" = ?opts.initial_cluster,
        "feature-gates" = %opts.feature_gates,
        "starting an etcd server"
    );

    tracing::info!("listen-peer-urls" = ?opts.listen_peer_urls, "configuring peer listeners");
    let all_client_urls: Vec<String> = opts
        .listen_client_urls
        .iter()
        .chain(&opts.listen_client_http_urls)
        .cloned()
        .collect();
    let security = Security::prepare(
        &opts.tls,
        &opts.data_dir,
        &all_client_urls,
        &opts.listen_peer_urls,
    )?;
    let peer_listeners = serve::bind(&opts.listen_peer_urls).await?;
    tracing::info!("listen-client-urls" = ?opts.listen_client_urls, "configuring client listeners");
    let listeners = serve::bind(&opts.listen_client_urls).await?;
    let http_listeners = serve::bind(&opts.listen_client_http_urls).await?;
    if !opts.listen_metrics_urls.is_empty() {
        tracing::info!("listen-metrics-urls" = ?opts.listen_metrics_urls, "configuring metrics listeners");
    }
    let metrics_listeners = serve::bind(&opts.listen_metrics_urls).await?;
    // Advertise what was actually bound where the flag asked for port 0.
    let bound: Vec<String> = listeners
        .iter()
        .filter(|l| l.local_addr().is_some())
        .map(|l| l.bound_url())
        .collect();
    let client_urls = resolve_port_zero(&opts.advertise_client_urls, &bound);

    std::fs::create_dir_all(&snap_dir).map_err(|source| RunError::DataDir {
        path: snap_dir.clone(),
        source,
    })?;
    let backend = Arc::new(Backend::open(&db_path).map_err(|source| RunError::Backend {
        path: db_path.clone(),
        source,
    })?);
    tracing::info!(path = %db_path.display(), "opened backend db");
    etcd_storage::metrics::observe(&backend);

    let bootstrap = Bootstrap {
        name: &opts.name,
        initial_cluster: &opts.initial_cluster,
        initial_advertise_peer_urls: &opts.initial_advertise_peer_urls,
        initial_cluster_token: &opts.initial_cluster_token,
    };
    let identity = if opts.join_existing {
        crate::join::load_or_join(&backend, &bootstrap, &security.dialer).await?
    } else {
        member::load_or_bootstrap(&backend, &bootstrap)?
    };
    if identity.is_new {
        tracing::info!(
            "local-member-id" = %format!("{:x}", identity.member_id),
            "cluster-id" = %format!("{:x}", identity.cluster_id),
            "starting local member"
        );
    } else {
        tracing::info!(
            "local-member-id" = %format!("{:x}", identity.member_id),
            "cluster-id" = %format!("{:x}", identity.cluster_id),
            "restarting local member"
        );
    }

    // etcd's request timeout: 5 s plus two election timeouts.
    let request_timeout = Duration::from_secs(5) + 2 * opts.election_timeout;
    let lessor = Lessor::new(
        LessorConfig::new(
            identity.member_id,
            opts.heartbeat_interval,
            opts.election_timeout,
            request_timeout,
        ),
        &backend,
    )
    .map_err(|source| RunError::Backend {
        path: db_path.clone(),
        source,
    })?;
    // Watchers start at the backend's revision; every later batch reaches
    // them through the observer.
    let hub =
        Hub::new(backend.clone(), HubConfig::default()).map_err(|source| RunError::Backend {
            path: db_path.clone(),
            source,
        })?;
    let authn = Arc::new(
        Authenticator::new(
            &opts.auth_token,
            opts.auth_token_ttl,
            opts.tls.client.client_cert_auth,
            opts.bcrypt_cost,
        )
        .map_err(RunError::TokenProvider)?,
    );
    // Told about every applied batch, on the apply thread; must not block.
    let on_commit: CommitObserver = {
        let lessor = lessor.clone();
        let hub = hub.clone();
        let authn = authn.clone();
        Arc::new(move |committed: &Committed| {
            hub.publish(committed);
            lessor.on_commit(committed);
            authn.on_commit(committed);
        })
    };

    // Told when a snapshot from the leader replaced the whole store.
    let on_install: InstallObserver = {
        let lessor = lessor.clone();
        let hub = hub.clone();
        Arc::new(move |installed: &ReadTxn| {
            match installed.current_revision() {
                Ok(revision) => hub.on_install(revision),
                Err(e) => {
                    tracing::error!(error = %e, "watchers cannot follow an installed snapshot")
                }
            }
            match installed.leases() {
                Ok(leases) => lessor.on_install(&leases),
                Err(e) => tracing::error!(error = %e, "leases cannot follow an installed snapshot"),
            }
        })
    };

    let local = MemberNode {
        name: opts.name.clone(),
        peer_urls: opts.initial_advertise_peer_urls.clone(),
        client_urls,
        voter_pending: false,
    };
    let mut initial_members = identity.initial_members.clone();
    // Every member of a new multi-member cluster must bootstrap with the same
    // membership, so only a lone member can put its client URLs in it; the
    // others publish theirs through Raft once ready.
    if initial_members.len() == 1 {
        if let Some(me) = initial_members.get_mut(&identity.member_id) {
            me.client_urls = local.client_urls.clone();
        }
    }
    let node = RaftNode::start(
        NodeOptions {
            member_id: identity.member_id,
            initial_members,
            wal_dir: opts.wal_dir.clone(),
            snap_dir,
            heartbeat_interval: opts.heartbeat_interval,
            election_timeout: opts.election_timeout,
            snapshot_count: opts.snapshot_count,
            request_timeout,
            on_commit: Some(on_commit),
            on_install: Some(on_install),
            membership: MembershipOptions {
                cluster_id: identity.cluster_id,
                strict_reconfig_check: opts.strict_reconfig_check,
            },
            dialer: security.dialer.clone(),
        },
        backend,
    )
    .await?;

    // Peers must reach this member's Raft before it can elect or follow.
    // Lease calls from followers are answered once this member serves.
    let lease_peer = lease::forward::LeasePeerService::new();
    let peer_handles = serve::serve_peers(
        node.peer_service(),
        lease_peer.clone(),
        peer_listeners,
        security.peer.clone(),
    );
    // Watches for this member's removal from the start: a member removed
    // while it was down learns of it from its peers, before or after it
    // serves.
    let served_before = member::has_served(node.backend())?;
    let mut removal = {
        let membership = node.membership().clone();
        let poll_every = opts.election_timeout * 3;
        tokio::spawn(async move { membership.removed(poll_every, served_before).await })
    };

    // A member serves once it knows a leader and has applied what was
    // committed; in a one-member cluster this takes one election. Like
    // etcd, a member without a quorum waits for one for as long as it
    // takes, saying so now and then; a signal still stops it.
    let ready = async {
        loop {
            match node.wait_ready(LEADER_WAIT_WARN_EVERY).await {
                Ok(()) => return Ok(()),
                Err(ProposeError::NoLeader) => tracing::warn!(
                    "local-member-id" = %format!("{:x}", identity.member_id),
                    "waiting for a leader; the cluster has no quorum yet"
                ),
                Err(e) => return Err(e),
            }
        }
    };
    tokio::select! {
        ready = ready => ready.map_err(|e| RunError::NotReady(e.to_string()))?,
        _ = &mut shutdown => {
            stop_before_serving(&node, peer_handles).await;
            return Ok(());
        }
        _ = &mut removal => {
            log_removed(identity.member_id);
            stop_before_serving(&node, peer_handles).await;
            return Ok(());
        }
    }
    // Like etcd, clients are served only once this member's attributes
    // (its client URLs) are in the membership; a follower has the leader
    // record them. Each try is bounded by the request timeout; a signal
    // still stops the member while it retries.
    loop {
        tokio::select! {
            published = node.publish_local(local.clone()) => match published {
                Ok(()) => break,
                // The leader no longer has this member: it was removed
                // while it started, and must not come back.
                Err(ProposeError::Removed) => {
                    log_removed(identity.member_id);
                    stop_before_serving(&node, peer_handles).await;
                    return Ok(());
                }
                Err(e) => {
                    tracing::warn!(
                        "local-member-id" = %format!("{:x}", identity.member_id),
                        "request-timeout" = ?request_timeout,
                        error = %e,
                        "failed to publish local member to cluster through raft"
                    );
                    tokio::time::sleep(PUBLISH_RETRY_PAUSE).await;
                }
            },
            _ = &mut shutdown => {
                stop_before_serving(&node, peer_handles).await;
                return Ok(());
            }
            _ = &mut removal => {
                log_removed(identity.member_id);
                stop_before_serving(&node, peer_handles).await;
                return Ok(());
            }
        }
    }
    tracing::info!(
        "local-member-id" = %format!("{:x}", identity.member_id),
        "local-member-attributes" = %format!("{{Name:{} ClientURLs:{:?}}}", local.name, local.client_urls),
        "cluster-id" = %format!("{:x}", identity.cluster_id),
        "published local member to cluster through raft"
    );
    // From now on a membership without this member means it was removed.
    member::mark_served(node.backend())?;
    tracing::info!(
        "cluster-version" = CLUSTER_VERSION,
        "enabled capabilities for version"
    );

    let server = EtcdServer::new(
        node,
        identity.cluster_id,
        Limits {
            max_request_bytes: opts.max_request_bytes,
            max_txn_ops: opts.max_txn_ops,
            request_timeout,
            quota_backend_bytes: crate::server::quota_bytes(opts.quota_backend_bytes),
        },
        authn,
    );
    // Start the leases' clocks (this member leads once ready) before any
    // client can grant or renew.
    if let Err(e) = lessor.follow_role(&server).await {
        tracing::warn!(error = %e, "lessor could not follow the raft role yet");
    }
    lease_peer.ready(server.clone(), lessor.clone());
    crate::metrics::init(&crate::metrics::Member {
        member_id: identity.member_id,
        // The quota in force; a disabled one as given (negative), as etcd.
        quota_backend_bytes: server
            .limits()
            .quota_backend_bytes
            .map_or(opts.quota_backend_bytes, |q| {
                i64::try_from(q).unwrap_or(i64::MAX)
            }),
        server_version: VERSION,
        cluster_version: CLUSTER_VERSION,
    });
    crate::metrics::watch::observe(&hub);
    let (stop_tx, stop_rx) = watch::channel(false);
    let watch_service = Arc::new(WatchService::new(
        server.clone(),
        hub.clone(),
        WatchConfig::new(opts.watch_progress_notify_interval, opts.election_timeout),
        stop_rx.clone(),
    ));
    let catch_up = tokio::spawn(crate::watch::catch_up::run(hub.clone()));
    let handles = serve::serve(
        serve::client::ClientPort {
            server: server.clone(),
            lessor: lessor.clone(),
            watch_service,
            hub,
            http2: opts.http2,
            tls: security.client.clone(),
            gateway: opts.grpc_gateway,
            metrics: opts.metrics,
        },
        listeners,
        http_listeners,
        stop_rx.clone(),
    )
    .await;
    let mut handles = handles;
    handles.extend(serve::metrics_port::serve(
        server.clone(),
        metrics_listeners,
        security.client.clone(),
        stop_rx,
    ));
    tracing::info!("ready to serve client requests");
    crate::systemd::notify_ready();
    let lessor_loop = lease::expiry::spawn(lessor.clone(), server.clone());
    let compactor = tokio::spawn(crate::compactor::run(server.clone(), opts.auto_compaction));

    let failure = tokio::select! {
        _ = &mut shutdown => None,
        reason = server.node().fatal() => Some(reason),
        _ = &mut removal => {
            log_removed(identity.member_id);
            // Like etcd, stop ten heartbeats later: the change reaches the
            // others, and a removed leader hands over.
            tokio::time::sleep(opts.heartbeat_interval * 10).await;
            None
        }
    };
    if let Some(reason) = &failure {
        tracing::error!(error = %reason, "raft stopped on a fatal error; shutting down");
    }
    tracing::info!("closing etcd server");
    let _ = stop_tx.send(true);
    compactor.abort();
    catch_up.abort();
    // In-flight requests get a grace period; streams that never end (health
    // watches) must not hold the shutdown forever.
    for mut handle in handles {
        match tokio::time::timeout(SHUTDOWN_GRACE, &mut handle).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => tracing::warn!(error = %e, "client listener stopped with an error"),
            Ok(Err(e)) => tracing::warn!(error = %e, "client listener task failed"),
            Err(_) => {
                tracing::warn!(
                    "client connections still open after the grace period; no longer waiting for them"
                );
                handle.abort();
            }
        }
    }
    // No request renews a lease any more: a leader records where each lease
    // stands, so the restart resumes them there.
    lessor_loop.abort();
    if failure.is_none()
        && tokio::time::timeout(
            LEASE_CHECKPOINT_GRACE,
            lease::expiry::checkpoint_all(&lessor, &server),
        )
        .await
        .is_err()
    {
        tracing::warn!("lease checkpoints at shutdown timed out");
    }
    if failure.is_none() {
        server.node().transfer_leadership_on_stop().await;
    }
    server.node().shutdown().await;
    for handle in peer_handles {
        handle.abort();
    }
    tracing::info!(name = %opts.name, "data-dir" = %opts.data_dir.display(), "closed etcd server");
    match failure {
        Some(reason) => Err(RunError::Fatal(reason)),
        None => Ok(()),
    }
}

/// etcd's TLS flags as the front door takes them.
fn tls_options(cfg: &Config) -> TlsOptions {
    let info = |tls: &crate::config::TlsConfig, peer: bool| etcd_transport::TlsInfo {
        cert_file: tls.cert_file.clone().unwrap_or_default(),
        key_file: tls.key_file.clone().unwrap_or_default(),
        trusted_ca_file: tls.trusted_ca_file.clone(),
        client_cert_auth: tls.client_cert_auth,
        crl_file: tls.crl_file.clone(),
        allowed_cns: tls.allowed_cns.clone(),
        allowed_hostnames: tls.allowed_hostnames.clone(),
        cipher_suites: cfg.cipher_suites.clone(),
        min_version: cfg.tls_min_version.clone(),
        max_version: cfg.tls_max_version.clone(),
        self_signed: false,
        client_cert_file: tls.client_cert_file.clone(),
        client_key_file: tls.client_key_file.clone(),
        skip_client_san_verify: peer && cfg.experimental_peer_skip_client_san_verification,
    };
    TlsOptions {
        client: info(&cfg.client_tls, false),
        client_auto_tls: cfg.client_tls.auto_tls,
        peer: info(&cfg.peer_tls, true),
        peer_auto_tls: cfg.peer_tls.auto_tls,
        self_signed_validity_years: cfg.self_signed_cert_validity,
    }
}

/// Stops a member that never served clients: Raft stops and the backend is
/// synced, then the peer listeners close.
async fn stop_before_serving(
    node: &RaftNode,
    peer_handles: Vec<tokio::task::JoinHandle<Result<(), tonic::transport::Error>>>,
) {
    tracing::info!("closing etcd server");
    node.shutdown().await;
    for handle in peer_handles {
        handle.abort();
    }
    tracing::info!("closed etcd server");
}

/// etcd's words when a removed member stops.
fn log_removed(member_id: u64) {
    tracing::warn!(
        "local-member-id" = %format!("{member_id:x}"),
        "the member has been permanently removed from the cluster"
    );
    tracing::warn!("data-dir used by this member must be removed");
}

/// Replaces advertised URLs whose port is 0 with the addresses actually bound,
/// so `--advertise-client-urls http://127.0.0.1:0` advertises a usable URL.
fn resolve_port_zero(advertised: &[String], bound: &[String]) -> Vec<String> {
    let mut bound_iter = bound.iter();
    advertised
        .iter()
        .map(|url| {
            if url.trim_end_matches('/').ends_with(":0") {
                bound_iter.next().cloned().unwrap_or_else(|| url.clone())
            } else {
                url.clone()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_zero_is_replaced_by_the_bound_address() {
        let adv = vec![
            "http://127.0.0.1:0".to_string(),
            "http://example:2379".to_string(),
        ];
        let bound = vec!["http://127.0.0.1:41234".to_string()];
        assert_eq!(
            resolve_port_zero(&adv, &bound),
            ["http://127.0.0.1:41234", "http://example:2379"]
        );
    }
}
