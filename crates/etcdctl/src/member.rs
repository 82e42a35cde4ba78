//! `member list`: the Cluster service's MemberList (linearizable, as etcd
//! 3.5's client asks for it), printed as etcdctl does. `endpoint --cluster`
//! uses [`fetch`] for the members' client URLs.

use etcd_proto::etcdserverpb::cluster_client::ClusterClient;
use etcd_proto::etcdserverpb::{MemberListRequest, MemberListResponse};

use crate::cli::Global;
use crate::connect::{connect, failed, within, Settings};
use crate::output::{header_json, table, Format, Obj};
use crate::{CtlError, Exit};

/// The member list from any of the endpoints, within the command timeout.
pub async fn fetch(settings: &Settings) -> Result<MemberListResponse, CtlError> {
    within(settings.command_timeout, async {
        let conn = connect(settings, &settings.endpoints).await?;
        ClusterClient::new(conn)
            .member_list(MemberListRequest { linearizable: true })
            .await
            .map_err(failed)
    })
    .await
    .map(tonic::Response::into_inner)
}

pub async fn list(global: &Global) -> Result<Exit, CtlError> {
    let format = global.format()?;
    let response = fetch(&global.settings).await?;
    print!("{}", print_list(&response, format));
    Ok(0)
}

/// ID, Status, Name, Peer Addrs, Client Addrs, Is Learner; a member that
/// has not published its name yet has not started.
fn rows(response: &MemberListResponse) -> Vec<Vec<String>> {
    response
        .members
        .iter()
        .map(|m| {
            let status = if m.name.is_empty() {
                "unstarted"
            } else {
                "started"
            };
            vec![
                format!("{:x}", m.id),
                status.to_string(),
                m.name.clone(),
                m.peer_ur_ls.join(","),
                m.client_ur_ls.join(","),
                m.is_learner.to_string(),
            ]
        })
        .collect()
}

pub fn print_list(response: &MemberListResponse, format: Format) -> String {
    match format {
        Format::Simple => rows(response)
            .into_iter()
            .map(|row| row.join(", ") + "\n")
            .collect(),
        Format::Table => table(
            &[
                "ID",
                "Status",
                "Name",
                "Peer Addrs",
                "Client Addrs",
                "Is Learner",
            ],
            &rows(response),
        ),
        Format::Json => {
            let members = response
                .members
                .iter()
                .map(|m| {
                    Obj::new()
                        .num("ID", m.id)
                        .string("name", &m.name, false)
                        .strings("peerURLs", &m.peer_ur_ls)
                        .strings("clientURLs", &m.client_ur_ls)
                        .boolean("isLearner", m.is_learner, false)
                        .end()
                })
                .collect();
            Obj::new()
                .raw("header", header_json(response.header.as_ref()))
                .list("members", members)
                .end()
                + "\n"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use etcd_proto::etcdserverpb::{Member, ResponseHeader};

    #[test]
    fn members_print_as_etcdctl() {
        let response = MemberListResponse {
            header: Some(ResponseHeader {
                cluster_id: 15118495548433857066,
                member_id: 13668033151171901709,
                revision: 0,
                raft_term: 2,
            }),
            members: vec![
                Member {
                    id: 13668033151171901709,
                    name: "default".into(),
                    peer_ur_ls: vec!["http://127.0.0.1:23801".into()],
                    client_ur_ls: vec!["http://127.0.0.1:23791".into()],
                    is_learner: false,
                },
                Member {
                    id: 0x10,
                    name: String::new(),
                    peer_ur_ls: vec!["http://a:1".into(), "http://b:2".into()],
                    client_ur_ls: vec![],
                    is_learner: true,
                },
            ],
        };
        assert_eq!(
            print_list(&response, Format::Simple),
            "bdae9bbc11dd390d, started, default, http://127.0.0.1:23801, http://127.0.0.1:23791, false\n\
             10, unstarted, , http://a:1,http://b:2, , true\n"
        );
        assert_eq!(
            print_list(&response, Format::Json),
            "{\"header\":{\"cluster_id\":15118495548433857066,\"member_id\":13668033151171901709,\"raft_term\":2},\
             \"members\":[{\"ID\":13668033151171901709,\"name\":\"default\",\"peerURLs\":[\"http://127.0.0.1:23801\"],\"clientURLs\":[\"http://127.0.0.1:23791\"]},\
             {\"ID\":16,\"peerURLs\":[\"http://a:1\",\"http://b:2\"],\"isLearner\":true}]}\n"
        );
    }
}
