//! Who this member is: its id, its cluster's id and the initial members,
//! decided once when the data dir is created and read back on every restart.
//!
//! etcd keeps these in its WAL metadata; we keep them in the backend's meta
//! table, written durably before Raft starts, so a restart with different
//! `--initial-*` flags still resumes as the same member of the same cluster.

use std::collections::BTreeMap;

use etcd_raft::MemberNode;
use etcd_storage::{Backend, StorageError};

use crate::ids;

const META_MEMBER_ID: &str = "cluster/member_id";
const META_CLUSTER_ID: &str = "cluster/cluster_id";
/// The membership a new cluster starts from, kept until Raft holds it: a
/// data dir made by `etcdutl snapshot restore` is started without the
/// `--initial-cluster` flags it was restored with, as etcd allows.
const META_BOOTSTRAP_MEMBERS: &str = "cluster/bootstrap_members";
/// Set once this member has served as a member of its cluster: from then
/// on, a membership without it means it was removed (a member still
/// joining is not in the memberships it replays either).
const META_SERVED: &str = "cluster/served";

/// The identity of this member and, for a new cluster, who is in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub member_id: u64,
    pub cluster_id: u64,
    /// The initial members by id (used only to bootstrap a new cluster).
    pub initial_members: BTreeMap<u64, MemberNode>,
    /// True when this start created the data dir.
    pub is_new: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("couldn't find local name {name:?} in the initial cluster configuration")]
    LocalNameMissing { name: String },
    #[error(
        "--initial-cluster has {name}={url} but --initial-advertise-peer-urls has {advertised:?}"
    )]
    AdvertiseMismatch {
        name: String,
        url: String,
        advertised: Vec<String>,
    },
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("corrupt member metadata in the backend: {0}")]
    Corrupt(String),
}

/// What the flags say about the cluster to bootstrap.
pub struct Bootstrap<'a> {
    pub name: &'a str,
    /// `--initial-cluster`, as (name, peer URL) pairs in the order given.
    pub initial_cluster: &'a [(String, String)],
    pub initial_advertise_peer_urls: &'a [String],
    pub initial_cluster_token: &'a str,
}

/// Whether this data dir already has an identity (the member started before).
pub fn has_identity(backend: &Backend) -> Result<bool, IdentityError> {
    let read = backend.read()?;
    Ok(read.meta(META_MEMBER_ID)?.is_some() && read.meta(META_CLUSTER_ID)?.is_some())
}

/// Whether this member has served as a member before ([`mark_served`]).
pub fn has_served(backend: &Backend) -> Result<bool, IdentityError> {
    Ok(backend.read()?.meta(META_SERVED)?.is_some())
}

/// Records durably that this member serves as a member of its cluster.
pub fn mark_served(backend: &Backend) -> Result<(), IdentityError> {
    if has_served(backend)? {
        return Ok(());
    }
    let mut batch = backend.begin_apply()?;
    batch.set_meta(META_SERVED, &[1])?;
    batch.commit(true)?;
    Ok(())
}

/// Reads the stored identity, or derives it from the flags and stores it.
pub fn load_or_bootstrap(
    backend: &Backend,
    flags: &Bootstrap<'_>,
) -> Result<Identity, IdentityError> {
    let read = backend.read()?;
    if let (Some(member), Some(cluster)) = (read.meta(META_MEMBER_ID)?, read.meta(META_CLUSTER_ID)?)
    {
        let initial_members = match read.meta(META_BOOTSTRAP_MEMBERS)? {
            Some(bytes) => decode_members(&bytes)?,
            None => BTreeMap::new(),
        };
        return Ok(Identity {
            member_id: decode_id(&member)?,
            cluster_id: decode_id(&cluster)?,
            initial_members,
            is_new: false,
        });
    }
    drop(read);

    let identity = derive(flags)?;
    store(backend, &identity)?;
    Ok(identity)
}

/// Writes `identity` (ids and the members to bootstrap with) durably.
pub fn store(backend: &Backend, identity: &Identity) -> Result<(), IdentityError> {
    let mut batch = backend.begin_apply()?;
    batch.set_meta(META_MEMBER_ID, &identity.member_id.to_be_bytes())?;
    batch.set_meta(META_CLUSTER_ID, &identity.cluster_id.to_be_bytes())?;
    batch.set_meta(
        META_BOOTSTRAP_MEMBERS,
        &encode_members(&identity.initial_members),
    )?;
    batch.commit(true)?;
    Ok(())
}

/// One bootstrap member as stored in meta.
#[derive(serde::Serialize, serde::Deserialize)]
struct StoredMember {
    id: u64,
    name: String,
    peer_urls: Vec<String>,
    client_urls: Vec<String>,
}

