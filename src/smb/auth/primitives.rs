//! The small cryptographic building blocks MS-NLMP section 6 names: MD4, MD5, HMAC_MD5, DES
//! (56-bit keys), DESL, RC4 and CRC32. Hashes and DES come from RustCrypto; RC4 and CRC32 are a
//! few lines each and written here.
use des::Des;
use des::cipher::{Block, BlockCipherEncrypt, KeyInit};
use hmac::{Hmac, Mac};
use md4::{Digest, Md4};
use md5::Md5;
use zeroize::Zeroize;

/// MD4(data) (MS-NLMP 6: "MD4(M) Indicates the computation of an MD4 [RFC1320] hash of M").
pub(super) fn md4(data: &[u8]) -> [u8; 16] {
    Md4::digest(data).into()
}

/// MD5 over the concatenation of `parts`.
pub(super) fn md5(parts: &[&[u8]]) -> [u8; 16] {
    let mut h = Md5::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

/// HMAC_MD5(key, ConcatenationOf(parts...)) (MS-NLMP 6, [RFC2104]).
pub(super) fn hmac_md5(key: &[u8], parts: &[&[u8]]) -> [u8; 16] {
    // Invariant: HMAC hashes or pads any key, so `new_from_slice` cannot fail for it.
    let mut mac =
        <Hmac<Md5> as KeyInit>::new_from_slice(key).expect("HMAC accepts keys of any length");
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

/// DES(K, D) with a 7-byte (56-bit) key, as MS-NLMP 6 uses it: the 56 key bits are spread over
/// 8 bytes, 7 bits each, with the low bit set for odd parity (DES ignores it).
pub(super) fn des_encrypt(key7: &[u8; 7], data: &[u8; 8]) -> [u8; 8] {
    let mut bits = 0u64;
    for b in key7 {
        bits = (bits << 8) | u64::from(*b);
    }
    let mut key = [0u8; 8];
    for (i, k) in key.iter_mut().enumerate() {
        let seven = ((bits >> (49 - 7 * i)) & 0x7f) as u8;
        let byte = seven << 1;
        // Odd parity in the low bit.
        *k = byte | u8::from(byte.count_ones().is_multiple_of(2));
    }
    let cipher = Des::new(&key.into());
    key.zeroize();
    let mut block = Block::<Des>::from(*data);
    cipher.encrypt_block(&mut block);
    block.into()
}

/// DESL(K, D) (MS-NLMP 6): "DES(K[0..6], D) || DES(K[7..13], D) || DES(ConcatenationOf(K[14..15],
/// Z(5)), D)".
pub(super) fn desl(key: &[u8; 16], data: &[u8; 8]) -> [u8; 24] {
    let mut k1 = [0u8; 7];
    let mut k2 = [0u8; 7];
    let mut k3 = [0u8; 7];
    k1.copy_from_slice(&key[0..7]);
    k2.copy_from_slice(&key[7..14]);
    k3[..2].copy_from_slice(&key[14..16]);
    let mut out = [0u8; 24];
    out[0..8].copy_from_slice(&des_encrypt(&k1, data));
    out[8..16].copy_from_slice(&des_encrypt(&k2, data));
    out[16..24].copy_from_slice(&des_encrypt(&k3, data));
    k1.zeroize();
    k2.zeroize();
    k3.zeroize();
    out
}

/// RC4 ([SCHNEIER], MS-NLMP 6 "RC4(H, D)"): a keystream whose state carries over between calls,
/// which is exactly what MS-NLMP's sealing "handles" are.
pub(crate) struct Rc4 {
    s: [u8; 256],
    i: u8,
    j: u8,
}

impl Rc4 {
    /// RC4Init(key) for the 16-byte keys NTLM uses.
    pub(crate) fn new(key: &[u8; 16]) -> Self {
        let mut s = [0u8; 256];
        for (v, slot) in (0..=255u8).zip(s.iter_mut()) {
            *slot = v;
        }
        let mut j = 0u8;
        for i in 0..256 {
            j = j.wrapping_add(s[i]).wrapping_add(key[i % 16]);
            s.swap(i, usize::from(j));
        }
        Self { s, i: 0, j: 0 }
    }

    /// XOR `data` with the next `data.len()` keystream bytes (encrypts and decrypts alike).
    pub(crate) fn apply(&mut self, data: &mut [u8]) {
        for b in data {
            self.i = self.i.wrapping_add(1);
            self.j = self.j.wrapping_add(self.s[usize::from(self.i)]);
            self.s.swap(usize::from(self.i), usize::from(self.j));
            let k = self.s[usize::from(
                self.s[usize::from(self.i)].wrapping_add(self.s[usize::from(self.j)]),
            )];
            *b ^= k;
        }
    }
}

impl Drop for Rc4 {
    fn drop(&mut self) {
        self.s.zeroize();
        self.i = 0;
        self.j = 0;
    }
}

/// RC4K(K, D) (MS-NLMP 6): a one-shot RC4 with a fresh key.
pub(super) fn rc4k(key: &[u8; 16], data: &[u8; 16]) -> [u8; 16] {
    let mut out = *data;
    Rc4::new(key).apply(&mut out);
    out
}

/// CRC32 (MS-NLMP 6, the ISO 3309 / IEEE 802.3 polynomial, reflected) used by the NTLMv1
/// message signature without extended session security (3.4.4.1).
pub(super) fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for b in data {
        crc ^= u32::from(*b);
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xedb8_8320 & mask);
        }
    }
    !crc
}

