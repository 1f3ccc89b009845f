#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| lb_packet::fuzzing::offloaded(data));
