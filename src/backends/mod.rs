//! Backend-specific fast paths, each beside its fallback (as burn-vision keeps `backends/cpu`):
//! every function here takes a fast path where it applies and burn's own operations elsewhere,
//! so that the networks and the training step call one narrow interface on every backend.
//!
//! Public only for the examples that time the kernels against burn's (`examples/`); not part of
//! the library's API.

pub mod cpu;