fn encode_members(members: &BTreeMap<u64, MemberNode>) -> Vec<u8> {
    let list: Vec<StoredMember> = members
        .iter()
        .map(|(id, m)| StoredMember {
            id: *id,
            name: m.name.clone(),
            peer_urls: m.peer_urls.clone(),
            client_urls: m.client_urls.clone(),
        })
        .collect();
    // Serializing plain strings and numbers cannot fail.
    serde_json::to_vec(&list).unwrap_or_default()
}

fn decode_members(bytes: &[u8]) -> Result<BTreeMap<u64, MemberNode>, IdentityError> {
    let list: Vec<StoredMember> = serde_json::from_slice(bytes)
        .map_err(|e| IdentityError::Corrupt(format!("bootstrap members: {e}")))?;
    Ok(list
        .into_iter()
        .map(|m| {
            let node = MemberNode {
                name: m.name,
                peer_urls: m.peer_urls,
                client_urls: m.client_urls,
                voter_pending: false,
            };
            (m.id, node)
        })
        .collect())
}

/// Derives ids from the flags alone, as etcd does for a new cluster.
pub fn derive(flags: &Bootstrap<'_>) -> Result<Identity, IdentityError> {
    let mut by_name: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (name, url) in flags.initial_cluster {
        by_name.entry(name.as_str()).or_default().push(url.clone());
    }
    let Some(local_urls) = by_name.get(flags.name) else {
        return Err(IdentityError::LocalNameMissing {
            name: flags.name.to_string(),
        });
    };
    let mut advertised = flags.initial_advertise_peer_urls.to_vec();
    advertised.sort();
    let mut local_sorted = local_urls.clone();
    local_sorted.sort();
    if advertised != local_sorted {
        return Err(IdentityError::AdvertiseMismatch {
            name: flags.name.to_string(),
            url: local_urls.join(","),
            advertised: flags.initial_advertise_peer_urls.to_vec(),
        });
    }

    let mut initial_members = BTreeMap::new();
    let mut member_id = 0;
    for (name, urls) in &by_name {
        let id = ids::member_id(urls, flags.initial_cluster_token);
        if *name == flags.name {
            member_id = id;
        }
        initial_members.insert(
            id,
            MemberNode {
                name: name.to_string(),
                peer_urls: urls.clone(),
                client_urls: Vec::new(),
                voter_pending: false,
            },
        );
    }
    let all: Vec<u64> = initial_members.keys().copied().collect();
    Ok(Identity {
        member_id,
        cluster_id: ids::cluster_id(&all),
        initial_members,
        is_new: true,
    })
}

fn decode_id(bytes: &[u8]) -> Result<u64, IdentityError> {
    let arr: [u8; 8] = bytes
        .try_into()
        .map_err(|_| IdentityError::Corrupt(format!("id of {} bytes", bytes.len())))?;
    Ok(u64::from_be_bytes(arr))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags<'a>(cluster: &'a [(String, String)], adv: &'a [String]) -> Bootstrap<'a> {
        Bootstrap {
            name: "default",
            initial_cluster: cluster,
            initial_advertise_peer_urls: adv,
            initial_cluster_token: "etcd-cluster",
        }
    }

    #[test]
    fn default_flags_give_etcds_default_ids() {
        let cluster = [("default".to_string(), "http://localhost:2380".to_string())];
        let adv = ["http://localhost:2380".to_string()];
        let id = derive(&flags(&cluster, &adv)).unwrap();
        assert_eq!(format!("{:x}", id.member_id), "8e9e05c52164694d");
        assert_eq!(format!("{:x}", id.cluster_id), "cdf818194e3a8c32");
        assert_eq!(id.initial_members.len(), 1);
    }

    #[test]
    fn local_name_must_be_in_the_initial_cluster() {
        let cluster = [("other".to_string(), "http://localhost:2380".to_string())];
        let adv = ["http://localhost:2380".to_string()];
        assert!(matches!(
            derive(&flags(&cluster, &adv)),
            Err(IdentityError::LocalNameMissing { .. })
        ));
    }

    #[test]
    fn identity_is_stored_and_survives_different_flags() {
        let dir = tempfile::tempdir().unwrap();
        let backend = Backend::open(&dir.path().join("db")).unwrap();
        let cluster = [("default".to_string(), "http://localhost:2380".to_string())];
        let adv = ["http://localhost:2380".to_string()];
        let first = load_or_bootstrap(&backend, &flags(&cluster, &adv)).unwrap();
        assert!(first.is_new);
        let cluster2 = [("default".to_string(), "http://127.0.0.1:9999".to_string())];
        let adv2 = ["http://127.0.0.1:9999".to_string()];
        let again = load_or_bootstrap(&backend, &flags(&cluster2, &adv2)).unwrap();
        assert!(!again.is_new);
        assert_eq!(
            (again.member_id, again.cluster_id),
            (first.member_id, first.cluster_id)
        );
        assert_eq!(again.initial_members, first.initial_members);
    }
}
