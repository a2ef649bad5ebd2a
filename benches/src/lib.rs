//! oddsmatch benchmarks.

#![warn(missing_docs)]
