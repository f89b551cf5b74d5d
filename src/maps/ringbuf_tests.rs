//! The ring buffer consumer against a heap ring played by the test as the kernel: order,
//! BUSY, DISCARD, wrap-around, batched commits, corrupt headers.

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};

use super::ringbuf::{RingBuf, BUSY, DISCARD};
use super::{Map, MapError, MapSpec};
use crate::syscall::testing::{capture, FakeReply};
use crate::syscall::MapType;

/// Plays the kernel on a heap ring made by `RingBuf::on_heap` (unit tests). Valid while that
/// ring lives.
struct HeapRingWriter {
    cons: *const AtomicU64,
    prod: *const AtomicU64,
    size: u64,
}

impl HeapRingWriter {
    fn byte(&self, at: u64) -> &AtomicU8 {
        assert!(at < 2 * self.size);
        // SAFETY: the data bytes start one word after `prod` and span `2 * size` bytes
        // (checked above), alive as long as the ring (the test keeps it).
        unsafe { &*self.prod.add(1).cast::<AtomicU8>().add(at as usize) }
    }

    /// Writes bytes at ring position `pos` into both copies, as the double mapping shows.
    fn write(&self, pos: u64, bytes: &[u8]) {
        for (i, &b) in bytes.iter().enumerate() {
            let o = (pos + i as u64) % self.size;
            self.byte(o).store(b, Ordering::Relaxed);
            self.byte(o + self.size).store(b, Ordering::Relaxed);
        }
    }

    /// Writes a record header (length word with flags) at `pos`.
    fn header(&self, pos: u64, word: u32) {
        self.write(pos, &word.to_ne_bytes());
        self.write(pos + 4, &[0; 4]);
        std::sync::atomic::fence(Ordering::Release);
    }

    /// Publishes the producer position.
    fn set_prod(&self, pos: u64) {
        // SAFETY: `prod` is the first word of the live producer box.
        unsafe { &*self.prod }.store(pos, Ordering::Release);
    }

    /// The consumer position the reader published.
    fn consumer(&self) -> u64 {
        // SAFETY: `cons` is the live consumer word.
        unsafe { &*self.cons }.load(Ordering::Acquire)
    }
}

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
    ring_from(size, 0)
}

/// A heap ring whose consumer position starts at `start` (as another consumer of the map
/// may have left it).
fn ring_from(size: u64, start: u64) -> (RingBuf, HeapRingWriter) {
    let (rb, cons, prod) = RingBuf::on_heap(fake_map(), size, start);
    (rb, HeapRingWriter { cons, prod, size })
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
fn consume_commits_in_batches_behind_the_record_in_hand() {
    let (mut rb, w) = ring(4096);
    rb.set_commit_interval(64);
    let mut pos = 0;
    for i in 0u8..40 {
        let flags = if i % 7 == 3 { DISCARD } else { 0 };
        pos = put(&w, pos, &[i; 8], flags);
    }
    w.set_prod(pos);
    let mut seen = Vec::new();
    let n = rb
        .consume(|r| {
            let start = 16 * u64::from(r[0]);
            assert!(
                w.consumer() <= start,
                "published {} past {start}",
                w.consumer()
            );
            assert!(start - w.consumer() < 64 + 16, "batches of about 64 bytes");
            seen.push(r[0]);
        })
        .unwrap();
    assert_eq!(n, seen.len());
    assert_eq!(seen, (0u8..40).filter(|i| i % 7 != 3).collect::<Vec<_>>());
    assert_eq!(w.consumer(), pos);
    // A BUSY record stops consume; committing it lets the rest through.
    let p = put(&w, pos, &[100; 8], 0);
    w.header(p, 8 | BUSY);
    let q = put(&w, p + 16, &[102; 8], 0);
    w.set_prod(q);
    let mut got = Vec::new();
    rb.consume(|r| got.push(r[0])).unwrap();
    assert_eq!(got, vec![100]);
    put(&w, p, &[101; 8], 0);
    rb.consume(|r| got.push(r[0])).unwrap();
    assert_eq!(got, vec![100, 101, 102]);
    // Corrupt length: an error, the position stays before it.
    w.header(q, 9000);
    w.set_prod(q + 16);
    assert!(matches!(rb.consume(|_| ()), Err(MapError::Corrupt { .. })));
    assert!(
        matches!(rb.consume(|_| ()), Err(MapError::Corrupt { .. })),
        "stays stuck there"
    );
}

#[test]
fn misaligned_positions_are_an_error_not_a_misaligned_read() {
    // Someone else left the (user-writable) consumer position misaligned; a producer
    // position misaligned alike would make every header read misaligned.
    let (mut rb, w) = ring_from(4096, 4);
    w.set_prod(12);
    assert!(matches!(
        rb.next(),
        Err(MapError::Corrupt {
            what: "producer position",
            ..
        })
    ));
    // Waiting settles before reading: it must not read the misaligned header either.
    let (mut rb, w) = ring_from(4096, 4);
    w.set_prod(12);
    assert!(rb
        .poll(std::time::Duration::from_millis(1), |_| ())
        .is_err());
}
