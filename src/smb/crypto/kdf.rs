//! The SMB 3.x key derivation function (MS-SMB2 3.1.4.2): [SP800-108] section 5.1, counter mode,
//! PRF = HMAC-SHA256, r = 32, L = 128 or 256.
//!
//! K(i) = HMAC-SHA256(Ki, [i]32 || Label || 0x00 || Context || [L]32), integers big-endian;
//! the output is K(1) || K(2) || ... truncated to L bits.
//!
//! MS-SMB2's labels already end in a NUL ("SMBSigningKey\0"); the 0x00 separator above comes on
//! top of it.
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use zeroize::{Zeroize, Zeroizing};

/// HMAC-SHA256 keyed with `key`.
pub(crate) fn hmac_sha256(key: &[u8]) -> Hmac<Sha256> {
    // HMAC takes keys of any length (RFC 2104 section 2: longer keys are hashed first), so
    // `new_from_slice` cannot fail here whatever the key.
    <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC accepts keys of any length")
}

/// Derive `N` bytes (L = 8·N bits) from `key` with `label` and `context` (MS-SMB2 3.1.4.2).
/// SMB uses N = 16 (signing, application and AES-128 keys) and N = 32 (AES-256 keys).
pub fn derive<const N: usize>(key: &[u8], label: &[u8], context: &[u8]) -> Zeroizing<[u8; N]> {
    let prf = hmac_sha256(key);
    // L fits u32 for any key size that fits in memory a thousand times over; saturate rather
    // than wrap if someone asks for a 512 MiB key.
    let l_bits = u32::try_from(N.saturating_mul(8)).unwrap_or(u32::MAX);
    let mut out = Zeroizing::new([0u8; N]);
    for (i, chunk) in (1u32..).zip(out.chunks_mut(32)) {
        let mut mac = prf.clone();
        mac.update(&i.to_be_bytes());
        mac.update(label);
        mac.update(&[0]);
        mac.update(context);
        mac.update(&l_bits.to_be_bytes());
        let mut block: [u8; 32] = mac.finalize().into_bytes().into();
        chunk.copy_from_slice(&block[..chunk.len()]);
        block.zeroize();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use hex_literal::hex;

    // "SMB 2 and SMB 3 security in Windows 10: the anatomy of signing and cryptographic keys"
    // (Microsoft Open Specifications blog), Appendix, SMB 3.0 first channel: SessionKey
    // 0x7CD451825D0450D235424E44BA6E78CC; labels and contexts of MS-SMB2 3.2.5.3.1 for 3.0.
    #[test]
    fn smb30_blog_vectors() {
        let k = hex!("7CD451825D0450D235424E44BA6E78CC");
        assert_eq!(
            *derive::<16>(&k, b"SMB2AESCMAC\0", b"SmbSign\0"),
            hex!("0B7E9C5CAC36C0F6EA9AB275298CEDCE")
        );
        assert_eq!(
            *derive::<16>(&k, b"SMB2AESCCM\0", b"ServerIn \0"),
            hex!("FAD27796665B313EBB578F388632B4F7")
        );
        assert_eq!(
            *derive::<16>(&k, b"SMB2AESCCM\0", b"ServerOut\0"),
            hex!("B0F0427F7CEB416D1D9DCC0CD4F99447")
        );
        assert_eq!(
            *derive::<16>(&k, b"SMB2APP\0", b"SmbRpc\0"),
            hex!("BB23A4575AA26C721AF525AF15A87B4F")
        );
    }

    #[test]
    fn l256_is_one_full_prf_block_with_l_256() {
        // HMAC-SHA256 gives 256 bits, so L = 256 needs K(1) only, computed with [L]32 = 256.
        let key = [0x11u8; 32];
        let got = derive::<32>(&key, b"SMBC2SCipherKey\0", &[0x22; 64]);
        let mut m = hmac_sha256(&key);
        m.update(&1u32.to_be_bytes());
        m.update(b"SMBC2SCipherKey\0");
        m.update(&[0]);
        m.update(&[0x22; 64]);
        m.update(&256u32.to_be_bytes());
        assert_eq!(got[..], m.finalize().into_bytes()[..]);
        // L is part of the PRF input: the first 16 bytes of a 256-bit key are not the 128-bit key.
        let short = derive::<16>(&key, b"SMBC2SCipherKey\0", &[0x22; 64]);
        assert_ne!(got[..16], short[..]);
    }

    #[test]
    fn l256_matches_an_independent_implementation() {
        // Computed with Python's hmac/hashlib (an implementation independent of this one):
        //   k = bytes(range(32)); ctx = bytes(range(64))
        //   hmac.new(k, (1).to_bytes(4, "big") + b"SMBS2CCipherKey\0" + b"\0" + ctx
        //            + (256).to_bytes(4, "big"), "sha256").digest()
        let k: Vec<u8> = (0u8..32).collect();
        let ctx: Vec<u8> = (0u8..64).collect();
        assert_eq!(
            *derive::<32>(&k, b"SMBS2CCipherKey\0", &ctx),
            hex!("53f8b2fb513a90f5231f5ac12ba0a24b9eed8f6e80596136560f1b0003e8d2ae")
        );
    }
}
