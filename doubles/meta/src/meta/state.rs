//! The Meta double's state: apps, users, Pages, grants, codes and tokens, and the rules
//! that decide whether a token is alive.
//!
//! All of it sits behind one mutex; handlers take the lock, apply the rules and answer,
//! so single use and revocation are atomic with respect to concurrent requests.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use crate::app::RegisteredApp;
use crate::clock::Clock;
use crate::consent::Decision;
use crate::fault::Faults;
use crate::graph_error::GraphError;
use crate::issued::IssuedToken;
use crate::log::{LoggedRequest, TokenKind, TokenSummary};
use crate::meta::model::{FacebookPage, FacebookUser};
use crate::minter::Minter;

/// Lifetime of an authorization code (Meta: about 10 minutes).
pub(crate) const CODE_TTL: i64 = 600;
/// Default lifetime of a short-lived user token (Meta: about 1–2 hours).
pub(crate) const SHORT_LIVED_TTL: i64 = 5_400;
/// `expires_in` of a long-lived user token (about 60 days).
pub(crate) const LONG_LIVED_EXPIRES_IN: i64 = 5_183_944;
/// How long data access lasts after a login (90 days).
pub(crate) const DATA_ACCESS_TTL: i64 = 90 * 86_400;

/// Knobs a test can turn.
#[derive(Debug)]
pub(crate) struct Settings {
    pub(crate) short_lived_ttl: i64,
    /// `None`: long-lived tokens come without `expires_in` and never expire.
    pub(crate) long_lived_expires_in: Option<i64>,
    /// Caps the page size of `/me/accounts`, to force pagination with few Pages.
    pub(crate) accounts_page_cap: Option<usize>,
}

/// A user and the ids of their Pages, in the order `/me/accounts` lists them.
#[derive(Debug)]
pub(crate) struct UserEntry {
    pub(crate) user: FacebookUser,
    pub(crate) pages: Vec<String>,
}

/// What a user granted an app.
#[derive(Debug, Default)]
pub(crate) struct Grant {
    pub(crate) scopes: BTreeSet<String>,
    pub(crate) declined: BTreeSet<String>,
    /// Selected Pages; `None`: all of the user's Pages.
    pub(crate) pages: Option<Vec<String>>,
}

/// An authorization code.
#[derive(Debug)]
pub(crate) struct CodeEntry {
    pub(crate) app_id: String,
    pub(crate) redirect_uri: String,
    pub(crate) user_id: String,
    pub(crate) issued_at: i64,
    pub(crate) used: bool,
    /// Set when the user removed the app before the code was exchanged.
    pub(crate) revoked: bool,
}

/// An issued user or Page token.
#[derive(Clone, Debug)]
pub(crate) struct TokenEntry {
    pub(crate) app_id: String,
    pub(crate) user_id: String,
    pub(crate) page_id: Option<String>,
    pub(crate) long_lived: bool,
    pub(crate) scopes: Vec<String>,
    pub(crate) pages: Option<Vec<String>>,
    pub(crate) issued_at: i64,
    pub(crate) expires_at: Option<i64>,
    /// The 190 subcode the token died with.
    pub(crate) death: Option<i64>,
    /// Issue order.
    pub(crate) serial: u64,
}

impl TokenEntry {
    pub(crate) fn kind(&self) -> TokenKind {
        match (&self.page_id, self.long_lived, self.expires_at) {
            (Some(_), _, Some(_)) => TokenKind::PageExpiring,
            (Some(_), _, None) => TokenKind::PageNonExpiring,
            (None, true, _) => TokenKind::UserLongLived,
            (None, false, _) => TokenKind::UserShortLived,
        }
    }
}

/// Who a request is authenticated as.
#[derive(Clone, Debug)]
pub(crate) enum Caller {
    /// A user or Page token, with the token text.
    Token(String, TokenEntry),
    /// An app token of this app id.
    App(String),
}

