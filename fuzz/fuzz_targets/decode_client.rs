//! Splits the input into frames and decodes each as a client message; whatever decodes must
//! re-encode to exactly its frame.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| oddsmatch_fuzz::check_stream(data, oddsmatch_fuzz::Direction::Client));
