//! A small Asterisk Manager Interface client for tests: one TCP connection, a reader thread that parses
//! every message (blocks of `Key: Value` lines ended by an empty line) and keeps all of them, so tests
//! can both await an event and assert on the whole history afterwards.
//!
//! The history is a Vec under a mutex with a condvar rather than a channel: a channel hands each
//! event to one receiver once, while tests need "has this happened (ever / since that mark)?" and
//! "how many times?".

use std::fmt;
use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// One AMI message: an event or an action response, fields in the order received. Keys compare
/// case-insensitively, as Asterisk treats them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Message {
    pub fields: Vec<(String, String)>,
}

impl Message {
    /// The first value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v.as_str())
    }

    /// Every value of `key` (some events repeat keys, e.g. `ChanVariable`).
    pub fn get_all(&self, key: &str) -> Vec<&str> {
        self.fields.iter().filter(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v.as_str()).collect()
    }

    /// The `Event:` name, for events.
    pub fn event(&self) -> Option<&str> {
        self.get("Event")
    }

    /// Whether this is the event `name` (case-insensitive).
    pub fn is_event(&self, name: &str) -> bool {
        self.event().is_some_and(|e| e.eq_ignore_ascii_case(name))
    }

    /// Whether this is a `UserEvent` raised by `UserEvent(name,...)` in the dialplan.
    pub fn is_user_event(&self, name: &str) -> bool {
        self.is_event("UserEvent") && self.get("UserEvent").is_some_and(|n| n.eq_ignore_ascii_case(name))
    }

    /// Whether `key` is present with exactly `value`.
    pub fn has(&self, key: &str, value: &str) -> bool {
        self.get_all(key).contains(&value)
    }
}

impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (key, value) in &self.fields {
            writeln!(f, "{key}: {value}")?;
        }
        Ok(())
    }
}

#[derive(Default)]
struct History {
    events: Vec<Message>,
    responses: Vec<Message>,
    /// Set when the connection ended (Asterisk stopped or we closed it), with the reason.
    closed: Option<String>,
}

#[derive(Default)]
struct Shared {
    history: Mutex<History>,
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, History> {
        // A poisoned lock only means another test thread panicked while holding it; the data is a log.
        self.history.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits until `probe` finds something in the history or `timeout` passes.
    fn wait<T>(&self, timeout: Duration, mut probe: impl FnMut(&History) -> Option<T>) -> Option<T> {
        let deadline = Instant::now() + timeout;
        let mut history = self.lock();
        loop {
            if let Some(found) = probe(&history) {
                return Some(found);
            }
            let now = Instant::now();
            if now >= deadline || history.closed.is_some() {
                return None;
            }
            history = self.changed.wait_timeout(history, deadline - now).unwrap_or_else(|e| e.into_inner()).0;
        }
    }
}

/// A logged-in (or about to be) AMI connection. Dropping it closes the socket and joins the reader.
pub struct Ami {
    writer: Mutex<TcpStream>,
    shared: Arc<Shared>,
    reader: Option<JoinHandle<()>>,
    next_action_id: AtomicU64,
    pub banner: String,
}

impl Ami {
    /// Connects and reads the `Asterisk Call Manager/x.y.z` banner. Fails if nothing listens, or if
    /// what answers is not an AMI.
    pub fn connect(port: u16, timeout: Duration) -> std::io::Result<Ami> {
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let stream = TcpStream::connect_timeout(&addr, timeout)?;
        stream.set_read_timeout(Some(timeout))?;
        let mut reader = BufReader::new(stream.try_clone()?);
        let mut banner = String::new();
        reader.read_line(&mut banner)?;
        let banner = banner.trim_end().to_owned();
        if !banner.starts_with("Asterisk Call Manager") {
            return Err(std::io::Error::other(format!("port {port} is not an AMI (banner {banner:?})")));
        }
        reader.get_ref().set_read_timeout(None)?;
        let shared = Arc::new(Shared::default());
        let reader = {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name(format!("ami-reader-{port}"))
                .spawn(move || read_messages(reader, &shared))?
        };
        Ok(Ami { writer: Mutex::new(stream), shared, reader: Some(reader), next_action_id: AtomicU64::new(1), banner })
    }

    /// Logs in; Err carries Asterisk's reply (or the timeout) when refused.
    pub fn login(&self, username: &str, secret: &str, timeout: Duration) -> Result<(), String> {
        match self.try_action("Login", &[("Username", username), ("Secret", secret)], timeout) {
            Some(reply) if reply.has("Response", "Success") => Ok(()),
            Some(reply) => Err(format!("login refused:\n{reply}")),
            None => Err(format!("no reply to Login within {timeout:?}")),
        }
    }

    /// Sends action `name` with `headers` (an ActionID is added) and waits for its response.
    /// None if no response came within `timeout` or the connection ended.
    pub fn try_action(&self, name: &str, headers: &[(&str, &str)], timeout: Duration) -> Option<Message> {
        let action_id = format!("prs-{}", self.next_action_id.fetch_add(1, Ordering::Relaxed));
        if !self.send(name, &action_id, headers) {
            return None;
        }
        self.shared.wait(timeout, |h| h.responses.iter().find(|r| r.has("ActionID", &action_id)).cloned())
    }

