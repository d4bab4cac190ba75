//! ANSI colours, or none: one switch decided once per command (terminal, `--no-color`,
//! `NO_COLOR`), so renderers never ask the environment themselves.

/// SGR parameters of the styles the client uses.
pub const DIM: &str = "2";
pub const BOLD: &str = "1";
pub const CYAN: &str = "36";

/// Whether to colour, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Palette {
    pub enabled: bool,
}

impl Palette {
    pub const PLAIN: Palette = Palette { enabled: false };
    pub const COLOURED: Palette = Palette { enabled: true };

    /// Appends `text` in the style `sgr` (e.g. `"31"`, `"1;31"`), or plain when colours are off.
    pub fn paint(&self, sgr: &str, text: &str, out: &mut String) {
        if self.enabled && !sgr.is_empty() && !text.is_empty() {
            out.push_str("\x1b[");
            out.push_str(sgr);
            out.push('m');
            out.push_str(text);
            out.push_str("\x1b[0m");
        } else {
            out.push_str(text);
        }
    }
}

/// The colour of a normalised level, by severity: quiet for trace and debug, green for info,
/// yellow for warn, red for error, bold white on red for fatal.
pub fn level_sgr(level: &str) -> &'static str {
    match level {
        "trace" => "90",
        "debug" => "34",
        "info" => "32",
        "warn" => "33",
        "error" => "31",
        "fatal" => "1;37;41",
        _ => "",
    }
}

/// Whether output should be coloured: only on a terminal, not with `--no-color`, not when
/// `NO_COLOR` is set to a non-empty value (no-color.org), and not on a `dumb` terminal.
pub fn colour_wanted(
    stdout_is_terminal: bool,
    no_color_flag: bool,
    no_color_env: Option<&str>,
    term_env: Option<&str>,
) -> bool {
    stdout_is_terminal
        && !no_color_flag
        && no_color_env.is_none_or(str::is_empty)
        && term_env != Some("dumb")
}

/// Columns `text` takes on a terminal: characters outside ANSI escape sequences (wide
/// characters count as one; close enough for padding and for deciding to page).
pub fn visible_width(text: &str) -> usize {
    let mut width = 0;
    let mut chars = text.chars();
    while let Some(ch) = chars.next() {
        if ch == '\x1b' {
            // CSI: ESC [ parameters final-byte (0x40..=0x7e).
            for next in chars.by_ref() {
                if ('\x40'..='\x7e').contains(&next) && next != '[' {
                    break;
                }
            }
        } else {
            width += 1;
        }
    }
    width
}

/// Appends `text` with control characters (ESC, BEL, backspace, carriage return...) written
/// as visible escapes, so a logged message cannot move the cursor, retitle the window or
/// hide itself on the reader's terminal. Tabs are kept.
pub fn push_sanitised(text: &str, out: &mut String) {
    for ch in text.chars() {
        if ch.is_control() && ch != '\t' {
            out.push_str(&format!("\\u{{{:x}}}", u32::from(ch)));
        } else {
            out.push(ch);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_only_on_a_terminal_that_wants_them() {
        assert!(colour_wanted(true, false, None, Some("xterm-256color")));
        assert!(colour_wanted(true, false, Some(""), None));
        assert!(!colour_wanted(false, false, None, None));
        assert!(!colour_wanted(true, true, None, None));
        assert!(!colour_wanted(true, false, Some("1"), None));
        assert!(!colour_wanted(true, false, None, Some("dumb")));
    }

    #[test]
    fn painting_wraps_in_sgr_and_resets() {
        let mut out = String::new();
        Palette::COLOURED.paint(level_sgr("error"), "ERROR", &mut out);
        assert_eq!(out, "\x1b[31mERROR\x1b[0m");
        let mut plain = String::new();
        Palette::PLAIN.paint(level_sgr("error"), "ERROR", &mut plain);
        assert_eq!(plain, "ERROR");
        assert_eq!(visible_width(&out), 5);
    }

    #[test]
    fn control_characters_cannot_reach_the_terminal() {
        let mut out = String::new();
        push_sanitised("a\x1b[2Jb\r\tc\u{7}", &mut out);
        assert_eq!(out, "a\\u{1b}[2Jb\\u{d}\tc\\u{7}");
    }
}
