//! The kernel notification sources the scheduler sleeps on: inotify on the spool directories, an eventfd
//! other threads use to wake it, and a CLOCK_REALTIME timerfd armed at the next due time (cancelled by
//! the kernel when the wall clock is set, so a clock jump wakes the scheduler instead of stalling it).
//! Thin safe wrappers over libc; no policy here.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

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
}

impl WallTimer {
    pub fn new() -> io::Result<Self> {
        // SAFETY: plain syscall with constant arguments.
        let fd = owned(unsafe { libc::timerfd_create(libc::CLOCK_REALTIME, libc::TFD_NONBLOCK | libc::TFD_CLOEXEC) })?;
        Ok(WallTimer { fd })
    }

    /// Arm at `at` (ms since the epoch), or disarm with `None`.
    pub fn arm(&self, at: Option<Millis>) -> io::Result<()> {
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
        check(unsafe { libc::timerfd_settime(self.fd.as_raw_fd(), flags, &spec, std::ptr::null_mut()) }).map(|_| ())
    }

    /// Consume an expiry or a clock-change notification.
    pub fn drain(&self) {
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

/// Wait until one of `fds` is readable. Returns which ones are.
pub fn wait_readable(fds: &[RawFd], readable: &mut Vec<bool>) -> io::Result<()> {
    let mut pollfds: Vec<libc::pollfd> =
        fds.iter().map(|&fd| libc::pollfd { fd, events: libc::POLLIN, revents: 0 }).collect();
    loop {
        // SAFETY: `pollfds` is a valid array of `len` pollfd structs alive for the call; timeout -1 = block, the timerfd bounds the wait.
        let rc = unsafe { libc::poll(pollfds.as_mut_ptr(), pollfds.len() as libc::nfds_t, -1) };
        if rc >= 0 {
            break;
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
    readable.clear();
    readable.extend(pollfds.iter().map(|p| p.revents & (libc::POLLIN | libc::POLLERR | libc::POLLHUP) != 0));
    Ok(())
}
