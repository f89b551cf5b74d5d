//! Programs: loading, the verifier log, attaching, links and pinning.
