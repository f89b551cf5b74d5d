//! The thin, typed `bpf(2)` layer: the only place with FFI `unsafe`.
