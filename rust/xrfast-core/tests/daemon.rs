//! The daemon socket over loopback: every datagram is counted once, documents come out in order.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use xrfast_core::daemon::{DaemonConfig, DaemonSocket};

const HEADER: &[u8] = b"{\"format\":\"json\",\"version\":1}\n";

fn wait_for(socket: &DaemonSocket, received: u64) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while socket.stats().received < received && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn datagrams_are_classified_queued_and_counted() {
    let config = DaemonConfig {
        max_datagram_bytes: 200,
        queue_datagrams: 3,
        ..DaemonConfig::default()
    };
    let socket = DaemonSocket::bind("127.0.0.1:0", &config).expect("bind");
    let sender = UdpSocket::bind("127.0.0.1:0").expect("sender");
    let to = socket.local_addr();
    let good = |i: usize| {
        let mut datagram = HEADER.to_vec();
        datagram.extend_from_slice(format!("{{\"n\":{i}}}").as_bytes());
        sender.send_to(&datagram, to).expect("send");
    };
    good(0);
    good(1);
    sender.send_to(b"no header at all", to).expect("send");
    sender.send_to(HEADER, to).expect("send");
    let mut too_big = HEADER.to_vec();
    too_big.extend(std::iter::repeat_n(b' ', 300));
    sender.send_to(&too_big, to).expect("send");
    sender
        .send_to(b"{\"format\":\"json\",\"version\":1}\n\"\xff\"", to)
        .expect("send");
    good(2);
    good(3); // the queue holds 3: dropped
    wait_for(&socket, 8);
    let stats = socket.stats();
    assert_eq!(stats.received, 8);
    assert_eq!(stats.accepted, 3);
    assert_eq!(
        (
            stats.rejected_header,
            stats.rejected_empty,
            stats.rejected_too_big,
            stats.rejected_not_utf8
        ),
        (1, 1, 1, 1)
    );
    assert_eq!(stats.dropped, 1);
    assert_eq!(stats.queued, 3);
    let batch = socket.drain(Duration::from_secs(1));
    let documents: Vec<&[u8]> = batch.documents().collect();
    assert_eq!(
        documents,
        [&b"{\"n\":0}"[..], &b"{\"n\":1}"[..], &b"{\"n\":2}"[..]]
    );
    assert!(socket.drain(Duration::ZERO).is_empty());
    good(4);
    wait_for(&socket, 9);
    assert_eq!(socket.drain(Duration::from_secs(1)).len(), 1);
    socket.close();
    assert!(socket.is_closed());
    let stats = socket.stats();
    assert_eq!(
        stats.received,
        stats.accepted + stats.rejected() + stats.dropped
    );
}
