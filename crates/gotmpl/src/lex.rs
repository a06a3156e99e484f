//! The lexer of Go's text/template (`text/template/parse/lex.go`): the same tokens, trim
//! markers, comments, positions and line numbers, and the same error texts.

/// A token type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ItemType {
    Error,
    Bool,
    Char,
    CharConstant,
    Comment,
    Complex,
    Assign,
    Declare,
    Eof,
    Field,
    Identifier,
    LeftDelim,
    LeftParen,
    Number,
    Pipe,
    RawString,
    RightDelim,
    RightParen,
    Space,
    String,
    Text,
    Variable,
    // Keywords.
    Block,
    Break,
    Continue,
    Dot,
    Define,
    Else,
    End,
    If,
    Nil,
    Range,
    Template,
    With,
}

/// Every token type, at the index of its discriminant.
const ITEM_TYPES: [ItemType; 34] = [
    ItemType::Error,
    ItemType::Bool,
    ItemType::Char,
    ItemType::CharConstant,
    ItemType::Comment,
    ItemType::Complex,
    ItemType::Assign,
    ItemType::Declare,
    ItemType::Eof,
    ItemType::Field,
    ItemType::Identifier,
    ItemType::LeftDelim,
    ItemType::LeftParen,
    ItemType::Number,
    ItemType::Pipe,
    ItemType::RawString,
    ItemType::RightDelim,
    ItemType::RightParen,
    ItemType::Space,
    ItemType::String,
    ItemType::Text,
    ItemType::Variable,
    ItemType::Block,
    ItemType::Break,
    ItemType::Continue,
    ItemType::Dot,
    ItemType::Define,
    ItemType::Else,
    ItemType::End,
    ItemType::If,
    ItemType::Nil,
    ItemType::Range,
    ItemType::Template,
    ItemType::With,
];

impl ItemType {
    pub(crate) fn is_keyword(self) -> bool {
        matches!(
            self,
            ItemType::Block
                | ItemType::Break
                | ItemType::Continue
                | ItemType::Dot
                | ItemType::Define
                | ItemType::Else
                | ItemType::End
                | ItemType::If
                | ItemType::Nil
                | ItemType::Range
                | ItemType::Template
                | ItemType::With
        )
    }
}

/// A token: its type, the byte range of its text and its starting line. Sixteen bytes, so a
/// token is returned and copied in two registers: as a type, a position, a borrowed text and a
/// line (40 bytes) it went through memory at every step from the lexer to the parser's
/// lookahead, written a field at a time and read back in wider pieces, which a processor cannot
/// take from its pending stores and waits for instead (a fifth of lexing's samples; the
/// parser's copies of tokens waited the same way). Positions fit 32 bits: [`crate::parse::parse`] refuses longer texts. An
/// error's message is the lexer's ([`Lexer::error`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Item {
    pub typ: ItemType,
    start: u32,
    end: u32,
    line: u32,
}

impl Item {
    /// The byte position of the token's text.
    pub(crate) fn pos(&self) -> crate::parse::Pos {
        self.start
    }

    /// The line the token starts on.
    pub(crate) fn line(&self) -> usize {
        self.line as usize
    }

    /// The token's text in `src`, the text it was lexed from.
    pub(crate) fn val<'s>(&self, src: &'s str) -> &'s str {
        &src[self.start as usize..self.end as usize]
    }

    /// The token as two integers: the type and start, the end and line ([`Lexer::next_item`]).
    #[inline(always)]
    fn pack(self) -> (u64, u64) {
        // A type missing from the table fails every test that lexes it.
        debug_assert_eq!(ITEM_TYPES.get(self.typ as usize), Some(&self.typ));
        (
            self.typ as u64 | u64::from(self.start) << 32,
            u64::from(self.end) | u64::from(self.line) << 32,
        )
    }

    /// The token [`Item::pack`] made.
    #[inline(always)]
    fn unpack((a, b): (u64, u64)) -> Item {
        Item {
            typ: ITEM_TYPES[(a & 0xff) as usize],
            start: (a >> 32) as u32,
            end: b as u32,
            line: (b >> 32) as u32,
        }
    }

    /// The end of input where the parser has no token (Go's zero `item`).
    pub(crate) fn none() -> Item {
        Item {
            typ: ItemType::Eof,
            start: 0,
            end: 0,
            line: 0,
        }
    }

    /// The token as Go's `item.String` prints it, given the text it was lexed from.
    pub(crate) fn shown<'s>(&self, src: &'s str) -> Shown<'s> {
        Shown {
            typ: self.typ,
            val: self.val(src),
        }
    }
}

/// A token and its text, printed as Go's `item.String` prints a token.
pub(crate) struct Shown<'s> {
    typ: ItemType,
    val: &'s str,
}

