//! Plain HTTP against a node's client (or metrics) URL, driven with the
//! `curl` command line as operators and scripts do: one request with its
//! status, headers and body ([`curl`], [`post_json`]), and a streaming
//! response read line by line as it arrives ([`Stream`], for the gateway's
//! `/v3/watch` and other server streams).
//!
//! What it does not do: judge the answers. The tests decide what a body
//! must hold; [`strip_header`] only takes the per-run identity fields out
//! of a gateway `header` so the rest compares exactly.

use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout};

use super::ClientTls;

/// How long one request may take.
const REQUEST_TIMEOUT: &str = "30";
/// How long a stream may stay silent before the test gives up on a line.
const LINE_TIMEOUT: Duration = Duration::from_secs(20);

/// One HTTP answer as curl received it.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    /// Header (and trailer) names lowercased, in order.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Answer {
    /// The first header called `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON; panics with the body when it is none.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| {
            panic!(
                "HTTP {} body is not JSON ({e}): {:?}",
                self.status, self.body
            )
        })
    }

    /// The status and body, for one-line comparisons.
    pub fn pair(&self) -> (u16, &str) {
        (self.status, self.body.as_str())
    }
}

/// curl's flags for `tls` (none: plain HTTP); curl takes no `--flag=value`.
pub fn tls_args(tls: Option<&ClientTls>) -> Vec<String> {
    let Some(tls) = tls else {
        return Vec::new();
    };
    let mut args = Vec::new();
    match &tls.ca {
        Some(ca) => args.extend(["--cacert".to_string(), ca.display().to_string()]),
        None => args.push("--insecure".to_string()),
    }
    if let Some((cert, key)) = &tls.identity {
        args.extend(["--cert".to_string(), cert.display().to_string()]);
        args.extend(["--key".to_string(), key.display().to_string()]);
    }
    args
}

/// Runs `curl -sS ARGS URL` and splits what it received: headers (and the
/// trailers a chunked answer ends with) from `-D`, the body from `-o`.
pub async fn curl(url: &str, args: &[&str]) -> Answer {
    let dir = tempfile::Builder::new()
        .prefix("etcd-curl-")
        .tempdir()
        .expect("create temp dir");
    let head = dir.path().join("head");
    let body = dir.path().join("body");
    let out = tokio::process::Command::new("curl")
        .args(["-sS", "--max-time", REQUEST_TIMEOUT])
        .arg("-D")
        .arg(&head)
        .arg("-o")
        .arg(&body)
        .args(args)
        .arg(url)
        .output()
        .await
        .expect("run curl (apt-get install curl)");
    assert!(
        out.status.success(),
        "curl {args:?} {url}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let head = std::fs::read_to_string(&head).expect("curl wrote the headers");
    let body = std::fs::read(&body).unwrap_or_default();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {head:?}"));
    let headers = lines
        .filter_map(|line| line.split_once(": "))
        .map(|(n, v)| (n.to_ascii_lowercase(), v.to_string()))
        .collect();
    Answer {
        status,
        headers,
        body: String::from_utf8(body).expect("a UTF-8 body"),
    }
}

/// `POST url` with `body` as it is (curl's `-d`, which sends it as
/// `application/x-www-form-urlencoded`, as the etcd docs' examples do).
pub async fn post(url: &str, body: &str, extra: &[&str]) -> Answer {
    let mut args = vec!["-X", "POST", "-d", body];
    args.extend_from_slice(extra);
    curl(url, &args).await
}

/// `POST url` with `body` serialised.
pub async fn post_json(url: &str, body: &Value, extra: &[&str]) -> Answer {
    post(url, &body.to_string(), extra).await
}

/// Takes `cluster_id`, `member_id` and `raft_term` out of `value["header"]`
/// after checking their shape (decimal strings: the gateway prints 64-bit
/// integers as strings), and returns `revision` (`None` where the server
/// leaves it out, as for a revision of 0). What stays compares exactly.
pub fn strip_header(value: &mut Value) -> Option<String> {
    let header = value
        .get_mut("header")
        .and_then(Value::as_object_mut)
        .unwrap_or_else(|| panic!("no header object"));
    for field in ["cluster_id", "member_id", "raft_term"] {
        let v = header
            .remove(field)
            .unwrap_or_else(|| panic!("header has no {field}"));
        let text = v
            .as_str()
            .unwrap_or_else(|| panic!("header {field} is not a string: {v}"));
        assert!(
            text.parse::<u64>().is_ok_and(|n| n != 0),
            "header {field} is no non-zero decimal: {text:?}"
        );
    }
    let revision = header.remove("revision").map(|v| {
        let text = v.as_str().expect("header revision is a string").to_string();
        assert!(text.parse::<u64>().is_ok(), "revision {text:?}");
        text
    });
    assert!(header.is_empty(), "unexpected header fields: {header:?}");
    value.as_object_mut().expect("an object").remove("header");
    revision
}

/// A streaming POST (`curl -N`) whose answer is read one line at a time.
pub struct Stream {
    child: Child,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Stream {
    /// Starts `curl -sS -N -X POST -d BODY URL` (no time limit; the stream
    /// ends when the test drops it).
    pub async fn post(url: &str, body: &str, extra: &[&str]) -> Stream {
        let mut child = tokio::process::Command::new("curl")
            .args(["-sS", "-N", "-X", "POST", "-d", body])
            .args(extra)
            .arg(url)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("run curl (apt-get install curl)");
        let stdout = child.stdout.take().expect("piped stdout");
        Stream {
            child,
            lines: BufReader::new(stdout).lines(),
        }
    }

    /// The next line; `None` once the answer ended.
    pub async fn next_line(&mut self) -> Option<String> {
        tokio::time::timeout(LINE_TIMEOUT, self.lines.next_line())
            .await
            .unwrap_or_else(|_| panic!("no line within {LINE_TIMEOUT:?}"))
            .expect("read curl's output")
    }

    /// The next line as JSON; panics at the end of the answer.
    pub async fn next_json(&mut self) -> Value {
        let line = self.next_line().await.expect("the stream ended");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line:?}"))
    }

    /// Every remaining line until the answer ends.
    pub async fn rest(mut self) -> Vec<String> {
        let mut lines = Vec::new();
        while let Some(line) = self.next_line().await {
            lines.push(line);
        }
        let _ = self.child.wait().await;
        lines
    }
}
