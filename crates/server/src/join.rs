//! Joining a running cluster (`--initial-cluster-state existing`), as etcd
//! does it: the member was added first (MemberAdd), so the cluster already
//! knows its peer URLs and has given it an id. On its first start the new
//! member asks the other members listed in `--initial-cluster` for the
//! cluster's members, checks that `--initial-cluster` describes the same
//! members (etcd's ValidateClusterAndAssignIDs), takes its own id from the
//! member whose peer URLs match its own and the cluster id from the answer,
//! and stores both ([`member::store`]) before Raft starts. Raft then starts
//! without bootstrapping anything and waits for the leader's log.
//!
//! A restart finds the stored identity and skips all of this, as etcd skips
//! it when the WAL exists.

use std::collections::BTreeMap;

use etcd_raft::membership::{self, MemberInfo, RemoteCluster};
use etcd_storage::Backend;

use crate::member::{self, Bootstrap, Identity, IdentityError};

#[derive(Debug, thiserror::Error)]
pub enum JoinError {
    #[error("couldn't find local name {0:?} in the initial cluster configuration")]
    LocalNameMissing(String),
    #[error("initial cluster {0} has duplicate url")]
    DuplicateUrl(String),
    #[error("cannot fetch cluster info from peer urls: {0}")]
    Fetch(#[from] membership::FetchError),
    #[error("error validating peerURLs {cluster}: {reason}")]
    Mismatch { cluster: String, reason: String },
    #[error(transparent)]
    Identity(#[from] IdentityError),
}

/// This member's stored identity; on a first start with
/// `--initial-cluster-state existing`, the one the running cluster gave it.
pub async fn load_or_join(
    backend: &Backend,
    flags: &Bootstrap<'_>,
    dialer: &etcd_transport::PeerDialer,
) -> Result<Identity, JoinError> {
    if member::has_identity(backend)? {
        return Ok(member::load_or_bootstrap(backend, flags)?);
    }
    let local = local_cluster(flags)?;
    let remote_urls = remote_peer_urls(&local, flags.name);
    let existing = membership::fetch_cluster(dialer, &remote_urls).await?;
    let member_id = assign_id(&local, &existing, flags.name)?;
    let identity = Identity {
        member_id,
        cluster_id: existing.cluster_id,
        initial_members: BTreeMap::new(),
        is_new: true,
    };
    member::store(backend, &identity)?;
    Ok(identity)
}

/// `--initial-cluster` by name, each member's peer URLs sorted (etcd's
/// VerifyJoinExisting checks).
fn local_cluster(flags: &Bootstrap<'_>) -> Result<BTreeMap<String, Vec<String>>, JoinError> {
    let mut by_name: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, url) in flags.initial_cluster {
        by_name.entry(name.clone()).or_default().push(url.clone());
    }
    if !by_name.contains_key(flags.name) {
        return Err(JoinError::LocalNameMissing(flags.name.to_string()));
    }
    let mut all: Vec<&String> = flags.initial_cluster.iter().map(|(_, u)| u).collect();
    all.sort();
    if all.windows(2).any(|w| w[0] == w[1]) {
        let listed: Vec<String> = flags
            .initial_cluster
            .iter()
            .map(|(n, u)| format!("{n}={u}"))
            .collect();
        return Err(JoinError::DuplicateUrl(listed.join(",")));
    }
    for urls in by_name.values_mut() {
        urls.sort();
    }
    Ok(by_name)
}

/// Where to ask: every other member's peer URLs, sorted.
fn remote_peer_urls(local: &BTreeMap<String, Vec<String>>, name: &str) -> Vec<String> {
    let mut urls: Vec<String> = local
        .iter()
        .filter(|(n, _)| n.as_str() != name)
        .flat_map(|(_, urls)| urls.iter().cloned())
        .collect();
    urls.sort();
    urls
}

/// etcd's ValidateClusterAndAssignIDs: every existing member must match a
/// member of `--initial-cluster` by peer URLs, and the counts must agree;
/// this member's id is the one whose URLs match its own.
fn assign_id(
    local: &BTreeMap<String, Vec<String>>,
    existing: &RemoteCluster,
    name: &str,
) -> Result<u64, JoinError> {
    let mismatch = |reason: String| JoinError::Mismatch {
        cluster: describe(existing),
        reason,
    };
    if existing.members.len() != local.len() {
        return Err(mismatch("member count is unequal".into()));
    }
    let mut ids: BTreeMap<&str, u64> = BTreeMap::new();
    for m in &existing.members {
        let mut urls = m.node.peer_urls.clone();
        urls.sort();
        let Some((local_name, _)) = local.iter().find(|(_, u)| **u == urls) else {
            return Err(mismatch(format!(
                "PeerURLs: no match found for existing member ({:x}, {:?}), last resolver error (<nil>)",
                m.id, m.node.peer_urls
            )));
        };
        ids.insert(local_name.as_str(), m.id);
    }
    ids.get(name).copied().ok_or_else(|| {
        mismatch(format!(
            "PeerURLs: no match found for local member {name:?}"
        ))
    })
}

/// The cluster as etcd prints it in its error.
fn describe(cluster: &RemoteCluster) -> String {
    let members: Vec<String> = cluster.members.iter().map(describe_member).collect();
    format!(
        "{{ClusterID:{:x} Members:[{}] RemovedMemberIDs:[]}}",
        cluster.cluster_id,
        members.join(" ")
    )
}

fn describe_member(m: &MemberInfo) -> String {
    format!(
        "&{{ID:{:x} RaftAttributes:{{PeerURLs:[{}] IsLearner:{}}} Attributes:{{Name:{} ClientURLs:[{}]}}}}",
        m.id,
        m.node.peer_urls.join(" "),
        m.is_learner,
        m.node.name,
        m.node.client_urls.join(" ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use etcd_raft::MemberNode;

    fn flags(cluster: &[(String, String)]) -> Bootstrap<'_> {
        Bootstrap {
            name: "d",
            initial_cluster: cluster,
            initial_advertise_peer_urls: &[],
            initial_cluster_token: "t",
        }
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(n, u)| (n.to_string(), u.to_string()))
            .collect()
    }

    fn existing(urls: &[&str]) -> RemoteCluster {
        RemoteCluster {
            cluster_id: 0xc1,
            members: urls
                .iter()
                .enumerate()
                .map(|(i, u)| MemberInfo {
                    id: 100 + i as u64,
                    node: MemberNode {
                        name: String::new(),
                        peer_urls: vec![u.to_string()],
                        client_urls: Vec::new(),
                        voter_pending: false,
                    },
                    is_learner: false,
                })
                .collect(),
        }
    }

    #[test]
    fn the_new_member_takes_the_id_the_cluster_gave_it() {
        let cluster = pairs(&[
            ("a", "http://a:1"),
            ("b", "http://b:1"),
            ("d", "http://d:1"),
        ]);
        let local = local_cluster(&flags(&cluster)).unwrap();
        assert_eq!(remote_peer_urls(&local, "d"), ["http://a:1", "http://b:1"]);
        let id = assign_id(
            &local,
            &existing(&["http://a:1", "http://d:1", "http://b:1"]),
            "d",
        );
        assert_eq!(id.unwrap(), 101);
    }

    #[test]
    fn a_member_not_added_is_refused_as_etcd_refuses_it() {
        let cluster = pairs(&[
            ("a", "http://a:1"),
            ("b", "http://b:1"),
            ("d", "http://d:1"),
        ]);
        let local = local_cluster(&flags(&cluster)).unwrap();
        let err = assign_id(&local, &existing(&["http://a:1", "http://b:1"]), "d").unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("error validating peerURLs {ClusterID:c1 Members:["));
        assert!(text.ends_with(": member count is unequal"), "{text}");
        let err = assign_id(
            &local,
            &existing(&["http://a:1", "http://b:1", "http://x:1"]),
            "d",
        )
        .unwrap_err();
        assert!(err
            .to_string()
            .contains("PeerURLs: no match found for existing member (66,"));
    }

    #[test]
    fn the_local_name_must_be_listed_and_urls_unique() {
        let cluster = pairs(&[("a", "http://a:1")]);
        assert!(matches!(
            local_cluster(&flags(&cluster)),
            Err(JoinError::LocalNameMissing(_))
        ));
        let cluster = pairs(&[("a", "http://a:1"), ("d", "http://a:1")]);
        assert!(matches!(
            local_cluster(&flags(&cluster)),
            Err(JoinError::DuplicateUrl(_))
        ));
    }
}
