//! The text the sandbox prints once everything listens: what runs where, a bearer token,
//! and commands to try every flow with `curl`.

use std::fmt::Write as _;
use std::path::Path;

use crate::demo;
use crate::ports::SandboxPorts;

/// What the walkthrough needs to know about this run.
pub struct Walkthrough<'a> {
    /// Every address.
    pub ports: &'a SandboxPorts,
    /// The host's base URL (`public_base_url`).
    pub host_url: &'a str,
    /// A bearer token for [`demo::HAYON_USER`].
    pub token: &'a str,
    /// Where the host keeps its data.
    pub data_dir: &'a Path,
    /// Whether the data directory is temporary.
    pub ephemeral: bool,
    /// The Mastodon accounts' domain.
    pub mastodon_domain: &'a str,
}

impl Walkthrough<'_> {
    /// The whole text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        self.where_things_run(&mut out);
        self.token_section(&mut out);
        bluesky_section(&mut out);
        self.oauth_section(&mut out);
        out.push_str("\nPress Ctrl-C to stop the sandbox.\n");
        out
    }

    fn where_things_run(&self, out: &mut String) {
        out.push_str(
            "\nHayon sandbox: every platform is a local test double; nothing leaves this \
             machine.\n\n",
        );
        for slot in self.ports.all() {
            let _ = writeln!(out, "  {:<24} {}", slot.url(), slot.role);
        }
        let data = if self.ephemeral {
            "a temporary directory, removed at exit"
        } else {
            "kept between runs; --ephemeral for a fresh one.\n        The doubles start \
             empty each run: accounts connected earlier must be connected again"
        };
        let _ = writeln!(out, "\n  data: {} ({data})", self.data_dir.display());
    }

    fn token_section(&self, out: &mut String) {
        let _ = write!(
            out,
            "\n1. In another terminal, set the host URL and a bearer token for user `{user}` \
             (valid for 7 days):\n\n\
             \x20  export HAYON={host}\n\
             \x20  export TOKEN={token}\n",
            user = demo::HAYON_USER,
            host = self.host_url,
            token = self.token,
        );
        if !self.ephemeral {
            let _ = write!(
                out,
                "\n   Tokens for other users: cargo run -p hayon-host -- token <user-id> \
                 --data-dir {}\n",
                self.data_dir.display()
            );
        }
    }

    fn oauth_section(&self, out: &mut String) {
        let bearer = "-H \"Authorization: Bearer $TOKEN\"";
        let connect =
            |platform: &str| format!("curl -s $HAYON/api/platform/{platform}/connect {bearer}");
        let lines = [
            "3. OAuth platforms. `connect` answers the URL of the platform's dialog; open it \
             in a browser:"
                .to_owned(),
            "   the double's page sends you back to the host's callback, which redirects to \
             the front-end page"
                .to_owned(),
            format!(
                "   at {}/settings?success=<platform>_connected (or ?error=...).",
                self.ports.frontend().url()
            ),
            String::new(),
            format!(
                "   # Tumblr: approves as `{}` at once (blogs {}, {});",
                demo::TUMBLR_USER,
                demo::TUMBLR_PRIMARY_BLOG,
                demo::TUMBLR_SIDE_BLOG
            ),
            "   # add &double_decision=deny to the URL to refuse".to_owned(),
            format!("   {}", connect("tumblr")),
            String::new(),
            format!(
                "   # Facebook + Instagram: the login page offers \"Continue as {}\" (Page {} \
                 + @{}),",
                demo::FACEBOOK_USER_NAME,
                demo::FACEBOOK_PAGE_NAME,
                demo::INSTAGRAM_USERNAME
            ),
            format!(
                "   # \"Continue as {}\" (error=facebook_no_pages) and \"Not now\"",
                demo::FACEBOOK_PAGELESS_NAME
            ),
            format!("   {}", connect("facebook")),
            String::new(),
            format!(
                "   # Threads: the login page offers \"Continue as {}\" and \"Cancel\"",
                demo::THREADS_USERNAME
            ),
            format!("   {}", connect("threads")),
            String::new(),
            format!(
                "   # Mastodon: approves as @{}@{} at once; add &double_decision=deny to refuse",
                demo::MASTODON_USER,
                self.mastodon_domain
            ),
            format!("   {}", connect("mastodon")),
            String::new(),
            "   Without a browser (Tumblr and Mastodon answer data.authUrl, Facebook and \
             Threads data.url):"
                .to_owned(),
            String::new(),
            format!("   URL=$({} | jq -r .data.url)", connect("threads")),
            format!(
                "   CALLBACK=$(curl -s -o /dev/null -w '%{{redirect_url}}' \
                 \"$URL&_double_user={}\")",
                demo::THREADS_USER_ID
            ),
            "   curl -s -o /dev/null -w '%{http_code} %{redirect_url}\\n' \"$CALLBACK\"".to_owned(),
            format!("   curl -s $HAYON/api/platform/threads/status {bearer}"),
            String::new(),
            format!(
                "   (Facebook: _double_user={}. Tumblr and Mastodon need no extra parameter.)",
                demo::FACEBOOK_USER_ID
            ),
            "   status, refresh and disconnect work as for Bluesky on every platform.".to_owned(),
        ];
        out.push('\n');
        for line in lines {
            out.push_str(&line);
            out.push('\n');
        }
    }
}

