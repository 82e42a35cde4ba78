//! `--initial-cluster`: deriving etcd's default from the member name and
//! advertised peer URLs, and parsing `name=url,name=url` into members.
//! Member and cluster IDs, and checking this member against the list, are
//! not done here.

use std::collections::BTreeMap;

use super::url::Url;
use super::{ConfigError, DEFAULT_NAME};

/// `name=url` for every advertised peer URL, the way etcd builds the
/// default `--initial-cluster` (`default=http://localhost:2380`).
pub(crate) fn initial_cluster_from_name(name: &str, advertise_peer_urls: &[Url]) -> String {
    let name = if name.is_empty() { DEFAULT_NAME } else { name };
    advertise_peer_urls
        .iter()
        .map(|u| format!("{name}={u}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// Parses `--initial-cluster` like etcd's `types.NewURLsMap`: entries split
/// on `,`, each `name=url`; a name may repeat to give several URLs.
pub fn parse_initial_cluster(s: &str) -> Result<BTreeMap<String, Vec<Url>>, ConfigError> {
    let mut raw: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for entry in s.split(',').filter(|e| !e.is_empty()) {
        let (name, url) = entry.split_once('=').unwrap_or((entry, ""));
        raw.entry(name.to_string()).or_default().push(url);
    }
    let mut members = BTreeMap::new();
    for (name, urls) in raw {
        let mut parsed = urls
            .into_iter()
            .map(Url::parse)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| ConfigError::Invalid(format!("error setting up initial cluster: {e}")))?;
        super::url::sort_dedup(&mut parsed);
        members.insert(name, parsed);
    }
    Ok(members)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derives_from_name_and_peer_urls() {
        let urls = Url::parse_list("http://10.0.0.1:2380,http://10.0.0.2:2380").unwrap();
        assert_eq!(
            initial_cluster_from_name("n1", &urls),
            "n1=http://10.0.0.1:2380,n1=http://10.0.0.2:2380"
        );
        assert_eq!(
            initial_cluster_from_name("", &urls[..1]),
            "default=http://10.0.0.1:2380"
        );
        assert_eq!(initial_cluster_from_name("n1", &[]), "");
    }

    #[test]
    fn parses_members() {
        let m = parse_initial_cluster(
            "a=http://1.1.1.1:2380,b=http://2.2.2.2:2380,a=http://1.1.1.2:2380",
        )
        .unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!(m["a"].len(), 2);
        let err = parse_initial_cluster("a=foo").unwrap_err();
        assert_eq!(
            err.to_string(),
            "error setting up initial cluster: URL scheme must be http, https, unix, or unixs: foo"
        );
    }
}