    /// Sends action `name` with `headers` and an ActionID of `action_id` without waiting for its
    /// response, as a load generator does; false if the socket would not take it (the connection ended).
    /// Collect the answers with [`Ami::new_responses`].
    pub fn send(&self, name: &str, action_id: &str, headers: &[(&str, &str)]) -> bool {
        let mut text = format!("Action: {name}\r\nActionID: {action_id}\r\n");
        for (key, value) in headers {
            text.push_str(&format!("{key}: {value}\r\n"));
        }
        text.push_str("\r\n");
        let mut writer = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        writer.write_all(text.as_bytes()).is_ok()
    }

    /// The events after the first `*seen` that match `predicate`; moves `*seen` past every event so far,
    /// so a poller looks at each event once however many arrive.
    pub fn new_events(&self, seen: &mut usize, predicate: impl Fn(&Message) -> bool) -> Vec<Message> {
        let history = self.shared.lock();
        let found = history.events.iter().skip(*seen).filter(|e| predicate(e)).cloned().collect();
        *seen = history.events.len();
        found
    }

    /// [`Ami::new_events`] for action responses.
    pub fn new_responses(&self, seen: &mut usize, predicate: impl Fn(&Message) -> bool) -> Vec<Message> {
        let history = self.shared.lock();
        let found = history.responses.iter().skip(*seen).filter(|r| predicate(r)).cloned().collect();
        *seen = history.responses.len();
        found
    }

    /// Shuts the connection down: a [`Ami::send`] blocked on a full socket returns false, and the reader
    /// sees the end. Dropping the connection does this too.
    pub fn close(&self) {
        let writer = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        let _ = writer.shutdown(Shutdown::Both);
    }

    /// Like [`Ami::try_action`], panicking when no response arrives.
    pub fn action(&self, name: &str, headers: &[(&str, &str)], timeout: Duration) -> Message {
        self.try_action(name, headers, timeout)
            .unwrap_or_else(|| panic!("no response to AMI action {name} within {timeout:?}"))
    }

    /// A copy of every event received so far, oldest first.
    pub fn events(&self) -> Vec<Message> {
        self.shared.lock().events.clone()
    }

    /// The number of events received so far; pass it to [`Ami::wait_for_event_since`] to look only at
    /// what comes after this point.
    pub fn mark(&self) -> usize {
        self.shared.lock().events.len()
    }

    /// How many events received so far match `predicate`.
    pub fn count_events(&self, predicate: impl Fn(&Message) -> bool) -> usize {
        self.shared.lock().events.iter().filter(|e| predicate(e)).count()
    }

    /// The first event, ever received on this connection, that matches `predicate`, waiting up to
    /// `timeout` for it to arrive.
    pub fn wait_for_event(&self, timeout: Duration, predicate: impl Fn(&Message) -> bool) -> Option<Message> {
        self.wait_for_event_since(0, timeout, predicate)
    }

    /// The first event after `mark` (from [`Ami::mark`]) matching `predicate`, waiting up to `timeout`.
    pub fn wait_for_event_since(
        &self,
        mark: usize,
        timeout: Duration,
        predicate: impl Fn(&Message) -> bool,
    ) -> Option<Message> {
        self.shared.wait(timeout, |h| h.events.iter().skip(mark).find(|e| predicate(e)).cloned())
    }

    /// Waits until at least `count` events match `predicate`; returns how many matched in the end.
    pub fn wait_for_count(&self, count: usize, timeout: Duration, predicate: impl Fn(&Message) -> bool) -> usize {
        let mut seen = 0;
        self.shared.wait(timeout, |h| {
            seen = h.events.iter().filter(|e| predicate(e)).count();
            (seen >= count).then_some(())
        });
        seen
    }

    /// Why the connection ended, if it has.
    pub fn closed(&self) -> Option<String> {
        self.shared.lock().closed.clone()
    }
}

impl Drop for Ami {
    fn drop(&mut self) {
        self.close();
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }
}

/// The reader thread: parses messages until EOF or an error, filing each as an event or a response.
fn read_messages(mut reader: BufReader<TcpStream>, shared: &Shared) {
    let mut fields = Vec::new();
    let mut line = String::new();
    let reason = loop {
        line.clear();
        match reader.read_line(&mut line) {
            Ok(0) => break "connection closed by Asterisk".to_owned(),
            Ok(_) => {}
            Err(e) => break format!("read error: {e}"),
        }
        let text = line.trim_end_matches(['\r', '\n']);
        if !text.is_empty() {
            let (key, value) = text.split_once(':').unwrap_or(("", text));
            fields.push((key.trim().to_owned(), value.trim_start().to_owned()));
            continue;
        }
        if fields.is_empty() {
            continue;
        }
        let message = Message { fields: std::mem::take(&mut fields) };
        let mut history = shared.lock();
        if message.get("Response").is_some() && message.event().is_none() {
            history.responses.push(message);
        } else {
            history.events.push(message);
        }
        drop(history);
        shared.changed.notify_all();
    };
    shared.lock().closed = Some(reason);
    shared.changed.notify_all();
}
