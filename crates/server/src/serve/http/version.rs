//! `/version`: the server's and the cluster's versions as JSON, in etcd's
//! field order and without a trailing newline, e.g.
//! `{"etcdserver":"3.5.0","etcdcluster":"3.5.0"}`.

use serde::Serialize;
use tonic::body::Body;
use tonic::codegen::http::Response;

use crate::{CLUSTER_VERSION, VERSION};

#[derive(Serialize)]
struct Versions {
    etcdserver: &'static str,
    etcdcluster: String,
}

pub(super) fn version() -> Response<Body> {
    let versions = Versions {
        etcdserver: VERSION,
        // etcd keeps the cluster version as major.minor and prints it as a
        // semantic version with patch 0. It is decided before a member
        // serves, so etcd's "not_decided" never shows here.
        etcdcluster: format!("{CLUSTER_VERSION}.0"),
    };
    let body = serde_json::to_vec(&versions).unwrap_or_default();
    super::ok("application/json", body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn versions_in_etcds_shape() {
        let response = version();
        assert_eq!(response.headers()["content-type"], "application/json");
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(
            &body[..],
            br#"{"etcdserver":"3.5.0","etcdcluster":"3.5.0"}"#
        );
    }
}
