//! The async driver: the only code in `smb` that touches a socket.
//!
//! Three pieces share one [`Conn`]:
//! - callers (any task, or a plain thread through [`Conn::send_now`]) build an [`OutFrame`],
//!   take credits, take message ids under the state lock, sign or seal *outside* it, and put
//!   the bytes on the wire ([`Conn::put`]): written at once when nothing is queued ahead and the
//!   socket takes the whole frame, else queued for the writer task;
//! - the writer task drains that queue, a frame at a time and whole (so a frame is never cut
//!   short or interleaved, and a caller that gives up never leaves half a frame on the wire);
//! - the reader task owns the read half: frames, decrypts, splits compounds, grants credits,
//!   verifies signatures and wakes the caller of each final response.
//!
//! Nothing serialises requests: many are in flight at once, bounded only by credits
//! (MS-SMB2 3.2.4.1.5), which is what makes 8 MiB pipelined reads and writes fast.
use crate::smb::error::{Error, ProtocolError, Result};
use crate::smb::proto::compound::{self, OutFrame, PREFIX};
use crate::smb::proto::credits::Credits;
use crate::smb::proto::pending::{Outcome, Pending};
use crate::smb::security::SessionSecurity;
use crate::smb::wire::header::{PROTOCOL_ID, SMB1_PROTOCOL_ID, TRANSFORM_PROTOCOL_ID};
use crate::smb::wire::lease::BreakNotification;
use crate::smb::wire::nbss::{self, MAX_FRAME};
use crate::smb::wire::{Command, Header, MessageId, NtStatus, SessionId};
use bytes::Bytes;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{Notify, Semaphore, mpsc, oneshot};
use tokio::task::AbortHandle;

/// One final response, as received.
#[derive(Debug, Clone)]
pub struct Response {
    pub header: Header,
    /// The whole message: header and body (offsets in bodies count from here).
    pub msg: Bytes,
    /// The signature was checked with a known session key (or the message came encrypted).
    pub verified: bool,
}

impl Response {
    pub fn status(&self) -> NtStatus {
        self.header.status
    }

    /// `Err(Error::Status)` unless the status is one of `ok`.
    pub fn expect(self, ok: &[NtStatus]) -> Result<Self> {
        if ok.contains(&self.header.status) {
            Ok(self)
        } else {
            Err(Error::Status {
                command: self.header.command,
                status: self.header.status,
            })
        }
    }

    /// Success only.
    pub fn ok(self) -> Result<Self> {
        self.expect(&[NtStatus::SUCCESS])
    }
}

/// Where a request's final response goes.
enum Waker {
    /// A task awaiting the channel ([`Sent::wait`], [`Conn::call`]).
    Task(oneshot::Sender<Result<Response>>),
    /// A function called where the response is read (the reader task), or with the error when
    /// the connection dies or no response comes in time (the sweeper): [`Reserved::send_then`].
    Call { f: Callback, deadline: Instant },
}

/// What [`Reserved::send_then`] calls with a request's outcome: once, quickly, never blocking
/// (it runs on the task that reads every response of the connection).
pub type Callback = Box<dyn FnOnce(Result<Response>) + Send>;

impl Waker {
    fn wake(self, r: Result<Response>) {
        match self {
            Waker::Task(tx) => {
                let _ = tx.send(r);
            }
            Waker::Call { f, .. } => f(r),
        }
    }
}

/// A frame on its way: a receiver and the command of each message, and the bytes as sent when
/// the caller asked for them (the pre-auth hash needs them).
type Outgoing = (
    Vec<oneshot::Receiver<Result<Response>>>,
    Vec<Command>,
    Vec<u8>,
);

/// Credits taken for one frame ([`Conn::reserve_now`]); given back if it is not sent.
pub struct Reserved {
    conn: Arc<Conn>,
    charge: u32,
}

