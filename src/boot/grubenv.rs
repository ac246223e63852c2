//! GRUB's environment block (`grubenv`): `saved_entry`, `next_entry`,
//! `kernelopts`, … read and written the way GRUB's `load_env`/`save_env`
//! and `grub-editenv` do (`grub-core/lib/envblk.c`).
//!
//! A block starts with `# GRUB Environment Block\n`, then `name=value\n`
//! lines (a backslash and a newline in a value are escaped with a
//! backslash), then `#` padding to its size (1024 bytes as `grub-editenv
//! create` makes it). Reading skips lines starting with `#` and stops at a
//! line without `=` or without a final newline, as GRUB does. Writing
//! never changes the size: a variable that exists is replaced where it
//! is (what follows moves, the padding absorbs the difference), a new one
//! is appended after the last variable, a deleted one's line is removed;
//! when the padding is too small the write fails and nothing changes.
//! Unknown variables and their order are kept.

/// The first bytes of every environment block.
pub const SIGNATURE: &[u8] = b"# GRUB Environment Block\n";
/// The size `grub-editenv create` gives a block.
pub const DEFAULT_SIZE: usize = 1024;

/// Whether `block` starts like an environment block (GRUB refuses others).
pub fn is_block(block: &[u8]) -> bool {
    block.len() > SIGNATURE.len() && block.starts_with(SIGNATURE)
}

/// A new, empty block (`grub-editenv FILE create`).
pub fn create() -> Vec<u8> {
    let mut block = SIGNATURE.to_vec();
    block.resize(DEFAULT_SIZE, b'#');
    block
}

/// The start of the line after the one starting at `p`.
fn next_line(block: &[u8], mut p: usize) -> usize {
    while p < block.len() {
        match block[p] {
            b'\\' => p += 2,
            b'\n' => break,
            _ => p += 1,
        }
    }
    p + 1
}

/// The variables in block order (a name can repeat: `load_env` sets each
/// in turn, the last wins), as GRUB's `envblk_iterate` yields them; `None`
/// when the block lacks the signature.
pub fn iterate(block: &[u8]) -> Option<Vec<(String, String)>> {
    if !is_block(block) {
        return None;
    }
    let end = block.len();
    let mut out = Vec::new();
    let mut p = SIGNATURE.len();
    while p < end {
        if block[p] != b'#' {
            let name_start = p;
            while p < end && block[p] != b'=' {
                p += 1;
            }
            if p == end {
                break;
            }
            let name = &block[name_start..p];
            p += 1;
            let value_start = p;
            while p < end && block[p] != b'\n' {
                p += if block[p] == b'\\' { 2 } else { 1 };
            }
            if p >= end {
                break;
            }
            let mut value = Vec::new();
            let mut q = value_start;
            while q < p {
                if block[q] == b'\\' && q + 1 < end {
                    q += 1;
                }
                value.push(block[q]);
                q += 1;
            }
            out.push((
                String::from_utf8_lossy(name).into_owned(),
                String::from_utf8_lossy(&value).into_owned(),
            ));
        }
        p = next_line(block, p);
    }
    Some(out)
}

/// The variables as `load_env` leaves them (the last of a name wins).
pub fn parse(block: &[u8]) -> std::collections::BTreeMap<String, String> {
    iterate(block).unwrap_or_default().into_iter().collect()
}

fn escape(value: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len());
    for &b in value.as_bytes() {
        if b == b'\\' || b == b'\n' {
            out.push(b'\\');
        }
        out.push(b);
    }
    out
}

/// The end of the used part: just after the newline before the `#` padding
/// (`None` for a broken block).
fn used_end(block: &[u8]) -> Option<usize> {
    let mut space = block.len().checked_sub(1)?;
    while block[space] == b'#' {
        space = space.checked_sub(1)?;
    }
    (block[space] == b'\n').then_some(space + 1)
}