fn bluesky_section(out: &mut String) {
    let _ = write!(
        out,
        "\n2. Bluesky (handle + app password):\n\n\
         \x20  curl -s -X POST $HAYON/api/platform/bluesky/connect -H \"Authorization: Bearer \
         $TOKEN\" \\\n\
         \x20       -H 'Content-Type: application/json' \\\n\
         \x20       -d '{{\"identifier\":\"{alice}\",\"appPassword\":\"{alice_app}\"}}'\n\
         \x20  curl -s $HAYON/api/platform/bluesky/status -H \"Authorization: Bearer $TOKEN\"\n\
         \x20  curl -s $HAYON/api/platform/bluesky/refresh -H \"Authorization: Bearer $TOKEN\"\n\
         \x20  curl -s -X DELETE $HAYON/api/platform/bluesky/disconnect -H \"Authorization: \
         Bearer $TOKEN\"\n\n\
         \x20  Other accounts (same connect command, other body):\n",
        alice = demo::ALICE.handle,
        alice_app = demo::ALICE.app_password,
    );
    for account in [demo::ALICE, demo::BOB, demo::CAROL] {
        let _ = writeln!(
            out,
            "   {:<22} app password {}  main password {}  ({})",
            account.handle, account.app_password, account.password, account.about
        );
    }
    let _ = writeln!(
        out,
        "   {:<22} (Alice's e-mail address, also accepted as the identifier)",
        demo::ALICE_EMAIL
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_token_the_host_and_a_connect_command_for_every_platform() {
        let host = "127.0.0.1:3000".parse().unwrap();
        let ports = SandboxPorts::new(host, 4100).unwrap();
        let text = Walkthrough {
            ports: &ports,
            host_url: "http://127.0.0.1:3000",
            token: "the.bearer.token",
            data_dir: Path::new("./data/sandbox"),
            ephemeral: false,
            mastodon_domain: "example.social",
        }
        .render();
        assert!(text.contains("export TOKEN=the.bearer.token"), "{text}");
        assert!(
            text.contains("export HAYON=http://127.0.0.1:3000"),
            "{text}"
        );
        assert!(text.contains(demo::ALICE.app_password), "{text}");
        for platform in ["bluesky", "tumblr", "facebook", "threads", "mastodon"] {
            let connect = format!("$HAYON/api/platform/{platform}/connect");
            assert!(text.contains(&connect), "{platform}: {text}");
        }
    }
}
