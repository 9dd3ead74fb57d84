//! The XML documentation Asterisk reads from `<astdatadir>/documentation/thirdparty/pbx_spool_rs-en_US.xml`
//! at startup (`config show help pbx_spool_rs`, `manager show command Spool...`, `manager show event
//! Spool...`, `core show function SPOOL`), rendered from the declarations the module itself runs on: the
//! AMI actions ([`crate::commands::AMI_ACTIONS`]), the events ([`crate::events::AMI_EVENTS`]), the
//! `[general]` keys (`config::general_key_docs`), a campaign's keys ([`crate::campaign::CAMPAIGN_KEYS`])
//! and the keys of the dialplan function `SPOOL()` ([`crate::steering::KEYS`]).
//!
//! The file is committed as `documentation/pbx_spool_rs-en_US.xml`; a unit test fails when it differs
//! from [`render`] (`make docs-xml` writes it again). Pure text: no I/O here.

use std::fmt::Write as _;

use crate::campaign::CAMPAIGN_KEYS;
use crate::commands::{AmiCommand, AMI_ACTIONS};
use crate::config::{general_key_docs, KeyDoc, GENERAL_CATEGORY};
use crate::events::{self, AmiEvent, AMI_EVENTS};

/// The module's name, as Asterisk knows it (`module="..."`, `config show help <module>`).
pub const MODULE: &str = "pbx_spool_rs";
/// The file's name in `documentation/thirdparty/`.
pub const FILE_NAME: &str = "pbx_spool_rs-en_US.xml";
/// The name `config show help pbx_spool_rs` gives the type of every section other than `[general]`.
pub const CAMPAIGN_TYPE: &str = "campaign";
const LANGUAGE: &str = "en_US";

/// The whole XML documentation file.
pub fn render() -> String {
    let mut out = String::new();
    out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    out.push_str("<!DOCTYPE docs SYSTEM \"appdocsxml.dtd\">\n");
    out.push_str(
        "<!-- Generated from pbx_spool_core (commands.rs, events.rs, config/keys.rs, campaign.rs, steering.rs): ",
    );
    out.push_str("do not edit; run make docs-xml. -->\n");
    out.push_str("<docs xmlns:xi=\"http://www.w3.org/2001/XInclude\">\n");
    for action in AMI_ACTIONS {
        render_action(&mut out, action);
    }
    for event in AMI_EVENTS {
        render_event(&mut out, event, 1);
    }
    render_config(&mut out);
    render_function(&mut out);
    out.push_str("</docs>\n");
    out
}

/// Text safe inside an element or a double-quoted attribute.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// A plain-text description (hard-wrapped lines) as one paragraph.
fn joined(text: &str) -> String {
    text.lines().map(str::trim).collect::<Vec<_>>().join(" ")
}

fn indent(depth: usize) -> String {
    "\t".repeat(depth)
}

fn paragraphs(out: &mut String, depth: usize, texts: &[&str]) {
    for text in texts {
        let _ = writeln!(out, "{}<para>{}</para>", indent(depth), escape(text));
    }
}

