//! The texts `etcd` prints about its own command line: the short usage
//! (after a command-line error, and on stderr for `--help`) and the flag
//! listing for `--help` (on stdout), generated from the flag table so it
//! never drifts from what is parsed. Laid out like etcd's help; worded for
//! etcd-rs.

use super::flags::{self, Section, Support};
use super::FeatureGates;

const USAGE: &str = "Usage:

  etcd [flags]
    Start an etcd member.

  etcd --version
    Print the version and exit.

  etcd -h | --help
    Print the flags and exit.

  etcd --config-file <path>
    Read the whole configuration from a YAML file; other flags and ETCD_* environment variables are then ignored.

  etcd gateway | etcd grpc-proxy
    Not supported by etcd-rs.
";

/// The short usage text etcd prints to stderr after a command-line error.
pub fn usage() -> &'static str {
    USAGE
}

/// The `--help` flag listing.
pub(crate) fn flags_text() -> String {
    let mut out = String::from("\n");
    for section in Section::ALL {
        out.push_str(section.title());
        out.push_str(":\n");
        for flag in flags::all().iter().filter(|f| f.section == section) {
            out.push_str(&format!(
                "  --{} '{}'\n    {}",
                flag.name, flag.default_text, flag.help
            ));
            match flag.support {
                Support::Ignored => out.push_str(" [etcd-rs: not yet supported, ignored]"),
                Support::Rejected => out.push_str(" [etcd-rs: not yet supported]"),
                Support::Supported | Support::ByValue => {}
            }
            if flag.name == "feature-gates" {
                for line in FeatureGates::help_lines() {
                    out.push_str("\n      ");
                    out.push_str(&line);
                }
            }
            out.push('\n');
        }
        out.push('\n');
    }
    out.push_str(
        "Every flag can also be set through ETCD_<FLAG_NAME>, e.g. ETCD_INITIAL_CLUSTER_TOKEN for --initial-cluster-token.\n\
         A flag given on the command line and its variable must not both be set.\n\n\
         Unsafe flags can break the guarantees of the consensus protocol: use them with care.\n",
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_every_flag_with_its_default() {
        let text = flags_text();
        assert!(text.starts_with("\nMember:\n  --name 'default'\n"));
        for flag in flags::all() {
            assert!(
                text.contains(&format!("  --{} '", flag.name)),
                "{}",
                flag.name
            );
        }
        assert!(text.contains("--cert-file ''\n    TLS certificate for client connections.\n"));
    }
}