impl Reserved {
    /// Send a frame of one message (of the reserved charge) now, from this thread, and have
    /// `f` called with its final response, or with the error if it fails, the connection dies
    /// or no response comes within the request timeout: called exactly once, from the task
    /// that reads the connection (or the sweeper's, or this thread if the frame cannot be
    /// sent). No task waits for it: one thread hand-off less per request.
    pub fn send_then(
        mut self,
        frame: OutFrame,
        session: SessionId,
        encrypt_tree: bool,
        f: Callback,
    ) {
        debug_assert_eq!(frame.slots.len(), 1);
        debug_assert_eq!(frame.charge(), self.charge);
        self.charge = 0;
        let mut then = Some(f);
        let r = self
            .conn
            .stamp_and_put(frame, session, encrypt_tree, false, false, &mut then);
        // Not taken into the table (the connection was dead, or credits out of step): call it
        // here. Once in the table, the response, the connection's death or the sweeper does.
        if let (Err(e), Some(f)) = (r, then) {
            f(Err(e));
        }
    }
}

impl Drop for Reserved {
    fn drop(&mut self) {
        if self.charge > 0 {
            self.conn.credits.add_permits(self.charge as usize);
        }
    }
}

/// A frame sent by [`Conn::send_now`], whose responses are still to come.
pub struct Sent {
    conn: Arc<Conn>,
    rxs: Vec<oneshot::Receiver<Result<Response>>>,
    commands: Vec<Command>,
}

impl Sent {
    /// The final response to each message of the frame, as [`Conn::call`] gives them.
    pub async fn wait(self) -> Result<Vec<Response>> {
        self.conn.wait(self.rxs, self.commands).await
    }
}

struct State {
    credits: Credits,
    pending: Pending<Waker>,
    sessions: HashMap<u64, Arc<SessionSecurity>>,
    /// Why the connection is dead, once it is.
    dead: Option<String>,
    /// Where unsolicited break notifications go (the client's lease-break task).
    breaks: Option<mpsc::Sender<BreakNotification>>,
    /// The reader and writer tasks: stopped when the connection dies or is dropped, so a server
    /// that neither answers nor closes cannot keep them (and a frame buffer) alive.
    tasks: Vec<AbortHandle>,
}

/// The sending side: the socket's write half and the frames waiting for the writer task.
struct Out {
    q: Mutex<OutQueue>,
    /// Wakes the writer task (frames queued).
    ready: Notify,
    /// Wakes callers waiting for room in the queue.
    room: Notify,
}

