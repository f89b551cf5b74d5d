//! Local storage maps, keyed by an fd of the object the value is attached to:
//! [`SkStorage`] (socket fd), [`TaskStorage`] (pidfd), [`InodeStorage`] (any file fd),
//! [`CgrpStorage`] (cgroup directory fd).
//!
//! These maps must be created with `BPF_F_NO_PREALLOC`, `max_entries` 0, 4-byte keys and
//! BTF ids for key and value (the kernel checks the value's BTF, e.g. for spin locks). User
//! space cannot iterate them.

use std::borrow::Borrow;
use std::marker::PhantomData;
use std::os::fd::{AsFd, AsRawFd};

use crate::syscall::{ElemFlags, MapType, Pod};

use super::error::Result;
use super::map::Map;
use super::view::{check, view_impls, Types};

fn fd_key(fd: impl AsFd) -> [u8; 4] {
    fd.as_fd().as_raw_fd().to_ne_bytes()
}

macro_rules! storage {
    ($(#[$doc:meta])* $name:ident, $ty:expr, $owner:literal) => {
        $(#[$doc])*
        ///
        /// Create it with `BPF_F_NO_PREALLOC`, `max_entries` 0, 4-byte keys and BTF ids for
        /// key and value ([`CreateOptions::btf_fd`](super::CreateOptions::btf_fd)); user
        /// space cannot iterate it.
        #[derive(Debug)]
        pub struct $name<V, M = Map> {
            map: M,
            _types: Types<V>,
        }

        view_impls!($name[V]);

        impl<V: Pod, M: Borrow<Map>> $name<V, M> {
            /// The map types this view accepts.
            pub const TYPES: &'static [MapType] = &[$ty];

            /// A view of `map`, holding `V` values.
            pub fn new(map: M) -> Result<Self> {
                check(map.borrow(), Self::TYPES, Some(4), Some(size_of::<V>()))?;
                Ok($name {
                    map,
                    _types: PhantomData,
                })
            }

            #[doc = concat!("The value attached to ", $owner, "; `None` if none.")]
            pub fn get(&self, fd: impl AsFd) -> Result<Option<V>> {
                self.get_with(fd, ElemFlags::ANY)
            }

            /// As `get`, with lookup flags (`LOCK`).
            pub fn get_with(&self, fd: impl AsFd, flags: ElemFlags) -> Result<Option<V>> {
                let mut value = V::zeroed();
                Ok(self
                    .map
                    .borrow()
                    .lookup(&fd_key(fd), value.as_bytes_mut(), flags)?
                    .then_some(value))
            }

            #[doc = concat!("Attaches `value` to ", $owner, " (`flags`: `ANY`, `NOEXIST`, `EXIST`, `LOCK`).")]
            pub fn insert(&self, fd: impl AsFd, value: &V, flags: ElemFlags) -> Result<()> {
                self.map
                    .borrow()
                    .update(&fd_key(fd), value.as_bytes(), flags)
            }

            #[doc = concat!("Detaches the value from ", $owner, "; `Ok(false)` if none.")]
            pub fn remove(&self, fd: impl AsFd) -> Result<bool> {
                self.map.borrow().delete(&fd_key(fd))
            }
        }
    };
}

storage!(
    /// Socket local storage (`SK_STORAGE`, 5.2), keyed by socket fd.
    SkStorage, MapType::SK_STORAGE, "the socket `fd`"
);

storage!(
    /// Task local storage (`TASK_STORAGE`, 5.11), keyed by pidfd
    /// ([`pidfd_open`](crate::syscall::pidfd_open)).
    TaskStorage, MapType::TASK_STORAGE, "the process of pidfd `fd`"
);

storage!(
    /// Inode local storage (`INODE_STORAGE`, 5.10, needs `CONFIG_BPF_LSM`), keyed by any fd
    /// of the file.
    InodeStorage, MapType::INODE_STORAGE, "the inode of `fd`"
);

storage!(
    /// Cgroup local storage (`CGRP_STORAGE`, 6.2), keyed by a cgroup v2 directory fd.
    CgrpStorage, MapType::CGRP_STORAGE, "the cgroup of directory `fd`"
);
