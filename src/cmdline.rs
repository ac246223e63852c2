//! The kernel command line: how the kernel splits it, how kdumpctl splits
//! it, and edits that keep every token they were not asked to drop.
//!
//! * [`kernel_params`] is the kernel's own tokeniser (`next_arg` in
//!   lib/cmdline.c): blanks separate parameters, double quotes group (and
//!   are the only quoting; no backslash escapes), a parameter that opens a
//!   quote and never closes it runs to the end of the line. [`open_quote`]
//!   finds such a quote: every parameter after it becomes part of one value
//!   and never takes effect.
//! * [`kdumpctl_params`] is kdump-utils' `_cmdline_parse`: `echo "$1" |
//!   xargs -n 1 echo`, read back line by line — shell-like quotes and
//!   backslashes removed, `key=` with an empty value dropped, values with
//!   blanks re-quoted. An unmatched quote makes xargs stop there, which
//!   kdumpctl does not notice; here it is an error.
//! * [`edit`] removes parameters by key and appends text, keeping every
//!   other token byte for byte (quotes included) in its order.

use std::ops::Range;

/// One parameter as the kernel reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelParam {
    /// The parameter's bytes in the line, quotes included.
    pub span: Range<usize>,
    /// The name: the text before the first `=` (a leading quote removed).
    pub key: String,
    /// The text after the first `=`, surrounding quotes removed.
    pub value: Option<String>,
}

/// The kernel's `isspace` (lib/ctype.c) on ASCII. (It also counts the byte
/// 0xA0, Latin-1's no-break space; in UTF-8 text that byte only occurs
/// inside a character, which kexecctl does not split.)
fn kernel_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// A double quote the kernel never sees closed: its byte offset, and the
/// parameters it swallows into its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenQuote {
    pub offset: usize,
}

/// Splits `line` the way the kernel's `parse_args` does (everything,
/// including what follows `--`, which goes to init). Returns the parameters
/// and the quote left open at the end, if any.
pub fn kernel_tokens(line: &str) -> (Vec<KernelParam>, Option<OpenQuote>) {
    let bytes = line.as_bytes();
    let mut params = Vec::new();
    let mut open = None;
    let mut i = 0;
    while i < bytes.len() && kernel_space(bytes[i]) {
        i += 1;
    }
    while i < bytes.len() {
        let start = i;
        let mut in_quote = false;
        let mut last_open = None;
        let mut equals = None;
        let mut j = start;
        if bytes[j] == b'"' {
            in_quote = true;
            last_open = Some(j);
            j += 1;
        }
        let body = j;
        while j < bytes.len() {
            let b = bytes[j];
            if kernel_space(b) && !in_quote {
                break;
            }
            // An `=` first in the parameter is not a separator (`equals`
            // stays 0 in next_arg).
            if equals.is_none() && b == b'=' && j > body {
                equals = Some(j);
            }
            if b == b'"' {
                in_quote = !in_quote;
                if in_quote {
                    last_open = Some(j);
                }
            }
            j += 1;
        }
        if in_quote {
            open = last_open.map(|offset| OpenQuote { offset });
        }
        let end = j;
        let quoted = body > start;
        let strip_end = |from: usize| -> usize {
            if end > from && bytes[end - 1] == b'"' {
                end - 1
            } else {
                end
            }
        };
        let (key, value) = match equals {
            None => {
                let stop = if quoted { strip_end(body) } else { end };
                (
                    String::from_utf8_lossy(&bytes[body..stop]).into_owned(),
                    None,
                )
            }
            Some(eq) => {
                let key = String::from_utf8_lossy(&bytes[body..eq]).into_owned();
                let mut v = eq + 1;
                let mut stop = end;
                if v < end && bytes[v] == b'"' {
                    v += 1;
                    stop = strip_end(v);
                } else if quoted {
                    stop = strip_end(v);
                }
                (
                    key,
                    Some(String::from_utf8_lossy(&bytes[v..stop.max(v)]).into_owned()),
                )
            }
        };
        params.push(KernelParam {
            span: start..end,
            key,
            value,
        });
        i = end;
        while i < bytes.len() && kernel_space(bytes[i]) {
            i += 1;
        }
    }
    (params, open)
}

/// The parameters of `line` as the kernel reads them.
pub fn kernel_params(line: &str) -> Vec<KernelParam> {
    kernel_tokens(line).0
}

/// The double quote the kernel would never see closed, if any: from it to
/// the end of the line is one parameter's value.
pub fn open_quote(line: &str) -> Option<OpenQuote> {
    kernel_tokens(line).1
}

