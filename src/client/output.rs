//! Where the output goes: a terminal (colours, a pager for long answers) or a pipe (JSON).
//!
//! The environment is read once, into [`Terminal`], so the commands and renderers below it
//! take plain values. Writing to a reader that has gone away (`timberdb query | head`)
//! ends the command quietly with status 0, as `grep` and `cat` do, rather than with an error.

use std::io::{IsTerminal, Write};
use std::process::{Command, Stdio};

use super::error::{ClientError, Result};
use super::render::style::{colour_wanted, visible_width, Palette};

/// Rows assumed when the terminal does not say (the VT100's).
const TERMINAL_ROWS_DEFAULT: usize = 24;
/// Columns assumed when the terminal does not say.
const TERMINAL_COLUMNS_DEFAULT: usize = 80;

/// The pager when `$PAGER` is unset: `-R` passes colours, `-F` quits at once when the text
/// fits on one screen, `-X` leaves the text on the screen after quitting.
const PAGER_DEFAULT: [&str; 4] = ["less", "-R", "-F", "-X"];

/// What the process's surroundings say about output, read once at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Terminal {
    pub stdout_is_terminal: bool,
    pub stdin_is_terminal: bool,
    /// Rows and columns of the terminal on stdout (defaults when it is not one).
    pub rows: usize,
    pub columns: usize,
    pub no_color_env: Option<String>,
    pub term_env: Option<String>,
    pub pager_env: Option<String>,
}

impl Terminal {
    pub fn detect() -> Terminal {
        let (rows, columns) =
            window_size().unwrap_or((TERMINAL_ROWS_DEFAULT, TERMINAL_COLUMNS_DEFAULT));
        Terminal {
            stdout_is_terminal: std::io::stdout().is_terminal(),
            stdin_is_terminal: std::io::stdin().is_terminal(),
            rows,
            columns,
            no_color_env: std::env::var("NO_COLOR").ok(),
            term_env: std::env::var("TERM").ok(),
            pager_env: std::env::var("PAGER").ok(),
        }
    }

    /// Colours for this output, given the command's `--no-color`.
    pub fn palette(&self, no_color_flag: bool) -> Palette {
        Palette {
            enabled: colour_wanted(
                self.stdout_is_terminal,
                no_color_flag,
                self.no_color_env.as_deref(),
                self.term_env.as_deref(),
            ),
        }
    }

    /// Shows text meant for a person: through the pager when it is longer than the screen
    /// and `pager_allowed`, else straight to stdout.
    pub fn show(&self, text: &str, pager_allowed: bool) -> Result<()> {
        let longer_than_screen = screen_lines(text, self.columns) >= self.rows;
        if pager_allowed && self.stdout_is_terminal && longer_than_screen {
            if let Some(command) = pager_command(self.pager_env.as_deref()) {
                if run_pager(&command, text) {
                    return Ok(());
                }
            }
        }
        let mut stdout = Stdout::new();
        stdout.write(text)?;
        stdout.flush()
    }
}

/// Rows and columns of the terminal on stdout, if it is one.
fn window_size() -> Option<(usize, usize)> {
    // SAFETY: TIOCGWINSZ only writes a `winsize` into the struct we pass, which outlives the
    // call; on a descriptor that is not a terminal it fails and we use the defaults.
    let size = unsafe {
        let mut size: libc::winsize = std::mem::zeroed();
        if libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut size) != 0 {
            return None;
        }
        size
    };
    (size.ws_row > 0 && size.ws_col > 0)
        .then(|| (usize::from(size.ws_row), usize::from(size.ws_col)))
}

/// The pager to run: `$PAGER` split on spaces (no shell quoting), the default `less` when
/// unset, none when set to `""` or `cat` (the usual ways of turning paging off).
pub fn pager_command(pager_env: Option<&str>) -> Option<Vec<String>> {
    match pager_env {
        None => Some(PAGER_DEFAULT.iter().map(|part| part.to_string()).collect()),
        Some(text) => {
            let parts: Vec<String> = text.split_whitespace().map(str::to_string).collect();
            match parts.first().map(String::as_str) {
                None | Some("cat") => None,
                Some(_) => Some(parts),
            }
        }
    }
}

