//! [`StackTraceMap`] (`STACK_TRACE`): stacks recorded by `bpf_get_stackid`, by stack id.

use std::borrow::Borrow;

use crate::syscall::{ElemFlags, MapFlags, MapType};

use super::error::{MapError, Result};
use super::map::Map;
use super::view::{check, view_impls, TypedKeys};

/// A stack trace map: `u32` stack ids to arrays of `u64` instruction pointers (or, with
/// `BPF_F_STACK_BUILD_ID`, 32-byte `bpf_stack_build_id` records).
#[derive(Debug)]
pub struct StackTraceMap<M = Map> {
    map: M,
}

view_impls!(StackTraceMap[]);

impl<M: Borrow<Map>> StackTraceMap<M> {
    /// The map types this view accepts.
    pub const TYPES: &'static [MapType] = &[MapType::STACK_TRACE];

    /// A view of `map` (4-byte keys, values a multiple of 8 bytes).
    pub fn new(map: M) -> Result<Self> {
        let m = map.borrow();
        check(m, Self::TYPES, Some(4), None)?;
        if m.value_size() == 0 || m.value_size() % 8 != 0 {
            return Err(MapError::SizeMismatch {
                map: m.name().to_string(),
                what: "value",
                expected: (m.value_size() as usize).next_multiple_of(8).max(8),
                actual: m.value_size() as usize,
            });
        }
        Ok(StackTraceMap { map })
    }

    /// The most frames a stack holds.
    pub fn max_depth(&self) -> usize {
        self.map.borrow().value_size() as usize / 8
    }

    /// Whether frames are build ids rather than addresses.
    pub fn has_build_ids(&self) -> bool {
        self.map.borrow().flags().contains(MapFlags::STACK_BUILD_ID)
    }

    /// The instruction pointers of stack `id`, innermost first, up to the first zero;
    /// `None` if no such stack.
    pub fn get(&self, id: u32) -> Result<Option<Vec<u64>>> {
        let mut frames = vec![0u64; self.max_depth()];
        Ok(self.get_into(id, &mut frames)?.map(|n| {
            frames.truncate(n);
            frames
        }))
    }

    /// Stack `id` into `frames` (at least [`max_depth`](Self::max_depth) long), returning
    /// the number of non-zero leading frames; `None` if no such stack. No allocation.
    pub fn get_into(&self, id: u32, frames: &mut [u64]) -> Result<Option<usize>> {
        let map = self.map.borrow();
        let depth = self.max_depth();
        let Some(frames) = frames.get_mut(..depth) else {
            return Err(MapError::SizeMismatch {
                map: map.name().to_string(),
                what: "frames buffer",
                expected: depth,
                actual: frames.len(),
            });
        };
        let found = map.lookup(
            &id.to_ne_bytes(),
            crate::syscall::slice_as_bytes_mut(frames),
            ElemFlags::ANY,
        )?;
        Ok(found.then(|| frames.iter().take_while(|&&ip| ip != 0).count()))
    }

    /// Removes stack `id` (the id becomes free for new stacks); `Ok(false)` if absent.
    pub fn remove(&self, id: u32) -> Result<bool> {
        self.map.borrow().delete(&id.to_ne_bytes())
    }

    /// The ids of the recorded stacks.
    pub fn stack_ids(&self) -> TypedKeys<'_, u32> {
        TypedKeys::new(self.map.borrow())
    }
}
