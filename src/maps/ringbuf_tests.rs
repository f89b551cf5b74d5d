//! The ring buffer consumer against a heap ring played by the test as the kernel: order,
//! BUSY, DISCARD, wrap-around, batched commits, corrupt headers.

use super::ringbuf::{HeapRingWriter, RingBuf, BUSY, DISCARD};
use super::{Map, MapError, MapSpec};
use crate::syscall::testing::{capture, FakeReply};
use crate::syscall::MapType;

fn fake_map() -> Map {
    capture(
        |_, _| FakeReply::dev_null(),
        || {
            MapSpec::new(MapType::RINGBUF)
                .name("heap_ring")
                .max_entries(4096)
                .create()
        },
    )
    .0
    .unwrap()
}

fn ring(size: u64) -> (RingBuf, HeapRingWriter) {
    RingBuf::on_heap(fake_map(), size)
}

/// Writes a committed record of `payload` at `pos`; returns the next position.
fn put(w: &HeapRingWriter, pos: u64, payload: &[u8], flags: u32) -> u64 {
    w.write(pos + 8, payload);
    w.header(pos, payload.len() as u32 | flags);
    pos + (payload.len() as u64 + 8).next_multiple_of(8)
}

#[test]
fn records_in_order_discards_skipped() {
    let (mut rb, w) = ring(4096);
    assert_eq!(rb.next().unwrap(), None);
    let mut pos = 0;
    for i in 0u64..10 {
        let flags = if i % 3 == 0 { DISCARD } else { 0 };
        pos = put(&w, pos, &i.to_ne_bytes(), flags);
    }
    pos = put(&w, pos, b"odd", 0);
    w.set_prod(pos);
    let mut seen = Vec::new();
    while let Some(r) = rb.next().unwrap() {
        if r.len() == 8 {
            seen.push(u64::from_ne_bytes(r.try_into().unwrap()));
        } else {
            assert_eq!(r, b"odd");
        }
    }
    assert_eq!(seen, vec![1, 2, 4, 5, 7, 8]);
    assert_eq!(w.consumer(), pos, "empty ring: position published");
}

#[test]
fn busy_record_stops_the_reader_until_committed() {
    let (mut rb, w) = ring(4096);
    let p1 = put(&w, 0, &1u64.to_ne_bytes(), 0);
    w.header(p1, 8 | BUSY);
    let p2 = p1 + 16;
    let p3 = put(&w, p2, &3u64.to_ne_bytes(), 0);
    w.set_prod(p3);
    assert_eq!(rb.next().unwrap(), Some(&1u64.to_ne_bytes()[..]));
    assert_eq!(
        rb.next().unwrap(),
        None,
        "BUSY head: nothing, even though 3 is ready"
    );
    assert_eq!(w.consumer(), p1, "published up to the busy record");
    assert_eq!(rb.pending(), 32);
    put(&w, p1, &2u64.to_ne_bytes(), 0);
    let mut got = Vec::new();
    rb.consume(|r| got.push(r[0])).unwrap();
    assert_eq!(got, vec![2, 3]);
    assert_eq!(w.consumer(), p3);
}

#[test]
fn wrapping_record_is_contiguous() {
    let size = 4096;
    let (mut rb, w) = ring(size);
    // Move to 16 bytes before the end, as if 4080 bytes had been consumed.
    let start = size - 16;
    let filler = vec![0u8; (start - 8) as usize];
    let p = put(&w, 0, &filler, DISCARD);
    assert_eq!(p, start);
    w.set_prod(start);
    assert_eq!(rb.next().unwrap(), None);
    assert_eq!(w.consumer(), start);
    let payload: Vec<u8> = (0..100).collect();
    let end = put(&w, start, &payload, 0);
    w.set_prod(end);
    assert_eq!(rb.next().unwrap(), Some(&payload[..]));
    assert_eq!(rb.next().unwrap(), None);
}

#[test]
fn commits_are_batched_and_never_pass_a_borrowed_record() {
    let (mut rb, w) = ring(4096);
    rb.set_commit_interval(64);
    let mut pos = 0;
    for i in 0u8..20 {
        pos = put(&w, pos, &[i; 8], 0);
    }
    w.set_prod(pos);
    let mut published = Vec::new();
    let mut n = 0;
    loop {
        let before = w.consumer();
        let Some(r) = rb.next().unwrap() else { break };
        let record_start = 16 * u64::from(r[0]);
        // While `r` is borrowed, the published position never covers it.
        assert!(
            w.consumer() <= record_start,
            "published {} past record at {record_start}",
            w.consumer()
        );
        if w.consumer() != before {
            published.push(w.consumer());
        }
        n += 1;
    }
    assert_eq!(n, 20);
    assert!(published.iter().all(|p| p % 64 == 0), "{published:?}");
    assert_eq!(w.consumer(), pos);
    // Interval 0 means every record (like libbpf).
    let (mut rb, w) = ring(4096);
    rb.set_commit_interval(0);
    let p = put(&w, 0, &[1; 8], 0);
    let p = put(&w, p, &[2; 8], 0);
    w.set_prod(p);
    rb.next().unwrap();
    rb.next().unwrap();
    assert_eq!(
        w.consumer(),
        16,
        "first record published when the second is read"
    );
}

#[test]
fn corrupt_length_is_an_error_not_a_read() {
    let (mut rb, w) = ring(4096);
    w.header(0, 5000); // longer than the ring
    w.set_prod(16);
    let err = rb.next().unwrap_err();
    assert!(
        matches!(
            err,
            MapError::Corrupt {
                what: "record length",
                ..
            }
        ),
        "{err}"
    );
    // Longer than what was published, but within the ring: also refused.
    let (mut rb, w) = ring(4096);
    w.header(0, 64);
    w.set_prod(16);
    assert!(matches!(rb.next(), Err(MapError::Corrupt { .. })));
    // Producer position beyond the ring, or misaligned.
    let (mut rb, w) = ring(4096);
    w.set_prod(8192);
    assert!(matches!(
        rb.next(),
        Err(MapError::Corrupt {
            what: "producer position",
            ..
        })
    ));
    let (mut rb, w) = ring(4096);
    w.set_prod(12);
    assert!(matches!(rb.next(), Err(MapError::Corrupt { .. })));
}

#[test]
fn consume_n_stops_after_n() {
    let (mut rb, w) = ring(4096);
    let mut pos = 0;
    for i in 0u8..5 {
        pos = put(&w, pos, &[i], 0);
    }
    w.set_prod(pos);
    let mut got = Vec::new();
    assert_eq!(rb.consume_n(3, |r| got.push(r[0])).unwrap(), 3);
    assert_eq!(rb.consume(|r| got.push(r[0])).unwrap(), 2);
    assert_eq!(got, vec![0, 1, 2, 3, 4]);
}

#[test]
fn misaligned_positions_are_an_error_not_a_misaligned_read() {
    // Someone else left the (user-writable) consumer position misaligned; a producer
    // position misaligned alike would make every header read misaligned.
    let (mut rb, w) = RingBuf::on_heap_from(fake_map(), 4096, 4);
    w.set_prod(12);
    assert!(matches!(
        rb.next(),
        Err(MapError::Corrupt {
            what: "producer position",
            ..
        })
    ));
    // Waiting settles before reading: it must not read the misaligned header either.
    let (mut rb, w) = RingBuf::on_heap_from(fake_map(), 4096, 4);
    w.set_prod(12);
    assert!(rb
        .poll(std::time::Duration::from_millis(1), |_| ())
        .is_err());
}
