#![no_main]
// §14: messages between cluster nodes. Parsing never panics, and what parses re-encodes to
// something that parses to the same messages.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    use cryptully_relay::cluster::Wire;
    let Some(batch) = Wire::parse_batch(&bytes::Bytes::copy_from_slice(data)) else {
        return;
    };
    assert_eq!(Wire::parse_batch(&Wire::encode_batch(&batch)), Some(batch));
});
