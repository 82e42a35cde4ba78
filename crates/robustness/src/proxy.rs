//! The peer proxy: network faults between cluster members without root.
//!
//! Every member advertises a proxy port instead of its real peer port, so
//! all peer traffic crosses a [`PeerProxy`]. A proxy forwards each accepted
//! connection to its member's real listener, and applies the fault table of
//! the cluster's [`Network`] per byte direction: on a connection dialed by
//! member A to member B's proxy, bytes A→B follow the rule (A, B) and bytes
//! B→A follow (B, A). Rules change at any time and apply at once to live
//! connections as well as new ones.
//!
//! The dialer of a connection is found through `/proc`: the accepted
//! connection's peer address is the local address of the dialer's socket,
//! `/proc/net/tcp{,6}` gives that socket's inode, and the registered member
//! whose `/proc/<pid>/fd` holds `socket:[inode]` is the dialer. This works for
//! binaries with no test hooks (etcd 3.4) and needs no privileges.
//!
//! Not here: which faults to inject and when ([`crate::faults`]), process
//! signals, and the ports and flags of the members ([`crate::cluster`]).

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{ReadHalf, WriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

/// Index of a member in the harness.
pub type MemberId = usize;

/// What happens to the bytes sent from one member to another.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Rule {
    /// Forwarded as they come.
    Pass,
    /// Not forwarded: the proxy stops reading, so TCP backpressure stalls the
    /// sender like lost packets would. Nothing is discarded, so the stream is
    /// still valid when the rule is lifted.
    Drop,
    /// Each chunk is written no earlier than its read time plus this delay,
    /// in order.
    Delay(Duration),
}

/// The largest chunk read from a socket at once.
const CHUNK: usize = 64 * 1024;
/// Chunks read but not yet written, per direction. Bounded so that a slow or
/// stalled receiver pushes back on the sender instead of growing memory;
/// large enough that a delay does not cap throughput for peer traffic.
const QUEUE: usize = 256;
/// How long to wait for the member's real listener. Loopback refuses at
/// once when the member is down; this only bounds odd cases.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Pauses before looking up a dialer again: a member restarted a moment
/// ago may dial before the harness has registered its new pid.
const IDENTIFY_RETRIES: [Duration; 2] = [Duration::from_millis(10), Duration::from_millis(50)];

/// Rules other than `Pass`, by (from, to).
type Rules = HashMap<(MemberId, MemberId), Rule>;

/// Shared by all proxies of a cluster: the fault table and the pid registry.
#[derive(Clone)]
pub struct Network {
    shared: Arc<Shared>,
}

struct Shared {
    /// The fault table. A watch channel, so that forwarders stalled by a
    /// `Drop` wake as soon as the table changes, without polling.
    rules: watch::Sender<Rules>,
    /// The current pid of each member, to recognise dialers.
    pids: Mutex<HashMap<MemberId, u32>>,
    /// Live connections by id, so a member's connections can be reset.
    live: Mutex<HashMap<u64, Live>>,
    next_id: AtomicU64,
    accepted: AtomicU64,
    unknown: AtomicU64,
}

/// A live connection, as far as `reset_connections` needs to know it.
struct Live {
    /// The member whose proxy accepted it.
    owner: MemberId,
    /// The member that dialed it, once identified.
    dialer: Option<MemberId>,
    /// Dropping this tells the connection's task to abort it.
    _reset: oneshot::Sender<()>,
}

/// Locks a mutex; a panic elsewhere while holding it leaves plain data
/// that is still usable, so poisoning is ignored.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Default for Network {
    fn default() -> Self {
        Network::new()
    }
}

impl Network {
    pub fn new() -> Network {
        Network {
            shared: Arc::new(Shared {
                rules: watch::Sender::new(Rules::new()),
                pids: Mutex::new(HashMap::new()),
                live: Mutex::new(HashMap::new()),
                next_id: AtomicU64::new(0),
                accepted: AtomicU64::new(0),
                unknown: AtomicU64::new(0),
            }),
        }
    }