/// Sets `name` to `value` in place (`grub_envblk_set`); false when the
/// block is broken or too small, and then the block is unchanged.
pub fn set(block: &mut [u8], name: &str, value: &str) -> bool {
    let Some(space) = used_end(block) else {
        return false;
    };
    let end = block.len();
    let name = name.as_bytes();
    let value = escape(value);
    let mut p = SIGNATURE.len();
    while p + name.len() + 1 < space {
        if block[p..].starts_with(name) && block[p + name.len()] == b'=' {
            let start = p + name.len() + 1;
            let mut len = 0;
            while start + len < end && block[start + len] != b'\n' {
                len += if block[start + len] == b'\\' { 2 } else { 1 };
            }
            if start + len >= end || end - space < value.len().saturating_sub(len) {
                return false;
            }
            let mut rebuilt = block[..start].to_vec();
            rebuilt.extend_from_slice(&value);
            rebuilt.extend_from_slice(&block[start + len..space]);
            rebuilt.resize(end, b'#');
            block.copy_from_slice(&rebuilt);
            return true;
        }
        p = next_line(block, p);
    }
    if end - space < name.len() + 1 + value.len() + 1 {
        return false;
    }
    let mut line = name.to_vec();
    line.push(b'=');
    line.extend_from_slice(&value);
    line.push(b'\n');
    block[space..space + line.len()].copy_from_slice(&line);
    true
}

/// Removes `name` (`grub_envblk_delete`); nothing happens when it is not
/// there or the block is broken.
pub fn delete(block: &mut [u8], name: &str) {
    let end = block.len();
    let name = name.as_bytes();
    let mut p = SIGNATURE.len();
    while p + name.len() + 1 < end {
        if block[p..].starts_with(name) && block[p + name.len()] == b'=' {
            let mut len = name.len() + 1;
            while p + len < end && block[p + len] != b'\n' {
                len += if block[p + len] == b'\\' { 2 } else { 1 };
            }
            if p + len >= end {
                return;
            }
            len += 1;
            block.copy_within(p + len.., p);
            block[end - len..].fill(b'#');
            return;
        }
        p = next_line(block, p);
    }
}

/// Sets variables in a block (name → value), each as [`set`] does, in name
/// order: GRUB's bytes when the new variables' order does not matter (use
/// [`apply`] with GRUB's sequence otherwise). An error, and no block, when
/// it is not an environment block or a variable does not fit.
pub fn update(
    block: &[u8],
    set: &std::collections::BTreeMap<String, String>,
) -> Result<Vec<u8>, String> {
    let changes: Vec<(String, Option<String>)> = set
        .iter()
        .map(|(k, v)| (k.clone(), Some(v.clone())))
        .collect();
    apply(block, &changes).map_err(|e| e.to_string())
}

/// Why a block cannot take some writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteError {
    /// Not an environment block (no signature).
    NotABlock,
    /// `name` does not fit, or the block is broken (no newline before the
    /// padding).
    TooSmall { name: String },
}

impl std::fmt::Display for WriteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WriteError::NotABlock => write!(f, "not a GRUB environment block"),
            WriteError::TooSmall { name } => write!(
                f,
                "the environment block is too small (or broken) for `{name}`; GRUB would refuse \
                 the write too"
            ),
        }
    }
}

