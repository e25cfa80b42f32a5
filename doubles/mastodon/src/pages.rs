//! The HTML pages the double serves: the authorization page, Doorkeeper's error page,
//! the out-of-band code page, Rails' 404, and reverse-proxy error pages.

use crate::reply::escape_html;

fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>{} - Mastodon</title>\n</head>\n<body class=\"modal-layout\">\n\
         <div class=\"container-alt\">\n{body}\n</div>\n</body>\n</html>\n",
        escape_html(title)
    )
}

/// Doorkeeper's `authorizations/error` page.
pub(crate) fn authorization_error(description: &str) -> String {
    page(
        "An error has occurred",
        &format!(
            "<div class=\"form-container\">\n<h1>An error has occurred</h1>\n\
             <p class=\"hint\">{}</p>\n</div>",
            escape_html(description)
        ),
    )
}

/// The page a signed-in user sees before pressing "Authorize" or "Deny". The forms carry
/// the request's parameters, as Mastodon's do.
pub(crate) fn authorization_form(
    app_name: &str,
    scopes: &[String],
    fields: &[(&str, &str)],
) -> String {
    let hidden: String = fields
        .iter()
        .map(|(name, value)| {
            format!(
                "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
                escape_html(name),
                escape_html(value)
            )
        })
        .collect();
    let scope_items: String = scopes
        .iter()
        .map(|scope| format!("<li>{}</li>", escape_html(scope)))
        .collect();
    page(
        "Authorization required",
        &format!(
            "<div class=\"form-container\">\n<h1>Authorization required</h1>\n\
             <p>Application <strong>{}</strong> requests access to your account</p>\n\
             <ul class=\"permissions-list\">{scope_items}</ul>\n\
             <form method=\"post\" action=\"/oauth/authorize\">{hidden}\
             <button type=\"submit\">Authorize</button></form>\n\
             <form method=\"post\" action=\"/oauth/authorize\">\
             <input type=\"hidden\" name=\"_method\" value=\"delete\">{hidden}\
             <button type=\"submit\">Deny</button></form>\n</div>",
            escape_html(app_name)
        ),
    )
}

/// The page shown for the out-of-band redirect URI: the code to copy.
pub(crate) fn authorization_code(code: &str) -> String {
    page(
        "Authorization code",
        &format!(
            "<div class=\"form-container\">\n<h1>Authorization code</h1>\n\
             <input class=\"oauth-code\" readonly type=\"text\" value=\"{}\">\n</div>",
            escape_html(code)
        ),
    )
}

/// Mastodon's 404 page.
pub(crate) fn not_found() -> String {
    page(
        "The page you are looking for isn't here.",
        "<div class=\"dialog\">\n<h1>The page you are looking for isn't here.</h1>\n</div>",
    )
}

/// Rails' answer to a body it cannot parse.
pub(crate) fn bad_request() -> String {
    page(
        "Bad Request",
        "<div class=\"dialog\">\n<h1>Bad Request</h1>\n</div>",
    )
}

/// The error page of an nginx reverse proxy in front of the instance.
pub(crate) fn proxy_error(status: u16) -> String {
    let reason = match status {
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Temporarily Unavailable",
        504 => "Gateway Time-out",
        _ => "Error",
    };
    format!(
        "<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n\
         <center><h1>{status} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n\
         </body>\r\n</html>\r\n"
    )
}