    /// Records the pid of `member`, replacing the one of its previous run.
    pub fn register_pid(&self, member: MemberId, pid: u32) {
        lock(&self.shared.pids).insert(member, pid);
    }

    pub fn set(&self, from: MemberId, to: MemberId, rule: Rule) {
        self.shared
            .rules
            .send_modify(|rules| put(rules, from, to, rule));
    }

    pub fn rule(&self, from: MemberId, to: MemberId) -> Rule {
        lookup(&self.shared.rules.borrow(), from, to)
    }

    /// Cuts `group` off from every other member in `all` both ways (Drop both directions).
    pub fn partition(&self, group: &[MemberId], all: &[MemberId]) {
        self.shared.rules.send_modify(|rules| {
            for &inside in group {
                for &outside in all.iter().filter(|m| !group.contains(m)) {
                    put(rules, inside, outside, Rule::Drop);
                    put(rules, outside, inside, Rule::Drop);
                }
            }
        });
    }

    /// Every rule back to `Pass`.
    pub fn heal(&self) {
        self.shared.rules.send_modify(|rules| rules.clear());
    }

    /// Aborts every live connection to or from `member`: both sockets are
    /// closed with a reset.
    pub fn reset_connections(&self, member: MemberId) {
        // Dropping an entry drops its reset sender, which wakes its task.
        lock(&self.shared.live)
            .retain(|_, live| live.owner != member && live.dialer != Some(member));
    }

    /// Connections whose dialer was not a registered member.
    pub fn unknown_dialers(&self) -> u64 {
        self.shared.unknown.load(Ordering::Relaxed)
    }

    /// Connections accepted so far (for the report).
    pub fn connections(&self) -> u64 {
        self.shared.accepted.load(Ordering::Relaxed)
    }

    fn pids(&self) -> Vec<(MemberId, u32)> {
        let mut pids: Vec<_> = lock(&self.shared.pids)
            .iter()
            .map(|(&m, &p)| (m, p))
            .collect();
        pids.sort_unstable();
        pids
    }

    /// Registers a new live connection; it stays registered while the
    /// returned guard lives.
    fn track(&self, owner: MemberId) -> (Tracked, oneshot::Receiver<()>) {
        let (reset, on_reset) = oneshot::channel();
        let id = self.shared.next_id.fetch_add(1, Ordering::Relaxed);
        let live = Live {
            owner,
            dialer: None,
            _reset: reset,
        };
        lock(&self.shared.live).insert(id, live);
        let tracked = Tracked {
            network: self.clone(),
            id,
        };
        (tracked, on_reset)
    }

    /// A gate for bytes flowing `from` → `to`; an unknown sender is never faulted.
    fn gate(&self, from: Option<MemberId>, to: Option<MemberId>) -> Gate {
        Gate {
            rules: self.shared.rules.subscribe(),
            pair: from.zip(to),
        }
    }
}

fn put(rules: &mut Rules, from: MemberId, to: MemberId, rule: Rule) {
    if rule == Rule::Pass {
        rules.remove(&(from, to));
    } else {
        rules.insert((from, to), rule);
    }
}

fn lookup(rules: &Rules, from: MemberId, to: MemberId) -> Rule {
    rules.get(&(from, to)).copied().unwrap_or(Rule::Pass)
}

/// Keeps a connection in the live table; removes it when the connection ends.
struct Tracked {
    network: Network,
    id: u64,
}

impl Tracked {
    fn set_dialer(&self, dialer: MemberId) {
        if let Some(live) = lock(&self.network.shared.live).get_mut(&self.id) {
            live.dialer = Some(dialer);
        }
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        lock(&self.network.shared.live).remove(&self.id);
    }
}

