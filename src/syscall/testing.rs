//! A per-thread fake kernel for unit tests: capture the attribute bytes a wrapper sends
//! without calling `bpf(2)`.
//!
//! The layers above (maps, programs, loader) use it to check what they ask the kernel for:
//!
//! ```
//! use oxbpf::syscall::testing::{capture, FakeReply};
//! use oxbpf::syscall::{map_create, Command, MapCreate, MapCreateAttr, MapType, Pod};
//!
//! let (result, calls) = capture(
//!     |_cmd, _attr| FakeReply::dev_null(), // MAP_CREATE must hand back an fd
//!     || {
//!         map_create(&MapCreate {
//!             map_type: MapType::ARRAY,
//!             key_size: 4,
//!             value_size: 8,
//!             max_entries: 1,
//!             name: "counts",
//!             ..Default::default()
//!         })
//!     },
//! );
//! assert!(result.is_ok());
//! assert_eq!(calls[0].command, Command::MAP_CREATE);
//! let attr = MapCreateAttr::from_bytes(&calls[0].attr).unwrap();
//! assert_eq!((attr.map_type, attr.value_size), (2, 8));
//! assert_eq!(&attr.map_name[..7], b"counts\0");
//! ```
//!
//! The fake is thread-local, so tests running in parallel do not see each other's fakes.
//! While the handler runs it is taken out of its slot: a handler must not call this layer
//! (such a call would reach the real kernel).

use std::cell::RefCell;
use std::os::fd::OwnedFd;

use nix::errno::Errno;

use super::types::Command;

/// What the fake kernel answers.
#[derive(Debug)]
pub enum FakeReply {
    /// A plain return value (0 for most commands).
    Value(i64),
    /// A new file descriptor, for commands that create one (MAP_CREATE, PROG_LOAD, OBJ_GET,
    /// *_GET_FD_BY_ID, LINK_CREATE, ...). Answering those with [`FakeReply::Value`] makes the
    /// wrapper fail with EBADF.
    Fd(OwnedFd),
}

impl FakeReply {
    /// `Ok(FakeReply::Fd(..))` of a freshly opened `/dev/null`: a harmless fd to hand back
    /// for fd-creating commands.
    pub fn dev_null() -> Result<FakeReply, Errno> {
        std::fs::File::open("/dev/null")
            .map(|f| FakeReply::Fd(f.into()))
            .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))
    }

    /// `Ok(FakeReply::Value(0))`: success of a command that returns no fd.
    pub fn ok() -> Result<FakeReply, Errno> {
        Ok(FakeReply::Value(0))
    }
}

/// A fake kernel: gets the command and the attribute bytes (which it may change, as the
/// kernel writes results back), answers a reply or an errno.
pub type Handler = Box<dyn FnMut(Command, &mut [u8]) -> Result<FakeReply, Errno>>;

thread_local! {
    static FAKE: RefCell<Option<Handler>> = const { RefCell::new(None) };
}

/// Restores the previous fake (or the real kernel) when dropped.
#[must_use = "the fake is removed when the guard is dropped"]
pub struct FakeGuard {
    previous: Option<Handler>,
    // Thread-local state: the guard must be dropped on the thread that made it.
    _not_send: std::marker::PhantomData<*const ()>,
}

impl Drop for FakeGuard {
    fn drop(&mut self) {
        let previous = self.previous.take();
        FAKE.with(|f| *f.borrow_mut() = previous);
    }
}

/// Routes this thread's `bpf(2)` calls to `handler` until the guard is dropped.
pub fn install_fake(
    handler: impl FnMut(Command, &mut [u8]) -> Result<FakeReply, Errno> + 'static,
) -> FakeGuard {
    let previous = FAKE.with(|f| f.borrow_mut().replace(Box::new(handler)));
    FakeGuard {
        previous,
        _not_send: std::marker::PhantomData,
    }
}

/// One call seen by [`capture`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Captured {
    /// The command.
    pub command: Command,
    /// The attribute bytes as the wrapper sent them (before the handler changed them).
    pub attr: Vec<u8>,
}

/// Runs `body` with `handler` as this thread's fake kernel and returns `body`'s result with
/// every call it made.
pub fn capture<R>(
    mut handler: impl FnMut(Command, &mut [u8]) -> Result<FakeReply, Errno> + 'static,
    body: impl FnOnce() -> R,
) -> (R, Vec<Captured>) {
    let calls = std::rc::Rc::new(RefCell::new(Vec::new()));
    let sink = calls.clone();
    let guard = install_fake(move |command, attr| {
        sink.borrow_mut().push(Captured {
            command,
            attr: attr.to_vec(),
        });
        handler(command, attr)
    });
    let result = body();
    drop(guard);
    let calls = calls.take();
    (result, calls)
}

/// The choke point's hook: `Some(reply)` when a fake is installed on this thread.
pub(crate) fn call_fake(cmd: Command, attr: &mut [u8]) -> Option<Result<FakeReply, Errno>> {
    let mut handler = FAKE.with(|f| f.borrow_mut().take())?;
    let reply = handler(cmd, attr);
    FAKE.with(|f| {
        let mut slot = f.borrow_mut();
        // A handler that installed another fake while running loses to it.
        if slot.is_none() {
            *slot = Some(handler);
        }
    });
    Some(reply)
}
