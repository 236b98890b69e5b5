//! The UDP side of the X-Ray daemon (spec §2.2): a socket read by a thread of its own into a
//! bounded queue, drained in batches.
//!
//! The receive loop runs in Rust so that a busy SDK never costs one interpreter call per
//! datagram: the reader validates each datagram as the daemon does (a header line
//! `{"format": "json", "version": 1}`, a newline, a non-empty body) plus two checks the daemon
//! leaves to X-Ray (the datagram fits `max_datagram_bytes`; the body is UTF-8), and queues the
//! body. [`DaemonSocket::drain`] hands out everything queued at once. Every datagram is counted
//! exactly once: `received == accepted + rejected + dropped` (see [`DaemonStats`]).
//!
//! ```no_run
//! use std::time::Duration;
//! use xrfast_core::daemon::{DaemonConfig, DaemonSocket};
//!
//! let socket = DaemonSocket::bind("127.0.0.1:0", &DaemonConfig::default())?;
//! let batch = socket.drain(Duration::from_millis(100));
//! for document in batch.documents() {
//!     println!("{}", String::from_utf8_lossy(document));
//! }
//! # Ok::<(), std::io::Error>(())
//! ```

use std::io;
use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket, Type};

use crate::input::check_header;

/// The largest UDP payload over IPv4 (65,535 − 8 − 20); an IPv6 jumbogram aside, nothing larger
/// can arrive.
pub const MAX_UDP_PAYLOAD: usize = 65_507;

/// How long the reader blocks in `recv` before it looks at the stop flag.
const POLL: Duration = Duration::from_millis(50);

/// Limits of a [`DaemonSocket`].
#[derive(Clone, Debug)]
pub struct DaemonConfig {
    /// Largest datagram accepted, header included; a larger one is rejected (`too_big`).
    /// The daemon's buffers are 64 KiB.
    pub max_datagram_bytes: usize,
    /// Most documents waiting to be drained; past it datagrams are dropped (`dropped`).
    pub queue_datagrams: usize,
    /// Most document bytes waiting to be drained; past it datagrams are dropped (`dropped`).
    pub queue_bytes: usize,
    /// The kernel receive buffer asked for (`SO_RCVBUF`); the kernel may grant less
    /// (`net.core.rmem_max`), which shows in [`DaemonSocket::receive_buffer_bytes`].
    pub receive_buffer_bytes: usize,
}

impl Default for DaemonConfig {
    fn default() -> Self {
        Self {
            max_datagram_bytes: 65_536,
            queue_datagrams: 100_000,
            queue_bytes: 64 << 20,
            receive_buffer_bytes: 8 << 20,
        }
    }
}

/// Why a datagram was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reject {
    /// No newline, or the line before it is not `{"format": "json", "version": 1}`.
    Header,
    /// Nothing but whitespace after the header line.
    Empty,
    /// Longer than `max_datagram_bytes`.
    TooBig,
    /// The body is not UTF-8.
    NotUtf8,
}

/// A snapshot of a socket's counters.
///
/// `received == accepted + rejected_header + rejected_empty + rejected_too_big +
/// rejected_not_utf8 + dropped` at every snapshot: each datagram is counted once, after it is
/// classified (datagrams the kernel dropped before the reader saw them are not counted here).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DaemonStats {
    /// Datagrams read from the socket.
    pub received: u64,
    /// Datagrams queued (their body is or was in a batch).
    pub accepted: u64,
    /// Rejected: no valid daemon header line.
    pub rejected_header: u64,
    /// Rejected: no document after the header.
    pub rejected_empty: u64,
    /// Rejected: longer than `max_datagram_bytes`.
    pub rejected_too_big: u64,
    /// Rejected: the body is not UTF-8.
    pub rejected_not_utf8: u64,
    /// Dropped because the queue was full.
    pub dropped: u64,
    /// Bytes of every datagram read.
    pub bytes_received: u64,
    /// Errors returned by `recv` other than time-outs (the loop goes on).
    pub receive_errors: u64,
    /// Documents waiting in the queue now.
    pub queued: u64,
    /// Batches handed out by `drain`.
    pub batches: u64,
}

impl DaemonStats {
    /// Every rejected datagram, whatever the reason.
    #[must_use]
    pub fn rejected(&self) -> u64 {
        self.rejected_header + self.rejected_empty + self.rejected_too_big + self.rejected_not_utf8
    }
}

/// Documents drained at once: their bodies back to back, and where each ends.
#[derive(Debug, Default)]
pub struct Batch {
    data: Vec<u8>,
    ends: Vec<usize>,
}

impl Batch {
    /// The number of documents.
    #[must_use]
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// No documents.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The documents' bytes, back to back.
    #[must_use]
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// The documents, in arrival order.
    #[must_use]
    pub fn documents(&self) -> impl ExactSizeIterator<Item = &[u8]> {
        let mut start = 0;
        self.ends.iter().map(move |&end| {
            let document = &self.data[start..end];
            start = end;
            document
        })
    }
}