/// The rule for one direction of one connection, read from the live table.
struct Gate {
    rules: watch::Receiver<Rules>,
    /// (from, to), or None when the dialer is unknown.
    pair: Option<(MemberId, MemberId)>,
}

impl Gate {
    /// Waits while the direction is dropped, then returns its rule.
    async fn open(&mut self) -> Rule {
        let Some((from, to)) = self.pair else {
            return Rule::Pass;
        };
        loop {
            // Marking the table seen before reading it means a change made
            // after this read wakes `changed` below.
            let rule = lookup(&self.rules.borrow_and_update(), from, to);
            if rule != Rule::Drop {
                return rule;
            }
            if self.rules.changed().await.is_err() {
                // The network is gone; nothing can heal this direction.
                std::future::pending::<()>().await;
            }
        }
    }
}

/// Forwards peer connections to one member, applying the cluster's faults.
/// Dropping it stops the listener and aborts its connections.
pub struct PeerProxy {
    local_addr: SocketAddr,
    task: JoinHandle<()>,
}

impl PeerProxy {
    /// Listens on `listen` (bind it yourself; port 0 allowed -> report the bound addr) and forwards to `target` (the member's real peer listener) for member `owner`.
    pub async fn start(
        network: Network,
        owner: MemberId,
        listen: SocketAddr,
        target: SocketAddr,
    ) -> io::Result<PeerProxy> {
        let listener = TcpListener::bind(listen).await?;
        let local_addr = listener.local_addr()?;
        let task = tokio::spawn(accept_loop(network, owner, listener, target));
        Ok(PeerProxy { local_addr, task })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }
}

impl Drop for PeerProxy {
    fn drop(&mut self) {
        // The accept loop owns the connection tasks (a JoinSet), so aborting
        // it aborts them too.
        self.task.abort();
    }
}

async fn accept_loop(network: Network, owner: MemberId, listener: TcpListener, target: SocketAddr) {
    let mut connections = JoinSet::new();
    loop {
        match listener.accept().await {
            Ok((inbound, _)) => {
                network.shared.accepted.fetch_add(1, Ordering::Relaxed);
                connections.spawn(serve(network.clone(), owner, inbound, target));
            }
            // Out of descriptors and the like: pause instead of spinning.
            Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
        while connections.try_join_next().is_some() {}
    }
}

/// Runs one accepted connection until it ends or is reset.
async fn serve(network: Network, owner: MemberId, mut inbound: TcpStream, target: SocketAddr) {
    let (tracked, on_reset) = network.track(owner);
    let mut outbound = None;
    let reset = tokio::select! {
        () = connect_and_forward(&network, owner, &tracked, &mut inbound, &mut outbound, target) => false,
        _ = on_reset => true,
    };
    if reset {
        // Closing with a reset, as a dropped connection would look to the
        // members; errors only mean the socket is already gone.
        let _ = inbound.set_zero_linger();
        if let Some(outbound) = &outbound {
            let _ = outbound.set_zero_linger();
        }
    }
}

async fn connect_and_forward(
    network: &Network,
    owner: MemberId,
    tracked: &Tracked,
    inbound: &mut TcpStream,
    outbound: &mut Option<TcpStream>,
    target: SocketAddr,
) {
    let (dialer, connected) = tokio::join!(identify(network, inbound), connect(target));
    // With the member down, closing the accepted connection makes the
    // dialer retry, as it would against a dead member.
    let Ok(connected) = connected else { return };
    match dialer {
        Some(dialer) => tracked.set_dialer(dialer),
        None => {
            network.shared.unknown.fetch_add(1, Ordering::Relaxed);
        }
    }
    let _ = inbound.set_nodelay(true);
    let outbound = outbound.insert(connected);
    let (from_in, to_in) = inbound.split();
    let (from_out, to_out) = outbound.split();
    let dialed = (
        network.gate(dialer, Some(owner)),
        network.gate(dialer, Some(owner)),
    );
    let answered = (
        network.gate(Some(owner), dialer),
        network.gate(Some(owner), dialer),
    );
    // An error either way ends the connection; a clean end of one direction
    // is passed on as a half-close and the other keeps going.
    let _ = tokio::try_join!(
        pump(from_in, to_out, dialed),
        pump(from_out, to_in, answered)
    );
}

async fn connect(target: SocketAddr) -> io::Result<TcpStream> {
    let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(target))
        .await
        .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))??;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// Finds the member that dialed `inbound`, retrying briefly for a member
