//! The kernel notification sources the scheduler sleeps on: inotify on the spool directories, an eventfd
//! other threads use to wake it, and a CLOCK_REALTIME timerfd armed at the next due time (cancelled by
//! the kernel when the wall clock is set, so a clock jump wakes the scheduler instead of stalling it).
//! Thin safe wrappers over libc; no policy here.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::Duration;

use crate::bookkeeping::Millis;

fn check(rc: libc::c_int) -> io::Result<libc::c_int> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

fn owned(fd: libc::c_int) -> io::Result<OwnedFd> {
    let fd = check(fd)?;
    // SAFETY: `fd` was just returned by a successful syscall creating a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// One inotify event, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawEvent {
    pub wd: i32,
    pub mask: u32,
    pub name: Vec<u8>,
}

/// Events pbx_spool_rs watches on the outgoing directory.
pub const SPOOL_MASK: u32 = libc::IN_CREATE
    | libc::IN_CLOSE_WRITE
    | libc::IN_MOVED_TO
    | libc::IN_MOVED_FROM
    | libc::IN_DELETE
    | libc::IN_ATTRIB
    | libc::IN_DELETE_SELF
    | libc::IN_MOVE_SELF
    | libc::IN_ONLYDIR;
/// Events watched on the spool's parent while the outgoing directory is missing.
pub const PARENT_MASK: u32 = libc::IN_CREATE | libc::IN_MOVED_TO | libc::IN_ONLYDIR;

pub struct Inotify {
    fd: OwnedFd,
    buffer: Vec<u8>,
}

impl Inotify {
    pub fn new() -> io::Result<Self> {
        // SAFETY: plain syscall with constant flags.
        let fd = owned(unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) })?;
        Ok(Inotify { fd, buffer: vec![0; 64 * 1024] })
    }

    pub fn add_watch(&self, dir: &Path, mask: u32) -> io::Result<i32> {
        let c_path =
            CString::new(dir.as_os_str().as_bytes()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        // SAFETY: the descriptor is open and `c_path` is a valid NUL-terminated string for the call's duration.
        check(unsafe { libc::inotify_add_watch(self.fd.as_raw_fd(), c_path.as_ptr(), mask) })
    }

    pub fn remove_watch(&self, wd: i32) {
        // SAFETY: plain syscall on our open descriptor; an unknown wd only yields EINVAL, which is harmless.
        unsafe { libc::inotify_rm_watch(self.fd.as_raw_fd(), wd) };
    }

    /// Read every event currently queued, appending them to `out`. Returns without blocking.
    pub fn read_events(&mut self, out: &mut Vec<RawEvent>) -> io::Result<()> {
        const HEADER: usize = std::mem::size_of::<libc::inotify_event>();
        loop {
            // SAFETY: the buffer is valid for writes of its full length and outlives the call.
            let n = unsafe { libc::read(self.fd.as_raw_fd(), self.buffer.as_mut_ptr().cast(), self.buffer.len()) };
            if n < 0 {
                let err = io::Error::last_os_error();
                return match err.kind() {
                    io::ErrorKind::WouldBlock => Ok(()),
                    io::ErrorKind::Interrupted => continue,
                    _ => Err(err),
                };
            }
            let n = n as usize;
            let mut offset = 0;
            while offset + HEADER <= n {
                let header_bytes = self.buffer[offset..].as_ptr().cast::<libc::inotify_event>();
                // SAFETY: the kernel wrote a complete header at `offset` (checked against `n`); unaligned read.
                let header: libc::inotify_event = unsafe { std::ptr::read_unaligned(header_bytes) };
                let name_start = offset + HEADER;
                let name_end = (name_start + header.len as usize).min(n);
                let raw_name = &self.buffer[name_start..name_end];
                let name_len = raw_name.iter().position(|&b| b == 0).unwrap_or(raw_name.len());
                out.push(RawEvent { wd: header.wd, mask: header.mask, name: raw_name[..name_len].to_vec() });
                offset = name_end;
            }
            if n < self.buffer.len() / 2 {
                return Ok(());
            }
        }
    }
}

impl AsRawFd for Inotify {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// A counter other threads write to wake the scheduler out of `poll`.
pub struct EventFd {
    fd: OwnedFd,
}

impl EventFd {
    pub fn new() -> io::Result<Self> {
        // SAFETY: plain syscall with constant flags.
        let fd = owned(unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) })?;
        Ok(EventFd { fd })
    }

    /// Wake the sleeper. Lock-free and allocation-free, so safe to call from Asterisk's threads.
    pub fn wake(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live u64 to our open eventfd; a full counter (EAGAIN) still wakes.
        unsafe { libc::write(self.fd.as_raw_fd(), (&one as *const u64).cast(), 8) };
    }

    /// Reset the counter after waking.
    pub fn drain(&self) {
        let mut value: u64 = 0;
        // SAFETY: reads 8 bytes into a live u64 from our open, non-blocking eventfd.
        unsafe { libc::read(self.fd.as_raw_fd(), (&mut value as *mut u64).cast(), 8) };
    }
}

impl AsRawFd for EventFd {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// A CLOCK_REALTIME timer armed at an absolute wall-clock time, cancelled (and readable) when the clock
/// is set, so due times follow the wall clock the files' mtimes are measured in.
pub struct WallTimer {
    fd: OwnedFd,
    /// What the kernel's timer is set to, while that is known: `arm` with the same value again is no
    /// syscall. Unknown (None) after an expiry or a clock change has been drained.
    armed: Option<Option<Millis>>,
}

impl WallTimer {
    pub fn new() -> io::Result<Self> {
        // SAFETY: plain syscall with constant arguments.
        let fd = owned(unsafe { libc::timerfd_create(libc::CLOCK_REALTIME, libc::TFD_NONBLOCK | libc::TFD_CLOEXEC) })?;
        Ok(WallTimer { fd, armed: None })
    }

