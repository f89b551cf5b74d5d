//! Maps: creation, typed access, iteration, batch operations, pinning, ring and perf buffers.
