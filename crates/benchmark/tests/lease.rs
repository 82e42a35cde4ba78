//! End to end: the real `etcd-benchmark lease-keepalive` against a fake
//! Lease service on 127.0.0.1:0 that grants leases and answers keepalives.

mod common;

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

use common::{bench, serve};
use etcd_proto::etcdserverpb::lease_server::{Lease, LeaseServer};
use etcd_proto::etcdserverpb::{
    LeaseGrantRequest, LeaseGrantResponse, LeaseKeepAliveRequest, LeaseKeepAliveResponse,
    LeaseLeasesRequest, LeaseLeasesResponse, LeaseRevokeRequest, LeaseRevokeResponse,
    LeaseTimeToLiveRequest, LeaseTimeToLiveResponse,
};
use tokio::sync::mpsc;
use tokio_stream::wrappers::UnboundedReceiverStream;
use tonic::transport::Server;
use tonic::{Request, Response, Status, Streaming};

#[derive(Default, Clone)]
struct FakeLease {
    grants: Arc<AtomicI64>,
    keepalives: Arc<AtomicU64>,
    /// Answer keepalives with TTL 0, as for an expired lease.
    expired: bool,
}

#[tonic::async_trait]
impl Lease for FakeLease {
    async fn lease_grant(
        &self,
        request: Request<LeaseGrantRequest>,
    ) -> Result<Response<LeaseGrantResponse>, Status> {
        let id = self.grants.fetch_add(1, Ordering::SeqCst) + 1;
        Ok(Response::new(LeaseGrantResponse {
            id,
            ttl: request.into_inner().ttl,
            ..LeaseGrantResponse::default()
        }))
    }

    async fn lease_revoke(
        &self,
        _: Request<LeaseRevokeRequest>,
    ) -> Result<Response<LeaseRevokeResponse>, Status> {
        Err(Status::unimplemented("revoke"))
    }

    type LeaseKeepAliveStream = UnboundedReceiverStream<Result<LeaseKeepAliveResponse, Status>>;

    async fn lease_keep_alive(
        &self,
        request: Request<Streaming<LeaseKeepAliveRequest>>,
    ) -> Result<Response<Self::LeaseKeepAliveStream>, Status> {
        let mut inbound = request.into_inner();
        let (tx, rx) = mpsc::unbounded_channel();
        let fake = self.clone();
        tokio::spawn(async move {
            while let Ok(Some(req)) = inbound.message().await {
                fake.keepalives.fetch_add(1, Ordering::SeqCst);
                let ttl = if fake.expired { 0 } else { 100 };
                let _ = tx.send(Ok(LeaseKeepAliveResponse {
                    id: req.id,
                    ttl,
                    ..LeaseKeepAliveResponse::default()
                }));
            }
        });
        Ok(Response::new(UnboundedReceiverStream::new(rx)))
    }

    async fn lease_time_to_live(
        &self,
        _: Request<LeaseTimeToLiveRequest>,
    ) -> Result<Response<LeaseTimeToLiveResponse>, Status> {
        Err(Status::unimplemented("ttl"))
    }

    async fn lease_leases(
        &self,
        _: Request<LeaseLeasesRequest>,
    ) -> Result<Response<LeaseLeasesResponse>, Status> {
        Err(Status::unimplemented("leases"))
    }
}

async fn serve_fake(fake: FakeLease) -> u16 {
    serve(Server::builder().add_service(LeaseServer::new(fake))).await
}

#[tokio::test]
async fn each_client_grants_once_then_keeps_alive() {
    let fake = FakeLease::default();
    let port = serve_fake(fake.clone()).await;
    let endpoint = format!("--endpoints=127.0.0.1:{port}");
    let (ok, stdout, stderr) = bench(&[
        &endpoint,
        "--conns=2",
        "--clients=3",
        "--json",
        "lease-keepalive",
        "--total=20",
    ])
    .await;
    assert!(ok, "stderr: {stderr}");
    let doc: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(doc["workload"], "lease-keepalive");
    assert_eq!(doc["params"]["lease_ttl"], 100);
    assert_eq!(doc["report"]["requests"], 20);
    assert_eq!(doc["report"]["failures"], 0);
    assert_eq!(fake.grants.load(Ordering::SeqCst), 3);
    // One keepalive per client proves its stream before the run.
    assert_eq!(fake.keepalives.load(Ordering::SeqCst), 23);
}

#[tokio::test]
async fn an_expired_lease_stops_the_run_with_etcds_error() {
    let port = serve_fake(FakeLease {
        expired: true,
        ..FakeLease::default()
    })
    .await;
    let endpoint = format!("--endpoints=127.0.0.1:{port}");
    let (ok, _, stderr) = bench(&[&endpoint, "lease-keepalive", "--total=5"]).await;
    assert!(!ok);
    assert_eq!(
        stderr,
        "etcd-benchmark: opening a keepalive stream: rpc error: code = NotFound desc = etcdserver: requested lease not found\n"
    );
}