/// Compare two byte strings in time that depends only on their lengths.
pub(super) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use hex_literal::hex;

    #[test]
    fn md4_md5_hmac_known_answers() {
        // RFC 1320 / RFC 1321 "message digest" and RFC 2104 test case 1.
        assert_eq!(
            md4(b"message digest"),
            hex!("d9130a8164549fe818874806e1c7014b")
        );
        assert_eq!(
            md5(&[b"message ", b"digest"]),
            hex!("f96b697d7cb7938d525a2f31aaf161d0")
        );
        assert_eq!(
            hmac_md5(&[0x0b; 16], &[b"Hi ", b"There"]),
            hex!("9294727a3638bb1c13f48ef8158bfc9d")
        );
    }

    #[test]
    fn rc4_known_answer_and_streaming() {
        // MS-NLMP 4.2.2.4: RC4 keyed with 0x55 x 16 over "Plaintext" (UTF-16LE).
        let text = hex!("50006c00610069006e007400650078007400");
        let mut a = text;
        Rc4::new(&[0x55; 16]).apply(&mut a);
        assert_eq!(a, hex!("56fe04d861f9319af0d7238a2e3b4d457fb8"));
        // The state carries across calls: two halves equal one whole.
        let mut b = text;
        let mut rc4 = Rc4::new(&[0x55; 16]);
        let (x, y) = b.split_at_mut(7);
        rc4.apply(x);
        rc4.apply(y);
        assert_eq!(a, b);
    }

    #[test]
    fn crc32_known_answer() {
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
        // MS-NLMP 4.2.2.4 "Checksum: CRC32(Message)" = 7d 84 aa 93 (little-endian).
        assert_eq!(
            crc32(&hex!("50006c00610069006e007400650078007400")),
            0x93aa_847d
        );
    }

    #[test]
    fn des_with_56_bit_key() {
        // MS-NLMP 3.3.1 LMOWFv1 first half: DES("PASSWOR", "KGS!@#$%") = e52cac67419a9a22.
        assert_eq!(
            des_encrypt(b"PASSWOR", b"KGS!@#$%"),
            hex!("e52cac67419a9a22")
        );
    }

    #[test]
    fn ct_eq_compares() {
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"ab"));
    }
}
