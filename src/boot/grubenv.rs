//! GRUB's environment block (`grubenv`): `saved_entry`, `next_entry`,
//! `kernelopts`, ... as `grub-editenv` writes them.
//!
//! The file is `# GRUB Environment Block` followed by `name=value` lines and
//! `#` padding to 1024 bytes; `grub-editenv` escapes a backslash and a
//! newline in a value with a backslash. [`update`] rewrites a block as
//! GRUB's `save_env` does (same size, variables in place, comments kept);
//! [`apply`] writes what GRUB would write on its way to an entry.

use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;

use crate::error::{Error, IoResultExt, Result};
use crate::root::Root;

const HEADER: &str = "# GRUB Environment Block\n";
/// The size grub-editenv creates; GRUB rewrites a block in place, never
/// resizing it.
const BLOCK_SIZE: usize = 1024;

/// What GRUB's `save_env` would write to a grubenv on its way to the
/// entry kexecctl loads: variables set (`Some`) or deleted (`None`), in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrubenvUpdate {
    /// The grubenv file, as a path inside the root.
    pub path: PathBuf,
    pub writes: Vec<(String, Option<String>)>,
}

pub fn parse(text: &str) -> BTreeMap<String, String> {
    let mut vars = BTreeMap::new();
    let mut chars = text.chars().peekable();
    let mut line = String::new();
    let mut lines = Vec::new();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(next) = chars.next() {
                    line.push(next);
                }
            }
            '\n' => lines.push(std::mem::take(&mut line)),
            c => line.push(c),
        }
    }
    lines.push(line);
    for line in lines {
        if line.starts_with('#') {
            continue;
        }
        if let Some((name, value)) = line.split_once('=') {
            vars.insert(name.to_string(), value.to_string());
        }
    }
    vars
}

/// A line of an environment block: a comment (kept as written, the
/// header among them) or a variable (escapes resolved).
enum Line {
    Comment(String),
    Var(String, String),
}

/// The block's lines in file order; the `#` padding after the last newline
/// is not a line.
fn lines(text: &str) -> Vec<Line> {
    let mut out = Vec::new();
    let mut line = String::new();
    let mut raw = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        raw.push(c);
        match c {
            '\\' => {
                if let Some(next) = chars.next() {
                    raw.push(next);
                    line.push(next);
                }
            }
            '\n' => {
                let l = std::mem::take(&mut line);
                let r = std::mem::take(&mut raw);
                if l.starts_with('#') {
                    out.push(Line::Comment(r));
                } else if let Some((name, value)) = l.split_once('=') {
                    out.push(Line::Var(name.to_string(), value.to_string()));
                }
            }
            c => line.push(c),
        }
    }
    out
}

/// The block after `writes`, as GRUB's save_env and grub-editenv write
/// it: a changed variable keeps its place, a new one goes last, a deleted
/// one goes, comments stay; `\` and newlines in values are escaped with
/// `\`; `#` pads the block to its old size (at least 1024 bytes). Err when
/// the variables do not fit.
pub fn update(
    text: &str,
    writes: &[(String, Option<String>)],
) -> std::result::Result<String, String> {
    let mut lines = lines(text);
    if lines.is_empty() {
        lines.push(Line::Comment(HEADER.to_string()));
    }
    for (name, value) in writes {
        let found = lines
            .iter()
            .position(|l| matches!(l, Line::Var(n, _) if n == name));
        match (value, found) {
            (Some(v), Some(i)) => lines[i] = Line::Var(name.clone(), v.clone()),
            (Some(v), None) => lines.push(Line::Var(name.clone(), v.clone())),
            (None, Some(i)) => {
                lines.remove(i);
            }
            (None, None) => {}
        }
    }
    let mut out = String::new();
    for line in &lines {
        match line {
            Line::Comment(raw) => out.push_str(raw),
            Line::Var(name, value) => {
                out.push_str(name);
                out.push('=');
                for c in value.chars() {
                    if c == '\\' || c == '\n' {
                        out.push('\\');
                    }
                    out.push(c);
                }
                out.push('\n');
            }
        }
    }
    let size = text.len().max(BLOCK_SIZE);
    if out.len() > size {
        return Err(format!("environment block too small ({size} bytes)"));
    }
    out.push_str(&"#".repeat(size - out.len()));
    Ok(out)
}

/// Writes what GRUB would write on the way to the entry, so that a kexec
/// leaves grubenv as a firmware boot through GRUB would: `next_entry`
/// consumed after `grub-reboot`, `saved_entry` with `GRUB_SAVEDEFAULT`.
/// Like GRUB's save_env, nothing is written when grubenv does not exist.
pub fn apply(root: &Root, update_: &GrubenvUpdate) -> Result<()> {
    let host = root.host(&update_.path);
    let Ok(text) = fs::read_to_string(&host) else {
        return Ok(());
    };
    let new =
        update(&text, &update_.writes).map_err(|e| Error::failure(e).in_file(&update_.path))?;
    if new != text {
        fs::write(&host, new).at_path(&update_.path)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_grub_editenv_format() {
        let mut text = String::from(
            "# GRUB Environment Block\nsaved_entry=gnulinux-advanced-x>gnulinux-6.1.0-13-amd64-advanced-x\nkernelopts=root=/dev/vda2 ro a\\\\b\n",
        );
        text.push_str(&"#".repeat(1024 - text.len()));
        let vars = parse(&text);
        assert_eq!(
            vars["saved_entry"],
            "gnulinux-advanced-x>gnulinux-6.1.0-13-amd64-advanced-x"
        );
        assert_eq!(vars["kernelopts"], "root=/dev/vda2 ro a\\b");
        assert_eq!(vars.len(), 2);
    }

    fn block(vars: &str) -> String {
        let mut text = format!("{HEADER}{vars}");
        text.push_str(&"#".repeat(BLOCK_SIZE - text.len()));
        text
    }

    #[test]
    fn test_update_as_grub_editenv() {
        let text = block(
            "# WARNING: Do not edit this file by tools other than grub-editenv!!!\n\
             saved_entry=1>2\nnext_entry=gnulinux-advanced-x>gnulinux-old\nkernelopts=a\\\\b\n",
        );
        let writes = vec![
            ("next_entry".to_string(), Some(String::new())),
            (
                "saved_entry".to_string(),
                Some("gnulinux-advanced-x>gnulinux-old".to_string()),
            ),
            ("prev_saved_entry".to_string(), None),
            ("new".to_string(), Some("a\\b\nc".to_string())),
        ];
        let new = update(&text, &writes).unwrap();
        assert_eq!(new.len(), BLOCK_SIZE);
        assert_eq!(
            new.trim_end_matches('#'),
            format!(
                "{HEADER}# WARNING: Do not edit this file by tools other than grub-editenv!!!\n\
                 saved_entry=gnulinux-advanced-x>gnulinux-old\nnext_entry=\nkernelopts=a\\\\b\nnew=a\\\\b\\\nc\n"
            )
        );
        assert_eq!(parse(&new)["new"], "a\\b\nc");
        // Deleting gives the space back as padding.
        let gone = update(&new, &[("kernelopts".to_string(), None)]).unwrap();
        assert_eq!(gone.len(), BLOCK_SIZE);
        assert!(!parse(&gone).contains_key("kernelopts"));
        // A block that cannot hold the values is refused, as GRUB does.
        let big = vec![("x".to_string(), Some("y".repeat(2000)))];
        assert!(update(&text, &big).is_err());
    }
}
