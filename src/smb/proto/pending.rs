//! Requests in flight, keyed by MessageId (MS-SMB2 3.2.1.7 Connection.OutstandingRequests).
//!
//! An interim response (async, `STATUS_PENDING`, MS-SMB2 3.2.5.1.5) records the AsyncId and leaves
//! the entry in place; the final response removes it. `T` is whatever the driver uses to wake the
//! caller (a oneshot sender), so this table is testable without a runtime.
use crate::smb::wire::{AsyncId, Command, MessageId};
use std::collections::HashMap;

#[derive(Debug)]
pub struct Entry<T> {
    pub command: Command,
    pub charge: u16,
    pub async_id: Option<AsyncId>,
    pub waker: T,
}

/// What a response means for the table.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Interim reply recorded; keep waiting.
    Interim,
    /// Final reply; the entry was removed and is returned to the caller.
    Final,
    /// No request with that id is in flight (a reply to a request we never sent, a duplicate,
    /// or one whose caller gave up). The driver drops it but still honours granted credits.
    Unknown,
    /// The reply's command is not the request's: the server broke the protocol.
    CommandMismatch { sent: Command, got: Command },
}

#[derive(Debug)]
pub struct Pending<T> {
    map: HashMap<u64, Entry<T>>,
}

impl<T> Default for Pending<T> {
    fn default() -> Self {
        Self {
            map: HashMap::new(),
        }
    }
}

impl<T> Pending<T> {
    pub fn insert(&mut self, id: MessageId, command: Command, charge: u16, waker: T) {
        self.map.insert(
            id.0,
            Entry {
                command,
                charge,
                async_id: None,
                waker,
            },
        );
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Classify a response header; on `Final` the entry is returned.
    pub fn on_response(
        &mut self,
        id: MessageId,
        command: Command,
        interim: Option<AsyncId>,
    ) -> (Outcome, Option<Entry<T>>) {
        let Some(e) = self.map.get_mut(&id.0) else {
            return (Outcome::Unknown, None);
        };
        if e.command != command {
            let sent = e.command;
            return (
                Outcome::CommandMismatch { sent, got: command },
                self.map.remove(&id.0),
            );
        }
        if let Some(a) = interim {
            e.async_id = Some(a);
            return (Outcome::Interim, None);
        }
        (Outcome::Final, self.map.remove(&id.0))
    }

    /// Forget a request whose caller gave up (timeout); returns its charge.
    pub fn remove(&mut self, id: MessageId) -> Option<Entry<T>> {
        self.map.remove(&id.0)
    }

    /// Take the entries `pred` selects (overdue ones, say).
    pub fn take_where(
        &mut self,
        pred: impl Fn(&Entry<T>) -> bool,
    ) -> impl Iterator<Item = Entry<T>> + '_ {
        let ids: Vec<u64> = self
            .map
            .iter()
            .filter(|(_, e)| pred(e))
            .map(|(&id, _)| id)
            .collect();
        ids.into_iter().filter_map(|id| self.map.remove(&id))
    }

    /// Take every entry (the connection is gone; each caller gets the error).
    pub fn drain(&mut self) -> impl Iterator<Item = Entry<T>> + '_ {
        self.map.drain().map(|(_, e)| e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interim_then_final() {
        let mut p = Pending::default();
        p.insert(MessageId(7), Command::CREATE, 1, "w");
        let (o, e) = p.on_response(MessageId(7), Command::CREATE, Some(AsyncId(3)));
        assert_eq!(o, Outcome::Interim);
        assert!(e.is_none());
        let (o, e) = p.on_response(MessageId(7), Command::CREATE, None);
        assert_eq!(o, Outcome::Final);
        assert_eq!(e.unwrap().async_id, Some(AsyncId(3)));
        assert!(p.is_empty());
    }

    #[test]
    fn unknown_ids_and_command_mismatch() {
        let mut p = Pending::default();
        p.insert(MessageId(1), Command::READ, 2, ());
        assert_eq!(
            p.on_response(MessageId(9), Command::READ, None).0,
            Outcome::Unknown
        );
        let (o, e) = p.on_response(MessageId(1), Command::WRITE, None);
        assert_eq!(
            o,
            Outcome::CommandMismatch {
                sent: Command::READ,
                got: Command::WRITE
            }
        );
        assert_eq!(e.unwrap().charge, 2);
        assert!(p.is_empty());
    }
}