/// A parameter as kdumpctl's `_cmdline_parse` returns it: the key, and the
/// value (re-wrapped in double quotes when it contains blanks) or none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KdumpctlParam {
    pub key: String,
    pub value: Option<String>,
}

impl KdumpctlParam {
    /// `key=value` or `key`, as prepare_cmdline writes it out.
    pub fn render(&self) -> String {
        match &self.value {
            Some(v) => format!("{}={v}", self.key),
            None => self.key.clone(),
        }
    }
}

/// xargs stopped at an unmatched quote: kdumpctl keeps the parameters
/// before it and silently drops the rest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnmatchedQuote {
    /// The quote character, `'` or `"`.
    pub quote: char,
    /// Its byte offset in the text.
    pub offset: usize,
    /// What kdumpctl keeps: the parameters before the quote's argument.
    pub kept: Vec<KdumpctlParam>,
}

/// GNU xargs' separators (`ISSPACE` skips them between arguments; only
/// `ISBLANK` ends an argument).
fn xargs_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// The arguments GNU xargs reads from `input` (quotes and backslashes as in
/// findutils' `read_line`), or where it dies on an unmatched quote.
fn xargs_args(input: &[u8]) -> (Vec<Vec<u8>>, Option<(u8, usize)>) {
    #[derive(PartialEq)]
    enum State {
        Space,
        Norm,
        Quote,
        Backslash,
    }
    let mut state = State::Space;
    let mut args = Vec::new();
    let mut arg = Vec::new();
    let mut quote = (b'"', 0);
    for (i, &c) in input.iter().enumerate() {
        match state {
            State::Space if xargs_space(c) => continue,
            State::Space | State::Norm => {
                state = State::Norm;
                if c == b'\n' {
                    if !arg.is_empty() {
                        args.push(std::mem::take(&mut arg));
                    }
                    state = State::Space;
                    continue;
                }
                if c == b' ' || c == b'\t' {
                    // An empty quoted argument is an argument too.
                    args.push(std::mem::take(&mut arg));
                    state = State::Space;
                    continue;
                }
                match c {
                    b'\\' => state = State::Backslash,
                    b'\'' | b'"' => {
                        state = State::Quote;
                        quote = (c, i);
                    }
                    _ => arg.push(c),
                }
            }
            State::Quote => {
                if c == b'\n' {
                    return (args, Some(quote));
                }
                if c == quote.0 {
                    state = State::Norm;
                } else {
                    arg.push(c);
                }
            }
            State::Backslash => {
                state = State::Norm;
                arg.push(c);
            }
        }
    }
    match state {
        State::Quote => (args, Some(quote)),
        _ => {
            if !arg.is_empty() {
                args.push(arg);
            }
            (args, None)
        }
    }
}

/// Whether `arg` is all echo options (`-n`, `-e`, `-E`, combined): bash's
/// and coreutils' echo print nothing of it.
fn echo_options(arg: &[u8]) -> Option<bool> {
    let rest = arg.strip_prefix(b"-")?;
    if rest.is_empty() || !rest.iter().all(|b| b"neE".contains(b)) {
        return None;
    }
    // Some(true): a newline is still printed (no `n`).
    Some(!rest.contains(&b'n'))
}

/// What `echo ARG` prints (bash's builtin and coreutils' echo agree for one
/// argument, apart from coreutils' `--help`/`--version`, which no command
/// line contains and which are printed as themselves here).
fn echo(arg: &[u8]) -> Vec<u8> {
    match echo_options(arg) {
        Some(true) => b"\n".to_vec(),
        Some(false) => Vec::new(),
        None => {
            let mut out = arg.to_vec();
            out.push(b'\n');
            out
        }
    }
}

/// bash's `read -r` field splitting with default IFS: strips spaces and
/// tabs at both ends.
fn ifs_trim(s: &str) -> &str {
    s.trim_matches([' ', '\t'])
}

