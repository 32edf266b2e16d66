// Included (not a module) by src/smp/group.rs and by build.rs, which computes the comb of g:
// one copy of the prime, so the two cannot differ.

/// RFC 3526 §2, the 1536-bit MODP prime, big-endian hex.
#[cfg_attr(fuzzing, allow(dead_code))]
const P_HEX: &str = concat!(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74",
    "020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437",
    "4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED",
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF05",
    "98DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB",
    "9ED529077096966D670C354E4ABC9804F1746C08CA237327FFFFFFFFFFFFFFFF",
);

/// Only under `cfg(fuzzing)`, never in a normal build: the largest 256-bit safe prime with
/// `p = 7 mod 8` (so 2 is a quadratic residue and generates the subgroup of order `q`). SMP steps
/// in this group cost about a hundredth of the real ones, so the fuzzers reach the SMP state
/// machine thousands of times a second while every step still runs the same code (issue 10).
#[allow(dead_code)] // read by build.rs always, by src/smp/group.rs only under cfg(fuzzing)
const FUZZ_P_HEX: &str = "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF72EF";
