//! etcd's simple tokens: random strings naming a user, known to every
//! member (each learns them from the committed Authenticate), valid until
//! unused for `--auth-token-ttl`. A token is `<16 letters>.<raft index>`,
//! the index of the Authenticate that assigned it.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use rand::Rng;

/// Letters of a token's random part, as etcd's.
const LETTERS: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
const PREFIX_LEN: usize = 16;

/// The random part of a new token: the proposing member picks it, every
/// member appends the index.
pub fn new_prefix() -> String {
    let mut rng = rand::thread_rng();
    (0..PREFIX_LEN)
        .map(|_| LETTERS[rng.gen_range(0..LETTERS.len())] as char)
        .collect()
}

/// The raft index a token was assigned at, if it has etcd's form.
pub fn assigned_at(token: &str) -> Option<u64> {
    token.rsplit_once('.')?.1.parse().ok()
}

struct Entry {
    user: String,
    expires: Instant,
}

/// The tokens this member knows.
pub struct SimpleTokens {
    ttl: Duration,
    tokens: Mutex<HashMap<String, Entry>>,
}

impl SimpleTokens {
    pub fn new(ttl: Duration) -> SimpleTokens {
        SimpleTokens {
            ttl,
            tokens: Mutex::default(),
        }
    }

    fn tokens(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.tokens.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// `token` names `user` from now on. Expired tokens go meanwhile.
    pub fn assign(&self, token: String, user: String) {
        let now = Instant::now();
        let mut tokens = self.tokens();
        tokens.retain(|_, e| e.expires > now);
        tokens.insert(
            token,
            Entry {
                user,
                expires: now + self.ttl,
            },
        );
    }

    /// The user `token` names, if it is known and not expired; using it
    /// starts its TTL again.
    pub fn user(&self, token: &str) -> Option<String> {
        let now = Instant::now();
        let mut tokens = self.tokens();
        let entry = tokens.get_mut(token)?;
        if entry.expires <= now {
            tokens.remove(token);
            return None;
        }
        entry.expires = now + self.ttl;
        Some(entry.user.clone())
    }

    /// Every token of `user` ends.
    pub fn invalidate_user(&self, user: &str) {
        self.tokens().retain(|_, e| e.user != user);
    }

    pub fn clear(&self) {
        self.tokens().clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_have_etcds_form() {
        let prefix = new_prefix();
        assert_eq!(prefix.len(), 16);
        assert!(prefix.bytes().all(|b| b.is_ascii_alphabetic()));
        assert_eq!(assigned_at(&format!("{prefix}.42")), Some(42));
        assert_eq!(assigned_at("bogus"), None);
    }

    #[test]
    fn tokens_expire_unless_used_and_end_with_their_user() {
        let tokens = SimpleTokens::new(Duration::from_millis(200));
        tokens.assign("a.1".into(), "alice".into());
        tokens.assign("b.2".into(), "bob".into());
        assert_eq!(tokens.user("a.1").as_deref(), Some("alice"));
        tokens.invalidate_user("alice");
        assert_eq!(tokens.user("a.1"), None);
        assert_eq!(tokens.user("b.2").as_deref(), Some("bob"));
        std::thread::sleep(Duration::from_millis(250));
        assert_eq!(tokens.user("b.2"), None);
        tokens.assign("c.3".into(), "carol".into());
        tokens.clear();
        assert_eq!(tokens.user("c.3"), None);
    }
}
