//! Failures of best-effort follow-up steps (recording an event, a fault, a state
//! after the main work failed) are logged with their cause, never dropped silently.

/// `result.or_log(subject, what)`: on error, an error-level log naming the object
/// (`subject`, e.g. a server id), what was being done and the cause.
pub trait OrLog {
    fn or_log(self, subject: &str, what: &str);
    /// A warning: a cleanup after a failure that could not finish (a temp file, a
    /// half-made device), which leaves litter but no wrong state.
    fn or_warn(self, subject: &str, what: &str);
    /// A debug line: a failure that is the normal end of a conversation (a client
    /// or a channel's receiver that went away, a reply lost as a process exits).
    fn or_debug(self, subject: &str, what: &str);
}

impl<T, E: std::fmt::Display> OrLog for Result<T, E> {
    fn or_log(self, subject: &str, what: &str) {
        if let Err(e) = self {
            tracing::error!(subject, error = %e, "{what} failed");
        }
    }

    fn or_warn(self, subject: &str, what: &str) {
        if let Err(e) = self {
            tracing::warn!(subject, error = %e, "{what} failed");
        }
    }

    fn or_debug(self, subject: &str, what: &str) {
        if let Err(e) = self {
            tracing::debug!(subject, error = %e, "{what} failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::OrLog;

    #[test]
    fn ok_and_err_both_return() {
        Ok::<(), String>(()).or_log("x", "nothing");
        Err::<(), String>("boom".into()).or_log("x", "something");
        Err::<(), String>("boom".into()).or_warn("x", "something");
        Err::<(), String>("boom".into()).or_debug("x", "something");
    }
}
