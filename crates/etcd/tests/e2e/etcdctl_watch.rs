//! `etcdctl watch`, the long-running command: `--prefix` seeing later puts
//! and deletes, `--rev` replaying history, `--prev-kv`, and the interactive
//! `watch -i` fed commands through stdin (`watch ...`, `progress`).
//!
//! etcdctl's output is read line by line as it comes, each line with a
//! timeout. A watch started "now" gives no sign that it is established, so
//! those tests first write a marker key until etcdctl prints it.

use crate::common;

use std::process::Stdio;
use std::time::Duration;

use common::{etcdctl_command, Node};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout};

/// How long one expected line may take.
const LINE_WAIT: Duration = Duration::from_secs(10);

/// A running `etcdctl watch`.
struct Watcher {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Watcher {
    fn spawn(node: &Node, args: &[&str]) -> Watcher {
        let mut child = etcdctl_command(&node.client_url())
            .arg("watch")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn etcdctl watch");
        let stdout = child.stdout.take().expect("piped stdout");
        Watcher {
            stdin: child.stdin.take(),
            lines: BufReader::new(stdout).lines(),
            child,
        }
    }

    /// The next line of output; panics if none comes in time.
    async fn line(&mut self) -> String {
        match tokio::time::timeout(LINE_WAIT, self.lines.next_line()).await {
            Ok(Ok(Some(line))) => line,
            Ok(Ok(None)) => panic!("etcdctl watch exited: {:?}", self.child.try_wait()),
            Ok(Err(e)) => panic!("reading etcdctl output: {e}"),
            Err(_) => panic!("etcdctl watch printed nothing for {LINE_WAIT:?}"),
        }
    }

    /// Asserts the next lines are exactly `want`.
    async fn expect(&mut self, want: &[&str]) {
        let mut got = Vec::new();
        for _ in want {
            got.push(self.line().await);
        }
        assert_eq!(got, want);
    }

    /// Sends one line to an interactive watch.
    async fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin is open");
        stdin
            .write_all(format!("{line}\n").as_bytes())
            .await
            .expect("write to etcdctl");
        stdin.flush().await.expect("flush etcdctl stdin");
    }
}

/// Writes `key` until the watcher prints it (the watch is then live), and
/// consumes the event's lines (PUT, key, value).
async fn wait_live(node: &Node, watcher: &mut Watcher, key: &str) {
    let mut client = node.client().await;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<()>(1);
    let key_owned = key.to_string();
    let writer = tokio::spawn(async move {
        // Stops once the reader has seen the marker (the channel closes).
        loop {
            client
                .put(key_owned.as_str(), "marker", None)
                .await
                .unwrap();
            tokio::select! {
                _ = tx.closed() => return,
                _ = tokio::time::sleep(Duration::from_millis(100)) => {}
            }
        }
    });
    loop {
        let line = watcher.line().await;
        if line == key {
            assert_eq!(watcher.line().await, "marker");
            break;
        }
    }
    rx.close();
    writer.await.unwrap();
    // Marker puts written after the first one was printed are consumed by
    // the caller's fence (it skips them).
}

/// Skips marker events (PUT / key / marker) until another line comes.
async fn skip_markers(watcher: &mut Watcher, marker: &str) -> String {
    loop {
        let line = watcher.line().await;
        if line == "PUT" {
            let key = watcher.line().await;
            if key == marker {
                assert_eq!(watcher.line().await, "marker");
                continue;
            }
            return format!("PUT\n{key}");
        }
        return line;
    }
}

