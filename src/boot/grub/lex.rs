//! GRUB's script lexer: lines as GRUB reads them, then tokens.
//!
//! GRUB reads a configuration file line by line (`grub_file_getline`):
//! carriage returns are dropped, a NUL ends the line, and lines whose first
//! character is `#` are dropped before the lexer sees them — even inside a
//! quoted string. Code run from a string (an entry's body, `eval`) is split
//! on newlines only.
//!
//! The tokens follow GRUB's flex rules (`grub-core/script/yylex.l`): the
//! longest match wins and, on a tie, the earlier rule. A word is a run of
//! plain characters, quoted strings, backslash escapes and `$variables`;
//! it is then split into pieces that keep GRUB's types (unquoted text,
//! double- or single-quoted text, a variable inside or outside double
//! quotes, `$"…"`), because expansion treats each type differently.
//! Characters GRUB's lexer rejects, and the operators its grammar has no
//! rule for (`|`, `&&`, `<`, `[[`, …), become [`Tok::Bad`]: a syntax error.

/// A line as GRUB's reader hands it to the parser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub text: String,
    /// 1-based line number in the file, for messages.
    pub number: usize,
}

/// The lines of a configuration file (`grub.cfg`, `source`, `configfile`).
pub fn config_lines(text: &str) -> Vec<Line> {
    split_lines(text)
        .map(|(number, line)| {
            let line = line.split('\0').next().unwrap_or("");
            Line {
                text: line.chars().filter(|&c| c != '\r').collect(),
                number,
            }
        })
        .filter(|line| !line.text.starts_with('#'))
        .collect()
}

/// The lines of code run from a string: an entry's `--source`, `eval`.
pub fn code_lines(text: &str) -> Vec<Line> {
    split_lines(text)
        .map(|(number, line)| Line {
            text: line.to_string(),
            number,
        })
        .collect()
}

fn split_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let body = text.strip_suffix('\n').unwrap_or(text);
    let empty = text.is_empty();
    body.split('\n')
        .enumerate()
        .filter(move |_| !empty)
        .map(|(i, l)| (i + 1, l))
}

/// One piece of a word, typed as GRUB types it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// Unquoted text, backslash escapes still in it (`\$` is `\$` here).
    Text(String),
    /// Text between double quotes, escapes resolved.
    Dq(String),
    /// Text between single quotes.
    Sq(String),
    /// `$name` / `${name}` outside quotes: split into words on expansion.
    Var(String),
    /// `$name` inside double quotes: one word.
    DqVar(String),
    /// `$"…"`: a translatable string with `$variables` in it.
    Gettext(String),
}

pub type Word = Vec<Piece>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keyword {
    Case,
    Do,
    Done,
    Elif,
    Else,
    Esac,
    Fi,
    For,
    If,
    In,
    Select,
    Then,
    Until,
    While,
    Function,
}

