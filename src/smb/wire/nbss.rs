//! Direct TCP transport framing (MS-SMB2 2.1): each message is preceded by a 4-byte header, a zero
//! byte and a 24-bit big-endian length.

/// The largest frame the 24-bit length can carry.
pub const MAX_FRAME: usize = 0x00FF_FFFF;

/// Why a transport header was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// "The first byte of the Direct TCP transport packet header MUST be zero" (MS-SMB2 2.1).
    #[error("transport header starts with {0:#04x}, not 0 (not an SMB2 Direct TCP stream?)")]
    BadZeroByte(u8),
    #[error("frame of {len} bytes exceeds the limit of {limit}")]
    TooLarge { len: usize, limit: usize },
    #[error("empty frame")]
    Empty,
}

/// The 4-byte Direct TCP header for a message of `len` bytes (`len <= MAX_FRAME`).
pub fn frame_header(len: usize) -> [u8; 4] {
    let l = (len.min(MAX_FRAME)) as u32;
    l.to_be_bytes()
}

/// The length announced by a transport header, checked against `limit`.
pub fn parse_frame_header(h: [u8; 4], limit: usize) -> Result<usize, FrameError> {
    if h[0] != 0 {
        return Err(FrameError::BadZeroByte(h[0]));
    }
    let len = usize::from(h[1]) << 16 | usize::from(h[2]) << 8 | usize::from(h[3]);
    if len == 0 {
        return Err(FrameError::Empty);
    }
    if len > limit {
        return Err(FrameError::TooLarge { len, limit });
    }
    Ok(len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trip_and_limits() {
        assert_eq!(
            parse_frame_header(frame_header(70000), MAX_FRAME),
            Ok(70000)
        );
        assert_eq!(
            parse_frame_header([1, 0, 0, 1], MAX_FRAME),
            Err(FrameError::BadZeroByte(1))
        );
        assert_eq!(
            parse_frame_header([0, 0, 0, 0], MAX_FRAME),
            Err(FrameError::Empty)
        );
        assert_eq!(
            parse_frame_header(frame_header(5000), 4096),
            Err(FrameError::TooLarge {
                len: 5000,
                limit: 4096
            })
        );
    }
}
