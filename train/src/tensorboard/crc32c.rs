//! CRC32C (Castagnoli), the checksum TFRecord framing uses.
//!
//! Written by hand rather than taken from the `crc32c` crate: the table-driven version is
//! a dozen lines, event files are written at a few records per training step (speed is
//! irrelevant), and it keeps the dependency tree of the CLI lean.

/// Reflected form of the Castagnoli polynomial 0x1EDC6F41.
const POLYNOMIAL: u32 = 0x82F6_3B78;

/// Byte-at-a-time lookup table, built at compile time.
const TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut byte = 0;
    while byte < 256 {
        let mut crc = byte as u32;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ POLYNOMIAL } else { crc >> 1 };
            bit += 1;
        }
        table[byte] = crc;
        byte += 1;
    }
    table
};

/// The CRC32C of `data` (e.g. `crc32c(b"123456789") == 0xE306_9283`).
pub fn crc32c(data: &[u8]) -> u32 {
    !data
        .iter()
        .fold(!0u32, |crc, &byte| TABLE[((crc ^ u32::from(byte)) & 0xFF) as usize] ^ (crc >> 8))
}

/// The masked CRC32C stored in TFRecord framing: `((crc >> 15) | (crc << 17)) + 0xa282ead8`.
///
/// TensorFlow masks the checksum because a CRC computed over data that itself contains
/// CRCs is weak; the rotation and offset make embedded checksums look like ordinary data.
pub fn masked_crc32c(data: &[u8]) -> u32 {
    crc32c(data).rotate_right(15).wrapping_add(0xA282_EAD8)
}