/// whose new pid is not registered yet.
async fn identify(network: &Network, inbound: &TcpStream) -> Option<MemberId> {
    let (Ok(peer), Ok(local)) = (inbound.peer_addr(), inbound.local_addr()) else {
        return None;
    };
    let mut pauses = IDENTIFY_RETRIES.iter();
    loop {
        let pids = network.pids();
        let found = tokio::task::spawn_blocking(move || find_dialer(peer, local, &pids))
            .await
            .ok()
            .flatten();
        if found.is_some() {
            return found;
        }
        tokio::time::sleep(*pauses.next()?).await;
    }
}

/// Moves bytes one way: a reader that stops at a `Drop`, a queue that keeps
/// each chunk's due time, and a writer that waits for it. The writer is a
/// separate future so that a delay does not hold up reading.
async fn pump(
    from: ReadHalf<'_>,
    to: WriteHalf<'_>,
    (read_gate, write_gate): (Gate, Gate),
) -> io::Result<()> {
    let (queue, chunks) = mpsc::channel(QUEUE);
    tokio::try_join!(
        read_side(from, queue, read_gate),
        write_side(to, chunks, write_gate)
    )?;
    Ok(())
}

/// Bytes read at one time, and when they may be written.
struct Chunk {
    due: Instant,
    bytes: Vec<u8>,
}

async fn read_side(
    mut from: ReadHalf<'_>,
    queue: mpsc::Sender<Chunk>,
    mut gate: Gate,
) -> io::Result<()> {
    let mut buf = vec![0; CHUNK];
    loop {
        // Not reading while dropped is what stalls the sender.
        gate.open().await;
        let n = from.read(&mut buf).await?;
        if n == 0 {
            // Dropping the queue lets the writer drain it and half-close.
            return Ok(());
        }
        // A read already under way when a Drop came in is held, not sent.
        let due = match gate.open().await {
            Rule::Delay(delay) => Instant::now() + delay,
            Rule::Pass | Rule::Drop => Instant::now(),
        };
        let chunk = Chunk {
            due,
            bytes: buf[..n].to_vec(),
        };
        if queue.send(chunk).await.is_err() {
            // The writer failed; its error ends the connection.
            return Ok(());
        }
    }
}

async fn write_side(
    mut to: WriteHalf<'_>,
    mut chunks: mpsc::Receiver<Chunk>,
    mut gate: Gate,
) -> io::Result<()> {
    while let Some(chunk) = chunks.recv().await {
        if chunk.due > Instant::now() {
            tokio::time::sleep_until(chunk.due).await;
        }
        // Chunks already queued when a Drop came in are held too.
        gate.open().await;
        to.write_all(&chunk.bytes).await?;
    }
    to.shutdown().await
}

/// The member among `pids` whose process holds the socket with local
/// address `peer` connected to `proxy`: the dialer of a connection the proxy
/// accepted from `peer` on `proxy`.
fn find_dialer(peer: SocketAddr, proxy: SocketAddr, pids: &[(MemberId, u32)]) -> Option<MemberId> {
    let inode = find_inode(canonical(peer), canonical(proxy))?;
    let link = format!("socket:[{inode}]");
    pids.iter()
        .find(|&&(_, pid)| holds(pid, &link))
        .map(|&(member, _)| member)
}