/// The whole Meta double.
#[derive(Debug)]
pub(crate) struct MetaState {
    pub(crate) clock: Clock,
    pub(crate) graph_base: String,
    pub(crate) apps: BTreeMap<String, RegisteredApp>,
    /// Minted app tokens (`<app-id>|<random>`) and their app.
    pub(crate) app_tokens: HashMap<String, String>,
    pub(crate) users: BTreeMap<String, UserEntry>,
    pub(crate) pages: BTreeMap<String, FacebookPage>,
    pub(crate) grants: BTreeMap<(String, String), Grant>,
    pub(crate) codes: HashMap<String, CodeEntry>,
    pub(crate) tokens: HashMap<String, TokenEntry>,
    /// Page token derived from (user token, Page id), so a repeated listing is stable.
    pub(crate) page_tokens: HashMap<(String, String), String>,
    pub(crate) settings: Settings,
    pub(crate) decisions: VecDeque<Decision>,
    pub(crate) logged_in: Option<String>,
    pub(crate) log: Vec<LoggedRequest>,
    pub(crate) faults: Faults,
    pub(crate) minter: Minter,
    serial: u64,
}

impl MetaState {
    pub(crate) fn new(clock: Clock) -> Self {
        Self {
            clock,
            graph_base: String::new(),
            apps: BTreeMap::new(),
            app_tokens: HashMap::new(),
            users: BTreeMap::new(),
            pages: BTreeMap::new(),
            grants: BTreeMap::new(),
            codes: HashMap::new(),
            tokens: HashMap::new(),
            page_tokens: HashMap::new(),
            settings: Settings {
                short_lived_ttl: SHORT_LIVED_TTL,
                long_lived_expires_in: Some(LONG_LIVED_EXPIRES_IN),
                accounts_page_cap: None,
            },
            decisions: VecDeque::new(),
            logged_in: None,
            log: Vec::new(),
            faults: Faults::default(),
            minter: Minter::new(),
            serial: 0,
        }
    }

    fn next_serial(&mut self) -> u64 {
        self.serial += 1;
        self.serial
    }

    pub(crate) fn now(&self) -> i64 {
        self.clock.now()
    }

    /// Mints and stores a user token.
    pub(crate) fn mint_user_token(
        &mut self,
        app_id: &str,
        user_id: &str,
        long_lived: bool,
        scopes: Vec<String>,
        pages: Option<Vec<String>>,
    ) -> (String, Option<i64>) {
        let now = self.now();
        let lifetime = if long_lived {
            self.settings.long_lived_expires_in
        } else {
            Some(self.settings.short_lived_ttl)
        };
        let token = self.minter.alphanumeric("EAA", 180);
        let serial = self.next_serial();
        self.tokens.insert(
            token.clone(),
            TokenEntry {
                app_id: app_id.to_owned(),
                user_id: user_id.to_owned(),
                page_id: None,
                long_lived,
                scopes,
                pages,
                issued_at: now,
                expires_at: lifetime.map(|l| now + l),
                death: None,
                serial,
            },
        );
        (token, lifetime)
    }

    /// The Page token derived from `user_token` for `page_id`: it expires with a short-lived
    /// user token and never with a long-lived one.
    pub(crate) fn page_token_for(&mut self, user_token: &str, page_id: &str) -> Option<String> {
        let key = (user_token.to_owned(), page_id.to_owned());
        if let Some(existing) = self.page_tokens.get(&key) {
            return Some(existing.clone());
        }
        let parent = self.tokens.get(user_token)?.clone();
        let token = self.minter.alphanumeric("EAA", 190);
        let serial = self.next_serial();
        self.tokens.insert(
            token.clone(),
            TokenEntry {
                page_id: Some(page_id.to_owned()),
                expires_at: if parent.long_lived {
                    None
                } else {
                    parent.expires_at
                },
                issued_at: self.now(),
                death: None,
                serial,
                ..parent
            },
        );
        self.page_tokens.insert(key, token.clone());
        Some(token)
    }