impl std::fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.typ {
            ItemType::Eof => f.write_str("EOF"),
            // The message is the lexer's; a token holds none.
            ItemType::Error => f.write_str("error"),
            t if t.is_keyword() => write!(f, "<{}>", self.val),
            _ => {
                if self.val.chars().count() > 10 {
                    // Go's %.10q: the first ten runes, quoted, then an ellipsis.
                    let head: String = self.val.chars().take(10).collect();
                    write!(f, "{}...", crate::gofmt::quote(&head))
                } else {
                    f.write_str(&crate::gofmt::quote(self.val))
                }
            }
        }
    }
}

pub(crate) fn keyword(word: &str) -> Option<ItemType> {
    Some(match word {
        "." => ItemType::Dot,
        "block" => ItemType::Block,
        "break" => ItemType::Break,
        "continue" => ItemType::Continue,
        "define" => ItemType::Define,
        "else" => ItemType::Else,
        "end" => ItemType::End,
        "if" => ItemType::If,
        "range" => ItemType::Range,
        "nil" => ItemType::Nil,
        "template" => ItemType::Template,
        "with" => ItemType::With,
        _ => return None,
    })
}

const LEFT_DELIM: &str = "{{";
const RIGHT_DELIM: &str = "}}";
const LEFT_COMMENT: &str = "/*";
const RIGHT_COMMENT: &str = "*/";
const TRIM_MARKER_LEN: usize = 2;
const EOF: Option<char> = None;

#[derive(Debug, Clone, Copy)]
enum State {
    Text,
    LeftDelim,
    Comment,
    RightDelim,
    InsideAction,
    Space,
    Identifier,
    Field,
    Variable,
    Char,
    Number,
    Quote,
    RawQuote,
}

/// What a state function did: go on in another state, or give the token it found (returned
/// rather than left in a field for `next_item` to take: that slot, written and taken again for
/// every token, was a tenth of the lexer's instructions).
enum Step {
    Go(State),
    Emit(Item),
}

/// Options the parser sets.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct LexOptions {
    pub emit_comment: bool,
    pub break_ok: bool,
    pub continue_ok: bool,
}

pub(crate) struct Lexer<'a> {
    input: &'a str,
    pos: usize,
    start: usize,
    at_eof: bool,
    paren_depth: i32,
    line: usize,
    start_line: usize,
    /// The message of the error that ended the input, if one did.
    error: String,
    inside_action: bool,
    pub options: LexOptions,
    /// Tests compare [`Self::action_token`] with the state machine alone.
    #[cfg(test)]
    states_only: bool,
}

fn is_space(r: char) -> bool {
    matches!(r, ' ' | '\t' | '\r' | '\n')
}

fn is_alnum(r: char) -> bool {
    if r.is_ascii() {
        return WORD[r as usize];
    }
    r.is_alphabetic() || r.is_numeric()
}

