//! The checks behind the fuzz targets in `fuzz_targets/`, shared by both directions.

use oddsmatch_net::proto::{ClientMsg, DEFAULT_MAX_FRAME, HEADER_LEN, ServerMsg, split_frame};

/// Which side's decoder a target exercises.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// `ClientMsg::decode`: what the gateway reads.
    Client,
    /// `ServerMsg::decode`: what the client library reads.
    Server,
}

/// Splits `data` into frames as a connection would (a framing error ends the stream, as it
/// ends a connection) and decodes each frame; a frame that decodes must re-encode to exactly
/// its own bytes. Panics when a check fails, which libFuzzer reports as a crash.
pub fn check_stream(data: &[u8], direction: Direction) {
    let mut rest = data;
    while let Ok(Some((header, body))) = split_frame(rest, DEFAULT_MAX_FRAME) {
        let len = header.len as usize;
        assert!((HEADER_LEN..=rest.len()).contains(&len));
        assert_eq!(body, &rest[HEADER_LEN..len]);
        let frame = &rest[..len];
        let mut again = Vec::new();
        match direction {
            Direction::Client => {
                if let Ok(msg) = ClientMsg::decode(header, body) {
                    msg.encode(&mut again);
                    assert_eq!(again, frame, "not canonical: {msg:?}");
                }
            }
            Direction::Server => {
                if let Ok(msg) = ServerMsg::decode(header, body) {
                    msg.encode(&mut again);
                    assert_eq!(again, frame, "not canonical: {msg:?}");
                }
            }
        }
        rest = &rest[len..];
    }
}