    /// Arm at `at` (ms since the epoch), or disarm with `None`. Setting what is already set does nothing:
    /// the scheduler arms once per wake-up, and a burst of arrivals wakes it thousands of times a second.
    pub fn arm(&mut self, at: Option<Millis>) -> io::Result<()> {
        if self.armed == Some(at) {
            return Ok(());
        }
        self.armed = None;
        let value = match at {
            Some(ms) => {
                let ms = ms.max(1);
                libc::timespec {
                    tv_sec: (ms / 1000) as libc::time_t,
                    tv_nsec: ((ms % 1000) * 1_000_000) as libc::c_long,
                }
            }
            None => libc::timespec { tv_sec: 0, tv_nsec: 0 },
        };
        let spec = libc::itimerspec { it_interval: libc::timespec { tv_sec: 0, tv_nsec: 0 }, it_value: value };
        let flags = libc::TFD_TIMER_ABSTIME | libc::TFD_TIMER_CANCEL_ON_SET;
        // SAFETY: `spec` is a valid itimerspec for the call's duration; a null old-value pointer is allowed.
        check(unsafe { libc::timerfd_settime(self.fd.as_raw_fd(), flags, &spec, std::ptr::null_mut()) })?;
        self.armed = Some(at);
        Ok(())
    }

    /// Consume an expiry or a clock-change notification. Either leaves the kernel's timer unset (an
    /// absolute one-shot timer that fired, or one the clock change cancelled), so the next `arm` sets it.
    pub fn drain(&mut self) {
        self.armed = None;
        let mut value: u64 = 0;
        // SAFETY: reads 8 bytes into a live u64 from our open, non-blocking timerfd (ECANCELED/EAGAIN are fine).
        unsafe { libc::read(self.fd.as_raw_fd(), (&mut value as *mut u64).cast(), 8) };
    }
}

impl AsRawFd for WallTimer {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// Wait until one of `fds` is readable, or `timeout` has passed (None: no limit). Returns, in the order
/// of `fds`, which ones are readable (none, when the time ran out).
pub fn wait_readable<const N: usize>(fds: [RawFd; N], timeout: Option<Duration>) -> io::Result<[bool; N]> {
    let mut pollfds = fds.map(|fd| libc::pollfd { fd, events: libc::POLLIN, revents: 0 });
    let limit = timeout.map(|t| libc::timespec {
        tv_sec: t.as_secs().min(i32::MAX as u64) as libc::time_t,
        tv_nsec: t.subsec_nanos() as libc::c_long,
    });
    let limit_ptr = limit.as_ref().map_or(std::ptr::null(), |t| t as *const libc::timespec);
    loop {
        // SAFETY: `pollfds` is a valid array of N pollfd structs alive for the call; `limit_ptr` is null (block) or points at a live timespec; a null signal mask leaves the mask unchanged.
        let rc = unsafe { libc::ppoll(pollfds.as_mut_ptr(), N as libc::nfds_t, limit_ptr, std::ptr::null()) };
        if rc >= 0 {
            break;
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
    Ok(pollfds.map(|p| p.revents & (libc::POLLIN | libc::POLLERR | libc::POLLHUP) != 0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bookkeeping;

    #[test]
    fn a_timer_that_fired_fires_again_when_armed_at_the_same_time() {
        let mut timer = WallTimer::new().unwrap();
        let past = bookkeeping::now_ms() - 1000;
        timer.arm(Some(past)).unwrap();
        assert_eq!(wait_readable([timer.as_raw_fd()], Some(Duration::from_secs(5))).unwrap(), [true]);
        timer.drain();
        assert_eq!(wait_readable([timer.as_raw_fd()], Some(Duration::ZERO)).unwrap(), [false], "drained");
        // The same due time as before: the kernel's timer is no longer set, so this must set it again.
        timer.arm(Some(past)).unwrap();
        assert_eq!(wait_readable([timer.as_raw_fd()], Some(Duration::from_secs(5))).unwrap(), [true]);
    }

    #[test]
    fn arming_again_at_a_new_time_replaces_the_old_one() {
        let mut timer = WallTimer::new().unwrap();
        let now = bookkeeping::now_ms();
        timer.arm(Some(now + 3_600_000)).unwrap();
        timer.arm(Some(now + 3_600_000)).unwrap();
        assert_eq!(wait_readable([timer.as_raw_fd()], Some(Duration::from_millis(20))).unwrap(), [false]);
        timer.arm(Some(now - 1)).unwrap();
        assert_eq!(wait_readable([timer.as_raw_fd()], Some(Duration::from_secs(5))).unwrap(), [true]);
        timer.drain();
        timer.arm(None).unwrap();
        assert_eq!(wait_readable([timer.as_raw_fd()], Some(Duration::from_millis(20))).unwrap(), [false]);
    }

    #[test]
    fn a_wait_with_a_limit_ends_with_nothing_readable_and_says_which_fd_woke_it() {
        let wakeup = EventFd::new().unwrap();
        let timer = WallTimer::new().unwrap();
        let fds = [wakeup.as_raw_fd(), timer.as_raw_fd()];
        let started = std::time::Instant::now();
        assert_eq!(wait_readable(fds, Some(Duration::from_millis(5))).unwrap(), [false, false]);
        assert!(started.elapsed() >= Duration::from_millis(5));
        wakeup.wake();
        assert_eq!(wait_readable(fds, None).unwrap(), [true, false]);
        wakeup.drain();
        assert_eq!(wait_readable(fds, Some(Duration::ZERO)).unwrap(), [false, false]);
    }
}
