//! The cryptographic primitives named in the spec's conventions (spec/README.md), each wrapped
//! once. The protocol calls only these wrappers, and the Wycheproof tests run every vector
//! through the same wrappers.

use aes::cipher::block_padding::Pkcs7;
use aes::cipher::{BlockCipher, BlockDecryptMut, BlockEncryptMut, KeyInit, KeyIvInit};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::{Zeroize, Zeroizing};

/// A primitive refused its input. Deliberately coarse: crypto failures say nothing more.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CryptoError {
    /// X25519 gave the all-zero shared secret: the peer's key is a low-order point (§4.4).
    LowOrderPoint,
    /// A key, IV or length was of the wrong size.
    InvalidLength,
    /// AES-CBC decryption found bad PKCS#7 padding or a partial block.
    Decrypt,
}

impl core::fmt::Display for CryptoError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::LowOrderPoint => "the peer's public key is a low-order point (§4.4)",
            Self::InvalidLength => "a key or length has the wrong size",
            Self::Decrypt => "decryption failed",
        })
    }
}

impl std::error::Error for CryptoError {}

/// Bytes of dead stack [`erased`] overwrites: twice what `tests/erasure.rs` needs in a release
/// build (it fails at 4 KiB, passes at 8 KiB); debug builds, with larger frames, pass at 16 KiB.
const STACK_ERASE_BYTES: usize = 16 * 1024;

/// Runs `f`, then overwrites the stack below the caller with zeros (§12.3). Every public
/// operation that handles secrets runs its body through this.
///
/// Why: Rust moves a value by copying its bytes and never erases the source, and the block
/// ciphers, HKDF, X25519 and SMP work on stack copies of their keys. `ZeroizeOnDrop` erases a
/// value only where it finally lived, so AES key schedules, record keys, fresh private keys and
/// SMP secrets stay in stack frames that have returned. Worse, a value built later over such a
/// frame carries the stale bytes into the heap through its padding and unused enum space
/// (`tests/erasure.rs` found both). Running the body one frame down, then zeroing from there,
/// erases the body's own frame and everything it called before the caller goes on (libsodium's
/// `sodium_stackzero` does the same).
pub(crate) fn erased<T>(f: impl FnOnce() -> T) -> T {
    let out = one_frame_down(f);
    erase_stack();
    out
}

#[inline(never)]
fn one_frame_down<T>(f: impl FnOnce() -> T) -> T {
    f()
}

/// Its frame lies right below the caller's, over the frames the caller's callees used.
/// Skipped in fuzz builds (`cfg(fuzzing)`): it is memory hygiene, not logic, and it took a
/// seventh of the `session` target's time; `tests/erasure.rs` checks it in normal builds.
#[inline(never)]
fn erase_stack() {
    if cfg!(fuzzing) {
        return;
    }
    let mut scratch = [0u64; STACK_ERASE_BYTES / 8];
    scratch.zeroize();
    core::hint::black_box(&scratch);
}

/// SHA-256 over the concatenation of `parts`.
pub fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

fn hmac(key: &[u8], parts: &[&[u8]]) -> Hmac<Sha256> {
    // HMAC takes keys of any length, so this never fails; the fallback is unreachable.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| <Hmac<Sha256> as Mac>::new(&Default::default()));
    for p in parts {
        mac.update(p);
    }
    mac
}

/// HMAC-SHA256 (RFC 2104) over the concatenation of `parts`.
pub fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> Zeroizing<[u8; 32]> {
    Zeroizing::new(hmac(key, parts).finalize().into_bytes().into())
}

/// Checks a full 32-byte HMAC-SHA256 tag in constant time (§6.4, §12.4).
pub fn hmac_sha256_verify(key: &[u8], parts: &[&[u8]], tag: &[u8]) -> bool {
    let expected = hmac(key, parts).finalize().into_bytes();
    tag.len() == expected.len() && bool::from(expected.as_slice().ct_eq(tag))
}

/// HKDF-Extract with SHA-256 (RFC 5869 §2.2).
pub fn hkdf_extract(salt: &[u8], ikm: &[u8]) -> Zeroizing<[u8; 32]> {
    let (prk, _) = hkdf::Hkdf::<Sha256>::extract(Some(salt), ikm);
    Zeroizing::new(prk.into())
}

/// HKDF-Expand with SHA-256 (RFC 5869 §2.3) into `out`; fails when `out` is longer than 8160
/// bytes or `prk` shorter than 32.
pub fn hkdf_expand(prk: &[u8], info: &[u8], out: &mut [u8]) -> Result<(), CryptoError> {
    hkdf::Hkdf::<Sha256>::from_prk(prk)
        .map_err(|_| CryptoError::InvalidLength)?
        .expand(info, out)
        .map_err(|_| CryptoError::InvalidLength)
}

/// AES-CBC encryption with PKCS#7 padding, for any AES key size `C` (the protocol uses
/// [`aes::Aes256`]).
pub fn cbc_encrypt<C>(key: &[u8], iv: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, CryptoError>
where
    C: BlockEncryptMut + BlockCipher + KeyInit,
{
    let enc =
        cbc::Encryptor::<C>::new_from_slices(key, iv).map_err(|_| CryptoError::InvalidLength)?;
    Ok(enc.encrypt_padded_vec_mut::<Pkcs7>(plaintext))
}

/// AES-CBC decryption that checks and removes PKCS#7 padding.
pub fn cbc_decrypt<C>(
    key: &[u8],
    iv: &[u8],
    ciphertext: &[u8],
) -> Result<Zeroizing<Vec<u8>>, CryptoError>
where
    C: BlockDecryptMut + BlockCipher + KeyInit,
{
    let dec =
        cbc::Decryptor::<C>::new_from_slices(key, iv).map_err(|_| CryptoError::InvalidLength)?;
    dec.decrypt_padded_vec_mut::<Pkcs7>(ciphertext)
        .map(Zeroizing::new)
        .map_err(|_| CryptoError::Decrypt)
}

/// The X25519 public key of a private key (RFC 7748; the scalar is clamped).
pub fn x25519_public(private: &[u8; 32]) -> [u8; 32] {
    PublicKey::from(&StaticSecret::from(*private)).to_bytes()
}

/// X25519 (RFC 7748). Refuses the all-zero result of a low-order public key (§4.4).
pub fn x25519(private: &[u8; 32], public: &[u8; 32]) -> Result<Zeroizing<[u8; 32]>, CryptoError> {
    let secret = StaticSecret::from(*private);
    let shared = secret.diffie_hellman(&PublicKey::from(*public));
    if !shared.was_contributory() {
        return Err(CryptoError::LowOrderPoint);
    }
    Ok(Zeroizing::new(shared.to_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_verify_rejects_truncated_and_flipped_tags() {
        let tag = hmac_sha256(b"k", &[b"data"]);
        assert!(hmac_sha256_verify(b"k", &[b"da", b"ta"], &tag[..]));
        assert!(!hmac_sha256_verify(b"k", &[b"data"], &tag[..16]));
        let mut bad = *tag;
        bad[31] ^= 1;
        assert!(!hmac_sha256_verify(b"k", &[b"data"], &bad));
    }

    #[test]
    fn x25519_rejects_the_zero_point() {
        assert_eq!(x25519(&[7; 32], &[0; 32]), Err(CryptoError::LowOrderPoint));
    }
}