#[derive(Default)]
struct Counters {
    received: AtomicU64,
    accepted: AtomicU64,
    rejected_header: AtomicU64,
    rejected_empty: AtomicU64,
    rejected_too_big: AtomicU64,
    rejected_not_utf8: AtomicU64,
    dropped: AtomicU64,
    bytes_received: AtomicU64,
    receive_errors: AtomicU64,
    batches: AtomicU64,
}

struct Shared {
    queue: Mutex<Batch>,
    ready: Condvar,
    stop: AtomicBool,
    counters: Counters,
    config: DaemonConfig,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Batch> {
        // The queue is a plain buffer: a panic elsewhere cannot leave it inconsistent.
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Classifies one datagram and queues its body; every path bumps exactly one outcome
    /// counter, and `received` is bumped last so that a snapshot never sees more received
    /// datagrams than outcomes.
    fn take(&self, datagram: &[u8]) {
        let c = &self.counters;
        c.bytes_received
            .fetch_add(datagram.len() as u64, Ordering::Relaxed);
        match classify(datagram, self.config.max_datagram_bytes) {
            Err(reject) => {
                let counter = match reject {
                    Reject::Header => &c.rejected_header,
                    Reject::Empty => &c.rejected_empty,
                    Reject::TooBig => &c.rejected_too_big,
                    Reject::NotUtf8 => &c.rejected_not_utf8,
                };
                counter.fetch_add(1, Ordering::Relaxed);
            }
            Ok(body) => {
                let mut queue = self.lock();
                let full = queue.ends.len() >= self.config.queue_datagrams
                    || queue.data.len() + body.len() > self.config.queue_bytes;
                if full {
                    drop(queue);
                    c.dropped.fetch_add(1, Ordering::Relaxed);
                } else {
                    let was_empty = queue.ends.is_empty();
                    queue.data.extend_from_slice(body);
                    let end = queue.data.len();
                    queue.ends.push(end);
                    c.accepted.fetch_add(1, Ordering::Relaxed);
                    drop(queue);
                    if was_empty {
                        self.ready.notify_all();
                    }
                }
            }
        }
        c.received.fetch_add(1, Ordering::Release);
    }
}

/// Checks one datagram as the daemon does and returns its document.
///
/// # Errors
///
/// The reason it is rejected.
pub fn classify(datagram: &[u8], max_datagram_bytes: usize) -> Result<&[u8], Reject> {
    if datagram.len() > max_datagram_bytes {
        return Err(Reject::TooBig);
    }
    let newline = memchr::memchr(b'\n', datagram).ok_or(Reject::Header)?;
    let header = datagram[..newline].trim_ascii();
    // The two spellings SDKs send (Python without spaces, Java and the docs with) skip the parser.
    let known = header == br#"{"format":"json","version":1}"#
        || header == br#"{"format": "json", "version": 1}"#;
    if !known && check_header(header).is_err() {
        return Err(Reject::Header);
    }
    let body = datagram[newline + 1..].trim_ascii();
    if body.is_empty() {
        return Err(Reject::Empty);
    }
    if simdutf8::basic::from_utf8(body).is_err() {
        return Err(Reject::NotUtf8);
    }
    Ok(body)
}

/// A UDP socket bound like the X-Ray daemon's, read by a thread into a bounded queue.
pub struct DaemonSocket {
    shared: Arc<Shared>,
    reader: Mutex<Option<JoinHandle<()>>>,
    local_addr: SocketAddr,
    receive_buffer_bytes: usize,
}

impl DaemonSocket {
    /// Binds `address` (e.g. `"127.0.0.1:2000"`; port 0 picks a free port) and starts reading.
    ///
    /// # Errors
    ///
    /// The address does not resolve, cannot be bound, or the reader thread cannot start; a
    /// limit is zero (`InvalidInput`).
    pub fn bind(address: impl ToSocketAddrs, config: &DaemonConfig) -> io::Result<Self> {
        if config.max_datagram_bytes == 0 || config.queue_datagrams == 0 || config.queue_bytes == 0
        {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "max_datagram_bytes, queue_datagrams and queue_bytes must be at least 1",
            ));
        }
        let address = address.to_socket_addrs()?.next().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "the address resolves to nothing",
            )
        })?;
        let socket = Socket::new(
            Domain::for_address(address),
            Type::DGRAM,
            Some(Protocol::UDP),
        )?;
        if config.receive_buffer_bytes > 0 {
            // Best effort: the kernel caps it at net.core.rmem_max without failing.
            let _ = socket.set_recv_buffer_size(config.receive_buffer_bytes);
        }
        socket.bind(&address.into())?;
        let receive_buffer_bytes = socket.recv_buffer_size().unwrap_or(0);
        let socket: UdpSocket = socket.into();
        socket.set_read_timeout(Some(POLL))?;
        let local_addr = socket.local_addr()?;
        let shared = Arc::new(Shared {
            queue: Mutex::new(Batch::default()),
            ready: Condvar::new(),
            stop: AtomicBool::new(false),
            counters: Counters::default(),
            config: config.clone(),
        });
        let reader = {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name("xrfast-udp".to_owned())
                .spawn(move || read_loop(&socket, &shared))?
        };
        Ok(Self {
            shared,
            reader: Mutex::new(Some(reader)),
            local_addr,
            receive_buffer_bytes,
        })
    }

    /// The address bound (with the port picked when 0 was asked for).
    #[must_use]
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The kernel receive buffer granted, in bytes (Linux reports twice the usable size).
    #[must_use]
    pub fn receive_buffer_bytes(&self) -> usize {
        self.receive_buffer_bytes
    }

    /// Everything queued, waiting up to `timeout` for the first document when none is.
    #[must_use]
    pub fn drain(&self, timeout: Duration) -> Batch {
        let deadline = Instant::now() + timeout;
        let mut queue = self.shared.lock();
        while queue.ends.is_empty() && !self.shared.stop.load(Ordering::Relaxed) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            queue = self
                .shared
                .ready
                .wait_timeout(queue, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        let batch = std::mem::take(&mut *queue);
        drop(queue);
        if !batch.is_empty() {
            self.shared.counters.batches.fetch_add(1, Ordering::Relaxed);
        }
        batch
    }

    /// A snapshot of the counters.
    #[must_use]
    pub fn stats(&self) -> DaemonStats {
        let c = &self.shared.counters;
        // `received` first (acquire): every outcome counted before it is visible below.
        let received = c.received.load(Ordering::Acquire);
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let mut stats = DaemonStats {
            received,
            accepted: load(&c.accepted),
            rejected_header: load(&c.rejected_header),
            rejected_empty: load(&c.rejected_empty),
            rejected_too_big: load(&c.rejected_too_big),
            rejected_not_utf8: load(&c.rejected_not_utf8),
            dropped: load(&c.dropped),
            bytes_received: load(&c.bytes_received),
            receive_errors: load(&c.receive_errors),
            queued: self.shared.lock().len() as u64,
            batches: load(&c.batches),
        };
        // The reader may have classified datagrams after `received` was read; count them as
        // received too, so the snapshot adds up.
        stats.received = stats
            .received
            .max(stats.accepted + stats.rejected() + stats.dropped);
        stats
    }

    /// Whether [`close`](Self::close) was called.
    #[must_use]
    pub fn is_closed(&self) -> bool {
        self.shared.stop.load(Ordering::Relaxed)
    }

    /// Stops the reader and closes the socket (once the reader has seen the stop flag, within
    /// 50 ms); what is queued can still be drained. Safe to call from any thread, while another
    /// one waits in [`drain`](Self::drain) (which then returns at once).
    pub fn close(&self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        self.shared.ready.notify_all();
        let reader = self
            .reader
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(reader) = reader {
            let _ = reader.join();
        }
    }
}

