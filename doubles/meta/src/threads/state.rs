//! The Threads double's state: apps, users, grants, codes and tokens, and the token rules.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use crate::app::RegisteredApp;
use crate::clock::Clock;
use crate::consent::Decision;
use crate::fault::Faults;
use crate::graph_error::GraphError;
use crate::issued::IssuedToken;
use crate::log::{LoggedRequest, TokenKind, TokenSummary};
use crate::minter::Minter;
use crate::threads::model::ThreadsUser;

/// Lifetime of an authorization code ("valid for 1 hour and can only be used once").
pub(crate) const CODE_TTL: i64 = 3_600;
/// Lifetime of a short-lived token (1 hour).
pub(crate) const SHORT_LIVED_TTL: i64 = 3_600;
/// `expires_in` of long-lived tokens (about 60 days).
pub(crate) const LONG_LIVED_EXPIRES_IN: i64 = 5_183_944;
/// How old a long-lived token must be before it can be refreshed.
pub(crate) const REFRESH_MIN_AGE: i64 = 86_400;

/// How a token died.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Death {
    /// Graph error 190 with this subcode.
    Revoked(i64),
    /// Graph error 100 "The requested resource does not exist".
    Missing,
}

/// An authorization code.
#[derive(Debug)]
pub(crate) struct CodeEntry {
    pub(crate) app_id: String,
    pub(crate) redirect_uri: String,
    pub(crate) user_id: String,
    pub(crate) scopes: Vec<String>,
    pub(crate) issued_at: i64,
    pub(crate) used: bool,
}

/// An issued user token.
#[derive(Clone, Debug)]
pub(crate) struct TokenEntry {
    pub(crate) app_id: String,
    pub(crate) user_id: String,
    pub(crate) long_lived: bool,
    pub(crate) scopes: Vec<String>,
    pub(crate) issued_at: i64,
    pub(crate) expires_at: i64,
    pub(crate) death: Option<Death>,
    pub(crate) serial: u64,
}

impl TokenEntry {
    pub(crate) fn kind(&self) -> TokenKind {
        if self.long_lived {
            TokenKind::UserLongLived
        } else {
            TokenKind::UserShortLived
        }
    }
}

/// Knobs a test can turn.
#[derive(Debug)]
pub(crate) struct Settings {
    pub(crate) short_lived_ttl: i64,
    pub(crate) long_lived_expires_in: i64,
}

/// The whole Threads double.
#[derive(Debug)]
pub(crate) struct ThreadsState {
    pub(crate) clock: Clock,
    pub(crate) apps: BTreeMap<String, RegisteredApp>,
    /// Minted app tokens (`TH|<app-id>|<random>`) and their app.
    pub(crate) app_tokens: HashMap<String, String>,
    pub(crate) users: BTreeMap<String, ThreadsUser>,
    pub(crate) grants: BTreeMap<(String, String), BTreeSet<String>>,
    pub(crate) codes: HashMap<String, CodeEntry>,
    pub(crate) tokens: HashMap<String, TokenEntry>,
    pub(crate) settings: Settings,
    pub(crate) decisions: VecDeque<Decision>,
    pub(crate) logged_in: Option<String>,
    pub(crate) log: Vec<LoggedRequest>,
    pub(crate) faults: Faults,
    pub(crate) minter: Minter,
    serial: u64,
}

impl ThreadsState {
    pub(crate) fn new(clock: Clock) -> Self {
        Self {
            clock,
            apps: BTreeMap::new(),
            app_tokens: HashMap::new(),
            users: BTreeMap::new(),
            grants: BTreeMap::new(),
            codes: HashMap::new(),
            tokens: HashMap::new(),
            settings: Settings {
                short_lived_ttl: SHORT_LIVED_TTL,
                long_lived_expires_in: LONG_LIVED_EXPIRES_IN,
            },
            decisions: VecDeque::new(),
            logged_in: None,
            log: Vec::new(),
            faults: Faults::default(),
            minter: Minter::new(),
            serial: 0,
        }
    }

    pub(crate) fn now(&self) -> i64 {
        self.clock.now()
    }

    /// Mints and stores a token; answers it and its lifetime in seconds.
    pub(crate) fn mint_token(
        &mut self,
        app_id: &str,
        user_id: &str,
        long_lived: bool,
        scopes: Vec<String>,
    ) -> (String, i64) {
        let now = self.now();
        let lifetime = if long_lived {
            self.settings.long_lived_expires_in
        } else {
            self.settings.short_lived_ttl
        };
        let token = self.minter.alphanumeric("THAA", 150);
        self.serial += 1;
        self.tokens.insert(
            token.clone(),
            TokenEntry {
                app_id: app_id.to_owned(),
                user_id: user_id.to_owned(),
                long_lived,
                scopes,
                issued_at: now,
                expires_at: now + lifetime,
                death: None,
                serial: self.serial,
            },
        );
        (token, lifetime)
    }

    /// Checks a user token as every Threads API call does.
    pub(crate) fn check(&self, token: &str) -> Result<TokenEntry, GraphError> {
        let entry = self
            .tokens
            .get(token)
            .ok_or_else(GraphError::token_unknown)?;
        self.alive(entry)?;
        Ok(entry.clone())
    }

    /// Whether a known token is alive; the error is what an API call answers.
    pub(crate) fn alive(&self, entry: &TokenEntry) -> Result<(), GraphError> {
        let now = self.now();
        match entry.death {
            Some(Death::Revoked(subcode)) => {
                return Err(GraphError::token_dead(subcode, &entry.app_id, 0, now));
            }
            Some(Death::Missing) => return Err(GraphError::resource_missing()),
            None => {}
        }
        if entry.expires_at <= now {
            return Err(GraphError::token_dead(
                463,
                &entry.app_id,
                entry.expires_at,
                now,
            ));
        }
        Ok(())
    }

    /// The log's view of a token.
    pub(crate) fn summary(&self, token: &str) -> TokenSummary {
        if self.app_tokens.contains_key(token) {
            return TokenSummary {
                kind: TokenKind::App,
                user_id: None,
                page_id: None,
            };
        }
        TokenSummary {
            kind: self
                .tokens
                .get(token)
                .map_or(TokenKind::Unknown, TokenEntry::kind),
            user_id: self.tokens.get(token).map(|e| e.user_id.clone()),
            page_id: None,
        }
    }

    /// The tokens issued so far, in issue order.
    pub(crate) fn issued(&self) -> Vec<IssuedToken> {
        let mut entries: Vec<(&String, &TokenEntry)> = self.tokens.iter().collect();
        entries.sort_by_key(|(_, entry)| entry.serial);
        entries
            .into_iter()
            .map(|(token, entry)| IssuedToken {
                token: token.clone(),
                kind: entry.kind(),
                app_id: entry.app_id.clone(),
                user_id: entry.user_id.clone(),
                page_id: None,
                scopes: entry.scopes.clone(),
                issued_at: entry.issued_at,
                expires_at: Some(entry.expires_at),
                valid: self.alive(entry).is_ok(),
            })
            .collect()
    }
}