/// The inode of the socket from `local` to `remote`. Both ends of a
/// loopback connection are listed; matching both addresses picks the
/// dialer's row, not the accepted one.
fn find_inode(local: SocketAddr, remote: SocketAddr) -> Option<u64> {
    ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|table| std::fs::read_to_string(table).ok())
        .find_map(|text| {
            text.lines()
                .filter_map(parse_row)
                .find(|row| row.local == local && row.remote == remote && row.inode != 0)
                .map(|row| row.inode)
        })
}

/// Whether process `pid` has a descriptor linking to `link`.
fn holds(pid: u32, link: &str) -> bool {
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    fds.filter_map(Result::ok)
        .filter_map(|fd| std::fs::read_link(fd.path()).ok())
        .any(|target| target.as_os_str() == link)
}

/// One socket of `/proc/net/tcp{,6}`.
#[derive(Debug, PartialEq)]
struct SocketRow {
    local: SocketAddr,
    remote: SocketAddr,
    inode: u64,
}

/// Parses a row such as
/// `0: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000 1000 0 123456 ...`
/// (the fields after `sl` are local, remote, state, queues, timer,
/// retransmits, uid, timeout, inode). None for the header.
fn parse_row(line: &str) -> Option<SocketRow> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    if fields.len() < 10 {
        return None;
    }
    Some(SocketRow {
        local: canonical(parse_addr(fields[1])?),
        remote: canonical(parse_addr(fields[2])?),
        inode: fields[9].parse().ok()?,
    })
}

/// Parses `ADDR:PORT` in hex. The port is printed as a number; the address
/// is printed as 32-bit words holding network-order bytes, each word shown
/// as a host-order integer, so its bytes come back with `to_ne_bytes`
/// (0100007F is 127.0.0.1 on a little-endian host).
fn parse_addr(text: &str) -> Option<SocketAddr> {
    let (addr, port) = text.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let mut octets = Vec::with_capacity(16);
    for i in (0..addr.len()).step_by(8) {
        let word = u32::from_str_radix(addr.get(i..i + 8)?, 16).ok()?;
        octets.extend_from_slice(&word.to_ne_bytes());
    }
    let ip = match octets.len() {
        4 => IpAddr::V4(Ipv4Addr::from(<[u8; 4]>::try_from(octets).ok()?)),
        16 => IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(octets).ok()?)),
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

