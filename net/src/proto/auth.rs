//! Challenge and response: the client proves it holds the API key's secret without sending it.
//!
//! The proof is HMAC-SHA256 (RFC 2104) keyed with the 32-byte secret over the 32-byte challenge
//! followed by the key id as 8 little-endian bytes.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Bytes of a login challenge.
pub const CHALLENGE_LEN: usize = 32;
/// Bytes of a login proof (an HMAC-SHA256).
pub const PROOF_LEN: usize = 32;

fn mac(secret: &[u8; 32], challenge: &[u8; CHALLENGE_LEN], key_id: u64) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(challenge);
    mac.update(&key_id.to_le_bytes());
    mac
}

/// The proof a client sends for `challenge`.
pub fn login_proof(secret: &[u8; 32], challenge: &[u8; CHALLENGE_LEN], key_id: u64) -> [u8; 32] {
    mac(secret, challenge, key_id)
        .finalize()
        .into_bytes()
        .into()
}

/// Whether `proof` answers `challenge` for this key, compared in constant time.
pub fn verify_proof(
    secret: &[u8; 32],
    challenge: &[u8; CHALLENGE_LEN],
    key_id: u64,
    proof: &[u8; PROOF_LEN],
) -> bool {
    mac(secret, challenge, key_id).verify_slice(proof).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_proof_is_hmac_sha256_of_challenge_and_key_id() {
        // Computed independently: Python's `hmac.new(b"\x0b" * 32, b"\x11" * 32 +
        // (7).to_bytes(8, "little"), hashlib.sha256)`, the example in docs/protocol.md.
        let secret = [0x0b; 32];
        let challenge = [0x11; 32];
        let proof = login_proof(&secret, &challenge, 7);
        let hex: String = proof.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "9de028aba3a541082e13fff6b31cfb9e16d2e77cedbfbd1054ac53b7c4dcd2b9"
        );
        assert!(verify_proof(&secret, &challenge, 7, &proof));
        assert!(
            !verify_proof(&secret, &challenge, 8, &proof),
            "bound to the key id"
        );
        let mut other = secret;
        other[0] ^= 1;
        assert!(
            !verify_proof(&other, &challenge, 7, &proof),
            "bound to the secret"
        );
        let mut tampered = proof;
        tampered[31] ^= 0x80;
        assert!(!verify_proof(&secret, &challenge, 7, &tampered));
    }
}