impl Out {
    fn lock(&self) -> MutexGuard<'_, OutQueue> {
        self.q.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A frame on its way to the socket: `head[at..]` then `tail` (a WRITE's payload, shared with
/// the caller, which keeps it for a resend), of which `at` bytes are written.
struct Wire {
    head: Vec<u8>,
    tail: Bytes,
    at: usize,
}

impl Wire {
    fn len(&self) -> usize {
        self.head.len() + self.tail.len()
    }

    fn done(&self) -> bool {
        self.at >= self.len()
    }

    /// Write what the socket takes now, with one vectored write (`Ok(false)`: it took all it
    /// could and the frame is not done).
    fn try_write(&mut self, wr: &OwnedWriteHalf) -> std::io::Result<bool> {
        while !self.done() {
            let n = if self.at < self.head.len() {
                let parts = [
                    std::io::IoSlice::new(&self.head[self.at..]),
                    std::io::IoSlice::new(&self.tail),
                ];
                wr.try_write_vectored(&parts)
            } else {
                wr.try_write(&self.tail[self.at - self.head.len()..])
            };
            match n {
                Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
                Ok(n) => self.at += n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(true)
    }
}

/// Frames waiting for the writer task.
struct OutQueue {
    frames: VecDeque<Wire>,
    /// The writer task is draining `frames` (or has been told to): callers must queue behind.
    busy: bool,
    /// The socket's write half; taken when the connection dies, so that the socket's sending
    /// side shuts once the writer task (holding the other reference) is gone too.
    wr: Option<Arc<OwnedWriteHalf>>,
}

/// Largest frame a caller writes itself ([`Conn::put`]); larger ones go to the writer task.
const DIRECT_MAX: usize = 256 << 10;

/// Most frames queued for the writer before callers wait (and, after a whole request timeout,
/// declare the server stuck).
const OUT_QUEUE_MAX: usize = 64;

/// A live connection. Cheap to share (`Arc<Conn>`).
pub struct Conn {
    state: Mutex<State>,
    credits: Semaphore,
    out: Arc<Out>,
    nonce: AtomicU64,
    nonce_salt: [u8; 4],
    pub request_timeout: Duration,
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conn").finish_non_exhaustive()
    }
}

impl Conn {
    /// Start the reader and writer tasks on a connected stream.
    pub fn start(stream: TcpStream, request_timeout: Duration) -> Arc<Self> {
        let _ = stream.set_nodelay(true);
        let (rd, wr) = stream.into_split();
        let mut salt = [0u8; 4];
        let _ = getrandom::fill(&mut salt);
        let conn = Arc::new(Self {
            state: Mutex::new(State {
                credits: Credits::new(),
                pending: Pending::default(),
                sessions: HashMap::new(),
                dead: None,
                breaks: None,
                tasks: Vec::new(),
            }),
            credits: Semaphore::new(1),
            out: Arc::new(Out {
                q: Mutex::new(OutQueue {
                    frames: VecDeque::new(),
                    busy: false,
                    wr: Some(Arc::new(wr)),
                }),
                ready: Notify::new(),
                room: Notify::new(),
            }),
            nonce: AtomicU64::new(1),
            nonce_salt: salt,
            request_timeout,
        });
        let w = tokio::spawn(writer_task(conn.out.clone(), Arc::downgrade(&conn)));
        let r = tokio::spawn(reader_task(rd, Arc::downgrade(&conn)));
        let s = tokio::spawn(sweeper_task(Arc::downgrade(&conn), request_timeout));
        conn.lock().tasks = vec![w.abort_handle(), r.abort_handle(), s.abort_handle()];
        conn
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock is a bug of ours; keep serving rather than cascade.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Install (or replace) the keys and policy of a session.
    pub fn set_session(&self, id: SessionId, sec: Arc<SessionSecurity>) {
        self.lock().sessions.insert(id.0, sec);
    }

    /// Deliver the server's unsolicited OPLOCK_BREAK notifications (MS-SMB2 3.2.5.19) to `tx`.
    /// The channel is bounded: when its reader falls behind, notifications are dropped (the
    /// server then times the break out by itself), so a flooding server costs no memory.
    pub fn set_break_sink(&self, tx: mpsc::Sender<BreakNotification>) {
        self.lock().breaks = Some(tx);
    }

    pub fn remove_session(&self, id: SessionId) {
        self.lock().sessions.remove(&id.0);
    }

    pub fn session(&self, id: SessionId) -> Option<Arc<SessionSecurity>> {
        self.lock().sessions.get(&id.0).cloned()
    }

    /// Close the connection: every request in flight and every later one fails with
    /// `Disconnected(why)`.
    pub fn close(&self, why: impl Into<String>) {
        self.kill(why.into());
    }

    pub fn is_dead(&self) -> bool {
        self.lock().dead.is_some()
    }

    /// A fresh 16-byte nonce for sealing: a per-connection counter and a random salt, so a
    /// (key, nonce) pair never repeats (MS-SMB2 3.1.4.3: the nonce MUST be unique per key).
    fn next_nonce(&self) -> [u8; 16] {
        let n = self.nonce.fetch_add(1, Ordering::Relaxed);
        let mut out = [0u8; 16];
        out[..8].copy_from_slice(&n.to_le_bytes());
        out[8..11].copy_from_slice(&self.nonce_salt[..3]);
        out
    }

    /// Send a frame and wait for the final response to each of its messages.
    pub async fn call(
        &self,
        frame: OutFrame,
        session: SessionId,
        encrypt_tree: bool,
    ) -> Result<Vec<Response>> {
        let (rxs, commands, _) = self
            .send(frame, session, encrypt_tree, false, false)
            .await?;
        self.wait(rxs, commands).await
    }

    /// As [`call`](Self::call), but signed whenever the session has a key, even if signing is
    /// not required (3.1.1 TREE_CONNECT, MS-SMB2 3.2.4.1.1; FSCTL_VALIDATE_NEGOTIATE_INFO,
    /// 3.2.5.14.12). Encryption, when in force, protects the message instead.
    pub async fn call_signed(
        &self,
        frame: OutFrame,
        session: SessionId,
        encrypt_tree: bool,
    ) -> Result<Vec<Response>> {
        let (rxs, commands, _) = self.send(frame, session, encrypt_tree, true, false).await?;
        self.wait(rxs, commands).await
    }

    /// As [`call`](Self::call) but also returns the exact bytes of each message as sent (the
    /// 3.1.1 pre-auth integrity hash needs them).
    pub async fn call_raw(
        &self,
        frame: OutFrame,
        session: SessionId,
    ) -> Result<(Vec<Response>, Vec<u8>)> {
        let (rxs, commands, sent) = self.send(frame, session, false, false, true).await?;
        Ok((self.wait(rxs, commands).await?, sent))
    }

    async fn send(
        &self,
        frame: OutFrame,
        session: SessionId,
        encrypt_tree: bool,
        force_sign: bool,
        keep_copy: bool,
    ) -> Result<Outgoing> {
        let charge = frame.charge();
        let first = frame
            .slots
            .first()
            .map(|s| s.command)
            .unwrap_or(Command::ECHO);
        let permit = tokio::time::timeout(self.request_timeout, self.credits.acquire_many(charge))
            .await
            .map_err(|_| Error::TimedOut {
                command: first,
                after: self.request_timeout,
            })?
            .map_err(|_| self.dead_error())?;
        permit.forget();
        self.wait_for_room(first).await?;
        self.stamp_and_put(
            frame,
            session,
            encrypt_tree,
            force_sign,
            keep_copy,
            &mut None,
        )
    }

    /// As [`call`](Self::call)'s sending half, without waiting: from any thread, runtime or not.
    /// `None` when it would have to wait (no credits to spare, or frames queued to the limit):
    /// the caller then takes the asynchronous path. Otherwise the frame is on its way (or failed)
    /// and [`Sent::wait`] gives the responses.
    pub fn send_now(
        self: &Arc<Self>,
        frame: OutFrame,
        session: SessionId,
        encrypt_tree: bool,
    ) -> Option<Result<Sent>> {
        match self.take_credits_now(frame.charge()) {
            Ok(true) => {}
            Ok(false) => return None,
            Err(e) => return Some(Err(e)),
        }
        Some(
            self.stamp_and_put(frame, session, encrypt_tree, false, false, &mut None)
                .map(|(rxs, commands, _)| Sent {
                    conn: self.clone(),
                    rxs,
                    commands,
                }),
        )
    }

    /// Credits for a frame of `charge`, taken now, from any thread: `None` when that would mean
    /// waiting (none to spare, or frames queued to the limit). See [`Reserved::send_then`].
    pub fn reserve_now(self: &Arc<Self>, charge: u32) -> Option<Reserved> {
        self.take_credits_now(charge).ok()?.then(|| Reserved {
            conn: self.clone(),
            charge,
        })
    }

    /// Take `charge` credits if that needs no wait: `Ok(false)` when none are to spare, or
    /// frames are queued to the limit; an error once the connection is dead.
    fn take_credits_now(&self, charge: u32) -> Result<bool> {
        if self.out.lock().frames.len() >= OUT_QUEUE_MAX {
            return Ok(false);
        }
        match self.credits.try_acquire_many(charge) {
            Ok(p) => {
                p.forget();
                Ok(true)
            }
            Err(tokio::sync::TryAcquireError::NoPermits) => Ok(false),
            Err(tokio::sync::TryAcquireError::Closed) => Err(self.dead_error()),
        }
    }

    /// Fail the callers whose responses are overdue (a request timeout since sent) and who
    /// have no task to time them out: [`Waker::Call`]s.
    fn sweep(&self) {
        let now = Instant::now();
        let overdue: Vec<_> = self
            .lock()
            .pending
            .take_where(|e| matches!(e.waker, Waker::Call { deadline, .. } if deadline <= now))
            .collect();
        for e in overdue {
            e.waker.wake(Err(Error::TimedOut {
                command: e.command,
                after: self.request_timeout,
            }));
        }
    }

    /// Wait (a request timeout at most) until the send queue has room: a server that stops
    /// reading fills it, and is then declared dead rather than waited on forever.
    async fn wait_for_room(&self, first: Command) -> Result<()> {
        loop {
            let room = self.out.room.notified();
            tokio::pin!(room);
            room.as_mut().enable();
            if self.out.lock().frames.len() < OUT_QUEUE_MAX {
                return Ok(());
            }
            if tokio::time::timeout(self.request_timeout, room)
                .await
                .is_err()
            {
                // Our message ids are not stamped yet, but the credits are taken: the
                // connection is of no further use.
                self.kill(format!(
                    "the server stopped reading: a {first} request could not be sent within {:?}",
                    self.request_timeout
                ));
                return Err(self.dead_error());
            }
        }
    }

    /// Stamp ids (credits already taken), sign or seal, and put the frame on the wire.
    fn stamp_and_put(
        &self,
        mut frame: OutFrame,
        session: SessionId,
        encrypt_tree: bool,
        force_sign: bool,
        keep_copy: bool,
        then: &mut Option<Callback>,
    ) -> Result<Outgoing> {
        let charge = frame.charge();
        let mut rxs = Vec::with_capacity(frame.slots.len());
        let commands: Vec<Command> = frame.slots.iter().map(|s| s.command).collect();
        let sec = {
            let mut st = self.lock();
            if let Some(why) = &st.dead {
                return Err(Error::Disconnected(why.clone()));
            }
            let c = u16::try_from(charge).unwrap_or(u16::MAX);
            let Some(id) = st.credits.take(c) else {
                // The semaphore mirrors `credits`; if they disagree, fail this one request.
                return Err(Error::Disconnected("credit accounting out of step".into()));
            };
            let req = st.credits.request_for(c);
            let ids = frame.stamp(id, req, session);
            for (slot, id) in frame.slots.iter().zip(ids) {
                let waker = match then.take() {
                    // A callback takes the frame's first message (send_then sends one).
                    Some(f) => Waker::Call {
                        f,
                        deadline: Instant::now() + self.request_timeout,
                    },
                    None => {
                        let (tx, rx) = oneshot::channel();
                        rxs.push(rx);
                        Waker::Task(tx)
                    }
                };
                st.pending.insert(id, slot.command, slot.charge, waker);
            }
            st.sessions.get(&session.0).cloned()
        };
        let mut sent = Vec::new();
        let start = match sec {
            Some(sec) if sec.encrypt || (encrypt_tree && sec.can_encrypt()) => {
                sec.seal(session, self.next_nonce(), &mut frame)?;
                0
            }
            Some(sec) => {
                if sec.sign || force_sign {
                    sec.sign(&mut frame)?;
                }
                if keep_copy {
                    sent = frame.messages().to_vec();
                }
                PREFIX - 4
            }
            None => {
                if keep_copy {
                    sent = frame.messages().to_vec();
                }
                PREFIX - 4
            }
        };
        let len = frame.len() - start - 4;
        if len > MAX_FRAME {
            return Err(Error::InvalidInput(format!(
                "request of {len} bytes is too large"
            )));
        }
        frame.buf[start..start + 4].copy_from_slice(&nbss::frame_header(len));
        self.put(Wire {
            head: frame.buf,
            tail: frame.tail,
            at: start,
        })?;
        Ok((rxs, commands, sent))
    }

    /// Put a whole frame (`buf[at..]`) on the wire. With nothing queued ahead of it, a frame of
    /// at most [`DIRECT_MAX`] is written from this thread, and queued only if the socket does not
    /// take all of it; else it queues behind the others. Never waits, so frames never interleave and none is cut short
    /// by a caller that gives up.
    fn put(&self, mut w: Wire) -> Result<()> {
        let mut q = self.out.lock();
        let Some(wr) = q.wr.clone() else {
            drop(q);
            return Err(self.dead_error());
        };
        if q.busy {
            // The writer task has frames to write (or is about to look): this one goes after
            // them, and it will find it before it stops.
            q.frames.push_back(w);
            return Ok(());
        }
        // A bulk frame (over DIRECT_MAX) would hold the queue lock, and stall other senders,
        // runtime threads among them, for as long as the kernel takes to copy megabytes: the
        // writer task writes it, as it waits for the socket without blocking a thread.
        if w.len() - w.at <= DIRECT_MAX {
            match w.try_write(&wr) {
                Ok(true) => return Ok(()),
                Ok(false) => {}
                Err(e) => {
                    drop(q);
                    self.kill(format!("write failed: {e}"));
                    return Err(self.dead_error());
                }
            }
        }
        q.frames.push_back(w);
        q.busy = true;
        drop(q);
        self.out.ready.notify_one();
        Ok(())
    }

    async fn wait(
        &self,
        rxs: Vec<oneshot::Receiver<Result<Response>>>,
        commands: Vec<Command>,
    ) -> Result<Vec<Response>> {
        let mut out = Vec::with_capacity(rxs.len());
        for (rx, command) in rxs.into_iter().zip(commands) {
            match tokio::time::timeout(self.request_timeout, rx).await {
                Ok(Ok(r)) => out.push(r?),
                Ok(Err(_)) => return Err(self.dead_error()),
                Err(_) => {
                    return Err(Error::TimedOut {
                        command,
                        after: self.request_timeout,
                    });
                }
            }
        }
        Ok(out)
    }

    fn dead_error(&self) -> Error {
        Error::Disconnected(self.lock().dead.clone().unwrap_or_else(|| "closed".into()))
    }

    /// Mark the connection dead and fail every request in flight.
    fn kill(&self, why: String) {
        let (wakers, tasks): (Vec<Waker>, Vec<AbortHandle>) = {
            let mut st = self.lock();
            if st.dead.is_none() {
                st.dead = Some(why.clone());
            }
            let tasks = std::mem::take(&mut st.tasks);
            (st.pending.drain().map(|e| e.waker).collect(), tasks)
        };
        self.credits.close();
        {
            let mut q = self.out.lock();
            q.wr = None;
            q.frames = VecDeque::new();
        }
        for t in tasks {
            t.abort();
        }
        for w in wakers {
            w.wake(Err(Error::Disconnected(why.clone())));
        }
    }

    /// Handle one frame from the server.
    fn handle_frame(&self, mut buf: Vec<u8>) -> std::result::Result<(), ProtocolError> {
        let proto: [u8; 4] = match buf.get(..4) {
            Some(p) => [p[0], p[1], p[2], p[3]],
            None => return Err(ProtocolError::Header(short_frame(buf.len()))),
        };
        let (body_at, encrypted) = if proto == TRANSFORM_PROTOCOL_ID {
            let session = crate::smb::security::transform_session(&buf)?;
            let Some(sec) = self.session(session) else {
                return Err(ProtocolError::UnknownEncryptedSession(session.0));
            };
            sec.open(&mut buf)?;
            (crate::smb::security::TRANSFORM_LEN, true)
        } else if proto == PROTOCOL_ID {
            (0, false)
        } else if proto == SMB1_PROTOCOL_ID {
            return Err(ProtocolError::Smb1Server);
        } else {
            return Err(ProtocolError::Header(
                crate::smb::wire::DecodeError::Invalid {
                    what: "Header.ProtocolId",
                    value: u64::from(u32::from_be_bytes(proto)),
                },
            ));
        };
        let frame = Bytes::from(buf).slice(body_at..);
        for range in compound::split(&frame)? {
            let msg = frame.slice(range);
            let header = Header::decode(&msg).map_err(ProtocolError::Header)?;
            if !header.is_response() {
                return Err(ProtocolError::NotAResponse(header.command));
            }
            self.handle_message(header, msg, encrypted);
        }
        Ok(())
    }

    fn handle_message(&self, header: Header, msg: Bytes, encrypted: bool) {
        if header.command == Command::OPLOCK_BREAK && header.message_id == MessageId(u64::MAX) {
            // An unsolicited break notification (MS-SMB2 3.2.5.19): "not signed"; handed to the
            // client, which acknowledges lease breaks for the leases it holds.
            match BreakNotification::decode(&msg) {
                Ok(b) => {
                    let tx = self.lock().breaks.clone();
                    if let Some(tx) = tx
                        && tx.try_send(b).is_err()
                    {
                        tracing::debug!("break notification dropped (queue full)");
                    }
                }
                Err(e) => tracing::debug!(error = %e, "malformed break notification ignored"),
            }
            return;
        }
        let interim = if header.is_interim() {
            header.async_id
        } else {
            None
        };
        let (outcome, entry, sec) = {
            let mut st = self.lock();
            let before = st.credits.available();
            let charge = if interim.is_some() {
                0
            } else {
                header.credit_charge.max(1)
            };
            let (outcome, entry) =
                st.pending
                    .on_response(header.message_id, header.command, interim);
            let charge = entry.as_ref().map(|e| e.charge).unwrap_or(charge);
            st.credits.on_response(charge, header.credits);
            let added = st.credits.available().saturating_sub(before);
            self.credits.add_permits(added as usize);
            (
                outcome,
                entry,
                st.sessions.get(&header.session_id.0).cloned(),
            )
        };
        let Some(entry) = entry else {
            if outcome == Outcome::Unknown {
                tracing::debug!(id = header.message_id.0, cmd = ?header.command, "reply to no request");
            }
            return;
        };
        let result = match outcome {
            Outcome::CommandMismatch { sent, got } => {
                Err(ProtocolError::CommandMismatch { sent, got }.into())
            }
            _ => check_protection(&header, &msg, encrypted, sec.as_deref()).map(|verified| {
                Response {
                    header,
                    msg,
                    verified,
                }
            }),
        };
        entry.waker.wake(result);
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        let st = self.state.get_mut().unwrap_or_else(|p| p.into_inner());
        for t in st.tasks.drain(..) {
            t.abort();
        }
    }
}

/// Signature and encryption rules for a final response (MS-SMB2 3.2.5.1.1.1, 3.2.5.1.3).
/// Returns whether the message is known authentic.
fn check_protection(
    h: &Header,
    msg: &[u8],
    encrypted: bool,
    sec: Option<&SessionSecurity>,
) -> Result<bool> {
    let Some(sec) = sec else {
        // No keys for this session yet (NEGOTIATE, SESSION_SETUP in progress): the caller checks
        // the final SESSION_SETUP response itself once it has derived the keys.
        return Ok(false);
    };
    if encrypted {
        return Ok(true);
    }
    if sec.encrypt {
        // "the client MUST discard the message" if the session requires encryption and the
        // message was not encrypted (3.2.5.1.1.1).
        return Err(ProtocolError::Unencrypted { command: h.command }.into());
    }
    if h.is_signed() {
        if sec.can_sign() {
            sec.verify(msg)
                .map_err(|_| ProtocolError::BadSignature { command: h.command })?;
            return Ok(true);
        }
        return Ok(false);
    }
    if sec.sign {
        return Err(ProtocolError::Unsigned { command: h.command }.into());
    }
    Ok(false)
}

fn short_frame(len: usize) -> crate::smb::wire::DecodeError {
    crate::smb::wire::DecodeError::Truncated {
        what: "frame",
        at: 0,
        need: 4,
        len,
    }
}

/// Time out the requests no task waits for ([`Conn::sweep`]), a few times per request timeout.
async fn sweeper_task(conn: std::sync::Weak<Conn>, timeout: Duration) {
    let every = (timeout / 4).max(Duration::from_millis(50));
    loop {
        tokio::time::sleep(every).await;
        let Some(c) = conn.upgrade() else { return };
        c.sweep();
    }
}

/// Drain the send queue, a frame at a time, while callers find the socket busy. Holds no
/// strong reference to the connection: dropping the [`Conn`] aborts it, and dropping the write
/// half then shuts the socket's sending side.
async fn writer_task(out: Arc<Out>, conn: std::sync::Weak<Conn>) {
    loop {
        let next = {
            let mut q = out.lock();
            let Some(wr) = q.wr.clone() else { return };
            let f = q.frames.pop_front();
            if f.is_none() {
                q.busy = false;
            }
            f.map(|f| (f, wr))
        };
        let Some((mut w, wr)) = next else {
            out.ready.notified().await;
            continue;
        };
        out.room.notify_waiters();
        if let Err(e) = write_all(&wr, &mut w).await {
            if let Some(c) = conn.upgrade() {
                c.kill(format!("write failed: {e}"));
            }
            return;
        }
    }
}

async fn write_all(wr: &OwnedWriteHalf, w: &mut Wire) -> std::io::Result<()> {
    while !w.try_write(wr)? {
        wr.writable().await?;
    }
    Ok(())
}

/// Fill `buf` with the rest of a frame; on failure, say how far it got.
async fn read_frame(rd: &mut OwnedReadHalf, buf: &mut [u8]) -> std::result::Result<(), String> {
    let mut got = 0;
    while got < buf.len() {
        match rd.read(&mut buf[got..]).await {
            Ok(0) => {
                return Err(format!(
                    "server closed the connection mid-frame ({got} of {} bytes received)",
                    buf.len()
                ));
            }
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                return Err(format!(
                    "read failed mid-frame ({got} of {} bytes received): {e}",
                    buf.len()
                ));
            }
        }
    }
    Ok(())
}

async fn reader_task(mut rd: OwnedReadHalf, conn: std::sync::Weak<Conn>) {
    let why = loop {
        let mut h = [0u8; 4];
        if let Err(e) = rd.read_exact(&mut h).await {
            break if e.kind() == std::io::ErrorKind::UnexpectedEof {
                "server closed the connection".to_string()
            } else {
                format!("read failed: {e}")
            };
        }
        let len = match nbss::parse_frame_header(h, MAX_FRAME) {
            Ok(l) => l,
            Err(e) => break ProtocolError::Frame(e).to_string(),
        };
        let mut buf = vec![0u8; len];
        if let Err(why) = read_frame(&mut rd, &mut buf).await {
            break why;
        }
        let Some(c) = conn.upgrade() else { return };
        if let Err(e) = c.handle_frame(buf) {
            break e.to_string();
        }
    };
    if let Some(c) = conn.upgrade() {
        tracing::debug!(%why, "connection closed");
        c.kill(why);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    /// A frame sent as head and tail arrives whole and in order, through every partial write
    /// a slow reader forces (the socket takes part of the head, all of it and part of the tail,
    /// or only tail).
    #[tokio::test]
    async fn head_and_tail_arrive_whole_through_partial_writes() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let (client, server) = tokio::join!(TcpStream::connect(addr), l.accept());
        let (_rd, wr) = client.unwrap().into_split();
        let (mut server, _) = server.unwrap();
        let head: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let tail: Bytes = (0..6_000_000u32)
            .map(|i| (i % 241) as u8)
            .collect::<Vec<_>>()
            .into();
        let want = [&head[..], &tail[..]].concat();
        let mut w = Wire {
            head: head.clone(),
            tail: tail.clone(),
            at: 7,
        };
        let reader = tokio::spawn(async move {
            let mut got = Vec::new();
            let mut buf = vec![0u8; 64 << 10];
            loop {
                // Slowly at first, so the writer meets a full socket again and again.
                if got.len() < 1 << 20 {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                let n = server.read(&mut buf).await.unwrap();
                if n == 0 {
                    return got;
                }
                got.extend_from_slice(&buf[..n]);
            }
        });
        let first = w.try_write(&wr).unwrap();
        assert!(!first, "a 6 MB frame does not fit a fresh socket");
        assert!(w.at > 7, "but part of it was taken at once");
        write_all(&wr, &mut w).await.unwrap();
        assert!(w.done());
        drop(wr);
        let got = reader.await.unwrap();
        assert_eq!(got.len(), want.len() - 7);
        assert!(got == want[7..], "bytes out of order or lost");
    }
}
