//! Checks of XHTML narrative (`Narrative.div`) and of HTML smuggled into plain strings.
//!
//! The narrative must be one well-formed `<div>` in the XHTML namespace using only the basic
//! formatting elements that FHIR's `txt-1` allows (no `script`, `object`, `iframe`, forms,
//! event-handler attributes or `javascript:` links), with only the XML predefined entities
//! and character references.  This is a small purpose-built scanner, not a general XML
//! parser: it accepts exactly the subset of XHTML that FHIR narrative may use.

use crate::primitive::shorten;

/// Elements allowed by txt-1 (HTML 4.0 chapters 7–11 except 9.4, and 15; `a`; `img`).
const ALLOWED: &[&str] = &[
    "a",
    "abbr",
    "acronym",
    "address",
    "area",
    "b",
    "basefont",
    "bdo",
    "big",
    "blockquote",
    "br",
    "caption",
    "center",
    "cite",
    "code",
    "col",
    "colgroup",
    "dd",
    "dfn",
    "dir",
    "div",
    "dl",
    "dt",
    "em",
    "font",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "i",
    "img",
    "kbd",
    "li",
    "map",
    "menu",
    "ol",
    "p",
    "pre",
    "q",
    "s",
    "samp",
    "small",
    "span",
    "strike",
    "strong",
    "sub",
    "sup",
    "table",
    "tbody",
    "td",
    "tfoot",
    "th",
    "thead",
    "tr",
    "tt",
    "u",
    "ul",
    "var",
];

/// HTML element names that mark a plain string as carrying markup.
const HTML_TAGS: &[&str] = &[
    "a", "applet", "b", "base", "body", "br", "button", "div", "embed", "form", "frame", "frameset", "h1", "h2", "h3",
    "head", "html", "i", "iframe", "img", "input", "link", "meta", "object", "p", "script", "span", "style", "svg",
    "table", "td", "textarea", "tr",
];

const XHTML_NS: &str = "http://www.w3.org/1999/xhtml";

/// Check a narrative `div`. Returns one message per problem (at most a few).
pub(crate) fn check_narrative(s: &str) -> Vec<String> {
    let mut sc = Scanner { s, pos: 0, errors: Vec::new() };
    sc.run();
    sc.errors
}

/// Whether a plain string contains something that looks like an HTML tag.
pub(crate) fn looks_like_html(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    while let Some(off) = b.get(i..).and_then(|r| r.iter().position(|&c| c == b'<')) {
        let mut j = i + off + 1;
        if b.get(j) == Some(&b'/') {
            j += 1;
        }
        let start = j;
        while b.get(j).is_some_and(u8::is_ascii_alphanumeric) {
            j += 1;
        }
        if j > start {
            let name = s.get(start..j).unwrap_or("").to_ascii_lowercase();
            let ends_tag = matches!(b.get(j), Some(b'>' | b' ' | b'/' | b'\t' | b'\n' | b'\r'));
            if ends_tag && HTML_TAGS.contains(&name.as_str()) {
                return true;
            }
        }
        i = start.max(i + off + 1);
    }
    false
}

struct Scanner<'a> {
    s: &'a str,
    pos: usize,
    errors: Vec<String>,
}

