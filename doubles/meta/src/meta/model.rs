//! The people and objects the Meta double knows: Facebook users, their Pages and the
//! Instagram professional accounts linked to those Pages.

/// The five Page tasks a full admin has.
pub const ALL_PAGE_TASKS: [&str; 5] = [
    "ANALYZE",
    "ADVERTISE",
    "MODERATE",
    "CREATE_CONTENT",
    "MANAGE",
];

/// A Facebook user who can log in to the dialog.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FacebookUser {
    /// App-scoped user id (digits, above 2^53 in real life).
    pub id: String,
    /// Display name.
    pub name: String,
    /// Profile picture URL; `None` gives the default silhouette (`is_silhouette: true`).
    pub picture_url: Option<String>,
    /// E-mail address (only returned for the `email` field), if any.
    pub email: Option<String>,
}

impl FacebookUser {
    /// A user with a picture at `https://pictures.example/fb/<id>.jpg` and no e-mail.
    pub fn new(id: impl Into<String>, name: impl Into<String>) -> Self {
        let id = id.into();
        Self {
            picture_url: Some(format!("https://pictures.example/fb/{id}.jpg")),
            id,
            name: name.into(),
            email: None,
        }
    }

    /// Sets the picture URL (`None`: the default silhouette).
    pub fn picture(mut self, url: Option<&str>) -> Self {
        self.picture_url = url.map(str::to_owned);
        self
    }
}

/// A Facebook Page, with the role (tasks) its user has and its linked Instagram account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FacebookPage {
    /// Page id.
    pub id: String,
    /// Page name.
    pub name: String,
    /// Category, e.g. `Brand`.
    pub category: String,
    /// `link`, by default `https://www.facebook.com/<id>`.
    pub link: String,
    /// `username` (vanity name), if the Page has one.
    pub username: Option<String>,
    /// Picture URL; `None` gives the default silhouette.
    pub picture_url: Option<String>,
    /// The user's tasks on the Page; posting needs `CREATE_CONTENT`.
    pub tasks: Vec<String>,
    /// `fan_count` / `followers_count`.
    pub followers: u64,
    /// The linked Instagram professional account, if any.
    pub instagram: Option<InstagramAccount>,
}

impl FacebookPage {
    /// A Page of category `Brand` with all tasks, a picture and no Instagram account.
    pub fn new(id: impl Into<String>, name: impl Into<String>) -> Self {
        let id = id.into();
        Self {
            link: format!("https://www.facebook.com/{id}"),
            picture_url: Some(format!("https://pictures.example/page/{id}.jpg")),
            id,
            name: name.into(),
            category: "Brand".to_owned(),
            username: None,
            tasks: ALL_PAGE_TASKS.iter().map(|t| (*t).to_owned()).collect(),
            followers: 0,
            instagram: None,
        }
    }

    /// Sets the user's tasks on the Page (e.g. without `CREATE_CONTENT`).
    pub fn tasks<I, S>(mut self, tasks: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.tasks = tasks.into_iter().map(Into::into).collect();
        self
    }

    /// Links an Instagram professional account.
    pub fn instagram(mut self, account: InstagramAccount) -> Self {
        self.instagram = Some(account);
        self
    }
}

/// An Instagram professional (Business/Creator) account linked to a Page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstagramAccount {
    /// IG user id, e.g. `17841405822304914`.
    pub id: String,
    /// Username (handle without `@`).
    pub username: String,
    /// Display name, if set.
    pub name: Option<String>,
    /// Profile picture URL; absent from answers when `None`.
    pub profile_picture_url: Option<String>,
    /// Biography, if set.
    pub biography: Option<String>,
    /// `followers_count`.
    pub followers_count: u64,
    /// `media_count`.
    pub media_count: u64,
}

impl InstagramAccount {
    /// An account with a name equal to the username and a profile picture.
    pub fn new(id: impl Into<String>, username: impl Into<String>) -> Self {
        let id = id.into();
        let username = username.into();
        Self {
            profile_picture_url: Some(format!("https://pictures.example/ig/{id}.jpg")),
            name: Some(username.clone()),
            id,
            username,
            biography: None,
            followers_count: 0,
            media_count: 0,
        }
    }

    /// Removes the profile picture (the field is then absent from answers).
    pub fn without_picture(mut self) -> Self {
        self.profile_picture_url = None;
        self
    }
}