both!(
    prefix_watch_sees_later_puts_and_deletes,
    |target| async move {
        let node = Node::start(target, &[]).await;
        let mut client = node.client().await;
        client.put("other", "not watched", None).await.unwrap();
        let mut watcher = Watcher::spawn(&node, &["--prefix", "foo/"]);
        wait_live(&node, &mut watcher, "foo/ready").await;

        client.put("foo/a", "1", None).await.unwrap();
        client.put("bar", "not watched", None).await.unwrap();
        client.put("foo/b", "2", None).await.unwrap();
        client.delete("foo/a", None).await.unwrap();
        assert_eq!(skip_markers(&mut watcher, "foo/ready").await, "PUT\nfoo/a");
        watcher
            .expect(&["1", "PUT", "foo/b", "2", "DELETE", "foo/a", ""])
            .await;

        // A prefix delete prints one DELETE per key.
        client
            .delete(
                "foo/",
                Some(etcd_client::DeleteOptions::new().with_prefix()),
            )
            .await
            .unwrap();
        watcher
            .expect(&["DELETE", "foo/b", "", "DELETE", "foo/ready", ""])
            .await;
    }
);

both!(rev_replays_history, |target| async move {
    let node = Node::start(target, &[]).await;
    let mut client = node.client().await;
    client.put("k", "1", None).await.unwrap(); // 2
    client.put("x", "1", None).await.unwrap(); // 3
    client.put("k", "2", None).await.unwrap(); // 4
    client.delete("k", None).await.unwrap(); // 5

    let mut watcher = Watcher::spawn(&node, &["--rev", "3", "k"]);
    watcher.expect(&["PUT", "k", "2", "DELETE", "k", ""]).await;
    // Then live.
    client.put("k", "3", None).await.unwrap();
    watcher.expect(&["PUT", "k", "3"]).await;

    // Range form, from the start of history.
    let mut watcher = Watcher::spawn(&node, &["--rev", "1", "k", "y"]);
    watcher
        .expect(&[
            "PUT", "k", "1", "PUT", "x", "1", "PUT", "k", "2", "DELETE", "k", "", "PUT", "k", "3",
        ])
        .await;
});

both!(prev_kv_prints_the_previous_pair, |target| async move {
    let node = Node::start(target, &[]).await;
    let mut client = node.client().await;
    let start = client.put("k", "1", None).await.unwrap(); // 2
    let start = common::rev(start.header());
    client.put("k", "2", None).await.unwrap(); // 3
    client.delete("k", None).await.unwrap(); // 4

    let rev = start.to_string();
    let mut watcher = Watcher::spawn(&node, &["--prev-kv", "--rev", &rev, "k"]);
    watcher
        .expect(&[
            // Created: no previous pair.
            "PUT", "k", "1", //
            // Updated: previous pair, then the new one.
            "PUT", "k", "1", "k", "2", //
            // Deleted: the deleted pair, then the tombstone's key.
            "DELETE", "k", "2", "k", "",
        ])
        .await;
});

both!(interactive_watch_and_progress, |target| async move {
    let node = Node::start(target, &[]).await;
    let mut client = node.client().await;
    client.put("a", "0", None).await.unwrap(); // 2
    let mut watcher = Watcher::spawn(&node, &["-i"]);
    watcher.send("watch foo").await;
    // The progress answer comes after the watch exists on the stream.
    watcher.send("progress").await;
    watcher.expect(&["progress notify: 2"]).await;
    client.put("foo", "bar", None).await.unwrap(); // 3
    watcher.expect(&["PUT", "foo", "bar"]).await;

    // A second watcher on the same stream, with options.
    watcher.send("watch --prev-kv --prefix fo").await;
    watcher.send("progress").await;
    // The stream-wide answer reaches every watcher of the stream.
    watcher
        .expect(&["progress notify: 3", "progress notify: 3"])
        .await;
    client.put("foo", "baz", None).await.unwrap(); // 4
    let mut lines = Vec::new();
    for _ in 0..3 + 5 {
        lines.push(watcher.line().await);
    }
    lines.sort();
    let mut want = vec![
        "PUT", "foo", "baz", // first watcher
        "PUT", "foo", "bar", "foo", "baz", // second, with prev_kv
    ];
    want.sort();
    assert_eq!(lines, want);

    // Closing stdin ends the interactive session.
    drop(watcher.stdin.take());
    let status = tokio::time::timeout(LINE_WAIT, watcher.child.wait())
        .await
        .expect("etcdctl exits when stdin closes")
        .unwrap();
    assert!(!status.success());
});
