//! The people the Threads double knows.

/// A Threads user who can log in to the authorization window.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ThreadsUser {
    /// App-scoped Threads user id: decimal digits, typically above 2^53
    /// (e.g. `17841400000000000123`); the code exchange sends it as a JSON number.
    pub id: String,
    /// Username (the Instagram username), without `@`.
    pub username: String,
    /// Display name; absent from `/me` when `None`.
    pub name: Option<String>,
    /// `threads_profile_picture_url`; absent from `/me` when `None`.
    pub profile_picture_url: Option<String>,
    /// `threads_biography`; absent from `/me` when `None`.
    pub biography: Option<String>,
    /// `is_verified`.
    pub is_verified: bool,
}

impl ThreadsUser {
    /// A user with a name equal to the username, a picture and no biography.
    pub fn new(id: impl Into<String>, username: impl Into<String>) -> Self {
        let id = id.into();
        let username = username.into();
        Self {
            profile_picture_url: Some(format!("https://pictures.example/threads/{id}.jpg")),
            name: Some(username.clone()),
            id,
            username,
            biography: None,
            is_verified: false,
        }
    }

    /// Without a display name.
    pub fn without_name(mut self) -> Self {
        self.name = None;
        self
    }

    /// Without a profile picture.
    pub fn without_picture(mut self) -> Self {
        self.profile_picture_url = None;
        self
    }
}
