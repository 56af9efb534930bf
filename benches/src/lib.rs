//! Benchmarks of obs; see `benches/`.