fn render_action(out: &mut String, action: &AmiCommand) {
    let name = action.name.to_str().unwrap_or_default();
    let _ = writeln!(out, "\t<manager name=\"{name}\" language=\"{LANGUAGE}\" module=\"{MODULE}\">");
    let _ = writeln!(out, "\t\t<synopsis>{}</synopsis>", escape(action.synopsis));
    out.push_str("\t\t<syntax>\n");
    out.push_str("\t\t\t<parameter name=\"ActionID\">\n");
    out.push_str("\t\t\t\t<para>ActionID for this transaction. Will be returned.</para>\n");
    out.push_str("\t\t\t</parameter>\n");
    for header in action.headers {
        let required = if header.required { " required=\"true\"" } else { "" };
        let _ = writeln!(out, "\t\t\t<parameter name=\"{}\"{required}>", escape(header.name));
        paragraphs(out, 4, &[header.text]);
        out.push_str("\t\t\t</parameter>\n");
    }
    out.push_str("\t\t</syntax>\n");
    out.push_str("\t\t<description>\n");
    paragraphs(out, 3, &[&joined(action.description)]);
    if !action.answer_fields.is_empty() {
        paragraphs(out, 3, &["Its answer (Response: Success) has these fields:"]);
        for field in action.answer_fields {
            paragraphs(out, 3, &[&format!("{}: {}", field.name, field.text)]);
        }
    }
    out.push_str("\t\t</description>\n");
    out.push_str("\t\t<see-also>\n");
    for other in AMI_ACTIONS.iter().filter(|other| other.name != action.name) {
        let _ = writeln!(out, "\t\t\t<ref type=\"manager\">{}</ref>", other.name.to_str().unwrap_or_default());
    }
    let _ = writeln!(out, "\t\t\t<ref type=\"astcli\">spool show status</ref>");
    out.push_str("\t\t</see-also>\n");
    if let Some((item, complete)) = action.list {
        out.push_str("\t\t<responses>\n\t\t\t<list-elements>\n");
        if let Some(item) = events::find(item) {
            render_event(out, item, 4);
        }
        out.push_str("\t\t\t</list-elements>\n");
        if let Some(complete) = events::find(complete) {
            render_event(out, complete, 3);
        }
        out.push_str("\t\t</responses>\n");
    }
    out.push_str("\t</manager>\n");
}

fn render_event(out: &mut String, event: &AmiEvent, depth: usize) {
    let (at, inner) = (indent(depth), indent(depth + 1));
    let _ = writeln!(out, "{at}<managerEvent name=\"{}\" language=\"{LANGUAGE}\" module=\"{MODULE}\">", event.name);
    let _ = writeln!(out, "{inner}<managerEventInstance class=\"{}\" module=\"{MODULE}\">", event.class);
    let _ = writeln!(out, "{inner}\t<synopsis>{}</synopsis>", escape(event.synopsis));
    let _ = writeln!(out, "{inner}\t<syntax>");
    for field in event.fields {
        let _ = writeln!(out, "{inner}\t\t<parameter name=\"{}\">", field.name);
        paragraphs(out, depth + 4, &[field.text]);
        let _ = writeln!(out, "{inner}\t\t</parameter>");
    }
    let _ = writeln!(out, "{inner}\t</syntax>");
    if !event.description.is_empty() {
        let _ = writeln!(out, "{inner}\t<description>");
        paragraphs(out, depth + 3, event.description);
        let _ = writeln!(out, "{inner}\t</description>");
    }
    let _ = writeln!(out, "{inner}</managerEventInstance>");
    let _ = writeln!(out, "{at}</managerEvent>");
}

/// `SPOOL()`, the dialplan function ([`crate::steering`]).
fn render_function(out: &mut String) {
    use crate::steering::{DESCRIPTION, FUNCTION, KEYS, SYNOPSIS};
    let _ = writeln!(out, "\t<function name=\"{FUNCTION}\" language=\"{LANGUAGE}\" module=\"{MODULE}\">");
    let _ = writeln!(out, "\t\t<synopsis>{}</synopsis>", escape(SYNOPSIS));
    out.push_str("\t\t<syntax>\n\t\t\t<parameter name=\"key\" required=\"true\">\n\t\t\t\t<enumlist>\n");
    for key in KEYS {
        let _ = writeln!(out, "\t\t\t\t\t<enum name=\"{}\">", key.name);
        paragraphs(out, 6, &[key.text]);
        out.push_str("\t\t\t\t\t</enum>\n");
    }
    out.push_str("\t\t\t\t</enumlist>\n\t\t\t</parameter>\n\t\t</syntax>\n");
    out.push_str("\t\t<description>\n");
    paragraphs(out, 3, DESCRIPTION);
    out.push_str("\t\t</description>\n");
    out.push_str("\t\t<see-also>\n\t\t\t<ref type=\"managerEvent\">SpoolSteered</ref>\n\t\t</see-also>\n");
    out.push_str("\t</function>\n");
}

