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
/// Under `cfg(fuzzing)` the group is the 256-bit one of prime.rs: 16 teeth of 16 bits, read as
/// four 4-bit digits.
const FUZZ_TEETH: u32 = 16;
const FUZZ_WINDOW: u32 = 4;

fn main() -> Result<(), Box<dyn Error>> {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=src/smp/prime.rs");
    println!("cargo:rerun-if-env-changed=CARGO_CFG_FUZZING");
    // cargo-fuzz passes `--cfg fuzzing`; cargo tells build scripts the target's cfgs this way.
    let fuzzing = std::env::var_os("CARGO_CFG_FUZZING").is_some();
    let (hex, bits, teeth, window) = match fuzzing {
        false => (P_HEX, 1536u32, TEETH, WINDOW),
        true => (FUZZ_P_HEX, 256, FUZZ_TEETH, FUZZ_WINDOW),
    };
    let bytes_per_entry = (bits / 8) as usize;
    let p = BigUint::parse_bytes(hex.as_bytes(), 16).ok_or("bad prime")?;
    let r = (BigUint::from(1u32) << bits) % &p; // the Montgomery radix mod p
    let spacing = bits / teeth;
    let mut table = Vec::with_capacity(((teeth as usize) << window) * bytes_per_entry);
    let mut tooth = BigUint::from(2u32); // g^(2^(spacing·j))
    for _ in 0..teeth {
        let mut entry = BigUint::from(1u32);
        for _ in 0..1u32 << window {
            // Montgomery form, little-endian, the width of a number.
            let mut bytes = ((&entry * &r) % &p).to_bytes_le();
            bytes.resize(bytes_per_entry, 0);
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
            "/// Teeth of the comb of g (build.rs).\nconst G_TEETH: u32 = {teeth};\n\
             /// Bits per digit of the comb of g (build.rs).\nconst G_WINDOW: u32 = {window};\n\
             /// The comb of g in Montgomery form, little-endian, one number wide an entry (build.rs).\n\
             static G_COMB: &[u8] = include_bytes!(concat!(env!(\"OUT_DIR\"), \"/g_comb.bin\"));\n\
             /// Bytes of the table, so the crate can check it was made for its own group size.\n\
             const G_COMB_BYTES: usize = {len};\n",
            len = table.len()
        ),
    )?;
    Ok(())
}
