//! Just enough XML to write signed SAML metadata: elements written directly in their
//! Exclusive XML Canonicalization form (attributes in canonical order, namespaces declared
//! where they are first used, no empty-element tags, c14n escaping), so that what is digested
//! and signed is exactly what is written, with no canonicalizer to trust.

use std::collections::BTreeMap;

/// An element: a prefixed name, attributes (namespace declarations included), children.
#[derive(Debug, Clone)]
pub struct Element {
    name: String,
    attributes: Vec<(String, String)>,
    children: Vec<Node>,
}

#[derive(Debug, Clone)]
enum Node {
    Element(Element),
    Text(String),
}

/// The namespaces the metadata uses, by prefix (`xml` is bound without a declaration).
pub fn namespace(prefix: &str) -> &'static str {
    match prefix {
        "md" => "urn:oasis:names:tc:SAML:2.0:metadata",
        "ds" => "http://www.w3.org/2000/09/xmldsig#",
        "spid" => "https://spid.gov.it/saml-extensions",
        "xml" => "http://www.w3.org/XML/1998/namespace",
        other => panic!("no namespace for prefix {other}"),
    }
}

impl Element {
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            attributes: Vec::new(),
            children: Vec::new(),
        }
    }

    /// Declares the namespace of `prefix` here (where exclusive c14n renders it: on the
    /// outermost element that uses the prefix).
    pub fn declare(mut self, prefix: &str) -> Self {
        self.attributes
            .push((format!("xmlns:{prefix}"), namespace(prefix).to_owned()));
        self
    }

    pub fn attribute(mut self, name: &str, value: impl Into<String>) -> Self {
        self.attributes.push((name.to_owned(), value.into()));
        self
    }

    pub fn child(mut self, child: Element) -> Self {
        self.children.push(Node::Element(child));
        self
    }

    pub fn children(mut self, children: impl IntoIterator<Item = Element>) -> Self {
        self.children
            .extend(children.into_iter().map(Node::Element));
        self
    }

    pub fn text(mut self, text: impl Into<String>) -> Self {
        self.children.push(Node::Text(text.into()));
        self
    }

    /// Puts `child` first among the children.
    pub fn with_first(mut self, child: Element) -> Self {
        self.children.insert(0, Node::Element(child));
        self
    }

    /// The canonical form.
    pub fn canonical(&self) -> String {
        let mut out = String::new();
        self.write(&mut out);
        out
    }

    fn write(&self, out: &mut String) {
        out.push('<');
        out.push_str(&self.name);
        for (name, value) in canonical_order(&self.attributes) {
            out.push(' ');
            out.push_str(name);
            out.push_str("=\"");
            escape(value, true, out);
            out.push('"');
        }
        out.push('>');
        for child in &self.children {
            match child {
                Node::Element(e) => e.write(out),
                Node::Text(t) => escape(t, false, out),
            }
        }
        out.push_str("</");
        out.push_str(&self.name);
        out.push('>');
    }
}

/// Namespace declarations first, by prefix; then attributes by namespace URI (none first),
/// then local name (C14N 1.0, section 2.2 "Document Order").
fn canonical_order(attributes: &[(String, String)]) -> Vec<(&str, &str)> {
    let mut declarations = BTreeMap::new();
    let mut others = BTreeMap::new();
    for (name, value) in attributes {
        match name.strip_prefix("xmlns:") {
            Some(prefix) => {
                declarations.insert(prefix.to_owned(), (name.as_str(), value.as_str()));
            }
            None => {
                let (uri, local) = match name.split_once(':') {
                    Some((prefix, local)) => (namespace(prefix), local),
                    None => ("", name.as_str()),
                };
                others.insert((uri, local.to_owned()), (name.as_str(), value.as_str()));
            }
        }
    }
    declarations
        .into_values()
        .chain(others.into_values())
        .collect()
}

/// C14N escaping: `&`, `<`, `>` and CR in text; `&`, `<`, `"`, TAB, LF and CR in attributes.
fn escape(value: &str, attribute: bool, out: &mut String) {
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' if !attribute => out.push_str("&gt;"),
            '"' if attribute => out.push_str("&quot;"),
            '\t' if attribute => out.push_str("&#x9;"),
            '\n' if attribute => out.push_str("&#xA;"),
            '\r' => out.push_str("&#xD;"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_come_in_canonical_order_and_are_escaped() {
        let e = Element::new("md:ContactPerson")
            .attribute("spid:entityType", "spid:aggregated")
            .attribute("contactType", "other")
            .declare("spid")
            .declare("md")
            .child(Element::new("md:Company").text("Rossi & <Figli>\r"));
        assert_eq!(
            e.canonical(),
            concat!(
                r#"<md:ContactPerson xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:spid="https://spid.gov.it/saml-extensions" contactType="other" spid:entityType="spid:aggregated">"#,
                "<md:Company>Rossi &amp; &lt;Figli&gt;&#xD;</md:Company></md:ContactPerson>"
            )
        );
        let a = Element::new("a").attribute("b", "\"x\"\t\n<&>");
        assert_eq!(
            a.canonical(),
            r#"<a b="&quot;x&quot;&#x9;&#xA;&lt;&amp;>"></a>"#
        );
    }

    #[test]
    fn uppercase_names_sort_before_lowercase_and_no_namespace_first() {
        let e = Element::new("md:AssertionConsumerService")
            .attribute("isDefault", "true")
            .attribute("index", "0")
            .attribute("xml:lang", "it")
            .attribute("Location", "https://x/acs")
            .attribute("Binding", "b");
        assert_eq!(
            e.canonical(),
            r#"<md:AssertionConsumerService Binding="b" Location="https://x/acs" index="0" isDefault="true" xml:lang="it"></md:AssertionConsumerService>"#
        );
    }
}
