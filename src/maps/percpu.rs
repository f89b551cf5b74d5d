//! [`PerCpuValues`]: one value per possible CPU, in the kernel's layout (each value padded to
//! 8 bytes), so lookups and updates copy straight into and out of it.

use std::marker::PhantomData;

use crate::syscall::{possible_cpus, Pod};

use super::error::{MapError, Result};

/// The values of one per-CPU map entry: one `V` per *possible* CPU (not only online ones),
/// CPU `n` at index `n`.
///
/// The buffer is laid out as the kernel moves it (each value rounded up to 8 bytes), so
/// [`PerCpuHashMap::get_into`](super::PerCpuHashMap::get_into) and friends fill it with no
/// copy and no allocation.
#[derive(Clone, PartialEq, Eq)]
pub struct PerCpuValues<V> {
    buf: Vec<u8>,
    cpus: usize,
    _v: PhantomData<fn() -> V>,
}

impl<V: Pod> PerCpuValues<V> {
    /// The distance between two CPUs' values in the buffer.
    pub const STRIDE: usize = std::mem::size_of::<V>().next_multiple_of(8);

    /// All-zero values for every possible CPU.
    pub fn zeroed() -> Result<PerCpuValues<V>> {
        let cpus = possible_cpus().map_err(|source| MapError::Syscall {
            map: String::from("<per-cpu values>"),
            source,
        })? as usize;
        Ok(PerCpuValues {
            buf: vec![0u8; cpus * Self::STRIDE],
            cpus,
            _v: PhantomData,
        })
    }

    /// Values from `f(cpu)` for every possible CPU.
    pub fn from_fn(mut f: impl FnMut(u32) -> V) -> Result<PerCpuValues<V>> {
        let mut values = PerCpuValues::zeroed()?;
        for cpu in 0..values.cpus {
            values.set(cpu, &f(cpu as u32));
        }
        Ok(values)
    }

    /// The same value for every possible CPU.
    pub fn splat(value: &V) -> Result<PerCpuValues<V>> {
        PerCpuValues::from_fn(|_| *value)
    }

    /// The number of possible CPUs (values held).
    pub fn len(&self) -> usize {
        self.cpus
    }

    /// Never empty (a machine has a CPU); for clippy.
    pub fn is_empty(&self) -> bool {
        self.cpus == 0
    }

    /// CPU `cpu`'s value; `None` past the last possible CPU.
    #[inline]
    pub fn get(&self, cpu: usize) -> Option<V> {
        let start = cpu.checked_mul(Self::STRIDE)?;
        V::from_bytes(self.buf.get(start..)?)
    }

    /// Sets CPU `cpu`'s value; `false` past the last possible CPU.
    #[inline]
    pub fn set(&mut self, cpu: usize, value: &V) -> bool {
        let size = std::mem::size_of::<V>();
        let Some(end) = cpu
            .checked_mul(Self::STRIDE)
            .and_then(|start| Some(start..start.checked_add(size)?))
        else {
            return false;
        };
        match self.buf.get_mut(end) {
            Some(dst) => {
                dst.copy_from_slice(value.as_bytes());
                true
            }
            None => false,
        }
    }

    /// The values, CPU 0 first.
    pub fn iter(&self) -> impl Iterator<Item = V> + '_ {
        self.buf
            .chunks_exact(Self::STRIDE)
            .filter_map(V::from_bytes)
    }

    /// The values as a vector.
    pub fn to_vec(&self) -> Vec<V> {
        self.iter().collect()
    }

    /// The kernel-layout bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf
    }

    /// The kernel-layout bytes, writable (padding included).
    pub fn as_bytes_mut(&mut self) -> &mut [u8] {
        &mut self.buf
    }
}

impl<V: Pod + std::fmt::Debug> std::fmt::Debug for PerCpuValues<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_pads_each_cpu_to_8_bytes() {
        assert_eq!(PerCpuValues::<u32>::STRIDE, 8);
        assert_eq!(PerCpuValues::<[u8; 12]>::STRIDE, 16);
        assert_eq!(PerCpuValues::<u64>::STRIDE, 8);
        let mut v = PerCpuValues::<u32>::from_fn(|cpu| cpu + 10).unwrap();
        let n = possible_cpus().unwrap() as usize;
        assert_eq!(v.len(), n);
        assert_eq!(v.as_bytes().len(), n * 8);
        assert_eq!(v.get(0), Some(10));
        assert_eq!(v.get(n), None);
        assert!(!v.set(n, &1));
        assert!(v.set(0, &7));
        assert_eq!(v.to_vec()[0], 7);
        assert_eq!(&v.as_bytes()[..8], &[7, 0, 0, 0, 0, 0, 0, 0]);
    }
}
