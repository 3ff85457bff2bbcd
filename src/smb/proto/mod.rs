//! The pure connection logic (no sockets, no clock, no RNG): credits and message ids
//! (MS-SMB2 3.2.4.1.5, 3.2.5.1.4), the table of requests in flight and their interim
//! `STATUS_PENDING` replies (3.2.5.1.5), compound framing and splitting (3.2.4.1.4, 3.2.5.1.9),
//! and the dialect/negotiate policy (3.2.4.2.2, 3.2.5.2). The async driver (`smb::driver`) owns the
//! socket and calls into these under one lock.
pub mod compound;
pub mod credits;
pub mod negotiate;
pub mod pending;