/// The byte offset of the first `{{` in `s`: a search for `{` and a look at the byte after it,
/// which is faster than a two-byte substring search over template text. The search is the
/// `memchr` crate's (vector instructions), not `str::find`'s, whose search for a character
/// goes a machine word at a time: 1.1M fewer of the 1,000-template chart's 284M instructions.
fn find_left_delim(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut from = 0;
    while let Some(i) = memchr::memchr(b'{', &b[from..]) {
        let at = from + i;
        if b.get(at + 1) == Some(&b'{') {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

fn has_left_trim_marker(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 2 && b[0] == b'-' && is_space(b[1] as char)
}

/// Whether `b` starts with a trimmed right delimiter, ` -}}`.
fn at_trimmed_right_delim(b: &[u8]) -> bool {
    b.len() >= TRIM_MARKER_LEN
        && is_space(char::from(b[0]))
        && b[1] == b'-'
        && b[TRIM_MARKER_LEN..].starts_with(RIGHT_DELIM.as_bytes())
}

// Spaces are ASCII, and no byte of another character is one: counted a byte at a time, where
// `trim_matches` with a set of characters decodes each.
fn trailing_spaces(b: &[u8]) -> usize {
    b.iter()
        .rev()
        .take_while(|&&c| is_space(char::from(c)))
        .count()
}

pub(crate) fn leading_spaces(b: &[u8]) -> usize {
    b.iter().take_while(|&&c| is_space(char::from(c))).count()
}

/// Counted in byte-wide sums over blocks a byte can count: summed into a `usize` per byte,
/// the compiler's vector loop took two bytes a step.
fn count_newlines(s: &str) -> usize {
    s.as_bytes()
        .chunks(255)
        .map(|c| usize::from(c.iter().fold(0u8, |n, &b| n + u8::from(b == b'\n'))))
        .sum()
}

impl<'a> Lexer<'a> {
    pub(crate) fn new(input: &'a str) -> Lexer<'a> {
        Lexer {
            input,
            pos: 0,
            start: 0,
            at_eof: false,
            paren_depth: 0,
            line: 1,
            start_line: 1,
            error: String::new(),
            inside_action: false,
            options: LexOptions::default(),
            #[cfg(test)]
            states_only: false,
        }
    }

    fn rest(&self) -> &'a str {
        &self.input[self.pos..]
    }

    // The next three take one byte at a time where it is ASCII, as nearly all of a template's
    // actions are: the same characters as decoding at each step, without it.
    fn next(&mut self) -> Option<char> {
        match self.input.as_bytes().get(self.pos) {
            None => {
                self.at_eof = true;
                EOF
            }
            Some(&b) if b.is_ascii() => {
                self.pos += 1;
                if b == b'\n' {
                    self.line += 1;
                }
                Some(char::from(b))
            }
            Some(_) => {
                let r = self.rest().chars().next()?;
                self.pos += r.len_utf8();
                Some(r)
            }
        }
    }

    fn peek(&mut self) -> Option<char> {
        match self.input.as_bytes().get(self.pos) {
            Some(&b) if b.is_ascii() => Some(char::from(b)),
            _ => self.rest().chars().next(),
        }
    }

    fn backup(&mut self) {
        if self.at_eof || self.pos == 0 {
            return;
        }
        let b = self.input.as_bytes()[self.pos - 1];
        if b.is_ascii() {
            self.pos -= 1;
            if b == b'\n' {
                self.line -= 1;
            }
        } else if let Some(r) = self.input[..self.pos].chars().next_back() {
            self.pos -= r.len_utf8();
        }
    }

    fn this_item(&mut self, t: ItemType) -> Item {
        let i = Item {
            typ: t,
            start: self.start as u32,
            end: self.pos as u32,
            line: self.start_line as u32,
        };
        self.start = self.pos;
        self.start_line = self.line;
        i
    }

    fn emit(&mut self, t: ItemType) -> Step {
        Step::Emit(self.this_item(t))
    }

    fn ignore(&mut self) {
        self.line += count_newlines(&self.input[self.start..self.pos]);
        self.start = self.pos;
        self.start_line = self.line;
    }

    // Every set of characters the lexer accepts from is ASCII, so a byte in it is a whole
    // character and anything else is not in it: a look at one byte, where taking the next
    // character and backing up asked `str::contains` of each (half of lexing a number).
    fn accept(&mut self, valid: &str) -> bool {
        match self.input.as_bytes().get(self.pos) {
            None => {
                // As `next` at the end, after which `backup` does nothing.
                self.at_eof = true;
                false
            }
            Some(&b) if b.is_ascii() && valid.as_bytes().contains(&b) => {
                self.pos += 1;
                if b == b'\n' {
                    self.line += 1;
                }
                true
            }
            Some(_) => false,
        }
    }

    fn accept_run(&mut self, valid: &str) {
        while self.accept(valid) {}
    }

    fn errorf(&mut self, msg: String) -> Step {
        self.error = msg;
        let item = Item {
            typ: ItemType::Error,
            start: self.start as u32,
            end: self.start as u32,
            line: self.start_line as u32,
        };
        self.start = 0;
        self.pos = 0;
        self.input = &self.input[..0];
        Step::Emit(item)
    }

    /// The message of the [`ItemType::Error`] token that ended the input.
    pub(crate) fn error(&self) -> &str {
        &self.error
    }

    /// The next token.
    #[inline]
    pub(crate) fn next_item(&mut self) -> Item {
        Item::unpack(self.next_packed())
    }

    /// [`Lexer::lex_item`] as two integers, which a call returns in two registers: a token
    /// returned as it is went through memory (the callee wrote its fields one at a time and
    /// the parser read them back sixteen bytes at once, which the processor cannot take from
    /// its pending stores and waits for). The 1,000-template chart's templates parsed on one
    /// thread: 4.72-4.75 ms -> 3.94-4.05 ms.
    #[inline(never)]
    fn next_packed(&mut self) -> (u64, u64) {
        self.lex_item().pack()
    }

    #[inline(always)]
    fn lex_item(&mut self) -> Item {
        let mut state = if self.inside_action {
            if let Some(item) = self.action_token() {
                return item;
            }
            State::InsideAction
        } else {
            State::Text
        };
        loop {
            let next = match state {
                State::Text => self.lex_text(),
                State::LeftDelim => self.lex_left_delim(),
                State::Comment => self.lex_comment(),
                State::RightDelim => self.lex_right_delim(),
                State::InsideAction => self.lex_inside_action(),
                State::Space => self.lex_space(),
                State::Identifier => self.lex_identifier(),
                State::Field => self.lex_field_or_variable(ItemType::Field),
                State::Variable => self.lex_variable(),
                State::Char => self.lex_char(),
                State::Number => self.lex_number(),
                State::Quote => self.lex_quote(),
                State::RawQuote => self.lex_raw_quote(),
            };
            match next {
                Step::Go(s) => state = s,
                Step::Emit(item) => return item,
            }
        }
    }

    /// The next token of an action when it is one of those nearly every action is made of
    /// (spaces, words, fields, variables, strings, a pipe, parentheses, the right delimiter),
    /// taken whole from its first byte: the state machine went through two or three states,
    /// each a call returning a token through memory, and looked at each byte twice; lexing
    /// was half of parsing. `None`, with the lexer untouched, wherever the state machine must
    /// decide: numbers, trim markers, characters not ASCII, the input's end and every error.
    fn action_token(&mut self) -> Option<Item> {
        #[cfg(test)]
        if self.states_only {
            return None;
        }
        if self.at_eof {
            return None;
        }
        let b = self.input.as_bytes();
        let at = self.pos;
        let (typ, end) = match *b.get(at)? {
            b'}' if b.get(at + 1) == Some(&b'}') && self.paren_depth == 0 => {
                self.inside_action = false;
                (ItemType::RightDelim, at + 2)
            }
            b' ' | b'\t' | b'\r' | b'\n' => {
                let end = at + leading_spaces(&b[at..]);
                // A space before `-}}` belongs to the trimmed delimiter.
                if b[end..].starts_with(b"-}}") {
                    return None;
                }
                self.line += count_newlines(&self.input[at..end]);
                (ItemType::Space, end)
            }
            b'.' => match b.get(at + 1) {
                Some(c) if !c.is_ascii_digit() => word_end(b, at + 1, ItemType::Field)?,
                _ => return None,
            },
            b'$' => word_end(b, at + 1, ItemType::Variable)?,
            c if c == b'_' || c.is_ascii_alphabetic() => {
                let (_, end) = word_end(b, at + 1, ItemType::Identifier)?;
                (self.word_type(&self.input[at..end]), end)
            }
            b'"' => {
                let mut from = at + 1;
                loop {
                    let i = from + memchr::memchr3(b'"', b'\\', b'\n', &b[from..])?;
                    match b[i] {
                        b'"' => break (ItemType::String, i + 1),
                        b'\\' if !matches!(b.get(i + 1), None | Some(b'\n')) => from = i + 2,
                        _ => return None,
                    }
                }
            }
            b'`' => {
                let end = at + 1 + memchr::memchr(b'`', &b[at + 1..])? + 1;
                self.line += count_newlines(&self.input[at..end]);
                (ItemType::RawString, end)
            }
            b'|' => (ItemType::Pipe, at + 1),
            b'=' => (ItemType::Assign, at + 1),
            b':' if b.get(at + 1) == Some(&b'=') => (ItemType::Declare, at + 2),
            b'(' => {
                self.paren_depth += 1;
                (ItemType::LeftParen, at + 1)
            }
            b')' if self.paren_depth > 0 => {
                self.paren_depth -= 1;
                (ItemType::RightParen, at + 1)
            }
            b',' => (ItemType::Char, at + 1),
            _ => return None,
        };
        self.pos = end;
        Some(self.this_item(typ))
    }

    /// Where the next token of an action starts, when the lexer is between two tokens of one
    /// outside any parentheses, for the parser's quick read of a whole action
    /// (`Parser::quick_action`).
    pub(crate) fn action_at(&self) -> Option<usize> {
        (self.inside_action && !self.at_eof && self.paren_depth == 0 && self.start == self.pos)
            .then_some(self.pos)
    }

    /// Ends an action whose pipeline the parser read itself up to `at` (ASCII, no delimiter):
    /// the spaces from `at` are stepped over as the space token the state machine would make
    /// of them, and the right delimiter after them, trimmed (` -}}`) or not, is its own
    /// ([`Self::right_delim`]). Returns the delimiter's token.
    pub(crate) fn close_action(&mut self, at: usize) -> Item {
        let b = self.input.as_bytes();
        let sp = at + leading_spaces(&b[at..]);
        // A space before `-}}` is the trim marker's, which the delimiter takes.
        let delim = sp - usize::from(sp > at && b[sp] == b'-');
        // Line breaks can only be in the spaces between the words read.
        if memchr::memchr(b'\n', &b[self.pos..delim]).is_some() {
            self.line += count_newlines(&self.input[self.pos..delim]);
        }
        self.pos = delim;
        self.start = delim;
        self.start_line = self.line;
        debug_assert!(self.at_right_delim().0);
        self.right_delim()
    }

    /// The type of a word the state machine or [`Self::action_token`] found.
    fn word_type(&self, word: &str) -> ItemType {
        if let Some(k) = keyword(word) {
            if (k == ItemType::Break && !self.options.break_ok)
                || (k == ItemType::Continue && !self.options.continue_ok)
            {
                return ItemType::Identifier;
            }
            return k;
        }
        if word.starts_with('.') {
            return ItemType::Field;
        }
        if word == "true" || word == "false" {
            return ItemType::Bool;
        }
        ItemType::Identifier
    }

    fn lex_text(&mut self) -> Step {
        if let Some(x) = find_left_delim(self.rest()) {
            if x > 0 {
                self.pos += x;
                let mut trim = 0;
                let delim_end = self.pos + LEFT_DELIM.len();
                if has_left_trim_marker(&self.input[delim_end..]) {
                    let s = &self.input[self.start..self.pos];
                    trim = trailing_spaces(s.as_bytes());
                }
                self.pos -= trim;
                self.line += count_newlines(&self.input[self.start..self.pos]);
                let i = self.this_item(ItemType::Text);
                self.pos += trim;
                self.ignore();
                if i.end > i.start {
                    return Step::Emit(i);
                }
            }
            return Step::Go(State::LeftDelim);
        }
        self.pos = self.input.len();
        if self.pos > self.start {
            self.line += count_newlines(&self.input[self.start..self.pos]);
            return self.emit(ItemType::Text);
        }
        self.emit(ItemType::Eof)
    }

    fn at_right_delim(&self) -> (bool, bool) {
        // Bytes: it runs before every character of an action.
        let rest = &self.input.as_bytes()[self.pos..];
        if rest.starts_with(RIGHT_DELIM.as_bytes()) {
            return (true, false);
        }
        if at_trimmed_right_delim(rest) {
            return (true, true);
        }
        (false, false)
    }

    fn lex_left_delim(&mut self) -> Step {
        self.pos += LEFT_DELIM.len();
        let trim = has_left_trim_marker(self.rest());
        let after = if trim { TRIM_MARKER_LEN } else { 0 };
        if self.input[self.pos + after..].starts_with(LEFT_COMMENT) {
            self.pos += after;
            self.ignore();
            return Step::Go(State::Comment);
        }
        let i = self.this_item(ItemType::LeftDelim);
        self.inside_action = true;
        self.pos += after;
        self.ignore();
        self.paren_depth = 0;
        Step::Emit(i)
    }

    fn lex_comment(&mut self) -> Step {
        self.pos += LEFT_COMMENT.len();
        let Some(x) = self.rest().find(RIGHT_COMMENT) else {
            return self.errorf("unclosed comment".into());
        };
        self.pos += x + RIGHT_COMMENT.len();
        let (delim, trim) = self.at_right_delim();
        if !delim {
            return self.errorf("comment ends before closing delimiter".into());
        }
        self.line += count_newlines(&self.input[self.start..self.pos]);
        let i = self.this_item(ItemType::Comment);
        if trim {
            self.pos += TRIM_MARKER_LEN;
        }
        self.pos += RIGHT_DELIM.len();
        if trim {
            let r = self.rest();
            self.pos += leading_spaces(r.as_bytes());
        }
        self.ignore();
        if self.options.emit_comment {
            return Step::Emit(i);
        }
        Step::Go(State::Text)
    }

    fn lex_right_delim(&mut self) -> Step {
        Step::Emit(self.right_delim())
    }

    /// The right delimiter at `pos`, trimmed (` -}}`, which then takes the spaces after it)
    /// or not, and the action's end.
    fn right_delim(&mut self) -> Item {
        let (_, trim) = self.at_right_delim();
        if trim {
            self.pos += TRIM_MARKER_LEN;
            self.ignore();
        }
        self.pos += RIGHT_DELIM.len();
        let i = self.this_item(ItemType::RightDelim);
        if trim {
            let r = self.rest();
            self.pos += leading_spaces(r.as_bytes());
            self.ignore();
        }
        self.inside_action = false;
        i
    }

    fn lex_inside_action(&mut self) -> Step {
        let (delim, _) = self.at_right_delim();
        if delim {
            if self.paren_depth == 0 {
                return Step::Go(State::RightDelim);
            }
            return self.errorf("unclosed left paren".into());
        }
        let r = self.next();
        match r {
            None => self.errorf("unclosed action".into()),
            Some(r) if is_space(r) => {
                self.backup();
                Step::Go(State::Space)
            }
            Some('=') => self.emit(ItemType::Assign),
            Some(':') => {
                if self.next() != Some('=') {
                    return self.errorf("expected :=".into());
                }
                self.emit(ItemType::Declare)
            }
            Some('|') => self.emit(ItemType::Pipe),
            Some('"') => Step::Go(State::Quote),
            Some('`') => Step::Go(State::RawQuote),
            Some('$') => Step::Go(State::Variable),
            Some('\'') => Step::Go(State::Char),
            Some('.') => {
                if let Some(&b) = self.input.as_bytes().get(self.pos)
                    && !b.is_ascii_digit()
                {
                    return Step::Go(State::Field);
                }
                self.backup();
                Step::Go(State::Number)
            }
            Some(r) if r == '+' || r == '-' || r.is_ascii_digit() => {
                self.backup();
                Step::Go(State::Number)
            }
            Some(r) if is_alnum(r) => {
                self.backup();
                Step::Go(State::Identifier)
            }
            Some('(') => {
                self.paren_depth += 1;
                self.emit(ItemType::LeftParen)
            }
            Some(')') => {
                self.paren_depth -= 1;
                if self.paren_depth < 0 {
                    return self.errorf("unexpected right paren".into());
                }
                self.emit(ItemType::RightParen)
            }
            Some(r) if r.is_ascii() && !r.is_ascii_control() => self.emit(ItemType::Char),
            Some(r) => self.errorf(format!(
                "unrecognized character in action: {}",
                crate::gofmt::unicode_repr(r)
            )),
        }
    }

    fn lex_space(&mut self) -> Step {
        // Spaces are ASCII: the run is taken and its lines counted as the fast step does.
        let num = leading_spaces(&self.input.as_bytes()[self.pos..]);
        self.line += count_newlines(&self.input[self.pos..self.pos + num]);
        self.pos += num;
        if at_trimmed_right_delim(&self.input.as_bytes()[self.pos - 1..]) {
            self.backup();
            if num == 1 {
                return Step::Go(State::RightDelim);
            }
        }
        self.emit(ItemType::Space)
    }

    /// Consumes a run of alphanumeric characters and returns the one after it, unconsumed
    /// (`None` at the end of the input): Go's loop of `next` ended by a `backup`, a byte at a
    /// time where the text is ASCII. Words are most of a template's actions.
    fn scan_alnum(&mut self) -> Option<char> {
        let bytes = self.input.as_bytes();
        loop {
            match bytes.get(self.pos) {
                None => {
                    // As `next` at the end, after which `backup` does nothing.
                    self.at_eof = true;
                    return None;
                }
                Some(&b) if b.is_ascii() => {
                    if !WORD[usize::from(b)] {
                        return Some(char::from(b));
                    }
                    self.pos += 1;
                }
                Some(_) => {
                    let r = self.rest().chars().next()?;
                    if !is_alnum(r) {
                        return Some(r);
                    }
                    self.pos += r.len_utf8();
                }
            }
        }
    }

    fn lex_identifier(&mut self) -> Step {
        let r = self.scan_alnum();
        // The input outlives the lexer's borrow, so the word needs no copy.
        let input = self.input;
        let word = &input[self.start..self.pos];
        if !self.at_terminator() {
            return self.errorf(format!("bad character {}", bad_char(r)));
        }
        let typ = self.word_type(word);
        self.emit(typ)
    }

    fn lex_variable(&mut self) -> Step {
        if self.at_terminator() {
            return self.emit(ItemType::Variable);
        }
        self.lex_field_or_variable(ItemType::Variable)
    }

    fn lex_field_or_variable(&mut self, typ: ItemType) -> Step {
        if self.at_terminator() {
            if typ == ItemType::Variable {
                return self.emit(ItemType::Variable);
            }
            return self.emit(ItemType::Dot);
        }
        let r = self.scan_alnum();
        if !self.at_terminator() {
            return self.errorf(format!("bad character {}", bad_char(r)));
        }
        self.emit(typ)
    }

    fn at_terminator(&mut self) -> bool {
        match self.peek() {
            None => true,
            Some(r) if is_space(r) => true,
            Some('.' | ',' | '|' | ':' | ')' | '(') => true,
            _ => self.input.as_bytes()[self.pos..].starts_with(RIGHT_DELIM.as_bytes()),
        }
    }

    fn lex_char(&mut self) -> Step {
        loop {
            match self.next() {
                Some('\\') => {
                    let r = self.next();
                    if r.is_some() && r != Some('\n') {
                        continue;
                    }
                    return self.errorf("unterminated character constant".into());
                }
                None | Some('\n') => return self.errorf("unterminated character constant".into()),
                Some('\'') => break,
                _ => {}
            }
        }
        self.emit(ItemType::CharConstant)
    }

    fn lex_number(&mut self) -> Step {
        if !self.scan_number() {
            let t = self.input[self.start..self.pos].to_owned();
            return self.errorf(format!("bad number syntax: {}", crate::gofmt::quote(&t)));
        }
        if let Some('+' | '-') = self.peek() {
            if !self.scan_number() || !self.input[..self.pos].ends_with('i') {
                let t = self.input[self.start..self.pos].to_owned();
                return self.errorf(format!("bad number syntax: {}", crate::gofmt::quote(&t)));
            }
            return self.emit(ItemType::Complex);
        }
        self.emit(ItemType::Number)
    }

    fn scan_number(&mut self) -> bool {
        self.accept("+-");
        let mut digits = "0123456789_";
        if self.accept("0") {
            if self.accept("xX") {
                digits = "0123456789abcdefABCDEF_";
            } else if self.accept("oO") {
                digits = "01234567_";
            } else if self.accept("bB") {
                digits = "01_";
            }
        }
        self.accept_run(digits);
        if self.accept(".") {
            self.accept_run(digits);
        }
        if digits.len() == 11 && self.accept("eE") {
            self.accept("+-");
            self.accept_run("0123456789_");
        }
        if digits.len() == 23 && self.accept("pP") {
            self.accept("+-");
            self.accept_run("0123456789_");
        }
        self.accept("i");
        if let Some(r) = self.peek()
            && is_alnum(r)
        {
            self.next();
            return false;
        }
        true
    }

    fn lex_quote(&mut self) -> Step {
        loop {
            match self.next() {
                Some('\\') => {
                    let r = self.next();
                    if r.is_some() && r != Some('\n') {
                        continue;
                    }
                    return self.errorf("unterminated quoted string".into());
                }
                None | Some('\n') => return self.errorf("unterminated quoted string".into()),
                Some('"') => break,
                _ => {}
            }
        }
        self.emit(ItemType::String)
    }

    fn lex_raw_quote(&mut self) -> Step {
        loop {
            match self.next() {
                None => return self.errorf("unterminated raw quoted string".into()),
                Some('`') => break,
                _ => {}
            }
        }
        self.emit(ItemType::RawString)
    }
}

/// The ASCII bytes of a word (`_` and the letters and digits): one look in a table per byte,
/// where the comparisons were four ranges.
static WORD: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        t[c] = b == b'_' || b.is_ascii_alphanumeric();
        c += 1;
    }
    t
};

/// Where the word of a field, variable or identifier whose letters start at `from` ends, with
/// `typ` (a `.` with no letters after it is a [`ItemType::Dot`]); `None` where the state
/// machine must decide: a character not ASCII, the input's end or a character that ends no word.
pub(crate) fn word_end(b: &[u8], from: usize, typ: ItemType) -> Option<(ItemType, usize)> {
    let end = from
        + b[from..]
            .iter()
            .take_while(|&&c| WORD[usize::from(c)])
            .count();
    let terminated = match *b.get(end)? {
        b' ' | b'\t' | b'\r' | b'\n' | b'.' | b',' | b'|' | b':' | b')' | b'(' => true,
        b'}' => b.get(end + 1) == Some(&b'}'),
        _ => false,
    };
    if !terminated {
        return None;
    }
    let alone = match typ {
        ItemType::Field if end == from => ItemType::Dot,
        t => t,
    };
    Some((alone, end))
}

fn bad_char(r: Option<char>) -> String {
    match r {
        Some(c) => crate::gofmt::unicode_repr(c),
        // Go formats its eof rune (-1) with %#U.
        None => "U+FFFFFFFFFFFFFFFF".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first `{{` is where a substring search finds it, in every short text of braces,
    /// a letter and a character of two bytes.
    #[test]
    fn the_left_delimiter_is_found_where_a_substring_search_finds_it() {
        for s in gantry_tests::up_to(&["{", "}", "a", "é"], 7) {
            assert_eq!(find_left_delim(&s), s.find("{{"), "{s:?}");
        }
    }

    fn items(s: &str) -> Vec<(ItemType, String)> {
        let mut l = Lexer::new(s);
        l.options.break_ok = true;
        l.options.continue_ok = true;
        let mut out = Vec::new();
        loop {
            let i = l.next_item();
            let done = matches!(i.typ, ItemType::Eof | ItemType::Error);
            let val = match i.typ {
                ItemType::Error => l.error(),
                _ => i.val(s),
            };
            out.push((i.typ, val.to_owned()));
            if done {
                break;
            }
        }
        out
    }

    #[test]
    fn trim_markers_remove_surrounding_space() {
        let got = items("a  \n {{- .x -}} \n b");
        assert_eq!(
            got,
            vec![
                (ItemType::Text, "a".into()),
                (ItemType::LeftDelim, "{{".into()),
                (ItemType::Field, ".x".into()),
                (ItemType::RightDelim, "}}".into()),
                (ItemType::Text, "b".into()),
                (ItemType::Eof, "".into()),
            ]
        );
    }

    #[test]
    fn minus_number_is_not_a_trim_marker() {
        let got = items("{{-3}}");
        assert_eq!(got[1], (ItemType::Number, "-3".into()));
    }

    #[test]
    fn comments_vanish_with_trim() {
        let got = items("a {{- /* c */ -}} b");
        assert_eq!(
            got,
            vec![
                (ItemType::Text, "a".into()),
                (ItemType::Text, "b".into()),
                (ItemType::Eof, "".into())
            ]
        );
    }

    /// Every string of up to four characters over words' and their neighbours' characters
    /// (ASCII and not, alphanumeric and not), from every position: `scan_alnum` leaves the
    /// lexer where Go's loop of `next` and a final `backup` leaves it, and returns the same
    /// character.
    #[test]
    fn scan_alnum_is_next_until_not_alnum_then_backup() {
        let alphabet = ['a', 'Z', '0', '_', ' ', '\n', '.', '}', 'é', '→', '٣'];
        let strings = gantry_tests::up_to(&alphabet, 4);
        for s in &strings {
            for (start, _) in s.char_indices().chain([(s.len(), ' ')]) {
                let mut fast = Lexer::new(s);
                fast.pos = start;
                let mut steps = Lexer::new(s);
                steps.pos = start;
                let got = fast.scan_alnum();
                let want = loop {
                    match steps.next() {
                        Some(c) if is_alnum(c) => {}
                        r => {
                            steps.backup();
                            break r;
                        }
                    }
                };
                assert_eq!(got, want, "{s:?} from {start}");
                assert_eq!(
                    (fast.pos, fast.line, fast.at_eof),
                    (steps.pos, steps.line, steps.at_eof),
                    "{s:?} from {start}"
                );
            }
        }
    }

    /// Across the blocks' ends, and with every byte a newline (a block's sum at its largest).
    #[test]
    fn newlines_are_counted_in_blocks_as_one_by_one() {
        for n in [0, 1, 254, 255, 256, 510, 511, 1000] {
            for text in ["\n".repeat(n), "a\n é".repeat(n)] {
                let want = text.bytes().filter(|&b| b == b'\n').count();
                assert_eq!(count_newlines(&text), want, "{n}");
            }
        }
    }

    fn tokens(s: &str, states_only: bool) -> Vec<(ItemType, usize, String, usize)> {
        let mut l = Lexer::new(s);
        l.states_only = states_only;
        let mut out = Vec::new();
        loop {
            let i = l.next_item();
            let val = match i.typ {
                ItemType::Error => l.error(),
                _ => i.val(s),
            };
            out.push((i.typ, i.pos() as usize, val.to_owned(), i.line()));
            if matches!(i.typ, ItemType::Eof | ItemType::Error) {
                return out;
            }
        }
    }

    /// A token's type survives its trip through two integers: each type is at the index of its
    /// discriminant, and a token packed and unpacked is the token.
    #[test]
    fn tokens_pack_into_two_integers_and_back() {
        for (i, &t) in ITEM_TYPES.iter().enumerate() {
            assert_eq!(t as usize, i, "{t:?}");
            let item = Item {
                typ: t,
                start: 7 + i as u32,
                end: u32::MAX - 1,
                line: u32::MAX,
            };
            let back = Item::unpack(item.pack());
            assert_eq!(
                (back.typ, back.start, back.end, back.line),
                (item.typ, item.start, item.end, item.line)
            );
        }
    }

    /// Every action of up to four characters over what actions are made of (and what breaks
    /// them: a trim marker, a character not ASCII, an unclosed string, a paren too many), ended
    /// in each way an action ends: `action_token` gives the tokens, positions, lines and errors
    /// the state machine alone gives.
    #[test]
    fn action_tokens_are_the_state_machines() {
        let alphabet = [
            " ", "\n", ".", "$", "a", "_", "1", "\"", "\\", "`", "|", "(", ")", ":", "=", ",", "}",
            "-", "é", "'", "+",
        ];
        for body in gantry_tests::up_to(&alphabet, 4) {
            for end in ["}}", " -}}", "", "}} x\n{{ .a }}"] {
                let s = format!("{{{{{body}{end}");
                assert_eq!(tokens(&s, false), tokens(&s, true), "{s:?}");
            }
        }
    }

    /// Go's `lex_test.go` case of numbers, and the ends a number can meet.
    #[test]
    fn numbers_lex_as_go_lexes_them() {
        let got = items(
            "{{1 02 0x14 0X14 -7.2i 1e3 1E3 +1.2e-4 4.2i 1+2i 1_2 0x1.EEEp100 0X1.EEEP+100 0o017 0b101}}",
        );
        let numbers: Vec<(ItemType, &str)> = got
            .iter()
            .filter(|(t, _)| !matches!(t, ItemType::Space | ItemType::LeftDelim))
            .map(|(t, v)| (*t, v.as_str()))
            .collect();
        let n = ItemType::Number;
        assert_eq!(
            numbers,
            [
                (n, "1"),
                (n, "02"),
                (n, "0x14"),
                (n, "0X14"),
                (n, "-7.2i"),
                (n, "1e3"),
                (n, "1E3"),
                (n, "+1.2e-4"),
                (n, "4.2i"),
                (ItemType::Complex, "1+2i"),
                (n, "1_2"),
                (n, "0x1.EEEp100"),
                (n, "0X1.EEEP+100"),
                (n, "0o017"),
                (n, "0b101"),
                (ItemType::RightDelim, "}}"),
                (ItemType::Eof, ""),
            ]
        );
        assert_eq!(items("{{ 3").last().unwrap().1, "unclosed action");
        assert_eq!(items("{{ 0x").last().unwrap().1, "unclosed action");
        assert_eq!(
            items("{{ 3é }}").last().unwrap().1,
            "bad number syntax: \"3é\""
        );
        assert_eq!(items("{{3\n}}")[1], (ItemType::Number, "3".into()));
    }

    #[test]
    fn errors_use_go_text() {
        assert_eq!(
            items("{{ \"abc }}").last().unwrap().1,
            "unterminated quoted string"
        );
        assert_eq!(items("{{ .x ").last().unwrap().1, "unclosed action");
        assert_eq!(
            items("{{ 3x }}").last().unwrap().1,
            "bad number syntax: \"3x\""
        );
        assert_eq!(items("{{ ( }}").last().unwrap().1, "unclosed left paren");
        assert_eq!(items("{{/* }}").last().unwrap().1, "unclosed comment");
    }
}
