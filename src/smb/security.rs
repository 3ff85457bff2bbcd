//! A session's signing and sealing state, as the driver uses it: which keys, and whether every
//! message must be signed or encrypted (MS-SMB2 3.2.4.1.1, 3.2.4.1.8, 3.2.5.1.1.1, 3.2.5.1.3).
use crate::smb::crypto::{
    Cipher, CryptoError, Opener, PreauthHash, Sealer, Signer, SigningAlgorithm, derive_session_keys,
};
use crate::smb::error::{Error, ProtocolError};
use crate::smb::proto::compound::OutFrame;
use crate::smb::proto::negotiate::Negotiated;
use crate::smb::wire::SessionId;
use crate::smb::wire::negotiate::Dialect;
use crate::smb::wire::transform::{TRANSFORM_HEADER_LEN, TransformHeader};
use std::sync::Arc;

/// Length of the TRANSFORM_HEADER in front of an encrypted message.
pub const TRANSFORM_LEN: usize = TRANSFORM_HEADER_LEN;

/// Keys and policy of one session. Immutable once installed; replaced whole.
#[derive(Clone)]
pub struct SessionSecurity {
    /// Sign every request and require every response signed.
    pub sign: bool,
    /// Encrypt every request and require every response encrypted.
    pub encrypt: bool,
    signer: Option<Arc<Signer>>,
    sealer: Option<Arc<Sealer>>,
    opener: Option<Arc<Opener>>,
}

impl std::fmt::Debug for SessionSecurity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionSecurity")
            .field("sign", &self.sign)
            .field("encrypt", &self.encrypt)
            .field("keys", &self.signer.is_some())
            .finish()
    }
}

impl SessionSecurity {
    /// Derive the session's keys (MS-SMB2 3.2.5.3.1) from the authentication's session key. With
    /// no key (guest, anonymous) nothing can be signed or sealed.
    pub fn derive(
        neg: &Negotiated,
        session_key: Option<&[u8; 16]>,
        preauth: Option<&PreauthHash>,
        sign: bool,
        encrypt: bool,
    ) -> Result<Self, Error> {
        let Some(key) = session_key else {
            return Ok(Self {
                sign: false,
                encrypt: false,
                signer: None,
                sealer: None,
                opener: None,
            });
        };
        let cipher = neg
            .cipher
            .filter(|_| neg.dialect >= Dialect::SMB_3_0)
            .map(Cipher);
        let keys = derive_session_keys(neg.dialect.0, key, preauth, cipher)?;
        let signer = Some(Arc::new(Signer::new(
            SigningAlgorithm(neg.signing_algorithm),
            keys.signing_key().as_bytes(),
        )?));
        let (sealer, opener) = match (cipher, keys.encryption_key(), keys.decryption_key()) {
            (Some(c), Some(e), Some(d)) => (
                Some(Arc::new(Sealer::new(c, e.as_bytes())?)),
                Some(Arc::new(Opener::new(c, d.as_bytes())?)),
            ),
            _ => (None, None),
        };
        if encrypt && sealer.is_none() {
            return Err(Error::InvalidInput(format!(
                "encryption is required but SMB {} with no common cipher cannot encrypt",
                neg.dialect
            )));
        }
        Ok(Self {
            sign: sign && signer.is_some(),
            encrypt,
            signer,
            sealer,
            opener,
        })
    }

    pub fn can_sign(&self) -> bool {
        self.signer.is_some()
    }

    pub fn can_encrypt(&self) -> bool {
        self.sealer.is_some()
    }

    /// Sign every message of the frame (each over its own bytes, MS-SMB2 3.2.4.1.4).
    pub fn sign(&self, frame: &mut OutFrame) -> Result<(), Error> {
        let Some(s) = &self.signer else { return Ok(()) };
        frame.flatten();
        for slot in &frame.slots {
            s.sign(&mut frame.buf[slot.range.clone()])?;
        }
        Ok(())
    }

    pub fn verify(&self, msg: &[u8]) -> Result<(), CryptoError> {
        match &self.signer {
            Some(s) => s.verify(msg),
            None => Err(CryptoError::BadSignature),
        }
    }

    /// Encrypt the whole frame into one TRANSFORM message, in place (MS-SMB2 3.2.4.1.8).
    pub fn seal(
        &self,
        session: SessionId,
        nonce: [u8; 16],
        frame: &mut OutFrame,
    ) -> Result<(), Error> {
        let Some(s) = &self.sealer else {
            return Err(Error::InvalidInput("session cannot encrypt".into()));
        };
        frame.flatten();
        s.seal(session, nonce, &mut frame.buf[4..])?;
        Ok(())
    }

    /// Decrypt a TRANSFORM message in place; the plaintext starts at [`TRANSFORM_LEN`].
    pub fn open(&self, buf: &mut [u8]) -> Result<(), ProtocolError> {
        let Some(o) = &self.opener else {
            return Err(ProtocolError::DecryptFailed);
        };
        o.open(buf).map_err(|_| ProtocolError::DecryptFailed)
    }
}

/// The SessionId of a TRANSFORM message (to pick the keys), checking the header first.
pub fn transform_session(buf: &[u8]) -> Result<SessionId, ProtocolError> {
    TransformHeader::decode(buf)
        .map(|h| h.session_id)
        .map_err(ProtocolError::Header)
}