/// kdump-utils' `_cmdline_parse` followed by prepare_cmdline's
/// `while read -r opt val`: the parameters kdumpctl sees in `text`.
/// `keep_empty` keeps `key=` parameters (which kdumpctl drops) with an
/// empty value.
pub fn kdumpctl_params(text: &str, keep_empty: bool) -> Result<Vec<KdumpctlParam>, UnmatchedQuote> {
    // `echo "$1"` (bash's builtin), then `xargs -n 1 echo`.
    let input = echo(text.as_bytes());
    let (args, failure) = xargs_args(&input);
    let mut printed = Vec::new();
    for arg in &args {
        printed.extend(echo(arg));
    }
    let printed = String::from_utf8_lossy(&printed).into_owned();
    let mut params = Vec::new();
    // `<<< "$(...)"`: trailing newlines go, each line is one `read -r opt`.
    for line in printed.trim_end_matches('\n').split('\n') {
        let opt = ifs_trim(line);
        let (opt, val, empty_value) = match opt.split_once('=') {
            Some((key, "")) if keep_empty => (key.to_string(), String::new(), true),
            Some((_, "")) => continue,
            Some((key, val)) => {
                // `[[ $val =~ [[:space:]] ]]`: re-quoted.
                let val = if val.contains([' ', '\t', '\x0b', '\x0c', '\r']) {
                    format!("\"{val}\"")
                } else {
                    val.to_string()
                };
                (key.to_string(), val, false)
            }
            None => (opt.to_string(), String::new(), false),
        };
        // `echo "$opt $val"`, read back as `read -r opt val`: the first
        // field is the key, the rest (trimmed) the value.
        let echoed = format!("{opt} {val}");
        let echoed = ifs_trim(&echoed);
        let (key, rest) = match echoed.find([' ', '\t']) {
            Some(i) => (&echoed[..i], ifs_trim(&echoed[i..])),
            None => (echoed, ""),
        };
        if key.is_empty() {
            continue;
        }
        let value = match (rest.is_empty(), empty_value) {
            (true, true) => Some(String::new()),
            (true, false) => None,
            (false, _) => Some(rest.to_string()),
        };
        params.push(KdumpctlParam {
            key: key.to_string(),
            value,
        });
    }
    match failure {
        None => Ok(params),
        Some((quote, offset)) => Err(UnmatchedQuote {
            quote: char::from(quote),
            offset,
            kept: params,
        }),
    }
}

