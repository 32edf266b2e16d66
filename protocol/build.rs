//! Computes the fixed-base table ("comb") of the generator g = 2 of spec §8.1 when the crate is
//! compiled, so that no SMP run waits for it (issue 11). The arithmetic here is num-bigint's,
//! independent of the crypto-bigint code that reads the table; a unit test in src/smp/group.rs
//! rebuilds the table at run time and compares.

use num_bigint::BigUint;
use std::error::Error;
use std::path::PathBuf;

include!("src/smp/prime.rs");

/// Teeth of the comb of g: 128 pieces of 12 bits, each read as two 6-bit digits, so g^e costs
/// 6 squarings and 256 multiplications, from a table of 128 × 64 entries (1.5 MB).
const TEETH: u32 = 128;
/// Bits per digit.
const WINDOW: u32 = 6;

fn main() -> Result<(), Box<dyn Error>> {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=src/smp/prime.rs");
    let p = BigUint::parse_bytes(P_HEX.as_bytes(), 16).ok_or("bad prime")?;
    let r = (BigUint::from(1u32) << 1536u32) % &p; // the Montgomery radix mod p
    let spacing = 1536 / TEETH;
    let mut table = Vec::with_capacity(((TEETH as usize) << WINDOW) * 192);
    let mut tooth = BigUint::from(2u32); // g^(2^(spacing·j))
    for _ in 0..TEETH {
        let mut entry = BigUint::from(1u32);
        for _ in 0..1u32 << WINDOW {
            // Montgomery form, 192 little-endian bytes.
            let mut bytes = ((&entry * &r) % &p).to_bytes_le();
            bytes.resize(192, 0);
            table.extend_from_slice(&bytes);
            entry = (&entry * &tooth) % &p;
        }
        tooth = tooth.modpow(&(BigUint::from(1u32) << spacing), &p);
    }
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(out.join("g_comb.bin"), &table)?;
    std::fs::write(
        out.join("g_comb.rs"),
        format!(
            "/// Teeth of the comb of g (build.rs).\nconst G_TEETH: u32 = {TEETH};\n\
             /// Bits per digit of the comb of g (build.rs).\nconst G_WINDOW: u32 = {WINDOW};\n\
             /// The comb of g in Montgomery form, 192 little-endian bytes an entry (build.rs).\n\
             static G_COMB: &[u8] = include_bytes!(concat!(env!(\"OUT_DIR\"), \"/g_comb.bin\"));\n"
        ),
    )?;
    Ok(())
}