/// The block after `changes` (name, `Some(value)` to set, `None` to
/// delete), applied in order: the same size, or an error and no block
/// (never a truncated or grown one).
pub fn apply(block: &[u8], changes: &[(String, Option<String>)]) -> Result<Vec<u8>, WriteError> {
    if !is_block(block) {
        return Err(WriteError::NotABlock);
    }
    let mut out = block.to_vec();
    for (name, value) in changes {
        match value {
            Some(v) => {
                if !set(&mut out, name, v) {
                    return Err(WriteError::TooSmall { name: name.clone() });
                }
            }
            None => delete(&mut out, name),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn block(vars: &str) -> Vec<u8> {
        let mut b = SIGNATURE.to_vec();
        b.extend_from_slice(vars.as_bytes());
        b.resize(DEFAULT_SIZE, b'#');
        b
    }

    #[test]
    fn test_grub_editenv_format() {
        let text = block(
            "saved_entry=gnulinux-advanced-x>gnulinux-6.1.0-13-amd64-advanced-x\nkernelopts=root=/dev/vda2 ro a\\\\b\n",
        );
        let vars = parse(&text);
        assert_eq!(
            vars["saved_entry"],
            "gnulinux-advanced-x>gnulinux-6.1.0-13-amd64-advanced-x"
        );
        assert_eq!(vars["kernelopts"], "root=/dev/vda2 ro a\\b");
        assert_eq!(vars.len(), 2);
    }

    #[test]
    fn test_read_stops_where_grub_stops() {
        // A comment line is skipped; a name runs to the next `=`, even
        // across lines; without one the reading ends.
        let b = block("# note\na=1\nbroken\nb=2\n");
        assert_eq!(
            iterate(&b).unwrap(),
            [("a".into(), "1".into()), ("broken\nb".into(), "2".into())]
        );
        let b = block("a=1\nbroken\n");
        assert_eq!(iterate(&b).unwrap(), [("a".into(), "1".into())]);
        assert!(iterate(b"saved_entry=1\n").is_none(), "no signature");
        // An escaped newline is part of the value.
        let b = block("a=x\\\ny\n");
        assert_eq!(parse(&b)["a"], "x\ny");
    }

    #[test]
    fn test_set_replaces_in_place_and_keeps_the_size() {
        let original = block("saved_entry=0\nfoo=bar\nnext_entry=1>2\n");
        let out = apply(
            &original,
            &[
                ("next_entry".into(), Some(String::new())),
                ("saved_entry".into(), Some("gnulinux>x\\y".into())),
                ("new".into(), Some("v".into())),
            ],
        )
        .unwrap();
        assert_eq!(out.len(), original.len());
        assert_eq!(
            out,
            block("saved_entry=gnulinux>x\\\\y\nfoo=bar\nnext_entry=\nnew=v\n")
        );
        let vars = iterate(&out).unwrap();
        let names: Vec<_> = vars.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["saved_entry", "foo", "next_entry", "new"]);
        assert_eq!(vars[0].1, "gnulinux>x\\y");
    }

    #[test]
    fn test_delete_and_round_trip() {
        let original = block("a=1\nb=2\nc=3\n");
        let out = apply(&original, &[("b".into(), None), ("zz".into(), None)]).unwrap();
        assert_eq!(out, block("a=1\nc=3\n"));
        // Values round-trip through the writer and the reader.
        for value in ["", "x y", "a\\b", "line\nbreak", "ünïcode", "1>2>>3", "#"] {
            let out = apply(&create(), &[("v".into(), Some(value.into()))]).unwrap();
            assert_eq!(parse(&out)["v"], value, "{value:?}");
            assert_eq!(out.len(), DEFAULT_SIZE);
        }
    }

    #[test]
    fn test_never_truncates_or_grows() {
        let full = create();
        let long = "x".repeat(DEFAULT_SIZE);
        assert_eq!(
            apply(&full, &[("v".into(), Some(long))]),
            Err(WriteError::TooSmall { name: "v".into() })
        );
        // Exactly filling the padding works; one more byte does not.
        let room = DEFAULT_SIZE - SIGNATURE.len() - "v=\n".len();
        assert!(apply(&full, &[("v".into(), Some("y".repeat(room)))]).is_ok());
        assert!(apply(&full, &[("v".into(), Some("y".repeat(room + 1)))]).is_err());
        // A block whose padding does not follow a newline is broken.
        let mut broken = create();
        broken[SIGNATURE.len()] = b'x';
        assert!(apply(&broken, &[("v".into(), Some("1".into()))]).is_err());
        assert_eq!(apply(b"nope", &[]), Err(WriteError::NotABlock));
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
        let vars = parse(out.as_bytes());
        assert_eq!(vars["odd"], "a\\b\nc");
        assert_eq!(vars["next_entry"], "");
        let huge = BTreeMap::from([("x".to_string(), "y".repeat(2000))]);
        assert!(update(text.as_bytes(), &huge).is_err());
        assert!(update(b"garbage", &set).is_err());
    }
}