/// Removes every parameter of `line` whose key (as the kernel reads it) is
/// in `remove`, keeps every other token byte for byte and in order, and
/// appends `append`. Tokens are joined with one space; nothing else
/// changes.
pub fn edit(line: &str, remove: &[String], append: &str) -> String {
    let mut out: Vec<&str> = kernel_params(line)
        .into_iter()
        .filter(|p| !remove.contains(&p.key))
        .map(|p| &line[p.span])
        .collect();
    let append = append.trim_matches(|c: char| c.is_ascii() && kernel_space(c as u8));
    if !append.is_empty() {
        out.push(append);
    }
    out.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(line: &str) -> Vec<(String, Option<String>)> {
        kernel_params(line)
            .into_iter()
            .map(|p| (p.key, p.value))
            .collect()
    }

    fn kv(k: &str, v: Option<&str>) -> (String, Option<String>) {
        (k.to_string(), v.map(str::to_string))
    }

    #[test]
    fn test_kernel_tokeniser_follows_next_arg() {
        assert_eq!(
            keys("  ro  a=1 \"b=x y\" c=\"p q\" d=\"e\"f =g\t"),
            [
                kv("ro", None),
                kv("a", Some("1")),
                kv("b", Some("x y")),
                kv("c", Some("p q")),
                kv("d", Some("e\"f")),
                kv("=g", None),
            ]
        );
        // No backslash escapes: `\"` opens a quote.
        assert_eq!(
            keys("a=\\\"x y\\\" z"),
            [kv("a", Some("\\\"x y\\\"")), kv("z", None)]
        );
        assert_eq!(open_quote("a=\"x y\" z"), None);
    }

    #[test]
    fn test_open_quote_swallows_the_rest() {
        let line = "ro acpi_osi=\"Windows 2015 quiet irqpoll nr_cpus=1";
        let (params, open) = kernel_tokens(line);
        assert_eq!(open, Some(OpenQuote { offset: 12 }));
        assert_eq!(params.len(), 2);
        assert_eq!(
            params[1].value.as_deref(),
            Some("Windows 2015 quiet irqpoll nr_cpus=1")
        );
    }

    fn kd(text: &str) -> Vec<String> {
        kdumpctl_params(text, false)
            .unwrap()
            .iter()
            .map(KdumpctlParam::render)
            .collect()
    }

    #[test]
    fn test_kdumpctl_params_like_xargs_and_read() {
        assert_eq!(
            kd("a= b=1 c=\"x y\" 'd=e f'"),
            ["b=1", "c=\"x y\"", "d=\"e f\""]
        );
        // Backslashes: escape outside quotes, literal inside.
        assert_eq!(kd("a=\\\"x b=\"p\\q\" c='\\'"), ["a=\"x", "b=p\\q", "c=\\"]);
        // A quoted token with blanks but no `=` becomes key=value.
        assert_eq!(kd("\"a b\" \"x y=z\""), ["a=b", "x=y z"]);
        // echo's options vanish; `-` and `-s` stay.
        assert_eq!(kd("-n -e -Een - -s x"), ["-", "-s", "x"]);
        assert_eq!(kd("-n"), Vec::<String>::new());
        // \v and \f separate only between arguments.
        assert_eq!(kd("a\x0bb \x0cc"), ["a\x0bb", "c"]);
        assert_eq!(kd("\"\" ''  x"), ["x"]);
    }

    #[test]
    fn test_kdumpctl_stops_at_an_unmatched_quote() {
        let err = kdumpctl_params("ro a=\"x y quiet", false).unwrap_err();
        assert_eq!(err.quote, '"');
        assert_eq!(err.offset, 5);
        assert_eq!(
            err.kept,
            [KdumpctlParam {
                key: "ro".into(),
                value: None
            }]
        );
        // A newline inside quotes is unmatched too.
        assert!(kdumpctl_params("a='x\ny'", false).is_err());
    }

    #[test]
    fn test_keep_empty_keeps_key_equals() {
        let p = kdumpctl_params("hugepages= quiet", true).unwrap();
        assert_eq!(p[0].key, "hugepages");
        assert_eq!(p[0].value.as_deref(), Some(""));
        assert_eq!(p[1].value, None);
    }

    #[test]
    fn test_edit_keeps_other_tokens_verbatim() {
        let remove = vec!["quiet".to_string(), "rhgb".to_string()];
        assert_eq!(
            edit("ro  quiet a= b=\"x y\" rhgb=1 c='p q'", &remove, " x=1 "),
            "ro a= b=\"x y\" c='p q' x=1"
        );
        assert_eq!(edit("", &remove, ""), "");
        assert_eq!(edit("\"quiet\" quiet.x", &remove, ""), "quiet.x");
    }

    mod properties {
        use super::super::*;
        use proptest::prelude::*;

        /// Command-line-ish text: parameters, quotes, backslashes, blanks.
        fn line() -> impl Strategy<Value = String> {
            let piece = prop::sample::select(vec![
                "ro",
                "quiet",
                "a=1",
                "a=",
                "b=\"x y\"",
                "\"",
                "'",
                "\\",
                " ",
                "  ",
                "\t",
                "=",
                "c=d=e",
                "--",
                "-n",
                "é",
                "rhgb",
                "quiet=1",
                "x\"y",
                "\n",
            ]);
            prop::collection::vec(piece, 0..24).prop_map(|v| v.concat())
        }

        proptest! {
            /// Every kernel token not asked to go stays, byte for byte and in
            /// order; none asked to go stays.
            #[test]
            fn test_edit_keeps_every_other_token(text in line(), append in line()) {
                let remove = vec!["quiet".to_string(), "a".to_string()];
                let out = edit(&text, &remove, &append);
                let kept: Vec<&str> = kernel_params(&text)
                    .into_iter()
                    .filter(|p| !remove.contains(&p.key))
                    .map(|p| &text[p.span])
                    .collect();
                let mut rest = out.as_str();
                for token in &kept {
                    let at = rest.find(token);
                    prop_assert!(at.is_some(), "{token:?} lost: {text:?} -> {out:?}");
                    rest = &rest[at.unwrap() + token.len()..];
                }
                if open_quote(&text).is_none() && open_quote(&append).is_none() {
                    let out_keys: Vec<String> =
                        kernel_params(&out).into_iter().map(|p| p.key).collect();
                    let appended: Vec<String> =
                        kernel_params(&append).into_iter().map(|p| p.key).collect();
                    for key in &remove {
                        let in_out = out_keys.iter().filter(|k| *k == key).count();
                        let in_append = appended.iter().filter(|k| *k == key).count();
                        prop_assert_eq!(in_out, in_append, "{:?} -> {:?}", text, out);
                    }
                }
            }

            #[test]
            fn test_tokenisers_never_panic(text in line()) {
                for p in kernel_params(&text) {
                    prop_assert!(text.get(p.span.clone()).is_some());
                }
                let _ = kdumpctl_params(&text, true);
                let _ = kdumpctl_params(&text, false);
            }
        }
    }
}
