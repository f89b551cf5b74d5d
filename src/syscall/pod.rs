//! [`Pod`] for the integer and float types and arrays, and byte views of `Pod` slices (used
//! by batch map operations, which move many keys and values in one buffer).

use super::sys::Pod;

macro_rules! pod_primitives {
    ($($t:ty),* $(,)?) => {
        $(
            // SAFETY: a primitive number: no padding, every bit pattern valid.
            unsafe impl Pod for $t {}
        )*
    };
}

pod_primitives!(u8, u16, u32, u64, u128, usize, i8, i16, i32, i64, i128, isize, f32, f64);

// SAFETY: an array has no padding between elements (its stride is the element size) and
// none at the end, so an array of `Pod` is `Pod`.
unsafe impl<T: Pod, const N: usize> Pod for [T; N] {}

/// The bytes of a slice of `Pod` values, back to back.
pub fn slice_as_bytes<T: Pod>(values: &[T]) -> &[u8] {
    // SAFETY: `values` covers `len * size_of::<T>()` initialized bytes (no padding in `T`,
    // none between elements); the borrow keeps them alive and immutable.
    unsafe {
        std::slice::from_raw_parts(values.as_ptr().cast::<u8>(), std::mem::size_of_val(values))
    }
}

/// The bytes of a mutable slice of `Pod` values: whatever is written there leaves valid
/// values (every bit pattern of a `Pod` is one).
pub fn slice_as_bytes_mut<T: Pod>(values: &mut [T]) -> &mut [u8] {
    let len = std::mem::size_of_val(values);
    // SAFETY: as in `slice_as_bytes`; the exclusive borrow rules out aliasing, and any
    // bytes written decode to valid `T`s.
    unsafe { std::slice::from_raw_parts_mut(values.as_mut_ptr().cast::<u8>(), len) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn primitives_and_arrays_round_trip() {
        let v = 0x1122_3344_u32;
        assert_eq!(v.as_bytes(), &v.to_ne_bytes());
        assert_eq!(u32::from_bytes(&v.to_ne_bytes()), Some(v));
        assert_eq!(u64::from_bytes(&[0; 7]), None);
        assert_eq!(<[u16; 3]>::zeroed(), [0; 3]);
        let mut a = [1u16, 2, 3];
        a.as_bytes_mut()[0] = 9;
        assert_eq!(a[0], u16::from_ne_bytes([9, 0]));
        let mut s = [1u32, 2];
        assert_eq!(slice_as_bytes(&s).len(), 8);
        slice_as_bytes_mut(&mut s)[4..].copy_from_slice(&7u32.to_ne_bytes());
        assert_eq!(s, [1, 7]);
        assert_eq!(f64::from_bytes(&1.5f64.to_ne_bytes()), Some(1.5));
    }
}