impl Keyword {
    fn from_str(s: &str) -> Option<Keyword> {
        Some(match s {
            "case" => Keyword::Case,
            "do" => Keyword::Do,
            "done" => Keyword::Done,
            "elif" => Keyword::Elif,
            "else" => Keyword::Else,
            "esac" => Keyword::Esac,
            "fi" => Keyword::Fi,
            "for" => Keyword::For,
            "if" => Keyword::If,
            "in" => Keyword::In,
            "select" => Keyword::Select,
            "then" => Keyword::Then,
            "until" => Keyword::Until,
            "while" => Keyword::While,
            "function" => Keyword::Function,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Keyword::Case => "case",
            Keyword::Do => "do",
            Keyword::Done => "done",
            Keyword::Elif => "elif",
            Keyword::Else => "else",
            Keyword::Esac => "esac",
            Keyword::Fi => "fi",
            Keyword::For => "for",
            Keyword::If => "if",
            Keyword::In => "in",
            Keyword::Select => "select",
            Keyword::Then => "then",
            Keyword::Until => "until",
            Keyword::While => "while",
            Keyword::Function => "function",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tok {
    Newline,
    Semi,
    LBrace,
    RBrace,
    Keyword(Keyword),
    /// A bare identifier (`[A-Za-z_][A-Za-z0-9_]*`): a word, and the only
    /// thing `function` and `for` accept as a name.
    Name(String),
    Word(Word),
    /// Something GRUB's grammar rejects; the text says what.
    Bad(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub tok: Tok,
    /// Index into the lines of the line where the token ends.
    pub line: usize,
}

/// GRUB's lexer over a sequence of lines, each ending with a newline.
/// It can restart at any line, as GRUB does after a syntax error.
pub struct Lexer {
    text: Vec<char>,
    line_of: Vec<usize>,
    line_start: Vec<usize>,
    pos: usize,
}

impl Lexer {
    pub fn new(lines: &[Line]) -> Lexer {
        let mut text = Vec::new();
        let mut line_of = Vec::new();
        let mut line_start = Vec::new();
        for (i, line) in lines.iter().enumerate() {
            line_start.push(text.len());
            for c in line.text.chars().chain(std::iter::once('\n')) {
                text.push(c);
                line_of.push(i);
            }
        }
        line_start.push(text.len());
        Lexer {
            text,
            line_of,
            line_start,
            pos: 0,
        }
    }

    /// Continues at the start of line `index` (past the end: no more tokens).
    pub fn restart_at_line(&mut self, index: usize) {
        self.pos = self.line_start[index.min(self.line_start.len() - 1)];
    }

    /// The index of the last line.
    pub fn last_line(&self) -> usize {
        self.line_start.len().saturating_sub(2)
    }

    pub fn next_token(&mut self) -> Option<Token> {
        let text = &self.text;
        loop {
            let i = self.pos;
            let c = *text.get(i)?;
            match c {
                ' ' | '\t' => {
                    self.pos += 1;
                    continue;
                }
                '\n' => {
                    self.pos += 1;
                    return Some(Token {
                        tok: Tok::Newline,
                        line: self.line_of[i],
                    });
                }
                _ => {}
            }
            // The candidates of the longest match.
            let word_len = word_length(text, i);
            let comment_len = if c == '#' {
                text[i..].iter().take_while(|&&c| c != '\n').count()
            } else {
                0
            };
            if comment_len > 0 && word_len.is_some_and(|n| comment_len >= n) {
                self.pos += comment_len;
                continue;
            }
            let op = operator(text, i);
            let op_len = op.as_ref().map_or(0, |(_, n)| *n);
            let (tok, end) = match word_len {
                Some(n) if n > op_len => {
                    let raw: String = text[i..i + n].iter().collect();
                    (classify_word(&raw), i + n)
                }
                None => {
                    // An unterminated quote: GRUB asks for more lines until
                    // the input ends, then gives up.
                    let quote = unterminated_quote(text, i).unwrap_or("a");
                    (Tok::Bad(format!("unterminated {quote} quote")), text.len())
                }
                Some(_) => match op {
                    Some((tok, n)) => (tok, i + n),
                    None => (Tok::Bad(format!("unexpected `{c}`")), i + 1),
                },
            };
            self.pos = end;
            return Some(Token {
                tok,
                line: self.line_of[end - 1],
            });
        }
    }
}

/// All tokens of some lines.
pub fn tokenize(lines: &[Line]) -> Vec<Token> {
    let mut lexer = Lexer::new(lines);
    std::iter::from_fn(|| lexer.next_token()).collect()
}

/// `;`, braces and the operators GRUB lexes but its grammar rejects.
fn operator(text: &[char], i: usize) -> Option<(Tok, usize)> {
    let two: String = text[i..(i + 2).min(text.len())].iter().collect();
    if matches!(two.as_str(), "||" | "&&" | ";;" | "[[" | "]]") {
        return Some((Tok::Bad(format!("unexpected `{two}`")), 2));
    }
    Some(match text[i] {
        ';' => (Tok::Semi, 1),
        '{' => (Tok::LBrace, 1),
        '}' => (Tok::RBrace, 1),
        c @ ('|' | '&' | '<' | '>') => (Tok::Bad(format!("unexpected `{c}`")), 1),
        _ => return None,
    })
}

fn is_plain(c: char) -> bool {
    !matches!(
        c,
        '{' | '}' | '|' | '&' | '$' | ';' | '<' | '>' | ' ' | '\t' | '\n' | '\'' | '"' | '\\'
    )
}

fn is_name_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

fn is_special(c: char) -> bool {
    matches!(c, '?' | '#' | '*' | '@')
}

/// The length of a variable reference at `i` (just after a `$`), without
/// braces: a name, digits, or one of `? # * @`.
fn bare_var_len(text: &[char], i: usize) -> usize {
    match text.get(i) {
        Some(&c) if is_name_start(c) => {
            1 + text[i + 1..]
                .iter()
                .take_while(|&&c| is_name_char(c))
                .count()
        }
        Some(c) if c.is_ascii_digit() => {
            text[i..].iter().take_while(|c| c.is_ascii_digit()).count()
        }
        Some(&c) if is_special(c) => 1,
        _ => 0,
    }
}

/// The length of `$var`, `${var}` at `i` (on the `$`), or 0.
fn variable_len(text: &[char], i: usize) -> usize {
    if text.get(i + 1) == Some(&'{') {
        let n = bare_var_len(text, i + 2);
        if n > 0 && text.get(i + 2 + n) == Some(&'}') {
            return n + 3;
        }
        return 0;
    }
    let n = bare_var_len(text, i + 1);
    if n > 0 { n + 1 } else { 0 }
}

/// The end of a double-quoted string whose opening quote is at `i`.
fn dq_end(text: &[char], mut i: usize) -> Option<usize> {
    i += 1;
    while i < text.len() {
        match text[i] {
            '\\' if i + 1 < text.len() => i += 2,
            '\\' => return None,
            '"' => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

/// The length of the longest WORD at `i`, or `None` when a quote is left
/// open (GRUB's "multiline" rule: more input is needed).
fn word_length(text: &[char], start: usize) -> Option<usize> {
    let mut i = start;
    while let Some(&c) = text.get(i) {
        if is_plain(c) {
            i += 1;
            continue;
        }
        match c {
            '"' => i = dq_end(text, i)?,
            '\'' => {
                let close = text[i + 1..].iter().position(|&c| c == '\'')?;
                i += close + 2;
            }
            '\\' if i + 1 < text.len() => i += 2,
            '$' if text.get(i + 1) == Some(&'"') => i = dq_end(text, i + 1)?,
            '$' => {
                let n = variable_len(text, i);
                if n == 0 {
                    break;
                }
                i += n;
            }
            _ => break,
        }
    }
    Some(i - start)
}

/// Whether an open quote at or after `i` runs to the end of the input.
fn unterminated_quote(text: &[char], mut i: usize) -> Option<&'static str> {
    loop {
        let c = *text.get(i)?;
        if is_plain(c) {
            i += 1;
            continue;
        }
        match c {
            '"' => match dq_end(text, i) {
                Some(end) => i = end,
                None => return Some("double"),
            },
            '\'' => match text[i + 1..].iter().position(|&c| c == '\'') {
                Some(close) => i += close + 2,
                None => return Some("single"),
            },
            '\\' => i += 2,
            '$' if text.get(i + 1) == Some(&'"') => match dq_end(text, i + 1) {
                Some(end) => i = end,
                None => return Some("double"),
            },
            '$' if variable_len(text, i) > 0 => i += variable_len(text, i),
            _ => return None,
        }
    }
}

fn classify_word(raw: &str) -> Tok {
    let plain = raw.chars().all(is_plain);
    if plain {
        if let Some(k) = Keyword::from_str(raw) {
            return Tok::Keyword(k);
        }
        let mut chars = raw.chars();
        if chars.next().is_some_and(is_name_start) && chars.all(is_name_char) {
            return Tok::Name(raw.to_string());
        }
    }
    match split_word(raw) {
        Ok(word) => Tok::Word(word),
        Err(message) => Tok::Bad(message),
    }
}

/// Splits a word into typed pieces (GRUB's SPLIT, DQUOTE, SQUOTE, VAR and
/// I18NQUOTE states).
fn split_word(raw: &str) -> Result<Word, String> {
    let text: Vec<char> = raw.chars().collect();
    let mut pieces = Vec::new();
    let mut current = String::new();
    let mut i = 0;
    let flush_text = |pieces: &mut Word, current: &mut String| {
        if !current.is_empty() {
            pieces.push(Piece::Text(std::mem::take(current)));
        }
    };
    while i < text.len() {
        match text[i] {
            '\\' if text.get(i + 1) == Some(&'\n') => i += 2,
            '\\' if i + 1 < text.len() => {
                current.push('\\');
                current.push(text[i + 1]);
                i += 2;
            }
            '"' => {
                flush_text(&mut pieces, &mut current);
                i = double_quoted(&text, i + 1, &mut pieces)?;
            }
            '\'' => {
                flush_text(&mut pieces, &mut current);
                let close = text[i + 1..]
                    .iter()
                    .position(|&c| c == '\'')
                    .map_or(text.len(), |p| i + 1 + p);
                pieces.push(Piece::Sq(text[i + 1..close].iter().collect()));
                i = close + 1;
            }
            '$' if text.get(i + 1) == Some(&'"') => {
                flush_text(&mut pieces, &mut current);
                i = gettext_quoted(&text, i + 2, &mut pieces);
            }
            '$' => {
                flush_text(&mut pieces, &mut current);
                let (name, n) = var_name(&text, i);
                pieces.push(Piece::Var(name));
                i += n;
            }
            c => {
                current.push(c);
                i += 1;
            }
        }
    }
    flush_text(&mut pieces, &mut current);
    Ok(pieces)
}

/// The name of the variable at `i` (on the `$`) and the reference's length.
fn var_name(text: &[char], i: usize) -> (String, usize) {
    let n = variable_len(text, i);
    let name: String = if text.get(i + 1) == Some(&'{') {
        text[i + 2..i + n - 1].iter().collect()
    } else {
        text[i + 1..i + n].iter().collect()
    };
    (name, n.max(1))
}

/// A double-quoted string from just after its opening quote; returns the
/// index after the closing quote.
fn double_quoted(text: &[char], mut i: usize, pieces: &mut Word) -> Result<usize, String> {
    let mut current = String::new();
    while i < text.len() {
        match text[i] {
            '\\' => match text.get(i + 1) {
                Some(&c @ ('$' | '\\' | '"')) => {
                    current.push(c);
                    i += 2;
                }
                Some('\n') => i += 2,
                _ => {
                    current.push('\\');
                    i += 1;
                }
            },
            '"' => {
                pieces.push(Piece::Dq(current));
                return Ok(i + 1);
            }
            '$' => {
                if variable_len(text, i) == 0 {
                    return Err("`$` not followed by a variable name".into());
                }
                pieces.push(Piece::Dq(std::mem::take(&mut current)));
                let (name, n) = var_name(text, i);
                pieces.push(Piece::DqVar(name));
                i += n;
            }
            c => {
                current.push(c);
                i += 1;
            }
        }
    }
    pieces.push(Piece::Dq(current));
    Ok(i)
}

/// `$"…"` from just after its opening quote.
fn gettext_quoted(text: &[char], mut i: usize, pieces: &mut Word) -> usize {
    let mut current = String::new();
    while i < text.len() {
        match text[i] {
            '\\' => match text.get(i + 1) {
                Some('\\') => {
                    current.push_str("\\\\");
                    i += 2;
                }
                Some('"') => {
                    current.push('"');
                    i += 2;
                }
                Some('\n') => i += 2,
                _ => {
                    current.push('\\');
                    i += 1;
                }
            },
            '"' => {
                pieces.push(Piece::Gettext(current));
                return i + 1;
            }
            c => {
                current.push(c);
                i += 1;
            }
        }
    }
    pieces.push(Piece::Gettext(current));
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(text: &str) -> Vec<Tok> {
        tokenize(&config_lines(text))
            .into_iter()
            .map(|t| t.tok)
            .collect()
    }

    fn word(pieces: &[Piece]) -> Tok {
        Tok::Word(pieces.to_vec())
    }

    #[test]
    fn test_lines_as_grub_reads_them() {
        let lines = config_lines("a\r\n# dropped\n  # kept\nb\0c\nlast");
        let texts: Vec<_> = lines.iter().map(|l| (l.number, l.text.as_str())).collect();
        assert_eq!(texts, [(1, "a"), (3, "  # kept"), (4, "b"), (5, "last")]);
        assert!(config_lines("").is_empty());
        assert_eq!(code_lines("x\n# y\n").len(), 2);
    }

    #[test]
    fn test_words_keywords_and_operators() {
        use Piece::*;
        assert_eq!(
            toks("if [ x$a = \"b c\" ]; then fi\n"),
            [
                Tok::Keyword(Keyword::If),
                word(&[Text("[".into())]),
                word(&[Text("x".into()), Var("a".into())]),
                word(&[Text("=".into())]),
                word(&[Dq("b c".into())]),
                word(&[Text("]".into())]),
                Tok::Semi,
                Tok::Keyword(Keyword::Then),
                Tok::Keyword(Keyword::Fi),
                Tok::Newline,
            ]
        );
        // A keyword only when the whole word is one; braces always split.
        assert_eq!(toks("iffy")[0], Tok::Name("iffy".into()));
        assert_eq!(
            toks("a{b}")[..3],
            [Tok::Name("a".into()), Tok::LBrace, Tok::Name("b".into())]
        );
        assert!(matches!(toks("a || b")[1], Tok::Bad(_)));
        assert!(matches!(toks("x=1>2")[1], Tok::Bad(_)));
    }

    #[test]
    fn test_pieces_keep_grub_types() {
        use Piece::*;
        assert_eq!(
            toks(r#"a\$b"c$d\$\e"'f$g'${h}$"t $u""#)[0],
            word(&[
                Text("a\\$b".into()),
                Dq("c".into()),
                DqVar("d".into()),
                Dq("$\\e".into()),
                Sq("f$g".into()),
                Var("h".into()),
                Gettext("t $u".into()),
            ])
        );
        // A lone `$` is not a word: GRUB reports a syntax error.
        assert!(matches!(toks("a $ b")[1], Tok::Bad(_)));
        assert!(matches!(toks("\"a$\"")[0], Tok::Bad(_)));
    }

    #[test]
    fn test_comments_and_multiline_quotes() {
        use Piece::*;
        assert_eq!(toks("a # c 'd\n"), [Tok::Name("a".into()), Tok::Newline]);
        // A quote spans lines; a `#` line inside it is dropped by the reader.
        assert_eq!(
            toks("x='a\n# gone\nb'\n")[0],
            word(&[Text("x=".into()), Sq("a\nb".into())])
        );
        assert!(matches!(toks("x='a\n")[0], Tok::Bad(_)));
        // Backslash-newline continues a word.
        assert_eq!(toks("ab\\\ncd\n")[0], word(&[Text("abcd".into())]));
    }
}
