#![no_main]
// §14: messages between cluster nodes. Parsing never panics, and what parses re-encodes to
// something that parses to the same messages.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    use bytes::{BufMut, BytesMut};
    use cryptully_relay::cluster::Wire;
    let Some(batch) = Wire::parse_batch(&bytes::Bytes::copy_from_slice(data)) else {
        return;
    };
    let mut again = BytesMut::new();
    for w in &batch {
        let body = w.encode();
        again.put_u32(body.len() as u32);
        again.put_slice(&body);
    }
    assert_eq!(Wire::parse_batch(&again.freeze()), Some(batch));
});
