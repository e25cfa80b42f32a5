//! The Graph API `fields` parameter: `id,name,picture.type(large){url},accounts.limit(5)`.
//!
//! Field names may carry modifiers (`.type(large)`, `.limit(5)`), which the doubles accept
//! and ignore, and a `{…}` list of sub-fields for edges and nested objects
//! (`instagram_business_account{id,username}`).

/// One requested field and its requested sub-fields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Field {
    pub(crate) name: String,
    pub(crate) sub: Option<Vec<Field>>,
}

impl Field {
    /// The sub-fields, or `defaults` when none were given.
    pub(crate) fn sub_or(&self, defaults: &[&str]) -> Vec<Field> {
        self.sub.clone().unwrap_or_else(|| plain(defaults))
    }
}

/// Fields without sub-fields, from names.
pub(crate) fn plain(names: &[&str]) -> Vec<Field> {
    names
        .iter()
        .map(|name| Field {
            name: (*name).to_owned(),
            sub: None,
        })
        .collect()
}

/// Parses a `fields` value; the error is a message for Graph error 100.
pub(crate) fn parse(text: &str) -> Result<Vec<Field>, String> {
    let mut parser = Parser {
        chars: text.chars().collect(),
        at: 0,
    };
    let fields = parser.list()?;
    parser.skip_spaces();
    if parser.at < parser.chars.len() {
        return Err(parser.unexpected());
    }
    Ok(fields)
}

struct Parser {
    chars: Vec<char>,
    at: usize,
}

impl Parser {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.at).copied()
    }

    fn skip_spaces(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.at += 1;
        }
    }

    fn unexpected(&self) -> String {
        let rest: String = self.chars[self.at.min(self.chars.len())..].iter().collect();
        format!("Syntax error \"Expected end of string instead of \"{rest}\".\"")
    }

    fn list(&mut self) -> Result<Vec<Field>, String> {
        let mut fields = Vec::new();
        loop {
            self.skip_spaces();
            match self.peek() {
                None | Some('}') => return Ok(fields),
                Some(',') => self.at += 1,
                Some(_) => fields.push(self.field()?),
            }
        }
    }

    fn name(&mut self) -> Result<String, String> {
        let start = self.at;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            self.at += 1;
        }
        if self.at == start {
            return Err(self.unexpected());
        }
        Ok(self.chars[start..self.at].iter().collect())
    }

    fn field(&mut self) -> Result<Field, String> {
        let name = self.name()?;
        let mut sub = None;
        loop {
            match self.peek() {
                Some('.') => {
                    self.at += 1;
                    self.name()?;
                    self.arguments()?;
                }
                Some('{') if sub.is_none() => {
                    self.at += 1;
                    sub = Some(self.list()?);
                    if self.peek() != Some('}') {
                        return Err(self.unexpected());
                    }
                    self.at += 1;
                }
                _ => return Ok(Field { name, sub }),
            }
        }
    }

    fn arguments(&mut self) -> Result<(), String> {
        if self.peek() != Some('(') {
            return Err(self.unexpected());
        }
        while let Some(c) = self.peek() {
            self.at += 1;
            if c == ')' {
                return Ok(());
            }
        }
        Err(self.unexpected())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(fields: &[Field]) -> Vec<&str> {
        fields.iter().map(|f| f.name.as_str()).collect()
    }

    #[test]
    fn nested_fields_and_modifiers_parse() {
        let fields = parse(
            "id,name,access_token,picture.type(large){url},\
             instagram_business_account{id,username,profile_picture_url}",
        )
        .expect("valid fields");
        assert_eq!(
            names(&fields),
            [
                "id",
                "name",
                "access_token",
                "picture",
                "instagram_business_account"
            ]
        );
        let ig = fields[4].sub.as_deref().expect("sub-fields");
        assert_eq!(names(ig), ["id", "username", "profile_picture_url"]);
        assert_eq!(names(fields[3].sub.as_deref().expect("sub")), ["url"]);
        assert!(fields[0].sub.is_none());
    }

    #[test]
    fn broken_fields_are_rejected() {
        assert!(parse("id,{name}").is_err());
        assert!(parse("picture{url").is_err());
        assert!(parse("picture.type(large").is_err());
        assert!(parse("id}").is_err());
        assert_eq!(parse("").expect("empty is fine"), Vec::new());
    }
}
