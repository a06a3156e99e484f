//! Go's errors as text/template builds them: a message and the error it wraps, so a caller can
//! walk the chain as Go's `errors.Unwrap` would (Helm reformats exec errors that way).

use std::fmt;

/// Why an error is not a plain Go error: Gantry stopped the render itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// An error Go would also raise, with Go's message.
    Go,
    /// A limit on time, size or depth was exceeded.
    Limit,
    /// Something Go would do that this engine does not; never a guess.
    Unsupported,
}

/// An error in Go's shape: a message, and the error it wraps.
#[derive(Debug, Clone)]
pub struct GoError {
    /// The full message (`Error()` in Go), including the wrapped error's text.
    pub msg: String,
    /// The wrapped error (`errors.Unwrap`).
    pub cause: Option<Box<GoError>>,
    /// Whether this level is a template `ExecError`.
    pub exec: bool,
    /// Why it happened.
    pub kind: ErrorKind,
}

impl GoError {
    /// A plain error (`errors.New`).
    pub fn new(msg: impl Into<String>) -> GoError {
        GoError {
            msg: msg.into(),
            cause: None,
            exec: false,
            kind: ErrorKind::Go,
        }
    }

    /// `fmt.Errorf(prefix + "%w", cause)`.
    pub fn wrap(prefix: impl fmt::Display, cause: GoError) -> GoError {
        let kind = cause.kind;
        GoError {
            msg: format!("{prefix}{}", cause.msg),
            cause: Some(Box::new(cause)),
            exec: false,
            kind,
        }
    }

    /// An exceeded limit.
    pub fn limit(msg: impl Into<String>) -> GoError {
        GoError {
            msg: msg.into(),
            cause: None,
            exec: false,
            kind: ErrorKind::Limit,
        }
    }

    /// Something this engine does not support.
    pub fn unsupported(msg: impl Into<String>) -> GoError {
        GoError {
            msg: msg.into(),
            cause: None,
            exec: false,
            kind: ErrorKind::Unsupported,
        }
    }

    /// The innermost error of the chain.
    pub fn root(&self) -> &GoError {
        let mut e = self;
        while let Some(c) = &e.cause {
            e = c;
        }
        e
    }

    /// Every level of the chain, outermost first.
    pub fn chain(&self) -> Vec<&GoError> {
        let mut out = vec![self];
        let mut e = self;
        while let Some(c) = &e.cause {
            out.push(c);
            e = c;
        }
        out
    }

    /// The first level that Gantry raised itself (a limit or an unsupported feature).
    pub fn gantry_cause(&self) -> Option<&GoError> {
        self.chain()
            .into_iter()
            .rev()
            .find(|e| e.kind != ErrorKind::Go && e.cause.is_none())
    }
}

impl fmt::Display for GoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.msg)
    }
}

impl std::error::Error for GoError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.cause
            .as_deref()
            .map(|c| c as &(dyn std::error::Error + 'static))
    }
}