    /// The app of an app token (`<id>|<secret>` or a minted `<id>|<random>`), if it is one.
    pub(crate) fn app_of_app_token(&self, token: &str) -> Option<Result<String, GraphError>> {
        let (id, rest) = token.split_once('|')?;
        if let Some(app) = self.app_tokens.get(token) {
            return Some(Ok(app.clone()));
        }
        let app = self.apps.get(id)?;
        if app.secret == rest {
            Some(Ok(app.id.clone()))
        } else {
            Some(Err(GraphError::new(
                190,
                "Invalid OAuth access token signature.",
            )))
        }
    }

    /// Checks a token as every Graph call does.
    pub(crate) fn check(&self, token: &str) -> Result<Caller, GraphError> {
        if let Some(app) = self.app_of_app_token(token) {
            return app.map(Caller::App);
        }
        let entry = self
            .tokens
            .get(token)
            .ok_or_else(GraphError::token_unknown)?;
        self.alive(entry)?;
        Ok(Caller::Token(token.to_owned(), entry.clone()))
    }

    /// Whether a known token is alive; the error is the 190 it answers with.
    pub(crate) fn alive(&self, entry: &TokenEntry) -> Result<(), GraphError> {
        let now = self.now();
        if let Some(subcode) = entry.death {
            return Err(GraphError::token_dead(subcode, &entry.app_id, 0, now));
        }
        match entry.expires_at {
            Some(expires_at) if expires_at <= now => {
                Err(GraphError::token_dead(463, &entry.app_id, expires_at, now))
            }
            _ => Ok(()),
        }
    }

    /// The log's view of a token.
    pub(crate) fn summary(&self, token: &str) -> TokenSummary {
        if matches!(self.app_of_app_token(token), Some(Ok(_))) {
            return TokenSummary {
                kind: TokenKind::App,
                user_id: None,
                page_id: None,
            };
        }
        match self.tokens.get(token) {
            Some(entry) => TokenSummary {
                kind: entry.kind(),
                user_id: Some(entry.user_id.clone()),
                page_id: entry.page_id.clone(),
            },
            None => TokenSummary {
                kind: TokenKind::Unknown,
                user_id: None,
                page_id: None,
            },
        }
    }

    /// The Pages a token may see, in the user's order.
    pub(crate) fn visible_pages(&self, entry: &TokenEntry) -> Vec<String> {
        if let Some(page_id) = &entry.page_id {
            return vec![page_id.clone()];
        }
        let Some(user) = self.users.get(&entry.user_id) else {
            return Vec::new();
        };
        user.pages
            .iter()
            .filter(|page| {
                entry
                    .pages
                    .as_ref()
                    .is_none_or(|selected| selected.contains(page))
            })
            .cloned()
            .collect()
    }

    /// Kills every token `app_id` holds for `user_id` (and unexchanged codes) with `subcode`,
    /// and forgets the grant: what removing the app does.
    pub(crate) fn remove_app_for_user(&mut self, app_id: &str, user_id: &str, subcode: i64) {
        self.grants.remove(&(app_id.to_owned(), user_id.to_owned()));
        for entry in self.tokens.values_mut() {
            if entry.app_id == app_id && entry.user_id == user_id && entry.death.is_none() {
                entry.death = Some(subcode);
            }
        }
        for code in self.codes.values_mut() {
            if code.app_id == app_id && code.user_id == user_id {
                code.revoked = true;
            }
        }
    }

    /// Kills one token; a user token takes its Page tokens with it.
    pub(crate) fn kill_token(&mut self, token: &str, subcode: i64) -> bool {
        let Some(entry) = self.tokens.get_mut(token) else {
            return false;
        };
        entry.death = Some(subcode);
        let children: Vec<String> = self
            .page_tokens
            .iter()
            .filter(|((parent, _), _)| parent == token)
            .map(|(_, child)| child.clone())
            .collect();
        for child in children {
            if let Some(entry) = self.tokens.get_mut(&child) {
                entry.death.get_or_insert(subcode);
            }
        }
        true
    }

    /// The tokens issued so far, for tests.
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
                page_id: entry.page_id.clone(),
                scopes: entry.scopes.clone(),
                issued_at: entry.issued_at,
                expires_at: entry.expires_at,
                valid: self.alive(entry).is_ok(),
            })
            .collect()
    }
}
