#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| cryptully_protocol::fuzzing::smp_steps(data));