fn render_config(out: &mut String) {
    let _ = writeln!(out, "\t<configInfo name=\"{MODULE}\" language=\"{LANGUAGE}\">");
    out.push_str("\t\t<synopsis>Outgoing call spool: a drop-in replacement for pbx_spool</synopsis>\n");
    out.push_str("\t\t<description>\n");
    paragraphs(
        out,
        3,
        &[
            "Call files dropped into the outgoing spool directory are checked against these settings before any \
             call is placed. An invalid value rejects the whole file and the previous settings stay in force; \
             unknown keys are reported and ignored. Apply changes with module reload pbx_spool_rs.so; spool show \
             status shows what is in force.",
            "[general] holds the spooler's settings; every other section is a campaign.",
        ],
    );
    out.push_str("\t\t</description>\n");
    let _ = writeln!(out, "\t\t<configFile name=\"{MODULE}.conf\">");
    render_object(
        out,
        GENERAL_CATEGORY,
        "The spooler's settings (the [general] section)",
        &["Where calls may go, what a call file may run and write, file limits and ownership, pacing, and a \
           shared spool."],
        true,
        &general_key_docs(),
    );
    let campaign_keys: Vec<KeyDoc> = CAMPAIGN_KEYS
        .iter()
        .map(|key| KeyDoc {
            name: key.name,
            synopsis: key.synopsis,
            description: key.description,
            default: key.default_value(),
            repeatable: key.repeatable,
            value_type: "String",
        })
        .collect();
    render_object(
        out,
        CAMPAIGN_TYPE,
        "A campaign: any section other than [general]",
        &["Named as you like (all is reserved). A call file joins the first campaign, in the order written, whose \
             match glob (and channel pattern, if any) fits it. A campaign's files can be paused and resumed \
             together (spool pause, SpoolPause) and have their own limits and calling windows."],
        false,
        &campaign_keys,
    );
    out.push_str("\t\t</configFile>\n");
    out.push_str("\t</configInfo>\n");
}

fn render_object(
    out: &mut String,
    name: &str,
    synopsis: &str,
    description: &[&str],
    is_general: bool,
    keys: &[KeyDoc],
) {
    let _ = writeln!(out, "\t\t\t<configObject name=\"{name}\">");
    let _ = writeln!(out, "\t\t\t\t<synopsis>{}</synopsis>", escape(synopsis));
    out.push_str("\t\t\t\t<description>\n");
    paragraphs(out, 5, description);
    out.push_str("\t\t\t\t</description>\n");
    out.push_str("\t\t\t\t<syntax>\n\t\t\t\t\t<matchInfo>\n");
    let _ = writeln!(
        out,
        "\t\t\t\t\t\t<category match=\"{}\">^{GENERAL_CATEGORY}$</category>",
        if is_general { "true" } else { "false" }
    );
    out.push_str("\t\t\t\t\t</matchInfo>\n\t\t\t\t</syntax>\n");
    for key in keys {
        let _ = writeln!(
            out,
            "\t\t\t\t<configOption name=\"{}\" default=\"{}\" type=\"{}\">",
            key.name,
            escape(&key.default),
            key.value_type
        );
        let _ = writeln!(out, "\t\t\t\t\t<synopsis>{}</synopsis>", escape(key.synopsis));
        let mut texts: Vec<&str> = key.description.to_vec();
        if key.repeatable {
            texts.push("Repeatable: each line adds one.");
        }
        if !texts.is_empty() {
            out.push_str("\t\t\t\t\t<description>\n");
            paragraphs(out, 6, &texts);
            out.push_str("\t\t\t\t\t</description>\n");
        }
        out.push_str("\t\t\t\t</configOption>\n");
    }
    out.push_str("\t\t\t</configObject>\n");
}

#[cfg(test)]
mod tests;