/// IPv4-mapped IPv6 addresses as IPv4, so a dual-stack listener's view of a
/// peer matches the dialer's IPv4 row.
fn canonical(addr: SocketAddr) -> SocketAddr {
    SocketAddr::new(addr.ip().to_canonical(), addr.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIMEOUT: Duration = Duration::from_secs(5);
    /// How long a read must stay empty to count as stalled.
    const STALL: Duration = Duration::from_millis(300);

    fn loopback() -> SocketAddr {
        "127.0.0.1:0".parse().unwrap()
    }

    #[cfg(target_endian = "little")]
    #[test]
    fn parses_ipv4_row() {
        let line = "   3: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000  1000        0 123456 1 0000000000000000 20 4 30 10 -1";
        let row = parse_row(line).unwrap();
        assert_eq!(row.local, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(row.remote, "127.0.0.1:50000".parse().unwrap());
        assert_eq!(row.inode, 123456);
        let other = "   0: 0B02A8C0:0016 6402A8C0:D431 01 00000000:00000000 02:000A0000 00000000     0        0 99 4 0 20 4 29 10 -1";
        assert_eq!(
            parse_row(other).unwrap().local,
            "192.168.2.11:22".parse().unwrap()
        );
    }

    #[cfg(target_endian = "little")]
    #[test]
    fn parses_ipv6_rows() {
        let line = "   0: 00000000000000000000000001000000:0016 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2345 1 0000000000000000 100 0 0 10 0";
        let row = parse_row(line).unwrap();
        assert_eq!(row.local, "[::1]:22".parse().unwrap());
        assert_eq!(row.remote, "[::]:0".parse().unwrap());
        assert_eq!(row.inode, 2345);
        // IPv4-mapped addresses compare as IPv4.
        let mapped = "   1: 0000000000000000FFFF00000100007F:1F90 0000000000000000FFFF00000100007F:C350 01 00000000:00000000 00:00000000 00000000  1000        0 77 1 0000000000000000 20 4 30 10 -1";
        assert_eq!(
            parse_row(mapped).unwrap().local,
            "127.0.0.1:8080".parse().unwrap()
        );
    }

    #[test]
    fn rejects_header_and_garbage() {
        let header = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode";
        assert_eq!(parse_row(header), None);
        assert_eq!(parse_row(""), None);
        assert_eq!(parse_addr("0100007F"), None);
        assert_eq!(parse_addr("01007F:0016"), None);
        assert_eq!(parse_addr("XX00007F:0016"), None);
    }

    #[test]
    fn partition_and_heal() {
        let network = Network::new();
        network.partition(&[0], &[0, 1, 2]);
        assert_eq!(network.rule(0, 1), Rule::Drop);
        assert_eq!(network.rule(2, 0), Rule::Drop);
        assert_eq!(network.rule(1, 2), Rule::Pass);
        network.set(1, 2, Rule::Delay(Duration::from_millis(5)));
        assert_eq!(network.rule(1, 2), Rule::Delay(Duration::from_millis(5)));
        network.heal();
        assert_eq!(network.rule(0, 1), Rule::Pass);
        assert_eq!(network.rule(1, 2), Rule::Pass);
    }

    #[tokio::test]
    async fn identifies_the_dialing_process() {
        let listener = TcpListener::bind(loopback()).await.unwrap();
        let proxy = listener.local_addr().unwrap();
        let _dialer = TcpStream::connect(proxy).await.unwrap();
        let (accepted, peer) = listener.accept().await.unwrap();
        let local = accepted.local_addr().unwrap();
        let me = std::process::id();
        let found = tokio::task::spawn_blocking(move || {
            (
                find_dialer(peer, local, &[(0, me)]),
                find_dialer(peer, local, &[(3, u32::MAX), (5, me)]),
                find_dialer(peer, local, &[(0, u32::MAX)]),
            )
        })
        .await
        .unwrap();
        assert_eq!(found, (Some(0), Some(5), None));
    }

    /// An echo server, a proxy in front of it owned by member 1, and a
    /// connection to the proxy from this process, registered as member 0.
    async fn echo_setup(register: bool) -> (Network, PeerProxy, TcpStream) {
        let echo = TcpListener::bind(loopback()).await.unwrap();
        let target = echo.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = echo.accept().await {
                tokio::spawn(async move {
                    let (mut r, mut w) = stream.split();
                    let _ = tokio::io::copy(&mut r, &mut w).await;
                });
            }
        });
        let network = Network::new();
        if register {
            network.register_pid(0, std::process::id());
        }
        let proxy = PeerProxy::start(network.clone(), 1, loopback(), target)
            .await
            .unwrap();
        let mut client = TcpStream::connect(proxy.local_addr()).await.unwrap();
        client.set_nodelay(true).unwrap();
        // A first round trip: forwarding starts once the dialer is known.
        round_trip(&mut client, b"ping").await;
        (network, proxy, client)
    }

    async fn round_trip(client: &mut TcpStream, bytes: &[u8]) {
        client.write_all(bytes).await.unwrap();
        assert_eq!(read_n(client, bytes.len()).await, bytes);
    }

    async fn read_n(client: &mut TcpStream, n: usize) -> Vec<u8> {
        let mut buf = vec![0; n];
        tokio::time::timeout(TIMEOUT, client.read_exact(&mut buf))
            .await
            .expect("read timed out")
            .unwrap();
        buf
    }

    async fn assert_stalled(client: &mut TcpStream) {
        let mut buf = [0; 1];
        let read = tokio::time::timeout(STALL, client.read(&mut buf)).await;
        assert!(read.is_err(), "expected a stall, got {read:?}");
    }

    #[tokio::test]
    async fn pass_echoes_and_counts() {
        let (network, _proxy, mut client) = echo_setup(true).await;
        round_trip(&mut client, b"hello").await;
        assert_eq!(network.connections(), 1);
        assert_eq!(network.unknown_dialers(), 0);
    }

    #[tokio::test]
    async fn drop_stalls_each_direction_and_heal_delivers_in_order() {
        let (network, _proxy, mut client) = echo_setup(true).await;
        for (from, to) in [(0, 1), (1, 0)] {
            network.set(from, to, Rule::Drop);
            client.write_all(b"first ").await.unwrap();
            assert_stalled(&mut client).await;
            client.write_all(b"second").await.unwrap();
            assert_stalled(&mut client).await;
            network.heal();
            assert_eq!(read_n(&mut client, 12).await, b"first second");
        }
    }

    #[tokio::test]
    async fn unknown_dialer_is_not_faulted() {
        let (network, _proxy, mut client) = echo_setup(false).await;
        assert_eq!(network.unknown_dialers(), 1);
        network.set(0, 1, Rule::Drop);
        network.set(1, 0, Rule::Drop);
        round_trip(&mut client, b"still here").await;
    }

    #[tokio::test]
    async fn delay_holds_each_chunk_and_keeps_order() {
        let (network, _proxy, mut client) = echo_setup(true).await;
        let delay = Duration::from_millis(100);
        network.set(0, 1, Rule::Delay(delay));
        let start = Instant::now();
        round_trip(&mut client, b"slow").await;
        assert!(start.elapsed() >= delay);

        // Many chunks, spaced out so they are read one by one: each is
        // delayed, but not one after another.
        let start = Instant::now();
        let (mut reader, mut writer) = client.into_split();
        let chunks = 40u32;
        let sender = tokio::spawn(async move {
            for i in 0..chunks {
                writer.write_all(&i.to_be_bytes()).await.unwrap();
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            writer
        });
        let mut buf = vec![0; 4 * chunks as usize];
        tokio::time::timeout(TIMEOUT, reader.read_exact(&mut buf))
            .await
            .expect("read timed out")
            .unwrap();
        let _writer = sender.await.unwrap();
        let got: Vec<u32> = buf
            .chunks(4)
            .map(|c| u32::from_be_bytes(c.try_into().unwrap()))
            .collect();
        assert_eq!(got, (0..chunks).collect::<Vec<_>>());
        let elapsed = start.elapsed();
        assert!(elapsed >= delay, "{elapsed:?}");
        assert!(elapsed < delay * chunks / 2, "{elapsed:?}");
    }

    #[tokio::test]
    async fn reset_closes_connections_of_dialer_and_owner() {
        for member in [0, 1] {
            let (network, _proxy, mut client) = echo_setup(true).await;
            network.reset_connections(2);
            round_trip(&mut client, b"unrelated member").await;
            network.reset_connections(member);
            let mut buf = [0; 1];
            let read = tokio::time::timeout(TIMEOUT, client.read(&mut buf))
                .await
                .expect("connection still open");
            assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
        }
    }

    #[tokio::test]
    async fn closes_when_target_is_down() {
        let gone = TcpListener::bind(loopback()).await.unwrap();
        let target = gone.local_addr().unwrap();
        drop(gone);
        let proxy = PeerProxy::start(Network::new(), 1, loopback(), target)
            .await
            .unwrap();
        let mut client = TcpStream::connect(proxy.local_addr()).await.unwrap();
        let mut buf = [0; 1];
        let read = tokio::time::timeout(TIMEOUT, client.read(&mut buf))
            .await
            .expect("connection still open");
        assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    }
}
