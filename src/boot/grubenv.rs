//! GRUB's environment block (`grubenv`): `saved_entry`, `next_entry`,
//! `kernelopts`, ... as `grub-editenv` writes them.
//!
//! The file is `# GRUB Environment Block` followed by `name=value` lines and
//! `#` padding to 1024 bytes; `grub-editenv` escapes a backslash and a
//! newline in a value with a backslash. [`update`] changes variables the
//! way GRUB's `save_env` does: in place, never growing or shrinking the
//! block (GRUB writes it through a block list and cannot change its size).

use std::collections::BTreeMap;

pub const SIGNATURE: &str = "# GRUB Environment Block\n";

/// Sets variables in an environment block, as GRUB's `save_env` does: a
/// variable already there is replaced in place, a new one appended after
/// the others; the `#` padding shrinks or grows so the block keeps its
/// size. An error (and no change) when the block is not one, or the new
/// variables do not fit.
pub fn update(block: &[u8], set: &BTreeMap<String, String>) -> Result<Vec<u8>, String> {
    let text = std::str::from_utf8(block).map_err(|_| "not a GRUB environment block (not text)")?;
    let Some(body) = text.strip_prefix(SIGNATURE) else {
        return Err("not a GRUB environment block (no signature)".into());
    };
    let escape = |v: &str| {
        let mut out = String::new();
        for c in v.chars() {
            if c == '\\' || c == '\n' {
                out.push('\\');
            }
            out.push(c);
        }
        out
    };
    // The variable lines, kept as written (escapes included), in order.
    let mut lines: Vec<String> = Vec::new();
    let mut current = String::new();
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                current.push(c);
                if let Some(n) = chars.next() {
                    current.push(n);
                }
            }
            '\n' => lines.push(std::mem::take(&mut current)),
            c => current.push(c),
        }
    }
    lines.retain(|l| !l.starts_with('#') && !l.is_empty());
    for (name, value) in set {
        let line = format!("{name}={}", escape(value));
        match lines
            .iter_mut()
            .find(|l| l.split_once('=').map(|(n, _)| n) == Some(name))
        {
            Some(existing) => *existing = line,
            None => lines.push(line),
        }
    }
    let mut out = String::from(SIGNATURE);
    for line in &lines {
        out.push_str(line);
        out.push('\n');
    }
    if out.len() > block.len() {
        return Err(format!(
            "the variables need {} bytes but the environment block has {}",
            out.len(),
            block.len()
        ));
    }
    out.push_str(&"#".repeat(block.len() - out.len()));
    Ok(out.into_bytes())
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

    #[test]
    fn test_update_keeps_size_order_and_escapes() {
        let mut text =
            String::from("# GRUB Environment Block\nsaved_entry=1>2\nnext_entry=gnulinux-x\n");
        text.push_str(&"#".repeat(1024 - text.len()));
        let set = BTreeMap::from([
            ("next_entry".to_string(), String::new()),
            ("recordfail".to_string(), "1".to_string()),
            ("odd".to_string(), "a\\b\nc".to_string()),
        ]);
        let out = update(text.as_bytes(), &set).unwrap();
        assert_eq!(out.len(), 1024);
        let out = String::from_utf8(out).unwrap();
        assert!(out.starts_with(
            "# GRUB Environment Block\nsaved_entry=1>2\nnext_entry=\nodd=a\\\\b\\\nc\nrecordfail=1\n#"
        ));
        let vars = parse(&out);
        assert_eq!(vars["odd"], "a\\b\nc");
        assert_eq!(vars["next_entry"], "");
        let huge = BTreeMap::from([("x".to_string(), "y".repeat(2000))]);
        assert!(update(text.as_bytes(), &huge).is_err());
        assert!(update(b"garbage", &set).is_err());
    }
}