impl Drop for DaemonSocket {
    fn drop(&mut self) {
        self.close();
    }
}

fn read_loop(socket: &UdpSocket, shared: &Shared) {
    // One byte more than the limit, so that a longer datagram shows as longer (Linux truncates
    // it to the buffer silently).
    let size = shared
        .config
        .max_datagram_bytes
        .saturating_add(1)
        .min(MAX_UDP_PAYLOAD + 1);
    let mut buffer = vec![0_u8; size];
    while !shared.stop.load(Ordering::Relaxed) {
        match socket.recv(&mut buffer) {
            Ok(n) => shared.take(&buffer[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) => {}
            Err(_) => {
                // E.g. ECONNREFUSED reported for an earlier send on some platforms; never fatal.
                shared
                    .counters
                    .receive_errors
                    .fetch_add(1, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classify_follows_the_daemon() {
        let ok = b"{\"format\":\"json\",\"version\":1}\n{\"id\":\"a\"}";
        assert_eq!(classify(ok, 100), Ok(&b"{\"id\":\"a\"}"[..]));
        let spaced = b"{ \"version\": 1, \"format\": \"JSON\" }\n{}";
        assert_eq!(classify(spaced, 100), Ok(&b"{}"[..]));
        assert_eq!(classify(b"{\"id\":\"a\"}", 100), Err(Reject::Header));
        assert_eq!(
            classify(b"{\"format\":\"json\",\"version\":2}\n{}", 100),
            Err(Reject::Header)
        );
        assert_eq!(
            classify(b"{\"format\":\"json\",\"version\":1}\n  \n", 100),
            Err(Reject::Empty)
        );
        assert_eq!(
            classify(b"{\"format\":\"json\",\"version\":1}\n\xff\xfe", 100),
            Err(Reject::NotUtf8)
        );
        assert_eq!(classify(ok, 10), Err(Reject::TooBig));
    }
}