impl Scanner<'_> {
    fn rest(&self) -> &str {
        self.s.get(self.pos..).unwrap_or("")
    }

    fn err(&mut self, m: String) {
        if self.errors.len() < 5 && !self.errors.contains(&m) {
            self.errors.push(m);
        }
    }

    fn skip_ws(&mut self) {
        let n = self.rest().len() - self.rest().trim_start().len();
        self.pos += n;
    }

    fn name(&mut self) -> Option<String> {
        let r = self.rest();
        let n = r.bytes().take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b':' | b'-' | b'.')).count();
        if n == 0 || !r.as_bytes().first().is_some_and(u8::is_ascii_alphabetic) {
            return None;
        }
        let name = r.get(..n)?.to_string();
        self.pos += n;
        Some(name)
    }

    /// Check entity references in character data or an attribute value.
    fn check_text(&mut self, text: &str) {
        let mut rest = text;
        while let Some(i) = rest.find('&') {
            let after = rest.get(i + 1..).unwrap_or("");
            let Some(end) = after.find(';').filter(|&e| e <= 10) else {
                self.err("unescaped '&' in the XHTML".into());
                return;
            };
            let ent = after.get(..end).unwrap_or("");
            let ok = matches!(ent, "lt" | "gt" | "amp" | "quot" | "apos")
                || ent
                    .strip_prefix("#x")
                    .or_else(|| ent.strip_prefix("#X"))
                    .map(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_hexdigit()))
                    .or_else(|| ent.strip_prefix('#').map(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit())))
                    .unwrap_or(false);
            if !ok {
                self.err(format!("invalid entity in the XHTML ('&{ent};')"));
            }
            rest = after.get(end + 1..).unwrap_or("");
        }
    }

    fn run(&mut self) {
        let mut stack: Vec<String> = Vec::new();
        let mut roots = 0usize;
        self.skip_ws();
        while !self.rest().is_empty() {
            let r = self.rest();
            let Some(lt) = r.find('<') else {
                let text = r.to_string();
                if stack.is_empty() && !text.trim().is_empty() {
                    self.err("text outside the root <div>".into());
                }
                self.check_text(&text);
                self.pos = self.s.len();
                break;
            };
            if lt > 0 {
                let text = r.get(..lt).unwrap_or("").to_string();
                if stack.is_empty() && !text.trim().is_empty() {
                    self.err("text outside the root <div>".into());
                }
                self.check_text(&text);
                self.pos += lt;
                continue;
            }
            // at '<'
            if let Some(after) = r.strip_prefix("<!--") {
                match after.find("-->") {
                    Some(e) => self.pos += 4 + e + 3,
                    None => {
                        self.err("unterminated comment in the XHTML".into());
                        return;
                    }
                }
                continue;
            }
            if r.starts_with("<!") || r.starts_with("<?") {
                self.err("declarations, CDATA and processing instructions are not allowed in the narrative".into());
                return;
            }
            if r.starts_with("</") {
                self.pos += 2;
                let Some(name) = self.name() else {
                    self.err("malformed end tag in the XHTML".into());
                    return;
                };
                self.skip_ws();
                if !self.rest().starts_with('>') {
                    self.err(format!("malformed end tag </{name}> in the XHTML"));
                    return;
                }
                self.pos += 1;
                match stack.pop() {
                    Some(open) if open == name => {}
                    Some(open) => {
                        self.err(format!("XHTML is not well-formed: </{name}> closes <{open}>"));
                        return;
                    }
                    None => {
                        self.err(format!("XHTML is not well-formed: unexpected </{name}>"));
                        return;
                    }
                }
                continue;
            }
            self.pos += 1;
            let Some(name) = self.name() else {
                self.err("malformed tag ('<' must be escaped as &lt;) in the XHTML".into());
                return;
            };
            let local = name.rsplit(':').next().unwrap_or(&name).to_ascii_lowercase();
            let is_root = stack.is_empty();
            if is_root {
                roots += 1;
                if local != "div" {
                    self.err(format!("the narrative must be a <div>, not <{name}>"));
                }
            }
            if !ALLOWED.contains(&local.as_str()) {
                self.err(format!("invalid element name in the XHTML ('{name}')"));
            }
            // attributes
            let mut xmlns: Option<String> = None;
            loop {
                let before = self.pos;
                self.skip_ws();
                let r = self.rest();
                if r.starts_with("/>") {
                    self.pos += 2;
                    break;
                }
                if r.starts_with('>') {
                    self.pos += 1;
                    stack.push(name.clone());
                    break;
                }
                if self.pos == before && !r.is_empty() {
                    self.err(format!("malformed attributes on <{name}> in the XHTML"));
                    return;
                }
                let Some(attr) = self.name() else {
                    self.err(format!("malformed attributes on <{name}> in the XHTML"));
                    return;
                };
                self.skip_ws();
                if !self.rest().starts_with('=') {
                    self.err(format!("attribute '{attr}' on <{name}> has no value"));
                    return;
                }
                self.pos += 1;
                self.skip_ws();
                let r = self.rest();
                let Some(q) = r.chars().next().filter(|c| *c == '"' || *c == '\'') else {
                    self.err(format!("attribute '{attr}' on <{name}> is not quoted"));
                    return;
                };
                let Some(end) = r.get(1..).and_then(|v| v.find(q)) else {
                    self.err(format!("unterminated attribute '{attr}' on <{name}>"));
                    return;
                };
                let value = r.get(1..1 + end).unwrap_or("").to_string();
                self.pos += end + 2;
                if value.contains('<') {
                    self.err(format!("'<' in attribute '{attr}' on <{name}>"));
                }
                self.check_text(&value);
                let lower = attr.to_ascii_lowercase();
                if lower.starts_with("on") {
                    self.err(format!("event-handler attribute '{attr}' is not allowed in the narrative"));
                }
                if matches!(lower.as_str(), "href" | "src")
                    && value.trim_start().to_ascii_lowercase().starts_with("javascript:")
                {
                    self.err(format!(
                        "script URL in attribute '{attr}' ('{}') is not allowed in the narrative",
                        shorten(&value)
                    ));
                }
                if lower == "xmlns" {
                    xmlns = Some(value);
                }
            }
            if is_root && local == "div" && xmlns.as_deref() != Some(XHTML_NS) {
                self.err(format!("the narrative <div> must declare the XHTML namespace ({XHTML_NS})"));
            }
            if is_root && roots > 1 {
                self.err("the narrative must be a single <div>".into());
            }
        }
        if self.pos < self.s.len() && self.errors.is_empty() {
            self.err("the XHTML could not be read to the end".into());
        }
        if let Some(open) = stack.last() {
            self.err(format!("XHTML is not well-formed: <{open}> is not closed"));
        }
        if roots == 0 {
            self.err("the narrative must be a <div> element".into());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NS: &str = "<div xmlns=\"http://www.w3.org/1999/xhtml\">";

    #[test]
    fn narrative() {
        assert!(check_narrative(&format!("{NS}<p>a &amp; b &#169; &#xA9;</p><br/></div>")).is_empty());
        assert!(
            check_narrative(&format!("{NS}<!-- c --><table><tr><td colspan=\"2\">x</td></tr></table></div>"))
                .is_empty()
        );
        let e = check_narrative(&format!("{NS}<script>x</script></div>"));
        assert!(e.iter().any(|m| m.contains("invalid element name")), "{e:?}");
        let e = check_narrative(&format!("{NS}CPT&reg;</div>"));
        assert!(e.iter().any(|m| m.contains("invalid entity")), "{e:?}");
        assert!(!check_narrative("<div>x</div>").is_empty());
        assert!(!check_narrative(&format!("{NS}<p>x</div>")).is_empty());
        assert!(!check_narrative(&format!("{NS}<p onclick=\"x()\">x</p></div>")).is_empty());
        assert!(!check_narrative(&format!("{NS}<a href=\"javascript:x()\">x</a></div>")).is_empty());
        assert!(!check_narrative("plain").is_empty());
        assert!(!check_narrative(&format!("{NS}x</div><div>y</div>")).is_empty());
    }

    #[test]
    fn html_in_strings() {
        assert!(looks_like_html("Standard <script>somescript</script>"));
        assert!(looks_like_html("<b>bold</b>"));
        assert!(!looks_like_html("a < b and c > d"));
        assert!(!looks_like_html("<5 mg"));
        assert!(!looks_like_html("value <= 3"));
    }
}
