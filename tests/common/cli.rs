//! Running the `timberdb` client subcommands as a user does: through pipes, or on a real
//! pseudo-terminal (openpty) so the program sees a terminal on stdin, stdout and stderr.

use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::{Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long a client command may take before a test gives up on it.
pub const CLIENT_DEADLINE: Duration = Duration::from_secs(60);

/// The client binary with `TIMBERDB_SERVER` pointing at `addr` (`host:port`) and the
/// variables that change its output (colours, pager, time zone) cleared.
pub fn client_command(addr: &str, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_timberdb"));
    command
        .args(args)
        .env("TIMBERDB_SERVER", format!("http://{addr}"))
        .env_remove("NO_COLOR")
        .env_remove("PAGER")
        .env_remove("TIMBERDB_CONFIG")
        .env("TERM", "xterm-256color")
        .env("TZ", "UTC");
    command
}

/// Runs a client command with stdin empty and stdout, stderr piped.
pub fn run_piped(mut command: Command) -> Output {
    command
        .stdin(Stdio::null())
        .output()
        .expect("run the timberdb client")
}

/// What a command printed on a terminal and how it ended.
pub struct TerminalRun {
    pub status: ExitStatus,
    /// Everything written to the terminal (stdout and stderr interleaved, `\r\n` line ends).
    pub screen: String,
}

impl TerminalRun {
    /// The screen's lines without the terminal's carriage returns.
    pub fn lines(&self) -> Vec<String> {
        self.screen
            .replace("\r\n", "\n")
            .lines()
            .map(str::to_string)
            .collect()
    }
}

/// Runs `command` on a new pseudo-terminal of `rows` x `columns` as its stdin, stdout and
/// stderr (and controlling terminal), typing `input` first; returns what appeared on it.
pub fn run_on_terminal(command: Command, rows: u16, columns: u16, input: &str) -> TerminalRun {
    run_on_terminal_until(command, rows, columns, input, |_| false)
}

/// As [`run_on_terminal`], but kills the command (a `tail`, which never ends by itself) as
/// soon as `done` holds for the screen so far.
pub fn run_on_terminal_until(
    mut command: Command,
    rows: u16,
    columns: u16,
    input: &str,
    done: impl Fn(&str) -> bool,
) -> TerminalRun {
    let (master, slave) = open_pty(rows, columns);
    let terminal = || Stdio::from(slave.try_clone().expect("dup the terminal"));
    command
        .stdin(terminal())
        .stdout(terminal())
        .stderr(terminal());
    // SAFETY: setsid and TIOCSCTTY are async-signal-safe and touch only the child.
    unsafe {
        use std::os::unix::process::CommandExt;
        command.pre_exec(|| {
            if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = command.spawn().expect("start timberdb on a terminal");
    // Only the child holds the terminal's slave side now, so reads end when it exits.
    drop(command);
    drop(slave);
    let mut master = std::fs::File::from(master);
    if !input.is_empty() {
        use std::io::Write;
        master
            .write_all(input.as_bytes())
            .expect("type on the terminal");
    }
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        let mut buffer = [0u8; 4096];
        // EIO once the last process holding the slave side has gone.
        while let Ok(read) = master.read(&mut buffer) {
            if read == 0 || sender.send(buffer[..read].to_vec()).is_err() {
                break;
            }
        }
    });
    let start = Instant::now();
    let mut screen = Vec::new();
    loop {
        match receiver.recv_timeout(Duration::from_millis(20)) {
            Ok(bytes) => screen.extend_from_slice(&bytes),
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
        if done(&String::from_utf8_lossy(&screen)) {
            let _ = child.kill();
        }
        if start.elapsed() > CLIENT_DEADLINE {
            let _ = child.kill();
            panic!(
                "the client did not finish within {CLIENT_DEADLINE:?}; screen:\n{}",
                String::from_utf8_lossy(&screen)
            );
        }
    }
    TerminalRun {
        status: wait_with_deadline(&mut child),
        screen: String::from_utf8_lossy(&screen).into_owned(),
    }
}

fn wait_with_deadline(child: &mut std::process::Child) -> ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait for the client") {
            return status;
        }
        if start.elapsed() > CLIENT_DEADLINE {
            let _ = child.kill();
            panic!("the client did not finish within {CLIENT_DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A new pseudo-terminal pair (master, slave) with the given window size.
fn open_pty(rows: u16, columns: u16) -> (OwnedFd, OwnedFd) {
    let mut master = -1;
    let mut slave = -1;
    let size = libc::winsize {
        ws_row: rows,
        ws_col: columns,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: openpty writes two descriptors into the locals; the name buffer is not used
    // (null) and the size is read from a local that outlives the call.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            &size,
        )
    };
    assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: both descriptors were just opened by openpty and are owned by no one else.
    let (master, slave) = unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
    set_cloexec(master.as_raw_fd());
    (master, slave)
}

/// The master side must not leak into the child (it would keep the terminal open).
fn set_cloexec(fd: i32) {
    // SAFETY: F_SETFD on a descriptor this process owns.
    let rc = unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    assert_eq!(rc, 0, "fcntl: {}", std::io::Error::last_os_error());
}

/// `text` without ANSI escape sequences.
pub fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(ch) = chars.next() {
        if ch == '\x1b' {
            for next in chars.by_ref() {
                if ('\x40'..='\x7e').contains(&next) && next != '[' {
                    break;
                }
            }
        } else {
            out.push(ch);
        }
    }
    out
}

/// An address on which nothing listens: a port the kernel handed out and took back.
pub fn unused_addr() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("address").to_string();
    drop(listener);
    addr
}
