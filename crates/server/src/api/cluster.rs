//! The Cluster service (`etcdserverpb.Cluster`): MemberAdd, MemberRemove,
//! MemberUpdate, MemberPromote and MemberList, with etcd's answers and
//! errors.
//!
//! This file turns requests into [`MemberChange`]s (deriving a new member's
//! id as etcd does) and answers; [`EtcdServer::member_change`] makes them
//! (the checks and the Raft side, including handing a change to the
//! leader, are `etcd_raft::membership`'s). MemberList
//! is served from the membership this member knows to be committed (etcd
//! answers from the one it applied, not one still being replicated): a
//! member that was added but has not started yet shows with no name and no
//! client URLs, as in etcd.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use etcd_proto::etcdserverpb::cluster_server::Cluster;
use etcd_proto::etcdserverpb::{
    Member, MemberAddRequest, MemberAddResponse, MemberListRequest, MemberListResponse,
    MemberPromoteRequest, MemberPromoteResponse, MemberRemoveRequest, MemberRemoveResponse,
    MemberUpdateRequest, MemberUpdateResponse,
};
use etcd_raft::membership::{MemberChange, MemberInfo};
use tonic::{Request, Response, Status};

use etcd_proto::raftpb::Caller;

use crate::config::Url;
use crate::errors::EtcdError;
use crate::ids;
use crate::server::EtcdServer;

pub struct ClusterService {
    server: Arc<EtcdServer>,
}

impl ClusterService {
    pub fn new(server: Arc<EtcdServer>) -> ClusterService {
        ClusterService { server }
    }

    /// Makes `change` for `caller`; the members after it.
    async fn change(&self, caller: &Caller, change: MemberChange) -> Result<Vec<Member>, Status> {
        Ok(to_proto(self.server.member_change(caller, change).await?))
    }
}

fn to_proto(members: Vec<MemberInfo>) -> Vec<Member> {
    members.into_iter().map(member_to_proto).collect()
}

fn member_to_proto(m: MemberInfo) -> Member {
    Member {
        id: m.id,
        name: m.node.name,
        peer_ur_ls: m.node.peer_urls,
        client_ur_ls: m.node.client_urls,
        is_learner: m.is_learner,
    }
}

/// Peer URLs as etcd's `types.NewURLs` accepts them: at least one, each
/// `scheme://host:port` without a path; sorted.
fn peer_urls(raw: &[String]) -> Result<Vec<String>, EtcdError> {
    if raw.is_empty() {
        return Err(EtcdError::MemberBadUrls);
    }
    let mut urls = raw
        .iter()
        .map(|u| Url::parse(u).map(|u| u.to_string()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| EtcdError::MemberBadUrls)?;
    urls.sort();
    Ok(urls)
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

#[tonic::async_trait]
impl Cluster for ClusterService {
    async fn member_add(
        &self,
        request: Request<MemberAddRequest>,
    ) -> Result<Response<MemberAddResponse>, Status> {
        let caller = self.server.caller(&request).await?;
        let request = request.into_inner();
        let urls = peer_urls(&request.peer_ur_ls)?;
        let id = ids::added_member_id(&urls, unix_now());
        let members = self
            .change(
                &caller,
                MemberChange::Add {
                    id,
                    peer_urls: urls.clone(),
                    is_learner: request.is_learner,
                },
            )
            .await?;
        Ok(Response::new(MemberAddResponse {
            header: Some(self.server.header(0)),
            member: Some(Member {
                id,
                name: String::new(),
                peer_ur_ls: urls,
                client_ur_ls: Vec::new(),
                is_learner: request.is_learner,
            }),
            members,
        }))
    }

    async fn member_remove(
        &self,
        request: Request<MemberRemoveRequest>,
    ) -> Result<Response<MemberRemoveResponse>, Status> {
        let caller = self.server.caller(&request).await?;
        let id = request.into_inner().id;
        let members = self.change(&caller, MemberChange::Remove { id }).await?;
        Ok(Response::new(MemberRemoveResponse {
            header: Some(self.server.header(0)),
            members,
        }))
    }

    async fn member_update(
        &self,
        request: Request<MemberUpdateRequest>,
    ) -> Result<Response<MemberUpdateResponse>, Status> {
        let caller = self.server.caller(&request).await?;
        let request = request.into_inner();
        // etcd takes the URLs as given here; it validates only on MemberAdd.
        let update = MemberChange::Update {
            id: request.id,
            peer_urls: request.peer_ur_ls,
        };
        let members = self.change(&caller, update).await?;
        Ok(Response::new(MemberUpdateResponse {
            header: Some(self.server.header(0)),
            members,
        }))
    }

    async fn member_list(
        &self,
        request: Request<MemberListRequest>,
    ) -> Result<Response<MemberListResponse>, Status> {
        let members = self
            .server
            .member_list(request.into_inner().linearizable)
            .await?;
        // etcd leaves the revision out of membership responses.
        Ok(Response::new(MemberListResponse {
            header: Some(self.server.header(0)),
            members: to_proto(members),
        }))
    }

    async fn member_promote(
        &self,
        request: Request<MemberPromoteRequest>,
    ) -> Result<Response<MemberPromoteResponse>, Status> {
        let caller = self.server.caller(&request).await?;
        let id = request.into_inner().id;
        let members = self.change(&caller, MemberChange::Promote { id }).await?;
        Ok(Response::new(MemberPromoteResponse {
            header: Some(self.server.header(0)),
            members,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_urls_are_checked_and_sorted() {
        let urls = peer_urls(&["http://b:2380".into(), "http://a:2380".into()]).unwrap();
        assert_eq!(urls, ["http://a:2380", "http://b:2380"]);
        assert_eq!(peer_urls(&[]), Err(EtcdError::MemberBadUrls));
        assert_eq!(
            peer_urls(&["localhost:2380".into()]),
            Err(EtcdError::MemberBadUrls)
        );
        assert_eq!(
            peer_urls(&["http://a:2380/path".into()]),
            Err(EtcdError::MemberBadUrls)
        );
    }
}
