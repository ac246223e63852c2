//! GRUB's environment block (`grubenv`): `saved_entry`, `next_entry`,
//! `kernelopts`, ... as `grub-editenv` writes them.
//!
//! The file is `# GRUB Environment Block` followed by `name=value` lines and
//! `#` padding to 1024 bytes; `grub-editenv` escapes a backslash and a
//! newline in a value with a backslash.

use std::collections::BTreeMap;

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
}
