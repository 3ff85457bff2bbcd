//! Credits and message ids (MS-SMB2 3.2.4.1.5 "Sending Multi-Credit Requests", 3.2.5.1.4
//! "Granting Message Credits").
//!
//! The client may only use message ids the server has granted credits for: every id below
//! `1 + Σ granted` is in the window, and a request of charge N consumes N consecutive ids. Ids
//! are never reused on a connection. Waiting for credits is the driver's business (a semaphore);
//! this type is the arithmetic, checked, and testable without a runtime.
use crate::smb::wire::MessageId;

/// How many credits we try to keep available: enough for many 8 MiB requests in flight
/// (128 credits each) without asking Samba for more than its `smb2 max credits` default (8192).
pub const TARGET_WINDOW: u32 = 2048;

#[derive(Debug, Clone)]
pub struct Credits {
    /// Next message id to hand out.
    next_id: u64,
    /// Credits granted and not yet spent.
    available: u32,
    /// Credits spent on requests whose final response has not arrived.
    in_flight: u32,
}

impl Default for Credits {
    fn default() -> Self {
        Self::new()
    }
}

impl Credits {
    /// A new connection: one credit, for NEGOTIATE with MessageId 0 (MS-SMB2 3.2.4.2.2.2: the
    /// client "MUST set … MessageId to 0" on the first NEGOTIATE).
    pub fn new() -> Self {
        Self {
            next_id: 0,
            available: 1,
            in_flight: 0,
        }
    }

    pub fn available(&self) -> u32 {
        self.available
    }

    pub fn in_flight(&self) -> u32 {
        self.in_flight
    }

    /// Take `charge` consecutive message ids, or `None` if the window is too small now.
    pub fn take(&mut self, charge: u16) -> Option<MessageId> {
        let charge32 = u32::from(charge.max(1));
        if self.available < charge32 {
            return None;
        }
        let id = MessageId(self.next_id);
        self.next_id += u64::from(charge32);
        self.available -= charge32;
        self.in_flight += charge32;
        Some(id)
    }

    /// The final response to a request of `charge` arrived, granting `granted` credits.
    /// An interim response grants too but keeps the request in flight: pass `charge = 0`.
    pub fn on_response(&mut self, charge: u16, granted: u16) {
        self.in_flight = self.in_flight.saturating_sub(u32::from(charge));
        // A credit flood cannot grow the window without bound (smb.md §4: libsmb2 #223).
        let cap = TARGET_WINDOW * 4;
        self.available = (self.available + u32::from(granted)).min(cap);
    }

    /// The CreditRequest to put on a request of `charge`: its own cost plus whatever tops the
    /// window up towards [`TARGET_WINDOW`] (MS-SMB2 3.2.4.1.2: "SHOULD set CreditRequest to the
    /// number of credits it expects to need").
    pub fn request_for(&self, charge: u16) -> u16 {
        let have = self.available + self.in_flight;
        let want = TARGET_WINDOW.saturating_sub(have).min(512);
        u16::try_from(u32::from(charge.max(1)) + want).unwrap_or(u16::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_request_is_message_id_zero_then_window_is_empty() {
        let mut c = Credits::new();
        assert_eq!(c.take(1), Some(MessageId(0)));
        assert_eq!(c.take(1), None);
        c.on_response(1, 10);
        assert_eq!(c.available(), 10);
        assert_eq!(c.in_flight(), 0);
    }

    #[test]
    fn multi_credit_requests_consume_consecutive_ids() {
        let mut c = Credits::new();
        c.take(1);
        c.on_response(1, 300);
        assert_eq!(c.take(128), Some(MessageId(1)));
        assert_eq!(c.take(128), Some(MessageId(129)));
        assert_eq!(c.take(128), None, "only 44 left");
        assert_eq!(c.take(44), Some(MessageId(257)));
        assert_eq!(c.in_flight(), 300);
        assert_eq!(c.available(), 0);
    }

    #[test]
    fn interim_grants_keep_request_in_flight_and_floods_are_capped() {
        let mut c = Credits::new();
        c.take(1);
        c.on_response(0, 5);
        assert_eq!(c.in_flight(), 1);
        for _ in 0..100 {
            c.on_response(0, u16::MAX);
        }
        assert_eq!(c.available(), TARGET_WINDOW * 4);
    }

    #[test]
    fn credit_request_tops_up_the_window() {
        let mut c = Credits::new();
        assert_eq!(c.request_for(1), 1 + 512);
        c.on_response(0, 2047);
        assert_eq!(c.request_for(4), 4);
    }
}
