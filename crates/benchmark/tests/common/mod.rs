//! Helpers shared by the benchmark's end-to-end tests (`put.rs`, `watch.rs`,
//! `lease.rs`): serving a fake on a free loopback port, running the real
//! `etcd-benchmark` binary, and a KV service that only answers Put. The
//! fakes themselves, and what each test checks, stay in the test files.

#![allow(dead_code)]

use etcd_proto::etcdserverpb::kv_server::Kv;
use etcd_proto::etcdserverpb::{
    CompactionRequest, CompactionResponse, DeleteRangeRequest, DeleteRangeResponse, PutRequest,
    PutResponse, RangeRequest, RangeResponse, TxnRequest, TxnResponse,
};
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::transport::server::Router;
use tonic::{Request, Response, Status};

/// Serves `router` (a `Server::builder()` with the fake's services added) on
/// a free loopback port and returns the port.
pub async fn serve(router: Router) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(router.serve_with_incoming(TcpListenerStream::new(listener)));
    port
}

/// Runs the benchmark binary and returns (exit success, stdout, stderr).
pub async fn bench(args: &[&str]) -> (bool, String, String) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_etcd-benchmark"))
        .args(args)
        .output()
        .await
        .unwrap();
    (
        out.status.success(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// A KV service whose Put is the fake's `put`; every other method is
/// unimplemented (the workloads under test only put).
pub trait FakePut: Clone + Send + Sync + 'static {
    fn put(&self, request: PutRequest) -> Result<PutResponse, Status>;
}

/// Adapts a [`FakePut`] to the generated `Kv` service trait.
#[derive(Clone)]
pub struct PutOnly<F>(pub F);

#[tonic::async_trait]
impl<F: FakePut> Kv for PutOnly<F> {
    async fn range(&self, _: Request<RangeRequest>) -> Result<Response<RangeResponse>, Status> {
        Err(Status::unimplemented("range"))
    }

    async fn put(&self, request: Request<PutRequest>) -> Result<Response<PutResponse>, Status> {
        self.0.put(request.into_inner()).map(Response::new)
    }

    async fn delete_range(
        &self,
        _: Request<DeleteRangeRequest>,
    ) -> Result<Response<DeleteRangeResponse>, Status> {
        Err(Status::unimplemented("delete_range"))
    }

    async fn txn(&self, _: Request<TxnRequest>) -> Result<Response<TxnResponse>, Status> {
        Err(Status::unimplemented("txn"))
    }

    async fn compact(
        &self,
        _: Request<CompactionRequest>,
    ) -> Result<Response<CompactionResponse>, Status> {
        Err(Status::unimplemented("compact"))
    }
}