/// Lines `text` fills on a terminal `columns` wide, long lines wrapping.
pub fn screen_lines(text: &str, columns: usize) -> usize {
    let columns = columns.max(1);
    text.lines()
        .map(|line| visible_width(line).div_ceil(columns).max(1))
        .sum()
}

/// Pipes `text` into the pager and waits for the reader to quit it. `false` if the pager
/// could not be started (not installed), so the caller prints the text itself.
fn run_pager(command: &[String], text: &str) -> bool {
    let mut pager = Command::new(&command[0]);
    pager.args(&command[1..]).stdin(Stdio::piped());
    if std::env::var_os("LESS").is_none() {
        // What git sets: a `less` named by $PAGER without flags still shows colours.
        pager.env("LESS", "FRX");
    }
    let Ok(mut child) = pager.spawn() else {
        return false;
    };
    // Ctrl-C belongs to the pager now; were this process to die of it, the shell would take
    // the terminal back while the pager still draws on it.
    let _sigint = IgnoreSigint::new();
    if let Some(mut stdin) = child.stdin.take() {
        // A reader who quits early closes the pipe: not an error.
        let _ = stdin.write_all(text.as_bytes());
    }
    let _ = child.wait();
    true
}

/// Ignores SIGINT while alive, restoring the previous disposition when dropped.
struct IgnoreSigint {
    previous: libc::sighandler_t,
}

impl IgnoreSigint {
    fn new() -> IgnoreSigint {
        // SAFETY: `signal` with SIG_IGN installs no handler code; the previous disposition is
        // restored on drop, on this same thread.
        let previous = unsafe { libc::signal(libc::SIGINT, libc::SIG_IGN) };
        IgnoreSigint { previous }
    }
}

impl Drop for IgnoreSigint {
    fn drop(&mut self) {
        // SAFETY: reinstalls the disposition `signal` returned earlier.
        unsafe { libc::signal(libc::SIGINT, self.previous) };
    }
}

/// Buffered stdout whose "reader went away" is [`ClientError::OutputClosed`], which ends the
/// command with status 0.
pub struct Stdout {
    writer: std::io::BufWriter<std::io::Stdout>,
}

impl Default for Stdout {
    fn default() -> Self {
        Stdout::new()
    }
}

impl Stdout {
    pub fn new() -> Stdout {
        Stdout {
            writer: std::io::BufWriter::new(std::io::stdout()),
        }
    }

    pub fn write(&mut self, text: &str) -> Result<()> {
        self.writer.write_all(text.as_bytes()).map_err(output_error)
    }

    /// Writes `text` and a newline.
    pub fn line(&mut self, text: &str) -> Result<()> {
        self.write(text)?;
        self.write("\n")
    }

    pub fn flush(&mut self) -> Result<()> {
        self.writer.flush().map_err(output_error)
    }
}

fn output_error(error: std::io::Error) -> ClientError {
    if error.kind() == std::io::ErrorKind::BrokenPipe {
        ClientError::OutputClosed
    } else {
        ClientError::Output(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pager_is_less_unless_pager_says_otherwise() {
        assert_eq!(
            pager_command(None),
            Some(vec!["less".into(), "-R".into(), "-F".into(), "-X".into()])
        );
        assert_eq!(
            pager_command(Some("most -s")),
            Some(vec!["most".into(), "-s".into()])
        );
        assert_eq!(pager_command(Some("")), None);
        assert_eq!(pager_command(Some("  ")), None);
        assert_eq!(pager_command(Some("cat")), None);
    }

    #[test]
    fn long_lines_wrap_and_colour_codes_take_no_room() {
        assert_eq!(screen_lines("a\nb\n", 80), 2);
        assert_eq!(screen_lines(&"x".repeat(170), 80), 3);
        assert_eq!(screen_lines("\x1b[31mERROR\x1b[0m\n\n", 5), 2);
    }

    #[test]
    fn colours_follow_the_terminal_and_no_color() {
        let mut terminal = Terminal {
            stdout_is_terminal: true,
            stdin_is_terminal: true,
            rows: 24,
            columns: 80,
            no_color_env: None,
            term_env: Some("xterm".into()),
            pager_env: None,
        };
        assert!(terminal.palette(false).enabled);
        assert!(!terminal.palette(true).enabled);
        terminal.no_color_env = Some("1".into());
        assert!(!terminal.palette(false).enabled);
    }
}
